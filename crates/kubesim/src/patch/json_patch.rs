//! JSON patch (RFC 6902).

use serde_json::Value;

use super::go_json::go_json_type;
use crate::errors::ApiError;

/// Applies a JSON patch (RFC 6902: add, remove, replace, move, copy, test; JSON pointers with
/// `~1` = `/` and `~0` = `~`) to `target`. Atomic: on any failure `target` is unchanged.
///
/// As the apiserver (evanphx/json-patch v4): `add` replaces an existing object key, needs an
/// existing parent (`add /metadata/annotations/x` without an annotations map fails, and so does
/// `/spec/taints/-` without a taints list), `remove`/`replace` need an existing target, `test`
/// of a missing key against `null` succeeds. A failing operation is the generic 422
/// ([`ApiError::json_patch_failed`]).
///
/// A body that does not decode as a list of operations (not an array, an element that is not
/// an object, an `op`/`path`/`from` that is not a string) is a 400 `BadRequest` with the
/// message the apiserver gives under its default `fieldValidation=Warn`, e.g. `error decoding
/// patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp`; a `null`
/// body is an empty patch.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let decode_error =
        |detail: String| ApiError::bad_request(format!("error decoding patch: {detail}"));
    let ops = match ops {
        Value::Null => return Ok(()),
        Value::Array(ops) => ops,
        other => {
            return Err(decode_error(format!(
                "json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                go_json_type(other)
            )));
        }
    };
    for op in ops {
        match op {
            Value::Null => {}
            Value::Object(fields) => {
                for field in ["op", "path", "from"] {
                    if let Some(v) = fields.get(field)
                        && !v.is_string()
                        && !v.is_null()
                    {
                        return Err(decode_error(format!(
                            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{field} of type string",
                            go_json_type(v)
                        )));
                    }
                }
            }
            other => {
                return Err(decode_error(format!(
                    "json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                    go_json_type(other)
                )));
            }
        }
    }
    let mut doc = target.clone();
    for op in ops {
        apply_op(&mut doc, op).map_err(|()| ApiError::json_patch_failed())?;
    }
    *target = doc;
    Ok(())
}

/// Parses a JSON pointer into unescaped reference tokens (`None` if malformed).
fn parse_pointer(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let idx: usize = token.parse().ok()?;
    if idx < len || (allow_end && idx == len) {
        Some(idx)
    } else {
        None
    }
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let len = a.len();
                a.get_mut(array_index(t, len, false)?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(array_index(t, a.len(), false)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn op_path(op: &Value, field: &str) -> Result<Vec<String>, ()> {
    let path = op.get(field).and_then(Value::as_str).ok_or(())?;
    parse_pointer(path).ok_or(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), ()> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = op_path(op, "path")?;
    match kind {
        "add" => add(doc, &path, op.get("value").cloned().unwrap_or(Value::Null)),
        "remove" => remove(doc, &path).map(|_| ()),
        "replace" => replace(doc, &path, op.get("value").cloned().unwrap_or(Value::Null)),
        "move" => {
            let from = op_path(op, "from")?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(());
            }
            let value = remove(doc, &from)?;
            add(doc, &path, value)
        }
        "copy" => {
            let from = op_path(op, "from")?;
            let value = get(doc, &from).ok_or(())?.clone();
            add(doc, &path, value)
        }
        "test" => test(doc, &path, op.get("value")),
        _ => Err(()),
    }
}

fn split_last(path: &[String]) -> Option<(&[String], &String)> {
    let (last, parent) = path.split_last()?;
    Some((parent, last))
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let Some((parent, last)) = split_last(path) else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent).ok_or(())? {
        Value::Object(m) => {
            if let Some(slot) = m.get_mut(last) {
                *slot = value;
            } else {
                m.insert(last.clone(), value);
            }
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let idx = array_index(last, a.len(), true).ok_or(())?;
                a.insert(idx, value);
            }
            Ok(())
        }
        _ => Err(()),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, ()> {
    let (parent, last) = split_last(path).ok_or(())?;
    match get_mut(doc, parent).ok_or(())? {
        Value::Object(m) => m.shift_remove(last).ok_or(()),
        Value::Array(a) => {
            let idx = array_index(last, a.len(), false).ok_or(())?;
            Ok(a.remove(idx))
        }
        _ => Err(()),
    }
}

fn replace(doc: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let slot = get_mut(doc, path).ok_or(())?;
    *slot = value;
    Ok(())
}

fn test(doc: &Value, path: &[String], expected: Option<&Value>) -> Result<(), ()> {
    if let Some(actual) = get(doc, path) {
        return if expected == Some(actual) {
            Ok(())
        } else {
            Err(())
        };
    }
    // A missing key under an existing parent equals null.
    let (parent, _) = split_last(path).ok_or(())?;
    get(doc, parent).ok_or(())?;
    match expected {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(()),
    }
}
