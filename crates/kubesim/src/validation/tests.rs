//! Unit tests of the validation rules against the recorded and documented messages.

use serde_json::json;

use super::field_error::{FieldError, invalid};
use super::micro_time::parse_micro_time;
use super::names::{is_dns_label, is_dns_subdomain};
use super::*;
use crate::resources::well_known::{DAEMONSETS, EVENTS, LEASES, NODES, PODS};

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
    assert!(
        validate(
            EVENTS,
            &ev("kube-system", json!("2026-01-02T03:04:05.000000Z"))
        )
        .is_ok()
    );
    let pod_event = json!({"metadata":{"name":"e","namespace":"a"},
        "involvedObject":{"kind":"Pod","name":"p","namespace":"b"}});
    assert!(validate(EVENTS, &pod_event).is_err());
}
