//! Unit tests of the validation rules against the recorded and documented messages.

use serde_json::json;

use super::field_error::{FieldError, invalid};
use super::micro_time::parse_micro_time;
use super::names::{is_dns_label, is_dns_subdomain};
use super::*;
use crate::resources::well_known::{DAEMONSETS, EVENTS, EVENTS_V1, LEASES, NODES, PODS};

#[test]
fn invalid_pod_matches_the_recorded_error() {
    let pod = json!({"metadata":{"name":"Bad_Name"},"spec":{"containers":[]}});
    let e = validate(PODS, &pod).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(e.message.starts_with("Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
    assert!(e.message.ends_with(", spec.containers: Required value]"));
    let d = e.details.unwrap();
    assert_eq!(d["kind"], "Pod");
    assert_eq!(
        d["causes"][1],
        json!({"reason":"FieldValueRequired","message":"Required value","field":"spec.containers"})
    );
    let ok = json!({"metadata":{"name":"a.b-1"},"spec":{"containers":[{"name":"c","image":"i"}]}});
    assert!(validate(PODS, &ok).is_ok());
}

#[test]
fn bad_taint_effect_is_reported_twice_under_metadata() {
    let node =
        json!({"metadata":{"name":"node-a"},"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}});
    let e = validate(NODES, &node).unwrap_err();
    assert_eq!(
        e.message,
        "Node \"node-a\" is invalid: metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
    );
    let d = e.details.unwrap();
    assert_eq!(d["causes"].as_array().unwrap().len(), 2);
    let grouped = invalid(DAEMONSETS, "x", &[FieldError::required("spec.selector")]);
    assert!(
        grouped
            .message
            .starts_with("DaemonSet.apps \"x\" is invalid")
    );
    assert_eq!(grouped.details.unwrap()["group"], "apps");
}

#[test]
fn pod_specs_are_immutable_except_images_and_added_tolerations() {
    let old = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"a"}],
        "tolerations":[{"key":"k","operator":"Exists"}],"nodeName":"n1"}});
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("b");
    new["spec"]["tolerations"] =
        json!([{"key":"k","operator":"Exists"},{"key":"x","operator":"Exists"}]);
    assert!(validate_update(PODS, &old, &new).is_ok());
    let mut moved = old.clone();
    moved["spec"]["nodeName"] = json!("n2");
    let e = validate_update(PODS, &old, &moved).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(e.message.starts_with(
        "Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than"
    ));
    let mut dropped = old.clone();
    dropped["spec"]["tolerations"] = json!([]);
    assert!(validate_update(PODS, &old, &dropped).is_err());
    assert!(validate_update(NODES, &old, &moved).is_ok());
}

#[test]
fn micro_times_need_six_digits_and_are_normalised_to_utc() {
    let mut l = json!({"spec":{"renewTime":"2026-01-02T03:04:05.123456+02:00"}});
    normalize_micro_times(LEASES, &mut l).unwrap();
    assert_eq!(l["spec"]["renewTime"], "2026-01-02T01:04:05.123456Z");
    let mut l = json!({"spec":{"renewTime":"2026-01-02T03:04:05Z"}});
    let e = normalize_micro_times(LEASES, &mut l).unwrap_err();
    assert_eq!(
        e.message,
        "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2026-01-02T03:04:05Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
    );
    assert_eq!(
        parse_micro_time("2026-01-02T03:04:05.1Z").unwrap_err(),
        "cannot parse \".1Z\" as \".000000\""
    );
    assert_eq!(
        parse_micro_time("2026-01-02T03:04:05.123456789Z").unwrap_err(),
        "cannot parse \"789Z\" as \"Z07:00\""
    );
    assert!(is_dns_label("a-1") && !is_dns_label("-a") && !is_dns_subdomain("A"));
}

#[test]
fn daemonset_selector_must_match_its_template_labels() {
    let ds = |selector: serde_json::Value, labels: serde_json::Value| {
        json!({"metadata":{"name":"kured","namespace":"kube-system"},
            "spec":{"selector":selector,"template":{"metadata":{"labels":labels}}}})
    };
    let ok = ds(
        json!({"matchLabels":{"name":"kured"}}),
        json!({"name":"kured","x":"y"}),
    );
    assert!(validate(DAEMONSETS, &ok).is_ok());
    let e = validate(
        DAEMONSETS,
        &ds(
            json!({"matchLabels":{"name":"kured"}}),
            json!({"name":"other","a":"b"}),
        ),
    )
    .unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "DaemonSet.apps \"kured\" is invalid: spec.template.metadata.labels: Invalid value: {\"a\":\"b\",\"name\":\"other\"}: `selector` does not match template `labels`"
    );
    let d = e.details.unwrap();
    assert_eq!(
        (d["kind"].as_str(), d["group"].as_str()),
        (Some("DaemonSet"), Some("apps"))
    );
    let empty = validate(DAEMONSETS, &ds(json!({}), json!({"a":"b"}))).unwrap_err();
    assert_eq!(
        empty.message,
        "DaemonSet.apps \"kured\" is invalid: spec.selector: Invalid value: {}: empty selector is invalid for daemonset"
    );
}

#[test]
fn lease_durations_must_be_positive() {
    let lease = |spec: serde_json::Value| json!({"metadata":{"name":"l"},"spec":spec});
    assert!(validate(LEASES, &lease(json!({"leaseDurationSeconds":15}))).is_ok());
    let e = validate(LEASES, &lease(json!({"leaseDurationSeconds":-5}))).unwrap_err();
    assert_eq!(
        e.message,
        "Lease.coordination.k8s.io \"l\" is invalid: spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0"
    );
    assert_eq!(
        e.details.unwrap()["causes"][0]["reason"],
        "FieldValueInvalid"
    );
    assert!(validate(LEASES, &lease(json!({"leaseDurationSeconds":0}))).is_err());
    assert!(validate(LEASES, &lease(json!({"leaseTransitions":-1}))).is_err());
}

#[test]
fn node_events_live_in_default() {
    let ev = |ns: &str, event_time: serde_json::Value| {
        json!({"metadata":{"name":"e","namespace":ns},"eventTime":event_time,
            "involvedObject":{"kind":"Node","name":"node-a"}})
    };
    assert!(validate(EVENTS, &ev("default", json!(null))).is_ok());
    let e = validate(EVENTS, &ev("evfx", json!(null))).unwrap_err();
    assert_eq!(
        e.message,
        "Event \"e\" is invalid: involvedObject.namespace: Invalid value: \"\": does not match event.namespace"
    );
    assert!(validate(EVENTS, &ev("kube-system", json!(null))).is_err());
    let mut new_style = ev("kube-system", json!("2026-01-02T03:04:05.000000Z"));
    // A new-style Event (eventTime set) also needs its reporting fields, through either API.
    let e = validate(EVENTS, &new_style).unwrap_err();
    assert!(
        e.message
            .starts_with("Event \"e\" is invalid: [reportingComponent: Required value, "),
        "{}",
        e.message
    );
    for (k, v) in [
        ("reportingComponent", "kured-rs"),
        ("reportingInstance", "kured-rs-a"),
        ("action", "Reboot"),
        ("reason", "Rebooting"),
    ] {
        new_style[k] = json!(v);
    }
    assert!(validate(EVENTS, &new_style).is_ok());
    let pod_event = json!({"metadata":{"name":"e","namespace":"a"},
        "involvedObject":{"kind":"Pod","name":"p","namespace":"b"}});
    assert!(validate(EVENTS, &pod_event).is_err());
}

/// A valid events.k8s.io Event about node-a, in the storage (core/v1) shape.
fn v1_event() -> serde_json::Value {
    crate::event_conversion::to_core(&json!({
        "metadata": {"name": "node-a.1", "namespace": "default"},
        "eventTime": "2026-12-07T18:35:39.177368Z",
        "reportingController": "kured-rs", "reportingInstance": "kured-rs-node-a",
        "action": "Reboot", "reason": "Rebooting",
        "regarding": {"kind": "Node", "name": "node-a", "uid": "u-1", "apiVersion": "v1"},
        "note": "Rebooting node node-a", "type": "Normal"
    }))
}

#[test]
fn events_v1_create_rules_report_internal_field_names() {
    assert!(validate_create(EVENTS_V1, &v1_event()).is_ok());
    let mut e = v1_event();
    e["eventTime"] = serde_json::Value::Null;
    let err = validate_create(EVENTS_V1, &e).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: eventTime: Required value"
    );
    assert!(err.details.as_ref().unwrap().get("group").is_none());
    // The same object through core/v1 has no create-only rules.
    assert!(validate_create(EVENTS, &e).is_ok());
    let mut e = v1_event();
    e["type"] = json!("Bogus");
    let err = validate_create(EVENTS_V1, &e).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: type: Invalid value: \"\": has invalid value: Bogus"
    );
    // The note limit counts bytes: 1024 ASCII characters pass, 600 two-byte ones do not.
    let mut e = v1_event();
    e["message"] = json!("a".repeat(1024));
    assert!(validate_create(EVENTS_V1, &e).is_ok());
    e["message"] = json!("é".repeat(600));
    let err = validate_create(EVENTS_V1, &e).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: message: Invalid value: \"\": can have at most 1024 characters"
    );
    let mut e = v1_event();
    e["series"] = json!({"count": 1});
    let err = validate_create(EVENTS_V1, &e).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: [series.count: Invalid value: \"\": should be at least 2, series.lastObservedTime: Required value]"
    );
    let mut e = v1_event();
    e["metadata"]["namespace"] = json!("evfx");
    assert!(validate_create(EVENTS_V1, &e).is_err());
    e["metadata"]["namespace"] = json!("kube-system");
    assert!(validate_create(EVENTS_V1, &e).is_ok());
}

#[test]
fn events_v1_updates_may_change_series_and_metadata_only() {
    let old = v1_event();
    let mut new = old.clone();
    new["series"] = json!({"count": 2, "lastObservedTime": "2026-12-07T18:35:40.000000Z"});
    new["metadata"]["labels"] = json!({"a": "b"});
    assert!(validate_update(EVENTS_V1, &old, &new).is_ok());
    let mut changed = old.clone();
    changed["message"] = json!("changed");
    let err = validate_update(EVENTS_V1, &old, &changed).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: message: Invalid value: \"changed\": field is immutable"
    );
    let mut moved = old.clone();
    moved["involvedObject"] =
        json!({"kind": "Node", "name": "ev-b", "uid": "x", "apiVersion": "v1"});
    let err = validate_update(EVENTS_V1, &old, &moved).unwrap_err();
    assert_eq!(
        err.message,
        "Event \"node-a.1\" is invalid: involvedObject: Invalid value: {\"Kind\":\"Node\",\"Namespace\":\"\",\"Name\":\"ev-b\",\"UID\":\"x\",\"APIVersion\":\"v1\",\"ResourceVersion\":\"\",\"FieldPath\":\"\"}: field is immutable"
    );
    // core/v1 updates run the legacy rules only: a legacy recorder changes message and count.
    assert!(validate_update(EVENTS, &old, &changed).is_ok());
}
