//! The two Event APIs over one stored object, as the real server serves them: an Event is
//! stored once (in the core/v1 shape, kubesim's storage shape for both) and read, listed,
//! watched and written through `core/v1` `events` and `events.k8s.io/v1` `events`.
//!
//! The field mapping (recorded in `shared/k8s-reference/`, `events-v1-get-legacy-core-event`
//! and `events-core-v1-get-events-v1-event`):
//!
//! | events.k8s.io/v1           | core/v1              |
//! |----------------------------|----------------------|
//! | `regarding`                | `involvedObject`     |
//! | `note`                     | `message`            |
//! | `reportingController`      | `reportingComponent` |
//! | `deprecatedSource`         | `source`             |
//! | `deprecatedFirstTimestamp` | `firstTimestamp`     |
//! | `deprecatedLastTimestamp`  | `lastTimestamp`      |
//! | `deprecatedCount`          | `count`              |
//!
//! `eventTime`, `series`, `reportingInstance`, `action`, `reason`, `related` and `type` keep
//! their names. Nothing else is derived: the series count is not copied into `count`, a legacy
//! `source.component` does not become `reportingController`.
//!
//! Both shapes print Go's non-`omitempty` zero values: core/v1 always has `involvedObject`,
//! `source: {}`, `firstTimestamp`/`lastTimestamp`/`eventTime` (`null` when unset) and
//! `reportingComponent`/`reportingInstance` (`""`); events.k8s.io/v1 always has `eventTime`,
//! `regarding`, `deprecatedSource: {}` and the two deprecated timestamps. Keys come in the
//! order of the Go structs.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::resources::{ResourceType, well_known};

/// (events.k8s.io/v1 name, core/v1 name) of the fields whose names differ.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The core/v1 name of an events.k8s.io/v1 field.
fn core_name(v1_name: &str) -> &str {
    RENAMED
        .iter()
        .find(|(v, _)| *v == v1_name)
        .map_or(v1_name, |(_, c)| c)
}

/// How a field is printed when it has its zero value.
#[derive(Clone, Copy)]
enum Zero {
    /// `omitempty`: left out.
    Omitted,
    /// A struct: printed as `{}`.
    Object,
    /// A time: printed as `null`.
    Null,
    /// A string without `omitempty`: printed as `""`.
    Empty,
}

/// The core/v1 Event fields after `metadata`, in the Go struct's order.
const CORE_FIELDS: &[(&str, Zero)] = &[
    ("involvedObject", Zero::Object),
    ("reason", Zero::Omitted),
    ("message", Zero::Omitted),
    ("source", Zero::Object),
    ("firstTimestamp", Zero::Null),
    ("lastTimestamp", Zero::Null),
    ("count", Zero::Omitted),
    ("type", Zero::Omitted),
    ("eventTime", Zero::Null),
    ("series", Zero::Omitted),
    ("action", Zero::Omitted),
    ("related", Zero::Omitted),
    ("reportingComponent", Zero::Empty),
    ("reportingInstance", Zero::Empty),
];

/// The events.k8s.io/v1 Event fields after `metadata`, in the Go struct's order.
const V1_FIELDS: &[(&str, Zero)] = &[
    ("eventTime", Zero::Null),
    ("series", Zero::Omitted),
    ("reportingController", Zero::Omitted),
    ("reportingInstance", Zero::Omitted),
    ("action", Zero::Omitted),
    ("reason", Zero::Omitted),
    ("regarding", Zero::Object),
    ("related", Zero::Omitted),
    ("note", Zero::Omitted),
    ("type", Zero::Omitted),
    ("deprecatedSource", Zero::Object),
    ("deprecatedFirstTimestamp", Zero::Null),
    ("deprecatedLastTimestamp", Zero::Null),
    ("deprecatedCount", Zero::Omitted),
];

/// Whether a value is Go's zero value for its field (what `omitempty` leaves out).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
    }
}

/// An `ObjectReference` / `EventSource` with its empty (`omitempty`) members left out.
fn without_empty_members(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !is_zero(x))
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `kind`, `apiVersion`, `metadata`, then `fields` (from `get`) in order with their zero values.
fn build(
    kind_api: (&str, &str),
    metadata: Value,
    fields: &[(&str, Zero)],
    get: impl Fn(&str) -> Option<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind_api.0));
    out.insert("apiVersion".into(), json!(kind_api.1));
    out.insert("metadata".into(), metadata);
    for (name, zero) in fields {
        let v = get(name)
            .map(|v| match *name {
                "involvedObject" | "regarding" | "source" | "deprecatedSource" | "related" => {
                    without_empty_members(&v)
                }
                _ => v,
            })
            .filter(|v| !is_zero(v));
        match (v, zero) {
            (Some(v), _) => {
                out.insert((*name).into(), v);
            }
            (None, Zero::Omitted) => {}
            (None, Zero::Object) => {
                out.insert((*name).into(), json!({}));
            }
            (None, Zero::Null) => {
                out.insert((*name).into(), Value::Null);
            }
            (None, Zero::Empty) => {
                out.insert((*name).into(), json!(""));
            }
        }
    }
    Value::Object(out)
}

fn metadata_of(obj: &Value) -> Value {
    obj.get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// The core/v1 (storage) shape of an Event written in the events.k8s.io/v1 shape. Fields of
/// neither API are dropped (unknown fields are checked on the request body before).
pub fn to_core(v1: &Value) -> Value {
    let mut renamed = Map::new();
    for (k, v) in v1.as_object().into_iter().flatten() {
        renamed.insert(core_name(k).to_string(), v.clone());
    }
    let renamed = Value::Object(renamed);
    canonical_core(&renamed)
}

/// A core/v1 Event in its canonical shape: the Go struct's key order, zero values printed or
/// left out as the real server does (see the module docs).
pub fn canonical_core(core: &Value) -> Value {
    build(("Event", "v1"), metadata_of(core), CORE_FIELDS, |name| {
        core.get(name).cloned()
    })
}

/// The events.k8s.io/v1 shape of a stored (core/v1-shaped) Event.
pub fn to_events_v1(core: &Value) -> Value {
    build(
        ("Event", "events.k8s.io/v1"),
        metadata_of(core),
        V1_FIELDS,
        |name| core.get(core_name(name)).cloned(),
    )
}

/// A stored object as the API type `rt` shows it: converted for a view type (events.k8s.io
/// events), unchanged otherwise.
pub fn for_api<'a>(rt: &ResourceType, stored: &'a Value) -> Cow<'a, Value> {
    if rt.is_view() && std::ptr::eq(rt.storage(), well_known::EVENTS) {
        Cow::Owned(to_events_v1(stored))
    } else {
        Cow::Borrowed(stored)
    }
}

/// An object written through the API type `rt` in the storage type's shape: converted for a
/// view type (events.k8s.io events), unchanged otherwise.
pub fn for_storage(rt: &ResourceType, written: Value) -> Value {
    if rt.is_view() && std::ptr::eq(rt.storage(), well_known::EVENTS) {
        to_core(&written)
    } else {
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_and_v1_round_trip_with_zero_values() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "n.1", "namespace": "default"},
            "eventTime": "2026-12-07T18:35:39.177368Z",
            "reportingController": "kured-rs", "reportingInstance": "kured-rs-a",
            "action": "Reboot", "reason": "RebootScheduled",
            "regarding": {"kind": "Node", "name": "a", "uid": "u", "apiVersion": "v1"},
            "note": "hello", "type": "Normal"
        });
        let core = to_core(&v1);
        let keys: Vec<&str> = core
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "involvedObject",
                "reason",
                "message",
                "source",
                "firstTimestamp",
                "lastTimestamp",
                "type",
                "eventTime",
                "action",
                "reportingComponent",
                "reportingInstance"
            ]
        );
        assert_eq!(core["source"], json!({}));
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "kured-rs");
        let back = to_events_v1(&core);
        let mut expected = v1.clone();
        expected["kind"] = json!("Event");
        expected["deprecatedSource"] = json!({});
        expected["deprecatedFirstTimestamp"] = Value::Null;
        expected["deprecatedLastTimestamp"] = Value::Null;
        assert_eq!(back, expected);
        assert_eq!(
            back.as_object().unwrap().keys().nth(3).unwrap(),
            "eventTime"
        );
    }

    #[test]
    fn legacy_event_reads_with_deprecated_fields_and_no_reporting_controller() {
        let core = canonical_core(&json!({
            "metadata": {"name": "x"},
            "involvedObject": {"kind": "Node", "name": "a", "uid": "a"},
            "message": "m", "reason": "NodeReady", "type": "Normal",
            "source": {"component": "kubelet", "host": "a"},
            "firstTimestamp": "2026-12-07T18:36:11Z", "lastTimestamp": "2026-12-07T18:36:13Z",
            "count": 2, "reportingComponent": ""
        }));
        assert_eq!(core["eventTime"], Value::Null);
        assert_eq!(core["reportingInstance"], "");
        let v1 = to_events_v1(&core);
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(v1["deprecatedSource"]["component"], "kubelet");
        assert_eq!(v1["eventTime"], Value::Null);
        assert!(v1.get("reportingController").is_none());
        assert!(v1.get("count").is_none());
    }
}
