//! Node taint validation: the part of `ValidateNode`/`ValidateNodeUpdate` a patch can break,
//! with its 422 `Invalid` error.

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::selector::{go_quote, label_key_errors, label_value_errors};

/// One `field.Error`.
struct FieldError {
    reason: &'static str,
    field: String,
    body: String,
}

/// Validates `spec.taints` of a Node the way the apiserver's Node update validation does and
/// returns its 422 `Invalid` error: the field path is reported as `metadata.taints[i]…` and
/// every cause appears twice (both quirks are recorded in the fixtures
/// `error-422-invalid-node-taint-effect.json` and
/// `error-422-smp-delete-directive-on-atomic-taints.json`). Checks: key is a qualified name,
/// value a label value, effect present and one of `NoSchedule`/`PreferNoSchedule`/`NoExecute`,
/// key/effect pairs unique.
pub fn validate_node_taints(node: &Value) -> Result<(), ApiError> {
    let Some(taints) = node.pointer("/spec/taints").and_then(Value::as_array) else {
        return Ok(());
    };
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let base = format!("metadata.taints[{i}]");
        let key = taint.get("key").and_then(Value::as_str).unwrap_or("");
        for msg in label_key_errors(key) {
            errs.push(FieldError {
                reason: "FieldValueInvalid",
                field: format!("{base}.key"),
                body: format!("Invalid value: {}: {msg}", go_quote(key)),
            });
        }
        let value = taint.get("value").and_then(Value::as_str).unwrap_or("");
        let value_errs = label_value_errors(value);
        if !value_errs.is_empty() {
            errs.push(FieldError {
                reason: "FieldValueInvalid",
                field: format!("{base}.value"),
                body: format!(
                    "Invalid value: {}: {}",
                    go_quote(value),
                    value_errs.join(";")
                ),
            });
        }
        let effect = taint.get("effect").and_then(Value::as_str).unwrap_or("");
        if effect.is_empty() {
            errs.push(FieldError {
                reason: "FieldValueRequired",
                field: format!("{base}.effect"),
                body: "Required value".into(),
            });
        } else if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError {
                reason: "FieldValueNotSupported",
                field: format!("{base}.effect"),
                body: format!(
                    "Unsupported value: {}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                    go_quote(effect)
                ),
            });
        }
        if !seen.insert((effect, key)) {
            // `field.Duplicate(idxPath, taint)` prints the internal Taint with `%#v`; a set
            // `timeAdded` is a pointer whose address cannot be reproduced.
            let time_added = if taint.get("timeAdded").is_some_and(|t| !t.is_null()) {
                "(*v1.Time)(0xc000000000)"
            } else {
                "(*v1.Time)(nil)"
            };
            errs.push(FieldError {
                reason: "FieldValueDuplicate",
                field: base,
                body: format!(
                    "Duplicate value: core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{time_added}}}: taints must be unique by key and effect pair",
                    go_quote(key),
                    go_quote(value),
                    go_quote(effect)
                ),
            });
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(invalid_error("Node", name, &errs))
}

/// `errors.NewInvalid` for validation run twice (`ValidateNode` + `ValidateNodeUpdate`).
fn invalid_error(kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
    let mut messages: Vec<String> = Vec::new();
    for e in errs {
        let m = format!("{}: {}", e.field, e.body);
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let aggregated = if messages.len() == 1 {
        messages.remove(0)
    } else {
        format!("[{}]", messages.join(", "))
    };
    let cause = |e: &FieldError| json!({"reason": e.reason, "message": e.body, "field": e.field});
    let causes: Vec<Value> = errs.iter().chain(errs.iter()).map(cause).collect();
    ApiError::new(
        422,
        Some("Invalid"),
        format!("{kind} {} is invalid: {aggregated}", go_quote(name)),
    )
    .with_details(json!({"name": name, "kind": kind, "causes": causes}))
}
