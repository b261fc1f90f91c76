//! Rollouts that stop themselves (issue 18) on kubesim: the health gate keeps the lock until
//! the rebooted node's workloads are back; a failed node halts the rollout until an operator
//! resumes it; an agent stopped before its reboot resumes the attempt; a cordon left by a lost
//! lock is reconciled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubesim::resources::well_known::{DAEMONSETS, NODES, PODS};
use kubesim::store::EventType;
use serde_json::{Value, json};
use testkit::eventually;

use crate::sim::{Setup, Sim, builder};

/// The objects of one resource type as they stood right after resourceVersion `rv`.
fn state_at(sim: &Sim, plural: &str, rv: u64) -> BTreeMap<String, Arc<Value>> {
    let mut objects = BTreeMap::new();
    for e in sim.cluster.history() {
        if e.rv > rv {
            break;
        }
        if e.resource.plural != plural {
            continue;
        }
        let key = format!(
            "{}/{}",
            e.object["metadata"]["namespace"].as_str().unwrap_or(""),
            e.object["metadata"]["name"].as_str().unwrap_or("")
        );
        if e.kind == EventType::Deleted {
            objects.remove(&key);
        } else {
            objects.insert(key, e.object.clone());
        }
    }
    objects
}

/// The resourceVersions at which `node` went from schedulable to cordoned.
fn cordons(sim: &Sim, node: &str) -> Vec<u64> {
    let cordoned = |v: &Value| v["spec"]["unschedulable"] == json!(true);
    sim.cluster
        .history()
        .iter()
        .filter(|e| e.resource.plural == NODES.plural && e.object["metadata"]["name"] == node)
        .filter(|e| cordoned(&e.object) && !e.previous.as_deref().is_some_and(cordoned))
        .map(|e| e.rv)
        .collect()
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The rollout state on the lock `DaemonSet` (`None`: no annotation).
fn rollout(sim: &Sim) -> Option<Value> {
    let ds = sim
        .cluster
        .store()
        .get(DAEMONSETS, "kube-system", "kured")?;
    let raw = ds["metadata"]["annotations"][lock::ROLLOUT_ANNOTATION].as_str()?;
    serde_json::from_str(raw).ok()
}

fn halted_by(sim: &Sim) -> Option<String> {
    rollout(sim).and_then(|r| r["halt"]["node"].as_str().map(str::to_string))
}

fn holds(sim: &Sim, node: &str) -> bool {
    sim.lock_value()
        .is_some_and(|v| v.contains(&format!("\"nodeID\":\"{node}\"")))
}

/// The operator's resume: the rollout annotation removed (what
/// `kubectl -n kube-system annotate daemonset kured kured-rs.dev/rollout-` does).
async fn resume(sim: &Sim) {
    let patch = json!({"metadata": {"annotations": {lock::ROLLOUT_ANNOTATION: null}}});
    Api::<DaemonSet>::namespaced(sim.client.clone(), "kube-system")
        .patch("kured", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn gate(timeout: Duration) -> gate::GateConfig {
    gate::GateConfig {
        timeout,
        poll: Duration::from_millis(50),
        ..gate::GateConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_keeps_the_lock_until_the_disturbed_workload_is_ready_again() {
    // Pods take 800 ms to become Ready after a (re)start: without the gate the next node
    // would start while the first one's evicted replica is still starting.
    let sim = Sim::start(
        builder()
            .nodes(2)
            .kubelet_start_delay(Duration::from_millis(800)),
        Setup {
            gate: Some(gate(Duration::from_secs(30))),
            ..Setup::default()
        },
    )
    .await;
    eventually(Duration::from_secs(10), "every pod Ready at start", || {
        let (pods, _) = sim.cluster.store().list(PODS, None, |_| true);
        !pods.is_empty() && pods.iter().all(|p| ready(p))
    })
    .await;
    for node in sim.nodes() {
        sim.hosts.require(&node);
    }
    sim.spawn_all();
    eventually(Duration::from_secs(30), "both nodes rebooted", || {
        sim.hosts.reboots().len() == 2 && sim.hosts.required().is_empty()
    })
    .await;
    eventually(Duration::from_secs(30), "lock free, all uncordoned", || {
        sim.lock_value().is_none_or(|v| !v.contains("nodeID"))
            && sim.nodes().iter().all(|n| !sim.unschedulable(n))
    })
    .await;
    sim.stop().await;
    let first = sim.hosts.reboots()[0].clone();
    let second = sim.hosts.reboots()[1].clone();
    let rv = *cordons(&sim, &second)
        .first()
        .expect("the second node was cordoned");
    // When the second node was cordoned, every pod the first node's drain disturbed was back.
    let pods = state_at(&sim, PODS.plural, rv);
    let not_ready: Vec<&String> = pods
        .iter()
        .filter(|(_, p)| p["metadata"]["deletionTimestamp"].is_null() && !ready(p))
        .map(|(k, _)| k)
        .collect();
    assert!(
        not_ready.is_empty(),
        "{second} was cordoned while pods were not Ready after {first}'s reboot: {not_ready:?}"
    );
    let metrics = sim.metrics(&first);
    assert!(
        metrics.contains("kured_gate_wait_seconds_count 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reboot_command_halts_the_rollout_until_an_operator_resumes_it() {
    let sim = Sim::start(builder().nodes(3), Setup::default()).await;
    let [bad, a, b] = [0, 1, 2].map(|i| format!("node-{i}"));
    sim.hosts.fail_reboots(&bad);
    sim.hosts.require(&bad);
    sim.spawn_all();
    eventually(
        Duration::from_secs(15),
        "the failure halted the rollout",
        || halted_by(&sim).as_deref() == Some(bad.as_str()),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the failed node uncordoned, keeping the lock",
        || !sim.unschedulable(&bad) && holds(&sim, &bad),
    )
    .await;
    let reason = rollout(&sim).unwrap()["halt"]["reason"].to_string();
    assert!(reason.contains("reboot command failed"), "{reason}");
    let node = sim.node_json(&bad);
    assert!(
        node["metadata"]["annotations"][agent::REBOOT_FAILURE_ANNOTATION].is_string(),
        "{node}"
    );
    assert!(sim.metrics(&bad).contains("kured_rollout_halted 1"));
    // While halted nobody else starts, although they need a reboot.
    sim.hosts.require(&a);
    sim.hosts.require(&b);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(cordons(&sim, &a).is_empty() && cordons(&sim, &b).is_empty());
    assert!(sim.hosts.reboots().is_empty());
    assert!(sim.metrics(&a).contains("kured_rollout_halted 1"));

    resume(&sim).await;
    eventually(
        Duration::from_secs(20),
        "the others rebooted after the resume",
        || sim.hosts.required() == [bad.clone()].into(),
    )
    .await;
    eventually(Duration::from_secs(10), "lock free, all uncordoned", || {
        sim.lock_value().is_none_or(|v| !v.contains("nodeID"))
            && sim.nodes().iter().all(|n| !sim.unschedulable(n))
    })
    .await;
    sim.stop().await;
    // The failed node was drained once: not again for the same failure.
    assert_eq!(cordons(&sim, &bad).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_failure_budget_a_failed_node_releases_and_the_rollout_goes_on() {
    let sim = Sim::start(
        builder().nodes(2),
        Setup {
            max_failed_nodes: 2,
            ..Setup::default()
        },
    )
    .await;
    let [bad, good] = [0, 1].map(|i| format!("node-{i}"));
    sim.hosts.fail_reboots(&bad);
    sim.hosts.require(&bad);
    sim.spawn_node(&bad);
    eventually(
        Duration::from_secs(15),
        "the failure recorded, the lock released",
        || {
            rollout(&sim).is_some_and(|r| r["failures"][0]["node"] == bad.as_str())
                && !holds(&sim, &bad)
                && !sim.unschedulable(&bad)
        },
    )
    .await;
    assert_eq!(halted_by(&sim), None);
    sim.hosts.require(&good);
    sim.spawn_node(&good);
    eventually(Duration::from_secs(15), "the good node rebooted", || {
        sim.hosts.reboots() == [good.clone()]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.stop().await;
    assert_eq!(
        cordons(&sim, &bad).len(),
        1,
        "not drained again for the same failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_back_in_time_halts_the_rollout() {
    let sim = Sim::start(
        builder().nodes(2),
        Setup {
            not_back_timeout: Duration::from_millis(600),
            ..Setup::default()
        },
    )
    .await;
    let [lost, other] = [0, 1].map(|i| format!("node-{i}"));
    sim.hosts.lose_on_reboot(&lost);
    sim.hosts.require(&lost);
    sim.spawn_all();
    eventually(Duration::from_secs(10), "the lost node rebooted", || {
        sim.hosts.is_lost(&lost)
    })
    .await;
    sim.hosts.require(&other);
    eventually(
        Duration::from_secs(15),
        "the waiting agent halted the rollout",
        || halted_by(&sim).as_deref() == Some(lost.as_str()),
    )
    .await;
    let reason = rollout(&sim).unwrap()["halt"]["reason"].to_string();
    assert!(reason.contains("not back"), "{reason}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.stop().await;
    assert!(
        cordons(&sim, &other).is_empty(),
        "nothing else drains while halted"
    );
    assert!(holds(&sim, &lost), "the failed node keeps its lock record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_never_passes_halts_the_rollout() {
    let sim = Sim::start(
        builder().nodes(2),
        Setup {
            gate: Some(gate::GateConfig {
                pod_selector: Some("app=never-ready".into()),
                ..gate(Duration::from_millis(700))
            }),
            ..Setup::default()
        },
    )
    .await;
    // A pod the gate waits for that never becomes Ready (bound to a node that does not exist).
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "never", "namespace": "default", "labels": {"app": "never-ready"}},
        "spec": {"nodeName": "ghost", "containers": [{"name": "c", "image": "x"}]}
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(sim.client.clone(), "default")
        .create(&kube::api::PostParams::default(), &pod)
        .await
        .unwrap();
    let [first, second] = [0, 1].map(|i| format!("node-{i}"));
    sim.hosts.require(&first);
    sim.spawn_all();
    eventually(
        Duration::from_secs(15),
        "the gate failure halted the rollout",
        || halted_by(&sim).as_deref() == Some(first.as_str()),
    )
    .await;
    let reason = rollout(&sim).unwrap()["halt"]["reason"].to_string();
    assert!(reason.contains("health gate failed"), "{reason}");
    sim.hosts.require(&second);
    tokio::time::sleep(Duration::from_millis(600)).await;
    sim.stop().await;
    assert!(cordons(&sim, &second).is_empty());
    assert!(holds(&sim, &first) && !sim.unschedulable(&first));
    assert_eq!(sim.hosts.reboots(), std::slice::from_ref(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_before_its_reboot_resumes_the_attempt_instead_of_releasing() {
    let (sim, victim) = crate::stuck_cluster(Setup {
        drain_timeout: Duration::ZERO,
        ..Setup::default()
    })
    .await;
    sim.hosts.require(&victim);
    sim.spawn_node(&victim);
    eventually(
        Duration::from_secs(10),
        "victim cordoned and holding the lock",
        || sim.unschedulable(&victim) && holds(&sim, &victim),
    )
    .await;
    // SIGTERM mid-drain (the PDB keeps the drain waiting), the sentinel still set.
    sim.stop().await;
    let node = sim.node_json(&victim);
    assert!(node["metadata"]["annotations"][gate::ATTEMPT_ANNOTATION].is_string());
    // The blocking pod goes; the restarted agent drains and reboots under the same lock.
    Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::namespaced(
        sim.client.clone(),
        "default",
    )
    .delete("stuck-pdb", &kube::api::DeleteParams::default())
    .await
    .unwrap();
    sim.spawn_node(&victim);
    eventually(Duration::from_secs(15), "rebooted and released", || {
        sim.hosts.reboots() == [victim.clone()]
            && !holds(&sim, &victim)
            && !sim.unschedulable(&victim)
    })
    .await;
    sim.stop().await;
    let taken: Vec<u64> = sim
        .cluster
        .history()
        .iter()
        .filter(|e| e.resource.plural == DAEMONSETS.plural)
        .filter(|e| {
            let has = |v: &Value| {
                v["metadata"]["annotations"][lock::DEFAULT_ANNOTATION]
                    .as_str()
                    .is_some_and(|l| l.contains(&format!("\"nodeID\":\"{victim}\"")))
            };
            has(&e.object) && !e.previous.as_deref().is_some_and(has)
        })
        .map(|e| e.rv)
        .collect();
    assert_eq!(
        taken.len(),
        1,
        "the lock was taken once for the one reboot: {taken:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cordon_left_by_a_lost_attempt_is_reconciled_and_an_admin_cordon_kept() {
    let sim = Sim::start(builder().nodes(2), Setup::default()).await;
    let [ours, admins] = [0, 1].map(|i| format!("node-{i}"));
    crate::patch_node(
        &sim,
        &ours,
        json!({"metadata": {"annotations": {agent::CORDONED_BY_ANNOTATION: "2026-12-07T10:00:00Z"}},
               "spec": {"unschedulable": true}}),
    )
    .await;
    crate::patch_node(&sim, &admins, json!({"spec": {"unschedulable": true}})).await;
    sim.spawn_all();
    eventually(
        Duration::from_secs(10),
        "our leftover cordon reconciled",
        || {
            !sim.unschedulable(&ours)
                && sim.node_json(&ours)["metadata"]["annotations"][agent::CORDONED_BY_ANNOTATION]
                    .is_null()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.stop().await;
    assert!(
        sim.unschedulable(&admins),
        "a cordon without our mark is never touched"
    );
}
