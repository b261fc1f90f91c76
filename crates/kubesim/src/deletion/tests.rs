//! Unit tests of `deletion`.

use super::*;
use crate::resources::well_known::{LEASES, NODES};
use crate::store::{EventType, StoreConfig};

fn store() -> Arc<Store> {
    Store::new(StoreConfig {
        watch_window: 1000,
        record_history: true,
    })
}

fn running_pod(store: &Store, name: &str, node: Option<&str>) -> Arc<Value> {
    let mut spec = json!({"containers":[{"name":"c","image":"i"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    store
        .create(
            PODS,
            json!({"metadata":{"name":name,"namespace":"default"},"spec":spec,
                   "status":{"phase":"Running"}}),
        )
        .unwrap()
}

#[test]
fn bound_pod_goes_terminating_with_default_grace_and_second_delete_is_noop() {
    let s = store();
    running_pod(&s, "p", Some("node-a"));
    let out = delete_object(&s, PODS, "default", "p", &DeleteOptions::default()).unwrap();
    let DeleteOutcome::Terminating(obj) = out else {
        panic!("expected Terminating, got {out:?}")
    };
    assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 30);
    let ts: jiff::Timestamp = obj["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let delta = ts.as_second() - jiff::Timestamp::now().as_second();
    assert!(
        (28..=31).contains(&delta),
        "deletionTimestamp {delta}s ahead"
    );
    let rv = s.current_rv();
    let again = delete_object(&s, PODS, "default", "p", &DeleteOptions::default()).unwrap();
    assert_eq!(again, DeleteOutcome::Terminating(obj.clone()));
    assert_eq!(s.current_rv(), rv);
    // A longer grace does not extend it.
    let longer = DeleteOptions {
        grace_period_seconds: Some(100),
        ..DeleteOptions::default()
    };
    assert_eq!(
        delete_object(&s, PODS, "default", "p", &longer).unwrap(),
        DeleteOutcome::Terminating(obj)
    );
}

#[test]
fn grace_zero_on_terminating_pod_removes_it_with_modified_then_deleted() {
    let s = store();
    running_pod(&s, "p", Some("node-a"));
    delete_object(&s, PODS, "default", "p", &DeleteOptions::default()).unwrap();
    let before = s.history().len();
    let zero = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    let out = delete_object(&s, PODS, "default", "p", &zero).unwrap();
    let DeleteOutcome::Deleted(last) = out else {
        panic!("expected Deleted")
    };
    assert_eq!(last["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(
        last["metadata"]["resourceVersion"],
        s.current_rv().to_string()
    );
    assert!(s.get(PODS, "default", "p").is_none());
    let kinds: Vec<_> = s.history()[before..].iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventType::Modified, EventType::Deleted]);
}

#[test]
fn shorter_grace_moves_deletion_timestamp_from_the_original_delete_time() {
    let s = store();
    running_pod(&s, "p", Some("node-a"));
    let first = delete_object(&s, PODS, "default", "p", &DeleteOptions::default()).unwrap();
    let ts0: jiff::Timestamp = first.object()["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let five = DeleteOptions {
        grace_period_seconds: Some(5),
        ..DeleteOptions::default()
    };
    let out = delete_object(&s, PODS, "default", "p", &five).unwrap();
    let DeleteOutcome::Terminating(obj) = out else {
        panic!("expected Terminating")
    };
    let ts1: jiff::Timestamp = obj["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ts0.as_second() - ts1.as_second(), 25);
    assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 5);
}

#[test]
fn unbound_or_finished_pods_and_explicit_zero_are_removed_at_once() {
    let s = store();
    running_pod(&s, "unbound", None);
    let out = delete_object(&s, PODS, "default", "unbound", &DeleteOptions::default()).unwrap();
    assert!(matches!(out, DeleteOutcome::Deleted(_)));
    let done = running_pod(&s, "done", Some("n"));
    s.update(PODS, "default", "done", |o| {
        let mut o = o.clone();
        o["status"]["phase"] = json!("Succeeded");
        Ok(o)
    })
    .unwrap();
    let out = delete_object(&s, PODS, "default", "done", &DeleteOptions::default()).unwrap();
    assert!(matches!(out, DeleteOutcome::Deleted(_)));
    assert_eq!(done["metadata"]["name"], "done");
    running_pod(&s, "zero", Some("n"));
    let zero = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    let out = delete_object(&s, PODS, "default", "zero", &zero).unwrap();
    let last = out.object();
    assert!(matches!(out, DeleteOutcome::Deleted(_)));
    assert_eq!(last["metadata"]["deletionGracePeriodSeconds"], 0);
    assert!(last["metadata"]["deletionTimestamp"].is_string());
}

#[test]
fn preconditions_conflict_with_kind_in_message_and_details() {
    let s = store();
    let lease = s
        .create(
            LEASES,
            json!({"metadata":{"name":"l","namespace":"kube-system"}}),
        )
        .unwrap();
    let opts = DeleteOptions {
        precondition_resource_version: Some("1".into()),
        ..DeleteOptions::default()
    };
    let err = delete_object(&s, LEASES, "kube-system", "l", &opts).unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        format!(
            "Operation cannot be fulfilled on Lease.coordination.k8s.io \"l\": the \
             ResourceVersion in the precondition (1) does not match the ResourceVersion in \
             record ({}). The object might have been modified",
            lease["metadata"]["resourceVersion"].as_str().unwrap()
        )
    );
    assert_eq!(
        err.details,
        Some(json!({"name":"l","group":"coordination.k8s.io","kind":"Lease"}))
    );
    let uid = DeleteOptions {
        precondition_uid: Some("nope".into()),
        ..DeleteOptions::default()
    };
    let err = delete_object(&s, LEASES, "kube-system", "l", &uid).unwrap_err();
    assert!(
        err.message
            .contains("Precondition failed: UID in precondition: nope")
    );
    let ok = DeleteOptions {
        precondition_resource_version: lease["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        precondition_uid: lease["metadata"]["uid"].as_str().map(str::to_string),
        ..DeleteOptions::default()
    };
    let out = delete_object(&s, LEASES, "kube-system", "l", &ok).unwrap();
    assert!(matches!(out, DeleteOutcome::Deleted(_)));
    let err = delete_object(&s, LEASES, "kube-system", "l", &ok).unwrap_err();
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "leases.coordination.k8s.io \"l\" not found");
}

#[test]
fn finalizers_keep_an_object_until_removed() {
    let s = store();
    s.create(NODES, json!({"metadata":{"name":"n","finalizers":["x/y"]}}))
        .unwrap();
    let out = delete_object(&s, NODES, "", "n", &DeleteOptions::default()).unwrap();
    let DeleteOutcome::Terminating(obj) = out else {
        panic!("expected Terminating")
    };
    assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 0);
    assert!(obj["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(remove_if_finalized(&s, NODES, "", "n").unwrap(), None);
    s.update(NODES, "", "n", |o| {
        let mut o = o.clone();
        o["metadata"]["finalizers"] = json!([]);
        Ok(o)
    })
    .unwrap();
    assert!(remove_if_finalized(&s, NODES, "", "n").unwrap().is_some());
    assert!(s.get(NODES, "", "n").is_none());
}

#[test]
fn kubelet_finalizes_only_terminating_pods() {
    let s = store();
    running_pod(&s, "p", Some("node-a"));
    let out = finalize_pod_deletion(&s, "default", "p").unwrap();
    assert!(matches!(out, DeleteOutcome::Terminating(_)));
    assert!(s.get(PODS, "default", "p").is_some());
    delete_object(&s, PODS, "default", "p", &DeleteOptions::default()).unwrap();
    let out = finalize_pod_deletion(&s, "default", "p").unwrap();
    assert!(matches!(out, DeleteOutcome::Deleted(_)));
    assert!(s.get(PODS, "default", "p").is_none());
    assert_eq!(
        finalize_pod_deletion(&s, "default", "p").unwrap_err().code,
        404
    );
}

#[test]
fn delete_options_from_json() {
    let o = DeleteOptions::from_json(&json!({
        "gracePeriodSeconds": 7,
        "preconditions": {"uid": "u", "resourceVersion": "9"},
        "propagationPolicy": "Background"
    }));
    assert_eq!(o.grace_period_seconds, Some(7));
    assert_eq!(o.precondition_uid.as_deref(), Some("u"));
    assert_eq!(o.precondition_resource_version.as_deref(), Some("9"));
    assert_eq!(o.propagation_policy.as_deref(), Some("Background"));
    assert_eq!(
        DeleteOptions::from_json(&json!({})),
        DeleteOptions::default()
    );
}
