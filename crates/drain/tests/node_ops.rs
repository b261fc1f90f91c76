//! `KubeNodeOps` against kubesim over HTTP: cordon state round trips, idempotent taints that
//! survive concurrent writers and injected 409s, labels and annotations.

// kubesim's store closures return its `ApiError` (144 bytes) by value.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};

use drain::{KubeNodeOps, NodeOps, NodeOpsError, PREFER_NO_SCHEDULE, parse_labels};
use kubesim::cluster::{Cluster, RunningCluster};
use kubesim::faults::FaultConfig;
use kubesim::resources::well_known::NODES;
use serde_json::{Value, json};

fn node(cluster: &RunningCluster, name: &str) -> Value {
    (*cluster.store().get(NODES, "", name).unwrap()).clone()
}

fn taint_keys(cluster: &RunningCluster, name: &str) -> BTreeSet<String> {
    node(cluster, name)["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| t["key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_uncordon_report_the_prior_state() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let ops = KubeNodeOps::new(cluster.client().unwrap());
    assert!(!ops.cordon("node-0").await.unwrap(), "was schedulable");
    assert_eq!(node(&cluster, "node-0")["spec"]["unschedulable"], true);
    let patches = cluster.requests_by_verb()["patch"];
    assert!(ops.cordon("node-0").await.unwrap(), "already cordoned");
    assert_eq!(
        cluster.requests_by_verb()["patch"],
        patches,
        "no write when already cordoned"
    );
    assert!(ops.uncordon("node-0").await.unwrap(), "was cordoned");
    assert!(
        node(&cluster, "node-0")["spec"]
            .get("unschedulable")
            .is_none()
    );
    assert!(!ops.uncordon("node-0").await.unwrap());
    let err = ops.cordon("no-such-node").await.unwrap_err();
    assert!(err.to_string().contains("no-such-node"), "{err}");
    assert!(!err.is_retryable());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_no_schedule_taint_is_idempotent_and_keeps_other_taints() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let ops = KubeNodeOps::new(cluster.client().unwrap());
    // Someone else's taint with the same key but another effect stays.
    cluster
        .store()
        .update(NODES, "", "node-0", |n| {
            let mut n = n.clone();
            n["spec"]["taints"] =
                json!([{"key": "example.com/reboot", "effect": "NoSchedule", "value": "x"}]);
            Ok(n)
        })
        .unwrap();
    assert!(
        ops.add_prefer_no_schedule_taint("node-0", "example.com/reboot")
            .await
            .unwrap()
    );
    assert!(
        !ops.add_prefer_no_schedule_taint("node-0", "example.com/reboot")
            .await
            .unwrap(),
        "second add is a no-op"
    );
    assert_eq!(
        node(&cluster, "node-0")["spec"]["taints"],
        json!([
            {"key": "example.com/reboot", "effect": "NoSchedule", "value": "x"},
            {"key": "example.com/reboot", "effect": PREFER_NO_SCHEDULE},
        ])
    );
    assert!(
        ops.remove_prefer_no_schedule_taint("node-0", "example.com/reboot")
            .await
            .unwrap()
    );
    assert!(
        !ops.remove_prefer_no_schedule_taint("node-0", "example.com/reboot")
            .await
            .unwrap()
    );
    assert_eq!(
        node(&cluster, "node-0")["spec"]["taints"],
        json!([{"key": "example.com/reboot", "effect": "NoSchedule", "value": "x"}])
    );
    cluster
        .store()
        .update(NODES, "", "node-0", |n| {
            let mut n = n.clone();
            n["spec"]["taints"] = json!([{"key": "only", "effect": PREFER_NO_SCHEDULE}]);
            Ok(n)
        })
        .unwrap();
    assert!(
        ops.remove_prefer_no_schedule_taint("node-0", "only")
            .await
            .unwrap()
    );
    assert!(node(&cluster, "node-0")["spec"].get("taints").is_none());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_taint_writers_lose_no_update() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let client = cluster.client().unwrap();
    // Twelve writers, each adding its own key: a read-modify-write without the
    // resourceVersion would let later writes drop earlier keys. (Whether writers actually
    // collide depends on scheduling; the 409 retry path itself is forced in the next test.)
    let mut tasks = Vec::new();
    for i in 0..12 {
        let ops = KubeNodeOps::new(client.clone());
        tasks.push(tokio::spawn(async move {
            ops.add_prefer_no_schedule_taint("node-0", &format!("example.com/w{i}"))
                .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    let keys = taint_keys(&cluster, "node-0");
    let expected: BTreeSet<String> = (0..12).map(|i| format!("example.com/w{i}")).collect();
    assert_eq!(keys, expected);
    // Concurrent removals of half of them.
    let mut tasks = Vec::new();
    for i in (0..12).step_by(2) {
        let ops = KubeNodeOps::new(client.clone());
        tasks.push(tokio::spawn(async move {
            ops.remove_prefer_no_schedule_taint("node-0", &format!("example.com/w{i}"))
                .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    let expected: BTreeSet<String> = (1..12)
        .step_by(2)
        .map(|i| format!("example.com/w{i}"))
        .collect();
    assert_eq!(taint_keys(&cluster, "node-0"), expected);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taint_write_retries_on_409_and_gives_up_with_a_conflict_error() {
    let cluster = Cluster::builder()
        .nodes(1)
        .faults(FaultConfig {
            conflict_409_fraction: 0.6,
            seed: 3,
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let ops = KubeNodeOps::new(cluster.client().unwrap());
    for i in 0..5 {
        assert!(
            ops.add_prefer_no_schedule_taint("node-0", &format!("k{i}"))
                .await
                .unwrap()
        );
    }
    assert_eq!(taint_keys(&cluster, "node-0").len(), 5);
    assert!(cluster.fault_stats().conflicts_409 > 0);

    let cluster = Cluster::builder()
        .nodes(1)
        .faults(FaultConfig {
            conflict_409_fraction: 1.0,
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let ops = KubeNodeOps::new(cluster.client().unwrap()).max_conflict_retries(3);
    let err = ops
        .add_prefer_no_schedule_taint("node-0", "k")
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeOpsError::Conflict { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("node-0"), "{err}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_annotations_are_added_and_removed() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let ops = KubeNodeOps::new(cluster.client().unwrap());
    let labels = parse_labels(&[
        "example.com/rebooting=true".to_string(),
        "example.com/phase=pre".to_string(),
    ])
    .unwrap();
    ops.add_labels("node-0", &labels).await.unwrap();
    let n = node(&cluster, "node-0");
    assert_eq!(n["metadata"]["labels"]["example.com/rebooting"], "true");
    assert_eq!(n["metadata"]["labels"]["example.com/phase"], "pre");
    assert_eq!(
        n["metadata"]["labels"]["kubernetes.io/hostname"], "node-0",
        "existing labels stay"
    );
    ops.remove_labels("node-0", &["example.com/rebooting".to_string()])
        .await
        .unwrap();
    let n = node(&cluster, "node-0");
    assert!(
        n["metadata"]["labels"]
            .get("example.com/rebooting")
            .is_none()
    );
    assert_eq!(n["metadata"]["labels"]["example.com/phase"], "pre");

    let annotations = BTreeMap::from([(
        "weave.works/kured-reboot-in-progress".to_string(),
        "2026-11-21T12:00:00Z".to_string(),
    )]);
    ops.add_annotations("node-0", &annotations).await.unwrap();
    assert_eq!(
        node(&cluster, "node-0")["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"],
        "2026-11-21T12:00:00Z"
    );
    ops.remove_annotations(
        "node-0",
        &["weave.works/kured-reboot-in-progress".to_string()],
    )
    .await
    .unwrap();
    assert!(
        node(&cluster, "node-0")["metadata"]["annotations"]
            .get("weave.works/kured-reboot-in-progress")
            .is_none()
    );
    // Empty inputs send nothing.
    let patches = cluster.requests_by_verb()["patch"];
    ops.add_labels("node-0", &BTreeMap::new()).await.unwrap();
    ops.remove_annotations("node-0", &[]).await.unwrap();
    assert_eq!(cluster.requests_by_verb()["patch"], patches);
    cluster.shutdown().await;
}
