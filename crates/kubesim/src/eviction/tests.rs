//! Unit tests of `eviction`.

use std::sync::Arc;

use super::*;
use crate::store::{EventType, StoreConfig};

fn store() -> Arc<Store> {
    Store::new(StoreConfig::default())
}

fn pod(store: &Store, name: &str, phase: &str, ready: bool) {
    store
        .create(
            PODS,
            json!({
                "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 30,
                         "containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": phase, "conditions": [
                    {"type": "Ready", "status": if ready { "True" } else { "False" }}
                ]}
            }),
        )
        .unwrap();
}

fn pdb(store: &Store, name: &str, status: &Value) {
    store
        .create(
            PDBS,
            json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
                "status": status,
            }),
        )
        .unwrap();
}

fn body(name: &str, grace: Option<i64>) -> Vec<u8> {
    let mut b = json!({"apiVersion":"policy/v1","kind":"Eviction",
                       "metadata":{"name":name,"namespace":"default"}});
    if let Some(g) = grace {
        b["deleteOptions"] = json!({"gracePeriodSeconds": g});
    }
    serde_json::to_vec(&b).unwrap()
}

#[test]
fn no_pdb_deletes_with_the_given_grace() {
    let s = store();
    pod(&s, "a", "Running", true);
    assert_eq!(
        evict(&s, "default", "a", &body("a", Some(0)), false).unwrap(),
        Vec::<String>::new()
    );
    assert!(s.get(PODS, "default", "a").is_none());
    pod(&s, "b", "Running", true);
    evict(&s, "default", "b", &body("b", None), false).unwrap();
    let b = s.get(PODS, "default", "b").unwrap();
    assert_eq!(b["metadata"]["deletionGracePeriodSeconds"], 30);
}

#[test]
fn name_mismatch_missing_pod_and_bad_kind() {
    let s = store();
    pod(&s, "a", "Running", true);
    let e = evict(&s, "default", "a", &body("other", Some(0)), false).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "name in URL does not match name in Eviction object")
    );
    assert!(e.details.is_none());
    let e = evict(&s, "default", "zz", &body("zz", Some(0)), false).unwrap_err();
    assert_eq!(e.code, 404);
    assert_eq!(e.message, "pods \"zz\" not found");
    let e = evict(
        &s,
        "default",
        "a",
        br#"{"apiVersion":"v1","kind":"Pod""#,
        false,
    )
    .unwrap_err();
    assert_eq!(e.code, 400);
    // No kind and no apiVersion (what kube-rs' `Api::evict` sends): the endpoint's type.
    pod(&s, "c", "Running", true);
    assert!(evict(&s, "default", "c", br#"{"metadata":{"name":"c"}}"#, false).is_ok());
    assert!(
        s.get(PODS, "default", "c")
            .is_none_or(|p| { p["metadata"].get("deletionTimestamp").is_some() })
    );
    let e = evict(
        &s,
        "default",
        "a",
        br#"{"apiVersion":"v1","kind":"DeleteOptions"}"#,
        false,
    )
    .unwrap_err();
    assert_eq!(e.code, 400);
    assert!(s.get(PODS, "default", "a").is_some());
}

#[test]
fn unknown_fields_warn_or_fail_strictly() {
    let s = store();
    pod(&s, "a", "Running", true);
    let snake = br#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a","namespace":"default"},"delete_options":{"gracePeriodSeconds":0}}"#;
    let err = evict(&s, "default", "a", snake, true).unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "Eviction in version \"v1\" cannot be handled as a Eviction: strict decoding error: unknown field \"delete_options\""
    );
    assert!(s.get(PODS, "default", "a").unwrap()["metadata"]["deletionTimestamp"].is_null());
    let warnings = evict(&s, "default", "a", snake, false).unwrap();
    assert_eq!(
        warnings,
        vec![r#"299 - "unknown field \"delete_options\"""#.to_string()]
    );
    // The snake_case options were ignored: default 30 s graceful delete.
    let a = s.get(PODS, "default", "a").unwrap();
    assert_eq!(a["metadata"]["deletionGracePeriodSeconds"], 30);
}

#[test]
fn v1beta1_body_is_accepted() {
    let s = store();
    pod(&s, "a", "Pending", false);
    let b = br#"{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"a","namespace":"default"},"deleteOptions":{"gracePeriodSeconds":0}}"#;
    evict(&s, "default", "a", b, false).unwrap();
    assert!(s.get(PODS, "default", "a").is_none());
}

#[test]
fn pdb_blocks_then_allows_and_decrements() {
    let s = store();
    pod(&s, "a", "Running", true);
    pod(&s, "b", "Running", true);
    pdb(
        &s,
        "web-pdb",
        &json!({"observedGeneration":1,"disruptionsAllowed":0,"currentHealthy":1,"desiredHealthy":1,"expectedPods":2}),
    );
    let e = evict(&s, "default", "a", &body("a", Some(0)), false).unwrap_err();
    assert_eq!(e.code, 429);
    assert!(e.headers.is_empty());
    assert_eq!(
        serde_json::to_string(&e.to_status()).unwrap(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web-pdb needs 1 healthy pods and has 1 currently"}]},"code":429}"#
    );
    s.update(PDBS, "default", "web-pdb", |p| {
        let mut p = p.clone();
        p["status"] = json!({"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2,
            "conditions":[{"type":"DisruptionAllowed","status":"True","observedGeneration":1,"lastTransitionTime":"2026-01-02T03:04:05Z","reason":"SufficientPods","message":""}]});
        Ok(p)
    })
    .unwrap();
    evict(&s, "default", "a", &body("a", Some(0)), false).unwrap();
    assert!(s.get(PODS, "default", "a").is_none());
    let p = s.get(PDBS, "default", "web-pdb").unwrap();
    assert_eq!(p["status"]["disruptionsAllowed"], 0);
    assert!(p["status"]["disruptedPods"]["a"].is_string());
    assert_eq!(p["status"]["conditions"][0]["status"], "False");
    assert_eq!(p["status"]["conditions"][0]["reason"], "InsufficientPods");
    assert_ne!(
        p["status"]["conditions"][0]["lastTransitionTime"],
        "2026-01-02T03:04:05Z"
    );
    let e = evict(&s, "default", "b", &body("b", Some(0)), false).unwrap_err();
    assert_eq!(e.code, 429);
}

#[test]
fn cause_messages_follow_the_real_rule() {
    let status = json!({"currentHealthy":1,"desiredHealthy":0,"disruptionsAllowed":0,
        "conditions":[{"type":"DisruptionAllowed","status":"False","reason":"InsufficientPods","message":""}]});
    assert_eq!(
        denied_message("solo-pdb", &status),
        "The disruption budget solo-pdb does not allow evicting pods currently"
    );
    let status = json!({"currentHealthy":4,"desiredHealthy":3,
        "conditions":[{"type":"DisruptionAllowed","status":"False","reason":"Whatever","message":"m"}]});
    assert_eq!(
        denied_message("p", &status),
        "The disruption budget p does not allow evicting pods currently (Whatever): m"
    );
    let status = json!({"currentHealthy":0,"desiredHealthy":3,
        "conditions":[{"type":"DisruptionAllowed","status":"False","reason":"SyncFailed","message":"boom"}]});
    assert_eq!(
        denied_message("p", &status),
        "The disruption budget p does not allow evicting pods currently because it failed sync: boom"
    );
}

#[test]
fn stale_pdb_is_still_being_processed_with_retry_after() {
    let s = store();
    pod(&s, "a", "Running", true);
    pdb(
        &s,
        "solo-pdb",
        &json!({"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1}),
    );
    s.update(PDBS, "default", "solo-pdb", |p| {
        let mut p = p.clone();
        p["spec"]["minAvailable"] = json!(0);
        Ok(p)
    })
    .unwrap();
    let e = evict(&s, "default", "a", &body("a", Some(0)), false).unwrap_err();
    assert_eq!(e.code, 429);
    assert_eq!(e.headers, vec![("Retry-After", "10".to_string())]);
    assert_eq!(
        e.details,
        Some(
            json!({"causes":[{"reason":"DisruptionBudget","message":"The disruption budget solo-pdb is still being processed by the server."}],"retryAfterSeconds":10})
        )
    );
}

#[test]
fn two_pdbs_is_a_500_without_reason_or_details() {
    let s = store();
    pod(&s, "a", "Running", true);
    pdb(
        &s,
        "p1",
        &json!({"observedGeneration":1,"disruptionsAllowed":5}),
    );
    pdb(
        &s,
        "p2",
        &json!({"observedGeneration":1,"disruptionsAllowed":5}),
    );
    let e = evict(&s, "default", "a", &body("a", Some(0)), false).unwrap_err();
    assert_eq!(
        serde_json::to_string(&e.to_status()).unwrap(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.","code":500}"#
    );
}

#[test]
fn pending_terminating_and_unready_pods_skip_the_budget() {
    let s = store();
    pdb(
        &s,
        "web-pdb",
        &json!({"observedGeneration":1,"disruptionsAllowed":0,"currentHealthy":1,"desiredHealthy":1}),
    );
    pod(&s, "pending", "Pending", false);
    evict(&s, "default", "pending", &body("pending", Some(0)), false).unwrap();
    assert!(s.get(PODS, "default", "pending").is_none());
    pod(&s, "term", "Running", true);
    crate::deletion::delete_object(&s, PODS, "default", "term", &DeleteOptions::default()).unwrap();
    evict(&s, "default", "term", &body("term", Some(0)), false).unwrap();
    assert!(s.get(PODS, "default", "term").is_none());
    // Running but not Ready, and the budget is healthy enough: no decrement needed.
    pod(&s, "unready", "Running", false);
    evict(&s, "default", "unready", &body("unready", Some(0)), false).unwrap();
    assert!(s.get(PODS, "default", "unready").is_none());
    assert_eq!(
        s.get(PDBS, "default", "web-pdb").unwrap()["status"]["disruptionsAllowed"],
        0
    );
}

#[test]
fn dry_run_checks_but_writes_nothing() {
    let s = store();
    pod(&s, "a", "Running", true);
    pdb(
        &s,
        "web-pdb",
        &json!({"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1}),
    );
    let rv = s.current_rv();
    let b = br#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"dryRun":["All"]}}"#;
    evict(&s, "default", "a", b, false).unwrap();
    assert_eq!(s.current_rv(), rv);
    s.update(PDBS, "default", "web-pdb", |p| {
        let mut p = p.clone();
        p["status"]["disruptionsAllowed"] = json!(0);
        Ok(p)
    })
    .unwrap();
    assert_eq!(evict(&s, "default", "a", b, false).unwrap_err().code, 429);
    assert!(s.get(PODS, "default", "a").is_some());
}

#[test]
fn negative_budget_is_forbidden() {
    let s = store();
    pod(&s, "a", "Running", true);
    pdb(
        &s,
        "foo",
        &json!({"observedGeneration":1,"disruptionsAllowed":-1}),
    );
    let e = evict(&s, "default", "a", &body("a", Some(0)), false).unwrap_err();
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "poddisruptionbudget.policy \"foo\" is forbidden: pdb disruptions allowed is negative"
    );
}

#[test]
fn concurrent_evictions_against_one_allowed_disruption() {
    let s = store();
    for i in 0..8 {
        pod(&s, &format!("p{i}"), "Running", true);
    }
    pdb(
        &s,
        "web-pdb",
        &json!({"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":8,"desiredHealthy":7}),
    );
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let name = format!("p{i}");
                evict(&s, "default", &name, &body(&name, Some(0)), false).map(|_| ())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.code == 429)
    );
    assert_eq!(s.list(PODS, Some("default"), |_| true).0.len(), 7);
}

#[test]
fn an_evicted_pod_becomes_a_disruption_target_before_it_terminates() {
    let s = Store::new(StoreConfig {
        watch_window: 1000,
        record_history: true,
    });
    pod(&s, "a", "Running", true);
    evict(&s, "default", "a", &body("a", None), false).unwrap();
    let terminating = s.get(PODS, "default", "a").unwrap();
    assert!(!terminating["metadata"]["deletionTimestamp"].is_null());
    let conds = terminating["status"]["conditions"].as_array().unwrap();
    let dt = conds
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .expect("a DisruptionTarget condition");
    assert_eq!(dt["status"], "True");
    assert_eq!(dt["reason"], "EvictionByEvictionAPI");
    assert_eq!(dt["message"], "Eviction API: evicting");

    // With grace 0 the condition is written (one MODIFIED) before the pod goes (DELETED).
    pod(&s, "b", "Running", true);
    evict(&s, "default", "b", &body("b", Some(0)), false).unwrap();
    let writes: Vec<(EventType, bool)> = s
        .history()
        .iter()
        .filter(|e| e.object["metadata"]["name"] == "b" && e.kind != EventType::Added)
        .map(|e| {
            let marked = e.object["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "DisruptionTarget"));
            (e.kind, marked)
        })
        .collect();
    assert_eq!(writes.first(), Some(&(EventType::Modified, true)));
    assert_eq!(writes.last().map(|w| w.0), Some(EventType::Deleted));

    // Dry runs and refused evictions leave the pod as it was.
    pod(&s, "c", "Running", true);
    let mut dry = json!({"apiVersion":"policy/v1","kind":"Eviction",
        "metadata":{"name":"c","namespace":"default"},"deleteOptions":{"dryRun":["All"]}});
    evict(
        &s,
        "default",
        "c",
        &serde_json::to_vec(&dry).unwrap(),
        false,
    )
    .unwrap();
    dry["deleteOptions"] = json!({"preconditions": {"uid": "other"}});
    assert_eq!(
        evict(
            &s,
            "default",
            "c",
            &serde_json::to_vec(&dry).unwrap(),
            false
        )
        .unwrap_err()
        .code,
        409
    );
    let c = s.get(PODS, "default", "c").unwrap();
    assert_eq!(c["status"]["conditions"].as_array().unwrap().len(), 1);
}
