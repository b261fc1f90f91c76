//! The gate's checks and its wait on a simulated cluster.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gate::{Attempt, GateConfig, GateError, GateStatus, GateVerdict, HealthGate, Unhealthy};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
use kubesim::resources::well_known::{PDBS, PODS};
use serde_json::json;

use crate::support::*;

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
