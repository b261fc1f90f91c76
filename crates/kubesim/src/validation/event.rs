//! core/v1 Events (`legacyValidateEvent`): an Event about a cluster-scoped object (empty
//! `involvedObject.namespace`, e.g. a Node) lives in `default` (or, for a new-style Event with
//! `eventTime`, also `kube-system`); an Event about a namespaced object lives in its namespace.

use serde_json::Value;

use super::field_error::FieldError;

/// Appends the namespace errors of a core/v1 Event to `errs`.
pub(super) fn validate_event(event: &Value, errs: &mut Vec<FieldError>) {
    let ns = event["metadata"]["namespace"].as_str().unwrap_or_default();
    let involved_ns = event["involvedObject"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let has_event_time = event["eventTime"].as_str().is_some_and(|t| !t.is_empty());
    let ok = match (involved_ns.is_empty(), has_event_time) {
        (true, false) => matches!(ns, "" | "default"),
        (true, true) => matches!(ns, "default" | "kube-system"),
        (false, false) => ns == involved_ns,
        (false, true) => true,
    };
    if !ok {
        errs.push(FieldError::invalid(
            "involvedObject.namespace",
            involved_ns,
            "does not match event.namespace",
        ));
    }
}
