//! The attempt record and the health gate against kubesim over HTTP: simulated kubelets
//! (a reboot gives a new boot ID, pods become Ready after a start delay), the `ReplicaSet`,
//! `Deployment` and `DaemonSet` controllers and PDB status.

// Scenario tests read best top to bottom.
#![allow(clippy::too_many_lines)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gate::{
    ATTEMPT_ANNOTATION, Attempt, GateConfig, GateError, GateStatus, GateVerdict, HealthGate,
    ObjectRef, Unhealthy, WorkloadRef,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::resources::well_known::{PDBS, PODS};
use serde_json::json;

/// A pod straight into the store, bound to `node`, with this metadata.
fn seed_pod(cluster: &RunningCluster, node: &str, metadata: &serde_json::Value, phase: &str) {
    cluster
        .store()
        .create(
            PODS,
            json!({
                "metadata": metadata,
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/c:1"}]},
                "status": {"phase": phase},
            }),
        )
        .unwrap();
}

/// `ownerReferences` naming a controller.
fn controller(api_version: &str, kind: &str, name: &str) -> serde_json::Value {
    json!([{
        "apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"),
        "controller": true, "blockOwnerDeletion": true,
    }])
}

async fn create_pdb(
    client: &kube::Client,
    ns: &str,
    name: &str,
    selector: Option<serde_json::Value>,
) {
    let mut spec = json!({"minAvailable": 1});
    if let Some(s) = selector {
        spec["selector"] = s;
    }
    let pdb: PodDisruptionBudget =
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
            .unwrap();
    Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pdb)
        .await
        .unwrap();
}

async fn annotate(client: &kube::Client, node: &str, key: &str, value: serde_json::Value) {
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .unwrap();
}

async fn annotations(
    client: &kube::Client,
    node: &str,
) -> std::collections::BTreeMap<String, String> {
    Api::<Node>::all(client.clone())
        .get(node)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
}

fn gate(cluster: &RunningCluster, timeout: Duration, poll: Duration) -> HealthGate {
    HealthGate::for_client(
        cluster.client().unwrap(),
        GateConfig {
            timeout,
            poll,
            ..GateConfig::default()
        },
    )
    .unwrap()
}

/// An attempt whose boot ID the node no longer reports: as if it had rebooted since.
fn rebooted(mut attempt: Attempt) -> Attempt {
    attempt.boot_id = "a-boot-before-the-reboot".into();
    attempt
}

fn workload(ns: &str, kind: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: ns.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

fn object(ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        namespace: ns.into(),
        name: name.into(),
    }
}

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

#[tokio::test]
async fn the_gate_holds_until_the_node_rebooted_and_its_pods_are_ready() {
    let cluster = Cluster::builder()
        .nodes(2)
        .deployment(
            "shop",
            "web",
            2,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))),
        )
        .daemonset("kube-system", "proxy")
        .kubelet_start_delay(Duration::from_millis(1500))
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let attempt = gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
        .await
        .unwrap();
    gate::record_attempt(&client, "node-0", &attempt)
        .await
        .unwrap();
    let gate = gate(&cluster, Duration::from_secs(60), Duration::from_millis(50));

    // Same boot ID: not passed, whatever else is healthy.
    assert_eq!(
        gate.check("node-0", &attempt).await.unwrap(),
        GateStatus::Waiting(vec![Unhealthy::BootIdUnchanged {
            node: "node-0".into()
        }])
    );

    cluster
        .reboot_node("node-0", Duration::from_millis(300))
        .unwrap();
    let GateStatus::Waiting(down) = gate.check("node-0", &attempt).await.unwrap() else {
        panic!("passed while the node is down");
    };
    assert_eq!(
        down,
        vec![
            Unhealthy::NodeNotReady {
                node: "node-0".into()
            },
            Unhealthy::BootIdUnchanged {
                node: "node-0".into()
            },
        ]
    );

    // Evaluate until it passes, keeping every reason seen (a restarted agent reads the record).
    let attempt = gate::read_attempt(&client, "node-0")
        .await
        .unwrap()
        .unwrap();
    let mut seen: Vec<Unhealthy> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match gate.check("node-0", &attempt).await.unwrap() {
            GateStatus::Passed => break,
            GateStatus::Waiting(reasons) => seen.extend(reasons),
        }
        assert!(
            Instant::now() < deadline,
            "the gate did not pass; last seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let labels: BTreeSet<&str> = seen.iter().map(Unhealthy::label).collect();
    for expected in [
        "node_not_ready",
        "daemonset_pod_not_ready",
        "pdb_short",
        "workload_short",
    ] {
        assert!(labels.contains(expected), "{expected} never seen: {seen:?}");
    }
    assert!(
        seen.iter().any(|r| matches!(r, Unhealthy::PdbShort { namespace, name, current_healthy: 1, desired_healthy: 2 }
            if namespace == "shop" && name == "web-pdb")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.to_string() == "deployment shop/web: 1 of 2 replicas ready"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(
            |r| matches!(r, Unhealthy::DaemonSetPodNotReady { namespace, name }
        if namespace == "kube-system" && name.starts_with("proxy"))
        ),
        "{seen:?}"
    );
    assert!(!labels.contains("check_failed"), "{seen:?}");

    // When it passed: rebooted, and every pod on the node is Ready.
    let boot = gate::node_boot(&client, "node-0").await.unwrap();
    assert!(boot.ready && boot.rebooted_since(&attempt));
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("spec.nodeName=node-0"))
        .await
        .unwrap();
    for pod in pods.items {
        let ready = pod
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(
            ready,
            "{:?} not ready when the gate passed",
            pod.metadata.name
        );
    }
    // And `wait` agrees at once.
    let verdict = gate.wait("node-0", &attempt, Instant::now()).await;
    assert!(
        matches!(verdict, GateVerdict::Passed { waited } if waited < Duration::from_secs(5)),
        "{verdict:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn wait_sees_slow_pods_through_and_fails_at_its_timeout() {
    let cluster = Cluster::builder()
        .nodes(2)
        // minAvailable 3 of 2 replicas: the budget is short for good.
        .deployment(
            "shop",
            "web",
            2,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(3))),
        )
        .deployment("shop", "api", 2, None)
        .kubelet_start_delay(Duration::from_millis(800))
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let prepared = gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(prepared.pdbs, vec![object("shop", "web-pdb")]);

    // The short budget holds the gate until its timeout; the verdict carries the reason.
    let short = gate(
        &cluster,
        Duration::from_millis(700),
        Duration::from_millis(100),
    );
    let attempt = rebooted(prepared.clone());
    let expected = Unhealthy::PdbShort {
        namespace: "shop".into(),
        name: "web-pdb".into(),
        current_healthy: 2,
        desired_healthy: 3,
    };
    testkit::eventually(
        Duration::from_secs(10),
        "the PDB's status is computed",
        || {
            cluster
                .store()
                .get(PDBS, "shop", "web-pdb")
                .is_some_and(|p| {
                    p["status"]["desiredHealthy"] == 3 && p["status"]["currentHealthy"] == 2
                })
        },
    )
    .await;
    let started = Instant::now();
    let verdict = short.wait("node-0", &attempt, started).await;
    let GateVerdict::Failed { waited, last } = verdict else {
        panic!("passed with a short PDB: {verdict:?}");
    };
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(last, vec![expected.clone()]);
    assert_eq!(
        last[0].to_string(),
        "pdb shop/web-pdb: 2 healthy of 3 desired"
    );
    // Asked long after its timeout, the gate evaluates once and fails at once.
    let verdict = short
        .wait(
            "node-0",
            &attempt,
            Instant::now().checked_sub(Duration::from_secs(60)).unwrap(),
        )
        .await;
    assert!(
        matches!(&verdict, GateVerdict::Failed { last, .. } if *last == vec![expected.clone()]),
        "{verdict:?}"
    );

    // Without the PDB (deleted: it passes), api's pods restarting after a reboot hold the gate
    // until they are Ready; `wait` then passes.
    Api::<PodDisruptionBudget>::namespaced(client.clone(), "shop")
        .delete("web-pdb", &DeleteParams::default())
        .await
        .unwrap();
    let patient = gate(&cluster, Duration::from_secs(30), Duration::from_millis(50));
    assert_eq!(
        patient.check("node-0", &attempt).await.unwrap(),
        GateStatus::Passed
    );
    cluster
        .reboot_node("node-0", Duration::from_millis(100))
        .unwrap();
    let since = Instant::now();
    let verdict = patient.wait("node-0", &prepared, since).await;
    let GateVerdict::Passed { waited } = verdict else {
        panic!("the gate failed: {verdict:?}");
    };
    assert!(
        waited >= Duration::from_millis(800),
        "passed before the pods could be Ready: {waited:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn gone_objects_pass_and_failed_reads_hold() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let client = cluster.client().unwrap();
    let gate = gate(&cluster, Duration::from_secs(5), Duration::from_millis(50));
    let mut attempt = rebooted(
        gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
            .await
            .unwrap(),
    );
    attempt.workloads = vec![
        workload("shop", "Deployment", "gone"),
        workload("shop", "ReplicaSet", "gone-5d9"),
        workload("shop", "StatefulSet", "gone"),
    ];
    attempt.pdbs = vec![object("shop", "gone-pdb")];
    assert_eq!(
        gate.check("node-0", &attempt).await.unwrap(),
        GateStatus::Passed
    );

    // A kind the gate cannot count holds it (never a silent pass).
    attempt.workloads.push(workload("shop", "CronTab", "x"));
    let GateStatus::Waiting(reasons) = gate.check("node-0", &attempt).await.unwrap() else {
        panic!("an unknown kind passed");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("CronTab")),
        "{reasons:?}"
    );

    // A node that cannot be read holds the gate with the reason.
    let GateStatus::Waiting(reasons) = gate.check("ghost", &attempt).await.unwrap() else {
        panic!("an unreadable node passed");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("reading node ghost")),
        "{reasons:?}"
    );

    // An attempt without a boot ID cannot be checked; `wait` fails at once with the reason.
    let blank = Attempt::new("", jiff::Timestamp::now());
    assert!(matches!(
        gate.check("node-0", &blank).await,
        Err(GateError::InvalidAttempt { .. })
    ));
    let verdict = gate.wait("node-0", &blank, Instant::now()).await;
    assert!(
        matches!(&verdict, GateVerdict::Failed { waited, last }
        if *waited < Duration::from_secs(1) && last[0].to_string().contains("records no boot ID")),
        "{verdict:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_pod_selector_needs_every_matching_pod_ready() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let client = cluster.client().unwrap();
    // Bound to a node that does not exist: no kubelet makes it Ready.
    seed_pod(
        &cluster,
        "lost-node",
        &json!({"namespace": "ops", "name": "stuck", "labels": {"gate": "critical"}}),
        "Pending",
    );
    // Finished pods do not count.
    seed_pod(
        &cluster,
        "node-0",
        &json!({"namespace": "ops", "name": "done", "labels": {"gate": "critical"}}),
        "Succeeded",
    );
    let gate = HealthGate::for_client(
        client.clone(),
        GateConfig {
            pod_selector: Some("gate in (critical)".into()),
            ..GateConfig::default()
        },
    )
    .unwrap();
    let attempt = rebooted(
        gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
            .await
            .unwrap(),
    );
    assert_eq!(
        gate.check("node-0", &attempt).await.unwrap(),
        GateStatus::Waiting(vec![Unhealthy::SelectedPodNotReady {
            namespace: "ops".into(),
            name: "stuck".into(),
        }])
    );
    Api::<Pod>::namespaced(client.clone(), "ops")
        .delete(
            "stuck",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let gone = testkit::wait_until(Duration::from_secs(10), || {
        cluster.store().get(PODS, "ops", "stuck").is_none()
    })
    .await;
    assert!(gone, "the pod was not deleted");
    assert_eq!(
        gate.check("node-0", &attempt).await.unwrap(),
        GateStatus::Passed
    );
    cluster.shutdown().await;
}
