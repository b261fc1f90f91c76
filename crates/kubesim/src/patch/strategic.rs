//! Strategic merge patch: the algorithm of `k8s.io/apimachinery/pkg/util/strategicpatch`
//! (directives `$patch`, `$retainKeys`, `$deleteFromPrimitiveList`, `$setElementOrder`, merge
//! keys, unknown-field warnings), with the real server's error texts.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::go_json::go_json_type;
use super::strategy::{PatchStrategy, field_strategy};
use super::taints::validate_node_taints;
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::selector::go_quote;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// A malformed strategic merge patch: the real server answers most of these with a 500 whose
/// `Status` has no reason (the error is not an API status), some with 400.
fn smp_internal(message: String) -> ApiError {
    ApiError::new(500, None, message)
}

/// Applies a strategic merge patch to `target` in place, using the per-field strategies of
/// `rt`'s kind (see [`field_strategy`]). Any error leaves `target` unchanged.
///
/// Semantics (as `k8s.io/apimachinery/pkg/util/strategicpatch` with the options the apiserver
/// uses): `null` deletes a key; maps merge recursively; lists without a strategy are replaced
/// whole (so `node.spec.taints` is replaced, and a `$patch: delete` element inside it is not
/// interpreted: the element stays without the `$patch` field, which then fails taint
/// validation with the recorded 422); merge-keyed lists merge element-wise, support
/// `{"$patch": "delete", <key>: …}` and `{"$patch": "replace"}` elements, and put patched
/// elements first unless the original order says otherwise; primitive merge lists are unions.
/// `$patch: replace|delete` in a map, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
/// `$setElementOrder/<field>` are honoured (the ordering follows the Go algorithm but ignores
/// its consistency checks). Fields starting with `$` left over in the result are dropped, as
/// the typed decoding of the real server does.
///
/// For a Node whose patch touches `spec.taints`, the resulting taints are validated like the
/// apiserver's Node update validation (see [`validate_node_taints`]).
pub fn strategic_merge_patch(
    rt: &ResourceType,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    strategic_merge_patch_with_warnings(rt, target, patch).map(|_| ())
}

/// [`strategic_merge_patch`], returning the texts of the warnings the real server sends for
/// the fields it dropped (e.g. `unknown field "spec.taints[0].$patch"`) under the default
/// `fieldValidation=Warn`; format them with [`warning_header_value`]. Under
/// `fieldValidation=Strict` the real server rejects such a patch with 400 `strict decoding
/// error: <texts joined by ", ">` instead.
pub fn strategic_merge_patch_with_warnings(
    rt: &ResourceType,
    target: &mut Value,
    patch: &Value,
) -> Result<Vec<String>, ApiError> {
    let Value::Object(patch_map) = patch else {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_type(patch)
        )));
    };
    let Value::Object(original) = target else {
        return Err(smp_internal("original object is not a JSON object".into()));
    };
    let mut result = original.clone();
    let mut fields = Vec::new();
    merge_map(rt.kind, &mut fields, &mut result, patch_map.clone())?;
    let mut warnings = Vec::new();
    let mut result = Value::Object(result);
    drop_directive_fields(&mut result, &mut String::new(), &mut warnings);
    if rt.kind == "Node" && patch.pointer("/spec/taints").is_some() {
        validate_node_taints(&result).map_err(|mut e| {
            for w in &warnings {
                e = e.with_header("Warning", warning_header_value(w));
            }
            e
        })?;
    }
    std::mem::swap(target, &mut result);
    Ok(warnings)
}

/// The `Warning` response header value for a warning text: `299 - "<text, quoted>"`.
pub fn warning_header_value(text: &str) -> String {
    format!("299 - {}", go_quote(text))
}

/// Removes fields whose name starts with `$` (directives that were not interpreted), recording
/// `unknown field "<path>"` for each, as the typed decoding of the apiserver does. `loc` is the
/// field path of `v` (a buffer restored before returning).
fn drop_directive_fields(v: &mut Value, loc: &mut String, warnings: &mut Vec<String>) {
    let base = loc.len();
    match v {
        Value::Object(m) => {
            if m.keys().any(|k| k.starts_with('$')) {
                let dropped: Vec<String> =
                    m.keys().filter(|k| k.starts_with('$')).cloned().collect();
                for k in dropped {
                    m.shift_remove(&k);
                    push_field(loc, &k);
                    warnings.push(format!("unknown field {}", go_quote(loc)));
                    loc.truncate(base);
                }
            }
            for (k, child) in m.iter_mut() {
                if child.is_object() || child.is_array() {
                    push_field(loc, k);
                    drop_directive_fields(child, loc, warnings);
                    loc.truncate(base);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                if child.is_object() || child.is_array() {
                    let _ = write!(loc, "[{i}]");
                    drop_directive_fields(child, loc, warnings);
                    loc.truncate(base);
                }
            }
        }
        _ => {}
    }
}

fn push_field(loc: &mut String, key: &str) {
    if !loc.is_empty() {
        loc.push('.');
    }
    loc.push_str(key);
}

/// `discardNullValuesFromPatch`: removes null-valued keys of maps, recursively (also inside
/// lists).
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, child| !child.is_null());
            for child in m.values_mut() {
                discard_nulls(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// The map-level directives `$patch` and `$retainKeys`; `true` when `$patch` decided the
/// result (replace/delete) and nothing else is to be merged.
fn apply_map_directives(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<bool, ApiError> {
    if let Some(directive) = patch.shift_remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => {
                *original = std::mem::take(patch);
                return Ok(true);
            }
            Some("delete") => {
                original.clear();
                return Ok(true);
            }
            _ => {
                patch.insert(DIRECTIVE.into(), directive.clone());
                return Err(smp_internal(format!(
                    "unknown patch type: {} in map: {}",
                    display_go(&directive),
                    Value::Object(std::mem::take(patch))
                )));
            }
        }
    }

    if let Some(retain) = patch.shift_remove(RETAIN_KEYS) {
        let Value::Array(keep) = retain else {
            return Err(ApiError::bad_request("invalid patch format of retainKeys"));
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }

    Ok(false)
}

/// `mergeMap`: merges `patch` into `original`; `fields` is the schema path of `original`.
fn merge_map(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Map<String, Value>,
    mut patch: Map<String, Value>,
) -> Result<(), ApiError> {
    if apply_map_directives(original, &mut patch)? {
        return Ok(());
    }

    // `$setElementOrder/<field>`: merge that field now and order it as listed.
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in order_keys {
        let order = patch.shift_remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(ApiError::bad_request(
                "invalid patch format of setElementOrder list",
            ));
        };
        let field = key[SET_ELEMENT_ORDER.len()..].to_string();
        fields.push(field.clone());
        let res = merge_with_element_order(kind, fields, original, &mut patch, &field, &order);
        fields.pop();
        res?;
    }

    for (key, patch_value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(to_delete) = patch_value else {
                return Err(ApiError::bad_request(
                    "invalid patch format of primitive list",
                ));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !to_delete.contains(item));
            }
            continue;
        }
        if key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            let mut v = patch_value;
            discard_nulls(&mut v);
            original.insert(key, v);
            continue;
        };
        fields.push(key.clone());
        let strategy = field_strategy(kind, &path_strs(fields));
        let res = match (current, patch_value) {
            (Value::Object(cur), Value::Object(p)) => {
                if strategy == PatchStrategy::Replace {
                    *cur = p;
                    Ok(())
                } else {
                    merge_map(kind, fields, cur, p)
                }
            }
            (Value::Array(cur), Value::Array(p)) => match strategy {
                PatchStrategy::MergeByKey(merge_key) => {
                    merge_list(kind, fields, cur, p, Some(merge_key))
                }
                PatchStrategy::MergeSet => merge_list(kind, fields, cur, p, None),
                PatchStrategy::Default | PatchStrategy::Replace => {
                    *cur = p;
                    Ok(())
                }
            },
            (cur, mut p) => {
                if std::mem::discriminant(cur) != std::mem::discriminant(&p) {
                    discard_nulls(&mut p);
                }
                *cur = p;
                Ok(())
            }
        };
        fields.pop();
        res?;
    }
    Ok(())
}

fn path_strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

/// A Go-ish rendering of a directive value for error messages.
fn display_go(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The element type of a list for merging purposes.
#[derive(PartialEq, Eq)]
enum ElementKind {
    Empty,
    Maps,
    Primitives,
    Mixed,
}

fn element_kind<'a>(items: impl Iterator<Item = &'a Value>) -> ElementKind {
    let mut kind = ElementKind::Empty;
    for item in items {
        let this = if item.is_object() {
            ElementKind::Maps
        } else {
            ElementKind::Primitives
        };
        if kind == ElementKind::Empty {
            kind = this;
        } else if kind != this {
            return ElementKind::Mixed;
        }
    }
    kind
}

/// `mergeSlice` for a list with a merge strategy (`merge_key` `None`: a set of primitives).
fn merge_list(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&'static str>,
) -> Result<(), ApiError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(());
    }
    match element_kind(original.iter().chain(patch.iter())) {
        ElementKind::Empty => Ok(()),
        ElementKind::Mixed => Err(smp_internal(format!(
            "unable to merge list {}: elements of mixed types",
            fields.join(".")
        ))),
        ElementKind::Primitives => {
            // `deduplicateScalars(append(original, patch...))`: first occurrences, in order.
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(patch.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            let (patch_items, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|item| patch.contains(item));
            *original = normalize_element_order(patch_items, server_only, &patch, original, None);
            Ok(())
        }
        ElementKind::Maps => {
            let Some(merge_key) = merge_key else {
                return Err(smp_internal(format!(
                    "cannot merge lists without merge key for {}",
                    fields.last().map_or("", String::as_str)
                )));
            };
            let (mut base, patch) = apply_special_elements(original.clone(), patch, merge_key)?;
            // The server order is the original list after the special elements were applied.
            let server_order = base.clone();
            for item in &patch {
                let Value::Object(item_map) = item else {
                    continue;
                };
                let Some(key_value) = item_map.get(merge_key) else {
                    return Err(no_merge_key(item, merge_key));
                };
                let found = base
                    .iter_mut()
                    .find(|cur| cur.get(merge_key) == Some(key_value));
                match found {
                    Some(Value::Object(cur)) => merge_map(kind, fields, cur, item_map.clone())?,
                    _ => base.push(item.clone()),
                }
            }
            let (patch_items, server_only): (Vec<Value>, Vec<Value>) = base
                .into_iter()
                .partition(|item| index_in(&patch, item, Some(merge_key)).is_some());
            *original = normalize_element_order(
                patch_items,
                server_only,
                &patch,
                &server_order,
                Some(merge_key),
            );
            Ok(())
        }
    }
}

fn no_merge_key(item: &Value, merge_key: &str) -> ApiError {
    smp_internal(format!(
        "map: {item} does not contain declared merge key: {merge_key}"
    ))
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` elements to the original and
/// handles `$patch: replace`; returns the new original and the patch without special elements.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key_value) = item.get(merge_key) else {
                    return Err(no_merge_key(&item, merge_key));
                };
                original.retain(|o| o.get(merge_key) != Some(key_value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(smp_internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => {
                return Err(smp_internal(format!(
                    "unknown patch type: {} in map: {item}",
                    display_go(directive)
                )));
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// Index of `item` in `list`: by merge key value for maps, by equality for primitives.
fn index_in(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        Some(k) => {
            let want = item.get(k)?;
            list.iter().position(|x| x.get(k) == Some(want))
        }
        None => list.iter().position(|x| x == item),
    }
}

/// `normalizeSliceOrder`: a stable sort of `items` by their index in `order`; items not in
/// `order` go last (the Go comparator is not a strict order for them; this is the documented
/// approximation).
fn sort_by_order(items: &mut [Value], order: &[Value], merge_key: Option<&str>) {
    items.sort_by_key(|item| index_in(order, item, merge_key).unwrap_or(usize::MAX));
}

/// `normalizeElementOrder` + `mergeSortedSlice`: patch items ordered as in `patch_order`,
/// server-only items as in `server_order`, interleaved so that a server-only item comes first
/// only when both it and the next patch item are in the server order and it precedes it.
fn normalize_element_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    sort_by_order(&mut patch_items, patch_order, merge_key);
    sort_by_order(&mut server_only, server_order, merge_key);
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_in(server_order, l, merge_key),
                    index_in(server_order, r, merge_key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `mergePatchIntoOriginal` for one `$setElementOrder/<field>` directive: merges the field (if
/// the patch has it) and orders the result as the directive lists.
fn merge_with_element_order(
    kind: &str,
    fields: &mut Vec<String>,
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    field: &str,
    order: &[Value],
) -> Result<(), ApiError> {
    let strategy = field_strategy(kind, &path_strs(fields));
    let merge_key = match strategy {
        PatchStrategy::MergeByKey(k) => Some(k),
        _ => None,
    };
    let mut merged = match original.get(field) {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let server_order = merged.clone();
    match patch.shift_remove(field) {
        Some(Value::Array(p)) => match strategy {
            PatchStrategy::MergeByKey(_) | PatchStrategy::MergeSet => {
                merge_list(kind, fields, &mut merged, p, merge_key)?;
            }
            _ => merged = p,
        },
        Some(Value::Null) => {
            original.shift_remove(field);
            return Ok(());
        }
        Some(other) => {
            // Not a list: let the regular merge handle (and replace) it.
            patch.insert(field.to_string(), other);
            return Ok(());
        }
        None => {}
    }
    if merged.is_empty() && !original.contains_key(field) {
        return Ok(());
    }
    let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| index_in(order, item, merge_key).is_some());
    let ordered =
        normalize_element_order(patch_items, server_only, order, &server_order, merge_key);
    original.insert(field.to_string(), Value::Array(ordered));
    Ok(())
}
