//! The attempt record: what `prepare_attempt` finds, and its round trip through the Node.

use gate::{ATTEMPT_ANNOTATION, GateError};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_attempt_names_what_the_drain_disturbs_and_round_trips_through_the_node() {
    let cluster = Cluster::builder()
        .nodes(2)
        .deployment(
            "shop",
            "web",
            2,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        )
        .daemonset("kube-system", "proxy")
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    // On node-0 besides web's pod and proxy's: a StatefulSet's pod, a Job's pod, a mirror pod
    // (owned by the Node, as the kubelet makes them), a finished pod of another Deployment's
    // ReplicaSet that no longer exists, and a bare pod.
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "db", "name": "db-0", "labels": {"app": "db"},
               "ownerReferences": controller("apps/v1", "StatefulSet", "db")}),
        "Running",
    );
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "jobs", "name": "backup-x", "labels": {"app": "backup"},
               "ownerReferences": controller("batch/v1", "Job", "backup")}),
        "Running",
    );
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "kube-system", "name": "etcd-node-0", "labels": {"tier": "control-plane"},
               "annotations": {"kubernetes.io/config.mirror": "x"},
               "ownerReferences": controller("v1", "Node", "node-0")}),
        "Running",
    );
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "shop", "name": "old-1", "labels": {"app": "old"},
               "ownerReferences": controller("apps/v1", "ReplicaSet", "old-5d9")}),
        "Succeeded",
    );
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "misc", "name": "bare", "labels": {"app": "bare"}}),
        "Running",
    );
    // Budgets covering: db's pod; the Job's pod (matchExpressions); the bare pod. Budgets that
    // must not count: over the DaemonSet's, the mirror and the finished pod; one matching
    // nothing on node-0; one without a selector (selects nothing in policy/v1).
    let pdbs = [
        ("db", "db-pdb", Some(json!({"matchLabels": {"app": "db"}}))),
        (
            "jobs",
            "backup-pdb",
            Some(
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["backup"]}]}),
            ),
        ),
        (
            "misc",
            "bare-pdb",
            Some(json!({"matchLabels": {"app": "bare"}})),
        ),
        (
            "kube-system",
            "proxy-pdb",
            Some(json!({"matchLabels": {"name": "proxy"}})),
        ),
        (
            "kube-system",
            "cp-pdb",
            Some(json!({"matchLabels": {"tier": "control-plane"}})),
        ),
        (
            "shop",
            "old-pdb",
            Some(json!({"matchLabels": {"app": "old"}})),
        ),
        (
            "misc",
            "other-pdb",
            Some(json!({"matchLabels": {"app": "other"}})),
        ),
        ("misc", "nil-pdb", None),
    ];
    for (ns, name, selector) in pdbs {
        create_pdb(&client, ns, name, selector).await;
    }

    let started: jiff::Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
    let attempt = gate::prepare_attempt(&client, "node-0", started)
        .await
        .unwrap();
    let boot = gate::node_boot(&client, "node-0").await.unwrap();
    assert!(boot.ready);
    assert_eq!(Some(attempt.boot_id.clone()), boot.boot_id);
    assert!(!boot.rebooted_since(&attempt));
    assert_eq!(attempt.started, started);
    assert_eq!(
        attempt.workloads,
        vec![
            workload("db", "StatefulSet", "db"),
            workload("shop", "Deployment", "web")
        ],
        "the ReplicaSet resolved to its Deployment; Job, DaemonSet, mirror, finished and bare pods left out"
    );
    assert_eq!(
        attempt.pdbs,
        vec![
            object("db", "db-pdb"),
            object("jobs", "backup-pdb"),
            object("misc", "bare-pdb"),
            object("shop", "web-pdb")
        ]
    );
    // node-1's attempt has the other web pod, not node-0's extras.
    let other = gate::prepare_attempt(&client, "node-1", started)
        .await
        .unwrap();
    assert_eq!(other.workloads, vec![workload("shop", "Deployment", "web")]);
    assert_eq!(other.pdbs, vec![object("shop", "web-pdb")]);
    assert_ne!(other.boot_id, attempt.boot_id);

    // The record lives in its own annotation next to others, written before and after it.
    assert_eq!(gate::read_attempt(&client, "node-0").await.unwrap(), None);
    annotate(&client, "node-0", "example.com/before", json!("kept")).await;
    gate::record_attempt(&client, "node-0", &attempt)
        .await
        .unwrap();
    annotate(&client, "node-0", "example.com/after", json!("kept too")).await;
    assert_eq!(
        gate::read_attempt(&client, "node-0").await.unwrap(),
        Some(attempt.clone())
    );
    let stored = annotations(&client, "node-0").await;
    assert_eq!(stored["example.com/before"], "kept");
    assert_eq!(stored["example.com/after"], "kept too");
    assert!(
        stored[ATTEMPT_ANNOTATION].starts_with(r#"{"bootID":""#),
        "{stored:?}"
    );
    // Overwritten with the reboot time; read back equal.
    let mut later = attempt.clone();
    later.rebooting_since = Some("2026-05-01T10:03:00Z".parse().unwrap());
    gate::record_attempt(&client, "node-0", &later)
        .await
        .unwrap();
    assert_eq!(
        gate::read_attempt(&client, "node-0").await.unwrap(),
        Some(later)
    );
    // Cleared: gone, the others stay; clearing again is fine.
    gate::clear_attempt(&client, "node-0").await.unwrap();
    gate::clear_attempt(&client, "node-0").await.unwrap();
    assert_eq!(gate::read_attempt(&client, "node-0").await.unwrap(), None);
    let stored = annotations(&client, "node-0").await;
    assert!(!stored.contains_key(ATTEMPT_ANNOTATION));
    assert_eq!(stored["example.com/before"], "kept");
    assert_eq!(stored["example.com/after"], "kept too");

    // Something else in the annotation: an error naming it.
    annotate(&client, "node-0", ATTEMPT_ANNOTATION, json!("not json")).await;
    let err = gate::read_attempt(&client, "node-0").await.unwrap_err();
    assert!(matches!(err, GateError::BadAnnotation { .. }), "{err:?}");
    assert!(err.to_string().contains(ATTEMPT_ANNOTATION), "{err}");
    // A node that does not exist: an error naming it.
    let err = gate::prepare_attempt(&client, "ghost", started)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reading node ghost"), "{err}");
    cluster.shutdown().await;
}
