//! Unit tests of `store`.

use super::*;
use crate::resources::well_known::{NODES, PODS};

fn store() -> Arc<Store> {
    Store::new(StoreConfig {
        watch_window: 3,
        record_history: true,
    })
}

#[test]
fn per_type_log_and_signal_see_only_their_type() {
    let s = Store::new(StoreConfig {
        watch_window: 4,
        record_history: false,
    });
    let mut nodes_rx = s.subscribe_type(NODES);
    nodes_rx.borrow_and_update();
    let start = s.current_rv();
    for i in 0..3 {
        s.create(
            PODS,
            json!({"metadata":{"name":format!("p{i}"),"namespace":"a"}}),
        )
        .unwrap();
    }
    assert!(
        !nodes_rx.has_changed().unwrap(),
        "pod writes do not wake node watches"
    );
    s.create(NODES, json!({"metadata":{"name":"n"}})).unwrap();
    assert!(nodes_rx.has_changed().unwrap());
    let (nodes, at) = s.events_of_type_since(NODES, start).unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(at, s.current_rv());
    let (pods, _) = s.events_of_type_since(PODS, start).unwrap();
    assert_eq!(pods.len(), 3);
    // Compaction by the window drops the oldest events from the per-type logs too.
    s.create(NODES, json!({"metadata":{"name":"m"}})).unwrap();
    assert!(s.events_of_type_since(PODS, start).is_err());
    let (pods, _) = s
        .events_of_type_since(PODS, s.oldest_watchable_rv())
        .unwrap();
    assert_eq!(pods.len(), 2, "the window keeps 4 events: p1, p2, n, m");
}

#[test]
fn create_stamps_identity_and_rejects_duplicates() {
    let s = store();
    let pod = s
        .create(
            PODS,
            json!({"metadata":{"name":"p","namespace":"default"},"spec":{}}),
        )
        .unwrap();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["generation"], 1);
    assert_eq!(pod["metadata"]["uid"].as_str().unwrap().len(), 36);
    let err = s
        .create(PODS, json!({"metadata":{"name":"p","namespace":"default"}}))
        .unwrap_err();
    assert_eq!(err.code, 409);
    let node = s
        .create(NODES, json!({"metadata":{"generateName":"n-"}}))
        .unwrap();
    assert!(node["metadata"]["name"].as_str().unwrap().starts_with("n-"));
    assert!(node["metadata"].get("generation").is_none());
}

#[test]
fn update_is_noop_when_unchanged_and_bumps_generation_on_spec() {
    let s = store();
    s.create(
        PODS,
        json!({"metadata":{"name":"p","namespace":"a"},"spec":{"x":1}}),
    )
    .unwrap();
    let rv0 = s.current_rv();
    let (_, changed) = s.update(PODS, "a", "p", |o| Ok(o.clone())).unwrap();
    assert!(!changed);
    assert_eq!(s.current_rv(), rv0);
    let (o, changed) = s
        .update(PODS, "a", "p", |o| {
            let mut o = o.clone();
            o["spec"]["x"] = json!(2);
            o["metadata"]["uid"] = json!("forged");
            Ok(o)
        })
        .unwrap();
    assert!(changed);
    assert_eq!(o["metadata"]["generation"], 2);
    assert_ne!(o["metadata"]["uid"], "forged");
    assert_eq!(o["metadata"]["resourceVersion"], (rv0 + 1).to_string());
}

#[test]
fn starting_a_graceful_deletion_bumps_generation() {
    let s = store();
    s.create(
        PODS,
        json!({"metadata":{"name":"p","namespace":"a"},"spec":{}}),
    )
    .unwrap();
    let (o, _) = s
        .update(PODS, "a", "p", |o| {
            let mut o = o.clone();
            o["metadata"]["deletionTimestamp"] = json!("2026-01-02T03:04:05Z");
            Ok(o)
        })
        .unwrap();
    assert_eq!(o["metadata"]["generation"], 2);
}

#[test]
fn pods_on_node_index_follows_binding_moves_and_deletes() {
    let s = store();
    let names = |v: Vec<Arc<Value>>| -> Vec<String> {
        v.iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["metadata"]["namespace"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    for (ns, n, node) in [
        ("b", "p1", "n1"),
        ("a", "p2", "n1"),
        ("a", "p3", "n2"),
        ("a", "p4", ""),
    ] {
        s.create(
            PODS,
            json!({"metadata":{"name":n,"namespace":ns},"spec":{"nodeName":node}}),
        )
        .unwrap();
    }
    s.create(
        PODS,
        json!({"metadata":{"name":"p5","namespace":"a"},"spec":{}}),
    )
    .unwrap();
    assert_eq!(
        names(s.list_pods_on_node(None, "n1", |_| true).0),
        ["a/p2", "b/p1"]
    );
    assert_eq!(
        names(s.list_pods_on_node(Some("b"), "n1", |_| true).0),
        ["b/p1"]
    );
    assert_eq!(
        names(s.list_pods_on_node(None, "", |_| true).0),
        ["a/p4", "a/p5"]
    );
    s.update(PODS, "a", "p4", |o| {
        let mut o = o.clone();
        o["spec"]["nodeName"] = json!("n1");
        Ok(o)
    })
    .unwrap();
    s.delete(PODS, "b", "p1", |_| Ok(())).unwrap();
    assert_eq!(
        names(s.list_pods_on_node(None, "n1", |_| true).0),
        ["a/p2", "a/p4"]
    );
    assert_eq!(names(s.list_pods_on_node(None, "", |_| true).0), ["a/p5"]);
    assert!(s.list_pods_on_node(None, "n9", |_| true).0.is_empty());
    // The index answers exactly what a scan answers.
    let (scan, _) = s.list(PODS, None, |o| o["spec"]["nodeName"] == "n1");
    assert_eq!(
        names(scan),
        names(s.list_pods_on_node(None, "n1", |_| true).0)
    );
}

#[test]
fn list_filters_by_namespace_in_order() {
    let s = store();
    for (ns, n) in [("b", "2"), ("a", "9"), ("a", "1"), ("c", "0")] {
        s.create(PODS, json!({"metadata":{"name":n,"namespace":ns}}))
            .unwrap();
    }
    let (items, _) = s.list(PODS, Some("a"), |_| true);
    let names: Vec<_> = items
        .iter()
        .map(|o| o["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("1"), json!("9")]);
    let (all, _) = s.list(PODS, None, |_| true);
    assert_eq!(all.len(), 4);
}

#[test]
fn event_log_expires_old_versions_but_history_keeps_all() {
    let s = store();
    let start = s.current_rv();
    for i in 0..5 {
        s.create(NODES, json!({"metadata":{"name":format!("n{i}")}}))
            .unwrap();
    }
    assert!(s.events_since(start).is_err());
    let recent = s.events_since(s.current_rv() - 2).unwrap();
    assert_eq!(recent.len(), 2);
    let last = s.delete(NODES, "", "n4", |_| Ok(())).unwrap();
    assert_eq!(
        last["metadata"]["resourceVersion"],
        s.current_rv().to_string()
    );
    assert_eq!(s.history().len(), 6);
    assert_eq!(s.history()[5].kind, EventType::Deleted);
}
