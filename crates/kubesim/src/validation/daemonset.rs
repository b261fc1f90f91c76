//! `DaemonSets` (`ValidateDaemonSetSpec`): the selector must select the pod template's labels, and
//! may not be empty.

use serde_json::Value;

use super::field_error::FieldError;
use super::go_value::go_json;
use crate::selector::LabelSelector;

/// The detail of the real server's selector/labels mismatch error.
const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// Appends the errors of a `DaemonSet` `spec` to `errs`.
pub(super) fn validate_daemonset_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    let selector = &spec["selector"];
    let labels = &spec["template"]["metadata"]["labels"];
    // A selector that does not parse is reported by the server's selector checks, not here.
    if let Ok(sel) = LabelSelector::from_object(selector)
        && !sel.matches_labels(labels.as_object())
    {
        errs.push(FieldError::invalid_printed(
            "spec.template.metadata.labels",
            &go_json(labels),
            SELECTOR_MISMATCH,
        ));
    }
    let is_empty = |k: &str| {
        selector.get(k).is_none_or(|v| {
            v.as_object().is_some_and(serde_json::Map::is_empty)
                || v.as_array().is_some_and(Vec::is_empty)
                || v.is_null()
        })
    };
    if selector.is_object() && is_empty("matchLabels") && is_empty("matchExpressions") {
        errs.push(FieldError::invalid_printed(
            "spec.selector",
            &go_json(selector),
            "empty selector is invalid for daemonset",
        ));
    }
}
