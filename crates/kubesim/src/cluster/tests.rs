//! Unit tests of `cluster`.

use super::*;
use crate::controllers::{node_ready, pod_ready};
use crate::resources::well_known::{DAEMONSETS, NAMESPACES, NODES, PDBS, PODS, REPLICASETS};

#[test]
fn seeded_store_is_in_steady_state() {
    let b = Cluster::builder()
        .nodes(4)
        .deployment(
            "web",
            "web",
            6,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(4))),
        )
        .daemonset("kube-system", "kured")
        .pods_per_node(2);
    let store = b.build_store().unwrap();
    let (nodes, _) = store.list(NODES, None, |_| true);
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| node_ready(n)));
    assert!(nodes.iter().all(|n| n["spec"].get("taints").is_none()));
    let (pods, _) = store.list(PODS, None, |_| true);
    assert_eq!(pods.len(), 6 + 4 + 2 * 4);
    assert!(
        pods.iter()
            .all(|p| pod_ready(p) && p["status"]["phase"] == "Running")
    );
    // Spread: app-0 and app-1 have exactly one pod per node.
    for app in ["app-0", "app-1"] {
        let mut per_node: Vec<_> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == app)
            .map(|p| p["spec"]["nodeName"].as_str().unwrap().to_string())
            .collect();
        per_node.sort();
        per_node.dedup();
        assert_eq!(per_node.len(), 4);
    }
    let (rss, _) = store.list(REPLICASETS, Some("web"), |_| true);
    assert_eq!(rss.len(), 1);
    assert_eq!(rss[0]["status"]["readyReplicas"], 6);
    let pdb = store.get(PDBS, "web", "web-pdb").unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 2);
    assert_eq!(pdb["status"]["expectedPods"], 6);
    let ds = store.get(DAEMONSETS, "kube-system", "kured").unwrap();
    assert_eq!(ds["status"]["numberReady"], 4);
    assert!(store.get(NAMESPACES, "", "web").is_some());
}

#[test]
fn large_deployments_are_built_in_parallel_in_order() {
    let store = Cluster::builder()
        .nodes(10)
        .deployment("big", "big", 1500, None)
        .build_store()
        .unwrap();
    let (pods, _) = store.list(PODS, Some("big"), |_| true);
    assert_eq!(pods.len(), 1500);
    assert!(pods.iter().all(|p| pod_ready(p)));
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for p in &pods {
        *per_node
            .entry(p["spec"]["nodeName"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_node.len(), 10);
    assert!(per_node.values().all(|n| *n == 150), "{per_node:?}");
    let rs = &store.list(REPLICASETS, Some("big"), |_| true).0[0];
    assert_eq!(rs["status"]["readyReplicas"], 1500);
}

#[test]
fn history_replay_counts_matching_objects() {
    let store = Cluster::builder()
        .nodes(3)
        .record_history(true)
        .build_store()
        .unwrap();
    let start = store.history().len();
    let cordon = |name: &str, on: bool| {
        store
            .update(NODES, "", name, |cur| {
                let mut n = cur.clone();
                n["spec"]["unschedulable"] = json!(on);
                Ok(n)
            })
            .unwrap();
    };
    cordon("node-0", true);
    cordon("node-0", false);
    cordon("node-1", true);
    cordon("node-2", true);
    store.delete(NODES, "", "node-1", |_| Ok(())).unwrap();
    let history = store.history();
    let counts: Vec<usize> = matching_over_time(&history[start..], NODES, |n| {
        n["spec"]["unschedulable"] == true
    })
    .into_iter()
    .map(|(_, c)| c)
    .collect();
    assert_eq!(counts, [1, 0, 1, 2, 1]);
}
