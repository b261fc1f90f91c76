//! One field error of a 422 Invalid response and the error itself, with the real server's
//! `details` shape (`kind` is the Kind, `causes[]` lists `{reason, message, field}`).

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::resources::ResourceType;

/// One field error of an Invalid response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, …
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers`.
    pub field: String,
    /// The cause message, e.g. `Required value`.
    pub message: String,
}

impl FieldError {
    /// `Required value`.
    pub fn required(field: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }

    /// `Invalid value: "v": detail`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {detail}"),
        }
    }

    /// `Invalid value: <printed>: detail`, for a value that is not a string (a number, or a map
    /// or object already printed as the real server prints it).
    pub fn invalid_printed(field: impl Into<String>, printed: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {printed}: {detail}"),
        }
    }

    /// `Unsupported value: "v": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                list.join(", ")
            ),
        }
    }

    /// `Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }
}

/// The 422 Invalid error for `errs` on object `name` of type `rt`.
pub fn invalid(rt: &ResourceType, name: &str, errs: &[FieldError]) -> ApiError {
    invalid_kind(rt.group, rt.kind, name, errs)
}

/// The 422 Invalid error for `errs` on object `name` of kind `kind` in API group `group`
/// (e.g. `ListOptions` in `meta.k8s.io` for bad list parameters). An empty name is left out of
/// `details`, as by the real server.
pub fn invalid_kind(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
    let mut unique: Vec<String> = Vec::new();
    for e in errs {
        let s = format!("{}: {}", e.field, e.message);
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    let summary = if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    };
    let qualified_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
        .collect();
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
    details.insert("causes".into(), Value::Array(causes));
    ApiError::new(
        422,
        Some("Invalid"),
        format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
    )
    .with_details(Value::Object(details))
}
