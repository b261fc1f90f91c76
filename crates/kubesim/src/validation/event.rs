//! Event validation, as kube-apiserver's `pkg/apis/core/validation/events.go` does it for the two
//! Event APIs. The object is always in the core/v1 (storage) shape, so field paths are the
//! internal names (`message` for events.k8s.io's `note`, `involvedObject` for `regarding`), as
//! the recorded 422s show; only `reportingController` keeps its events.k8s.io name.
//!
//! - every write (`legacy`): an Event about a cluster-scoped object (empty
//!   `involvedObject.namespace`, e.g. a Node) lives in `default` (or, for a new-style Event with
//!   `eventTime`, also `kube-system`); an Event about a namespaced object lives in its namespace.
//!   A new-style Event (with `eventTime`) also needs a qualified-name reporting controller, a
//!   reporting instance, an action and a reason (each at most 128 bytes) and a message of at
//!   most 1024 bytes.
//! - create through events.k8s.io/v1 (`strict_create`), in addition: `eventTime` required,
//!   `type` `Normal` or `Warning`, a `series` with `count >= 2` and `lastObservedTime`, none of
//!   the deprecated core fields (`source`, `firstTimestamp`, `lastTimestamp`, `count`).
//! - update through events.k8s.io/v1 (`update`): only the series (when it changed) and the
//!   immutability of every other field; metadata may change. Updates through core/v1 run the
//!   legacy rules only.

use serde_json::Value;

use super::field_error::FieldError;
use super::go_value::go_json;
use crate::selector::label_key_errors;

/// Longest `reportingInstance`, `action` and `reason` (bytes).
const SHORT_FIELD_LIMIT: usize = 128;
/// Longest `message` / `note` (bytes).
const NOTE_LIMIT: usize = 1024;

fn str_of<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field].as_str().unwrap_or_default()
}

fn has_event_time(event: &Value) -> bool {
    event["eventTime"].as_str().is_some_and(|t| !t.is_empty())
}

/// `legacyValidateEvent`: the rules of every Event write. `controller_field` names the
/// reporting controller as the request's API does (`reportingComponent` for core/v1,
/// `reportingController` for events.k8s.io/v1).
pub(super) fn legacy(event: &Value, controller_field: &str, errs: &mut Vec<FieldError>) {
    let ns = event["metadata"]["namespace"].as_str().unwrap_or_default();
    let involved_ns = event["involvedObject"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let new_style = has_event_time(event);
    let ok = match (involved_ns.is_empty(), new_style) {
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
    if !new_style {
        return;
    }
    let controller = str_of(event, "reportingComponent");
    if controller.is_empty() {
        errs.push(FieldError::required(controller_field));
    }
    for msg in label_key_errors(controller) {
        errs.push(FieldError::invalid(controller_field, controller, &msg));
    }
    for field in ["reportingInstance", "action", "reason"] {
        let v = str_of(event, field);
        if v.is_empty() {
            errs.push(FieldError::required(field));
        }
        if v.len() > SHORT_FIELD_LIMIT {
            errs.push(FieldError::invalid(
                field,
                "",
                &format!("can have at most {SHORT_FIELD_LIMIT} characters"),
            ));
        }
    }
    if str_of(event, "message").len() > NOTE_LIMIT {
        errs.push(FieldError::invalid(
            "message",
            "",
            &format!("can have at most {NOTE_LIMIT} characters"),
        ));
    }
}

/// `validateV1EventSeries`: a series needs `count >= 2` and `lastObservedTime`.
fn series(event: &Value, errs: &mut Vec<FieldError>) {
    let Some(s) = event.get("series").filter(|s| s.is_object()) else {
        return;
    };
    if s["count"].as_i64().unwrap_or(0) < 2 {
        errs.push(FieldError::invalid(
            "series.count",
            "",
            "should be at least 2",
        ));
    }
    if s["lastObservedTime"].as_str().is_none_or(str::is_empty) {
        errs.push(FieldError::required("series.lastObservedTime"));
    }
}

/// The rules a create through events.k8s.io/v1 adds to [`legacy`] (`ValidateEventCreate`).
pub(super) fn strict_create(event: &Value, errs: &mut Vec<FieldError>) {
    series(event, errs);
    if !has_event_time(event) {
        errs.push(FieldError::required("eventTime"));
    }
    let kind = str_of(event, "type");
    if !matches!(kind, "Normal" | "Warning") {
        errs.push(FieldError::invalid(
            "type",
            "",
            &format!("has invalid value: {kind}"),
        ));
    }
    for field in ["firstTimestamp", "lastTimestamp"] {
        if event[field].as_str().is_some_and(|t| !t.is_empty()) {
            errs.push(FieldError::invalid(field, "", "needs to be unset"));
        }
    }
    if event["count"].as_i64().unwrap_or(0) != 0 {
        errs.push(FieldError::invalid("count", "", "needs to be unset"));
    }
    let source = &event["source"];
    if !str_of(source, "component").is_empty() || !str_of(source, "host").is_empty() {
        errs.push(FieldError::invalid("source", "", "needs to be unset"));
    }
}

/// The Go struct dump of an `ObjectReference` in an immutability error
/// (`{"Kind":"Node","Namespace":"",…}`).
fn object_reference_dump(r: &Value) -> String {
    let fields = [
        ("Kind", "kind"),
        ("Namespace", "namespace"),
        ("Name", "name"),
        ("UID", "uid"),
        ("APIVersion", "apiVersion"),
        ("ResourceVersion", "resourceVersion"),
        ("FieldPath", "fieldPath"),
    ];
    let parts: Vec<String> = fields
        .iter()
        .map(|(go, json)| {
            format!(
                "\"{go}\":{}",
                go_json(&Value::String(str_of(r, json).to_string()))
            )
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// `ValidateEventUpdate` for events.k8s.io/v1: the series when it changed, and every field but
/// metadata and series immutable.
pub(super) fn update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if old.get("series") != new.get("series") {
        series(new, errs);
    }
    if old["involvedObject"] != new["involvedObject"] {
        errs.push(FieldError::invalid_printed(
            "involvedObject",
            &object_reference_dump(&new["involvedObject"]),
            "field is immutable",
        ));
    }
    for field in [
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    ] {
        if old.get(field) == new.get(field) {
            continue;
        }
        let name = if field == "reportingComponent" {
            "reportingController"
        } else {
            field
        };
        let printed = match &new[field] {
            Value::String(s) => go_json(&Value::String(s.clone())),
            Value::Null => "null".to_string(),
            other => go_json(other),
        };
        errs.push(FieldError::invalid_printed(
            name,
            &printed,
            "field is immutable",
        ));
    }
}
