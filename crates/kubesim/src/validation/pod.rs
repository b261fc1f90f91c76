//! Pods: the containers a spec needs, and the spec fields an update may change.

use serde_json::Value;

use super::field_error::{FieldError, invalid};
use crate::errors::ApiError;
use crate::resources::ResourceType;

pub(super) fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match spec["containers"].as_array() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if c["name"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{path}.containers[{i}].name")));
                }
                if c["image"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!(
                        "{path}.containers[{i}].image"
                    )));
                }
            }
        }
        _ => errs.push(FieldError::required(format!("{path}.containers"))),
    }
}

/// The message of the real server's pod-spec immutability error (without its diff).
const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Validates an update of `old` to `new` (after `validate` passed for `new`): a pod's spec is
/// immutable except for container images, `activeDeadlineSeconds`, added tolerations,
/// `terminationGracePeriodSeconds` and removed scheduling gates.
pub(super) fn validate_pod_update(
    rt: &ResourceType,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if !(rt.group.is_empty() && rt.plural == "pods") || old.get("spec") == new.get("spec") {
        return Ok(());
    }
    let (old_spec, new_spec) = (&old["spec"], &new["spec"]);
    // The old spec with every mutable field taken from the new one must equal the new spec.
    let mut allowed = old_spec.clone();
    for key in ["containers", "initContainers"] {
        let (Some(olds), Some(news)) = (old_spec[key].as_array(), new_spec[key].as_array()) else {
            continue;
        };
        if olds.len() != news.len() {
            continue;
        }
        if let Some(list) = allowed.get_mut(key).and_then(Value::as_array_mut) {
            for (c, n) in list.iter_mut().zip(news) {
                if let Some(image) = n.get("image") {
                    c["image"] = image.clone();
                }
            }
        }
    }
    let tolerations_added_only = old_spec["tolerations"].as_array().is_none_or(|olds| {
        let news = new_spec["tolerations"].as_array();
        olds.iter().all(|t| news.is_some_and(|ns| ns.contains(t)))
    });
    let mut mutable = vec![
        "activeDeadlineSeconds",
        "terminationGracePeriodSeconds",
        "schedulingGates",
    ];
    if tolerations_added_only {
        mutable.push("tolerations");
    }
    if let Some(m) = allowed.as_object_mut() {
        for key in mutable {
            match new_spec.get(key) {
                Some(v) => {
                    m.insert(key.to_string(), v.clone());
                }
                None => {
                    m.remove(key);
                }
            }
        }
    }
    if &allowed == new_spec {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    Err(invalid(
        rt,
        name,
        &[FieldError {
            reason: "FieldValueForbidden",
            field: "spec".into(),
            message: format!("Forbidden: {POD_UPDATE_FORBIDDEN}"),
        }],
    ))
}
