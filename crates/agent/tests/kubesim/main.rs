//! The agent on kubesim, with the real lock, drain, node and blocker implementations over
//! HTTP. The "reboot" is a `Rebooter` double that stops the agent task and reboots the node
//! in kubesim; a fresh agent then starts for that node, as the `DaemonSet` would restart it.

mod events;
mod rollout;
mod sim;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use agent::LockWaitMode;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kubesim::cluster::{IntOrPercent, PdbSpec};
use kubesim::resources::well_known::NODES;
use serde_json::json;
use testkit::eventually;

use sim::*;

/// Every node rebooted once, all uncordoned, lock free, per-node notifications in order.
#[allow(clippy::too_many_lines)] // one scenario and its checks, read top to bottom
async fn rolling(concurrency: u32) {
    let sim = Sim::start(
        builder(),
        Setup {
            concurrency,
            ..Setup::default()
        },
    )
    .await;
    for n in sim.nodes() {
        sim.hosts.require(&n);
    }
    sim.spawn_all();
    let nodes = sim.nodes();
    eventually(
        Duration::from_secs(30),
        "all nodes rebooted and uncordoned",
        || {
            sim.hosts.reboots().len() == nodes.len()
                && nodes.iter().all(|n| !sim.unschedulable(n))
                && sim
                    .shared
                    .messages()
                    .iter()
                    .filter(|m| m.contains("uncordoned"))
                    .count()
                    == nodes.len()
        },
    )
    .await;
    // Give a late agent a chance to misbehave before checking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.stop().await;

    let reboots = sim.hosts.reboots();
    assert_eq!(
        reboots.iter().collect::<BTreeSet<_>>().len(),
        nodes.len(),
        "every node rebooted exactly once: {reboots:?}"
    );
    assert_eq!(reboots.len(), nodes.len(), "{reboots:?}");
    let max = sim.max_cordoned();
    assert!(
        max >= 1 && max <= concurrency as usize,
        "at most {concurrency} cordoned at once, saw {max}"
    );
    assert!(nodes.iter().all(|n| !sim.unschedulable(n)));
    // Nodes waiting for the lock carried the PreferNoSchedule taint at some point.
    let tainted = kubesim::cluster::matching_over_time(&sim.cluster.history(), NODES, |v| {
        v["spec"]["taints"].as_array().is_some_and(|t| {
            t.iter().any(|t| {
                t["key"] == "weave.works/kured-node-reboot" && t["effect"] == "PreferNoSchedule"
            })
        })
    });
    assert!(
        tainted.iter().any(|(_, n)| *n >= 1),
        "no waiting node was tainted"
    );
    let value = sim.lock_value();
    assert!(
        value
            .as_deref()
            .is_none_or(|v| !v.contains("nodeID\":\"node")),
        "lock still held: {value:?}"
    );
    let messages = sim.shared.messages();
    for n in &nodes {
        let mine: Vec<&String> = messages
            .iter()
            .filter(|m| m.split_whitespace().any(|w| w == n))
            .collect();
        assert_eq!(
            mine,
            [
                &format!("Draining node {n}"),
                &format!("Rebooting node {n}"),
                &format!("Node {n} rebooted & uncordoned successfully!"),
            ],
            "{messages:?}"
        );
    }
    if concurrency == 1 {
        // Strictly one node at a time: drain, reboot, uncordon of one before the next drains.
        for chunk in messages.chunks(3) {
            assert!(chunk[0].starts_with("Draining"), "{messages:?}");
            assert!(chunk[1].starts_with("Rebooting"), "{messages:?}");
            assert!(chunk[2].ends_with("successfully!"), "{messages:?}");
        }
    }
    for n in &nodes {
        let node = sim.node_json(n);
        let annotations = &node["metadata"]["annotations"];
        assert!(
            annotations[agent::REBOOT_IN_PROGRESS_ANNOTATION].is_null(),
            "{n}: in-progress annotation left: {annotations}"
        );
        assert!(
            annotations[agent::MOST_RECENT_REBOOT_NEEDED_ANNOTATION]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok() && t.ends_with('Z')),
            "{n}: {annotations}"
        );
        assert!(
            node["spec"]["taints"].as_array().is_none_or(Vec::is_empty),
            "{n}: taint left: {}",
            node["spec"]["taints"]
        );
        assert!(sim.metrics(n).contains("kured_reboots_total 1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_reboot_concurrency_1() {
    rolling(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_reboot_concurrency_2() {
    rolling(2).await;
}

pub(crate) async fn patch_node(sim: &Sim, node: &str, patch: serde_json::Value) {
    Api::<Node>::all(sim.client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch node");
}

fn lock_free(value: Option<&str>) -> bool {
    value.is_none_or(|v| !v.contains("\"nodeID\":\"node"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_cordoned_node_stays_cordoned() {
    let sim = Sim::start(builder(), Setup::default()).await;
    patch_node(&sim, "node-1", json!({"spec": {"unschedulable": true}})).await;
    for n in sim.nodes() {
        sim.hosts.require(&n);
    }
    sim.spawn_all();
    eventually(Duration::from_secs(30), "all rebooted", || {
        sim.hosts.reboots().len() == 3
    })
    .await;
    eventually(Duration::from_secs(10), "others uncordoned", || {
        !sim.unschedulable("node-0") && !sim.unschedulable("node-2")
    })
    .await;
    let mut free = false;
    for _ in 0..100 {
        if lock_free(sim.lock_value().as_deref()) {
            free = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.stop().await;
    assert!(free, "lock released");
    assert!(sim.unschedulable("node-1"), "admin cordon kept");
    let uncordons: Vec<String> = sim
        .shared
        .messages()
        .into_iter()
        .filter(|m| m.ends_with("successfully!"))
        .collect();
    assert_eq!(uncordons.len(), 2, "{uncordons:?}");
    assert!(!uncordons.iter().any(|m| m.contains("node-1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_pod_holds_the_reboot_until_it_is_gone() {
    let sim = Sim::start(
        builder(),
        Setup {
            blocking_selectors: vec!["block=yes".into()],
            ..Setup::default()
        },
    )
    .await;
    let pods = Api::<Pod>::namespaced(sim.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "backup", "labels": {"block": "yes"}},
        "spec": {"nodeName": "node-0", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    sim.hosts.require("node-0");
    sim.spawn_all();
    eventually(Duration::from_secs(10), "blocked metric", || {
        sim.metrics("node-0")
            .contains("kured_reboot_blocked{reason=\"blocker_pod\"} 1")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sim.hosts.reboots().is_empty(),
        "rebooted despite the blocking pod"
    );
    assert!(!sim.unschedulable("node-0"));
    pods.delete("backup", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "rebooted after the pod left",
        || sim.hosts.reboots() == ["node-0"] && !sim.unschedulable("node-0"),
    )
    .await;
    sim.stop().await;
    assert!(!sim.metrics("node-0").contains("blocker_pod\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_window_then_opening() {
    let clock = agent::ManualClock::new("2026-11-21T12:00:00Z".parse().unwrap());
    let sim = Sim::start(
        builder(),
        Setup {
            clock: Arc::new(clock.clone()),
            window: schedule::TimeWindow::parse_str("su,mo,tu,we,th,fr,sa", "1:00", "2:00", "UTC")
                .unwrap(),
            ..Setup::default()
        },
    )
    .await;
    sim.hosts.require("node-2");
    sim.spawn_all();
    eventually(Duration::from_secs(10), "window closed metric", || {
        sim.metrics("node-2").contains("kured_window_open 0")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sim.hosts.reboots().is_empty(),
        "rebooted outside the window"
    );
    clock.set("2026-11-22T01:30:00Z".parse().unwrap());
    eventually(
        Duration::from_secs(20),
        "rebooted once the window opened",
        || sim.hosts.reboots() == ["node-2"] && !sim.unschedulable("node-2"),
    )
    .await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opted_out_node_waits_for_the_label_to_go() {
    let key = blockers::DEFAULT_OPT_OUT_KEY;
    let sim = Sim::start(
        builder(),
        Setup {
            opt_out_key: Some(key.into()),
            ..Setup::default()
        },
    )
    .await;
    patch_node(
        &sim,
        "node-0",
        json!({"metadata": {"labels": {key: "true"}}}),
    )
    .await;
    sim.hosts.require("node-0");
    sim.hosts.require("node-1");
    sim.spawn_all();
    eventually(Duration::from_secs(20), "node-1 rebooted", || {
        sim.hosts.reboots() == ["node-1"] && !sim.unschedulable("node-1")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.hosts.reboots(), ["node-1"], "opted-out node rebooted");
    assert!(sim.metrics("node-0").contains("opt_out\"} 1"));
    patch_node(&sim, "node-0", json!({"metadata": {"labels": {key: null}}})).await;
    eventually(
        Duration::from_secs(20),
        "node-0 rebooted after opting in",
        || sim.hosts.reboots() == ["node-1", "node-0"] && !sim.unschedulable("node-0"),
    )
    .await;
    sim.stop().await;
}

/// A cluster whose `stuck` pod (one replica, PDB minAvailable 1) can never be evicted, and
/// the node it runs on.
pub(crate) async fn stuck_cluster(setup: Setup) -> (Arc<Sim>, String) {
    let sim = Sim::start(
        builder().deployment(
            "default",
            "stuck",
            1,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        ),
        setup,
    )
    .await;
    let (pods, _) =
        sim.cluster
            .store()
            .list(kubesim::resources::well_known::PODS, Some("default"), |p| {
                p["metadata"]["labels"]["app"] == json!("stuck")
            });
    let victim = pods[0]["spec"]["nodeName"].as_str().unwrap().to_string();
    (sim, victim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_failure_without_force_releases_and_uncordons() {
    let (sim, victim) = stuck_cluster(Setup {
        drain_timeout: Duration::from_millis(300),
        period: Duration::from_secs(1),
        lock_wait: LockWaitMode::Poll,
        ..Setup::default()
    })
    .await;
    sim.hosts.require(&victim);
    sim.spawn_node(&victim);
    eventually(Duration::from_secs(10), "a drain failure", || {
        sim.metrics(&victim)
            .contains("kured_drain_failures_total 1")
    })
    .await;
    let mut ok = false;
    for _ in 0..25 {
        if !sim.unschedulable(&victim) && lock_free(sim.lock_value().as_deref()) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "after the failed drain: uncordoned and released");
    assert!(
        sim.hosts.reboots().is_empty(),
        "rebooted without --force-reboot"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_failure_with_force_reboots_anyway() {
    let (sim, victim) = stuck_cluster(Setup {
        drain_timeout: Duration::from_millis(300),
        force_reboot: true,
        ..Setup::default()
    })
    .await;
    sim.hosts.require(&victim);
    sim.spawn_node(&victim);
    eventually(
        Duration::from_secs(20),
        "forced reboot and uncordon",
        || sim.hosts.reboots() == [victim.clone()] && !sim.unschedulable(&victim),
    )
    .await;
    assert!(
        sim.metrics(&victim)
            .contains("kured_drain_failures_total 1")
    );
    sim.stop().await;
}

/// The holder crashes mid-drain (its drain can never finish); `free` frees its lock; the
/// other node then reboots.
async fn holder_crash(lock_ttl: Duration, delete_holder: bool) {
    let (sim, victim) = stuck_cluster(Setup {
        drain_timeout: Duration::ZERO,
        lock_ttl,
        ..Setup::default()
    })
    .await;
    sim.hosts.require(&victim);
    sim.spawn_node(&victim);
    let mut held = false;
    for _ in 0..250 {
        if sim.unschedulable(&victim)
            && sim
                .lock_value()
                .is_some_and(|v| v.contains(&format!("\"nodeID\":\"{victim}\"")))
        {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held, "victim took the lock and cordoned");
    sim.kill(&victim);
    let other = sim.nodes().into_iter().find(|n| *n != victim).unwrap();
    sim.hosts.require(&other);
    sim.spawn_node(&other);
    if delete_holder {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sim.hosts.reboots().is_empty(), "lock ignored");
        Api::<Node>::all(sim.client.clone())
            .delete(&victim, &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(20), "the other node rebooted", || {
        sim.hosts.reboots() == [other.clone()] && !sim.unschedulable(&other)
    })
    .await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_crash_mid_drain_freed_by_ttl() {
    holder_crash(Duration::from_secs(1), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_crash_mid_drain_freed_by_node_deletion() {
    holder_crash(Duration::ZERO, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_errors_never_reboot() {
    let sim = Sim::start(builder(), Setup::default()).await;
    sim.hosts.require("node-0");
    sim.hosts.break_sentinel("node-0");
    sim.spawn_all();
    eventually(Duration::from_secs(10), "sentinel errors counted", || {
        sim.metrics("node-0")
            .lines()
            .any(|l| l.starts_with("kured_sentinel_errors_total ") && !l.ends_with(" 0"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        sim.hosts.reboots().is_empty(),
        "rebooted on a sentinel error"
    );
    assert!(!sim.unschedulable("node-0"));
    // Once the sentinel can tell again, the reboot goes ahead.
    sim.hosts.repair("node-0");
    eventually(
        Duration::from_secs(20),
        "rebooted after the sentinel recovered",
        || sim.hosts.reboots() == ["node-0"] && !sim.unschedulable("node-0"),
    )
    .await;
    sim.stop().await;
}

/// A Prometheus stand-in answering the `ALERTS` query with one firing alert while `firing`.
async fn fake_prometheus(
    firing: Arc<std::sync::atomic::AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::any;
    let app = axum::Router::new().route(
        "/api/v1/query",
        any(move || {
            let firing = firing.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                let result = if firing {
                    json!([{
                        "metric": {"__name__": "ALERTS", "alertname": "NodeDown", "alertstate": "firing"},
                        "value": [1_700_000_000.0, "1"]
                    }])
                } else {
                    json!([])
                };
                axum::Json(json!({
                    "status": "success",
                    "data": {"resultType": "vector", "result": result}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alert_blocks_until_resolved() {
    let firing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (url, server) = fake_prometheus(firing.clone()).await;
    let sim = Sim::start(
        builder(),
        Setup {
            prometheus_url: Some(url),
            ..Setup::default()
        },
    )
    .await;
    sim.hosts.require("node-1");
    sim.spawn_all();
    eventually(Duration::from_secs(10), "blocked by the alert", || {
        sim.metrics("node-1")
            .contains("kured_reboot_blocked{reason=\"prometheus_alert\"} 1")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        sim.hosts.reboots().is_empty(),
        "rebooted during a firing alert"
    );
    firing.store(false, std::sync::atomic::Ordering::SeqCst);
    eventually(
        Duration::from_secs(20),
        "rebooted after the alert resolved",
        || sim.hosts.reboots() == ["node-1"] && !sim.unschedulable("node-1"),
    )
    .await;
    sim.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_drain_keeps_the_lock_and_the_restart_completes() {
    let (sim, victim) = stuck_cluster(Setup {
        drain_timeout: Duration::ZERO,
        ..Setup::default()
    })
    .await;
    sim.hosts.require(&victim);
    sim.spawn_node(&victim);
    let holds = |sim: &Sim| {
        sim.lock_value()
            .is_some_and(|v| v.contains(&format!("\"nodeID\":\"{victim}\"")))
    };
    eventually(
        Duration::from_secs(10),
        "victim cordoned and holding the lock",
        || sim.unschedulable(&victim) && holds(&sim),
    )
    .await;
    // SIGTERM: the agent stops at once, mid-drain …
    sim.stop().await;
    // … leaving the node cordoned only while it still holds the lock.
    assert!(sim.unschedulable(&victim) && holds(&sim));
    // The restarted agent (the reboot is no longer required) uncordons, then releases.
    sim.hosts.clear(&victim);
    sim.spawn_node(&victim);
    eventually(
        Duration::from_secs(10),
        "uncordoned and released after the restart",
        || !sim.unschedulable(&victim) && lock_free(sim.lock_value().as_deref()),
    )
    .await;
    sim.stop().await;
    assert!(sim.hosts.reboots().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_reboot_with_the_lease_backend() {
    let sim = Sim::start(
        builder(),
        Setup {
            concurrency: 2,
            lease: true,
            ..Setup::default()
        },
    )
    .await;
    for n in sim.nodes() {
        sim.hosts.require(&n);
    }
    sim.spawn_all();
    let nodes = sim.nodes();
    eventually(
        Duration::from_secs(30),
        "all nodes rebooted and uncordoned",
        || sim.hosts.reboots().len() == nodes.len() && nodes.iter().all(|n| !sim.unschedulable(n)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.stop().await;
    assert_eq!(sim.hosts.reboots().len(), nodes.len());
    let max = sim.max_cordoned();
    assert!(
        (1..=2).contains(&max),
        "at most 2 cordoned at once, saw {max}"
    );
    assert!(
        sim.lock_value().is_none(),
        "the DaemonSet annotation is not used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaler_guard_while_holding_the_lock_and_someone_elses_key_kept() {
    use agent::{
        AUTOSCALER_GUARD_MARKER_ANNOTATION, DO_NOT_DISRUPT_ANNOTATION,
        SCALE_DOWN_DISABLED_ANNOTATION,
    };
    let sim = Sim::start(
        builder(),
        Setup {
            guard: true,
            ..Setup::default()
        },
    )
    .await;
    // Someone else's: set before any lock was taken, must survive the rollout.
    patch_node(
        &sim,
        "node-1",
        json!({"metadata": {"annotations": {DO_NOT_DISRUPT_ANNOTATION: "true"}}}),
    )
    .await;
    let nodes = sim.nodes();
    for n in &nodes {
        sim.hosts.require(n);
    }
    sim.spawn_all();
    eventually(Duration::from_secs(30), "all rebooted, lock free", || {
        sim.hosts.reboots().len() == nodes.len()
            && nodes.iter().all(|n| !sim.unschedulable(n))
            && lock_free(sim.lock_value().as_deref())
    })
    .await;
    sim.stop().await;

    let history = sim.cluster.history();
    let guarded = |v: &serde_json::Value| {
        let a = &v["metadata"]["annotations"];
        a[SCALE_DOWN_DISABLED_ANNOTATION] == "true" && a[DO_NOT_DISRUPT_ANNOTATION] == "true"
    };
    // Cordoned (we hold the lock: no admin cordon here) without both annotations: never.
    let unguarded = kubesim::cluster::matching_over_time(&history, NODES, |v| {
        v["spec"]["unschedulable"] == json!(true) && !guarded(v)
    });
    assert!(
        unguarded.iter().all(|(_, n)| *n == 0),
        "a cordoned node without the guard: {unguarded:?}"
    );
    let marked = kubesim::cluster::matching_over_time(&history, NODES, |v| {
        guarded(v) && v["metadata"]["annotations"][AUTOSCALER_GUARD_MARKER_ANNOTATION].is_string()
    });
    assert!(
        marked.iter().any(|(_, n)| *n >= 1),
        "the guard was never set"
    );
    for n in &nodes {
        let annotations = sim.node_json(n)["metadata"]["annotations"].clone();
        assert!(
            annotations[SCALE_DOWN_DISABLED_ANNOTATION].is_null()
                && annotations[AUTOSCALER_GUARD_MARKER_ANNOTATION].is_null(),
            "{n}: guard left after the rollout: {annotations}"
        );
        let karpenter = &annotations[DO_NOT_DISRUPT_ANNOTATION];
        if n == "node-1" {
            assert_eq!(
                karpenter, "true",
                "someone else's key removed: {annotations}"
            );
        } else {
            assert!(karpenter.is_null(), "{n}: {annotations}");
        }
    }
}
