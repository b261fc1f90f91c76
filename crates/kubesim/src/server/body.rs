//! Request bodies: decoding a create/update object (media type, JSON, kind, string maps) with
//! the real server's error texts, and the URL namespace put into it.

use serde_json::{Value, json};

use super::request::ApiRequest;
use crate::errors::ApiError;
use crate::resources::ResourceType;

/// Internal API group name the real server uses in conversion errors (`core.Pod`).
fn internal_group(rt: &ResourceType) -> &'static str {
    match rt.group {
        "" => "core",
        "coordination.k8s.io" => "coordination",
        g => g,
    }
}

/// Go's `encoding/json` wording for a serde error (the part clients might match on).
pub(crate) fn go_json_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        e.to_string()
    }
}

/// Decodes a create/update body: `application/json` (or `application/yaml` in its JSON form)
/// holding an object of the request's kind.
pub(crate) fn decode_body(req: &ApiRequest<'_>) -> Result<Value, ApiError> {
    let (rt, body) = (req.rt, req.body);
    let content_type = req.content_type().unwrap_or("application/json");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !matches!(media.as_str(), "application/json" | "application/yaml" | "") {
        return Err(ApiError::new(
            415,
            Some("UnsupportedMediaType"),
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    let obj: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let shown: String = if text.chars().count() > 30 {
            format!("{} ...", text.chars().take(30).collect::<String>())
        } else {
            text.into_owned()
        };
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {} ({shown})",
            rt.kind,
            go_json_error(&e)
        ))
    })?;
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            rt.kind,
            match obj {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    }
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty())
        && kind != rt.kind
    {
        {
            let version = obj["apiVersion"]
                .as_str()
                .map_or("v1", |av| av.rsplit('/').next().unwrap_or(av));
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {}: converting ({version}.{kind}) to ({}.{}): unknown conversion",
                rt.kind,
                internal_group(rt),
                rt.kind
            )));
        }
    }
    check_string_maps(rt, &obj)?;
    Ok(obj)
}

/// Labels and annotations must be maps of strings (else the real server's decode error).
pub(crate) fn check_string_maps(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    for field in ["labels", "annotations"] {
        let v = &obj["metadata"][field];
        let ok = match v {
            Value::Null => true,
            Value::Object(m) => m.values().all(|x| x.is_string() || x.is_null()),
            _ => false,
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal into Go struct field ObjectMeta.metadata.{field} of type map[string]string",
                kind = rt.kind,
                version = rt.version
            )));
        }
    }
    Ok(())
}

/// Puts the URL namespace into a body (or checks it matches); cluster-scoped objects lose
/// any namespace.
pub(crate) fn apply_namespace(req: &ApiRequest<'_>, obj: &mut Value) -> Result<(), ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if req.rt.namespaced {
        match obj["metadata"]["namespace"].as_str() {
            None | Some("") => obj["metadata"]["namespace"] = json!(req.ns()),
            Some(ns) if ns == req.ns() => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(())
}
