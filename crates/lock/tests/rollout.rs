//! Stop the line: failures recorded beside the lock, the halt they lead to, and the operator's
//! resume, against kubesim over HTTP for both backends (`daemonset::*`, `lease::*`), plus the
//! annotation backend's coexistence with Go kured's writes.

mod common;

use std::time::Duration;

use common::{
    Backend, NAME, NAMESPACE, acquired, client, cluster, delete_node, faulty_cluster, held_by,
    meta, raw_annotation,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::PostParams;
use kubesim::faults::FaultConfig;
use lock::{
    AcquireOutcome, DEFAULT_ANNOTATION, LockRecord, RebootLock, RolloutFailure, RolloutHalt,
    RolloutState,
};

const NO_TTL: Duration = Duration::ZERO;

fn failure(node: &str, reason: &str) -> RolloutFailure {
    RolloutFailure {
        node: node.into(),
        reason: reason.into(),
        since: Timestamp::now(),
    }
}

async fn halted(lock: &dyn RebootLock, holder: &str) -> RolloutHalt {
    match lock.acquire(holder, meta(false)).await.expect("acquire") {
        AcquireOutcome::Halted(halt) => halt,
        other => panic!("{holder} expected Halted, got {other:?}"),
    }
}

async fn budget_one_halts_until_resumed(backend: Backend) {
    let cluster = cluster(3).await;
    let a = backend.lock(client(&cluster), 2, NO_TTL);
    let b = backend.lock(client(&cluster), 2, NO_TTL);
    let held = acquired(a.as_ref(), "node-0").await;
    let gate = failure("node-0", "health gate did not pass within 10m");
    let state = a.record_failure(gate.clone(), 1).await.unwrap();
    let halt = state.halt.clone().expect("budget 1: one failure halts");
    assert_eq!(halt.node, "node-0");
    assert_eq!(halt.reason, gate.reason);
    assert_eq!(halt.since, gate.since);
    assert_eq!(state.failures, [gate]);
    assert_eq!(b.rollout().await.unwrap(), state, "every agent sees it");

    // A free slot, yet no new grant.
    assert_eq!(halted(b.as_ref(), "node-1").await, halt);
    // The failed node keeps its record; holding it is still idempotent.
    assert_eq!(b.holding("node-0").await.unwrap(), Some(held.clone()));
    assert_eq!(
        a.acquire("node-0", meta(false)).await.unwrap(),
        AcquireOutcome::Acquired(held.clone())
    );
    assert_eq!(common::names(&b.holders().await.unwrap()), ["node-0"]);

    backend.kubectl_resume(&cluster).await;
    assert_eq!(backend.raw_rollout(&client(&cluster)).await, None);
    assert_eq!(b.rollout().await.unwrap(), RolloutState::default());
    acquired(b.as_ref(), "node-1").await;
    assert_eq!(b.holding("node-0").await.unwrap(), Some(held), "untouched");
    cluster.shutdown().await;
}

async fn budget_two_counts_nodes(backend: Backend) {
    let cluster = cluster(4).await;
    let lock = backend.lock(client(&cluster), 3, NO_TTL);
    let s = lock
        .record_failure(failure("node-0", "reboot command failed"), 2)
        .await
        .unwrap();
    assert!(!s.is_halted(), "one failure of budget 2");
    acquired(lock.as_ref(), "node-2").await;
    let again = failure("node-0", "reboot command failed again");
    let s = lock.record_failure(again.clone(), 2).await.unwrap();
    assert!(!s.is_halted(), "the same node failing twice counts once");
    assert_eq!(s.failures, std::slice::from_ref(&again));
    let second = failure("node-1", "not Ready 15m after the reboot");
    let s = lock.record_failure(second.clone(), 2).await.unwrap();
    let halt = s.halt.clone().expect("two nodes failed");
    assert_eq!(
        (halt.node.as_str(), halt.reason.as_str()),
        ("node-1", second.reason.as_str())
    );
    assert_eq!(s.failures, [again, second]);
    assert_eq!(halted(lock.as_ref(), "node-3").await, halt);
    cluster.shutdown().await;
}

async fn clear_failure_forgets_one_node(backend: Backend) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let lock = backend.lock(c.clone(), 2, NO_TTL);
    lock.record_failure(failure("node-0", "r"), 2)
        .await
        .unwrap();
    lock.clear_failure("node-0").await.unwrap();
    assert_eq!(lock.rollout().await.unwrap(), RolloutState::default());
    assert_eq!(
        backend.raw_rollout(&c).await,
        None,
        "nothing left: no annotation"
    );
    // Clearing a node that has no failure writes nothing and fails nothing.
    lock.clear_failure("node-2").await.unwrap();

    lock.record_failure(failure("node-0", "r"), 1)
        .await
        .unwrap();
    lock.record_failure(failure("node-1", "r"), 1)
        .await
        .unwrap();
    lock.clear_failure("node-0").await.unwrap();
    let s = lock.rollout().await.unwrap();
    assert_eq!(
        s.failures
            .iter()
            .map(|f| f.node.as_str())
            .collect::<Vec<_>>(),
        ["node-1"]
    );
    assert_eq!(
        s.halt.as_ref().map(|h| h.node.as_str()),
        Some("node-0"),
        "the halt stays"
    );
    halted(lock.as_ref(), "node-2").await;
    cluster.shutdown().await;
}

async fn unparsable_state_halts_until_resumed(backend: Backend) {
    let cluster = cluster(2).await;
    let c = client(&cluster);
    backend.plant_rollout(&c, "{\"failures\": oops").await;
    let lock = backend.lock(c.clone(), 1, NO_TTL);
    let halt = lock.rollout().await.unwrap().halt.expect("fail safe");
    assert!(
        halt.reason.contains(lock::ROLLOUT_ANNOTATION),
        "{}",
        halt.reason
    );
    let halt = halted(lock.as_ref(), "node-0").await;
    assert!(halt.reason.contains("not valid"), "{}", halt.reason);
    // Clearing a failure cannot repair it; the bad text stays for the operator to see.
    lock.clear_failure("node-0").await.unwrap();
    assert_eq!(
        backend.raw_rollout(&c).await.as_deref(),
        Some("{\"failures\": oops")
    );
    lock.resume().await.unwrap();
    assert_eq!(backend.raw_rollout(&c).await, None);
    acquired(lock.as_ref(), "node-0").await;
    cluster.shutdown().await;
}

/// The state written by `record_failure` stays byte for byte through the lock's own writes:
/// acquire (the multi-owner rewrite on the `DaemonSet`; on the Lease backend slot 0 taken on
/// the Lease that carries the state), release (slot 0 cleared), re-take, takeover of a slot
/// whose node was deleted, and a release during the halt.
async fn state_survives_lock_writes(backend: Backend) {
    let cluster = cluster(4).await;
    let c = client(&cluster);
    let lock = backend.lock(c.clone(), 2, NO_TTL);
    let s = lock
        .record_failure(failure("node-3", "r"), 2)
        .await
        .unwrap();
    let text = s.to_annotation();
    assert!(text.is_some());
    let unchanged = |step: &'static str| {
        let c = c.clone();
        let text = text.clone();
        async move {
            assert_eq!(backend.raw_rollout(&c).await, text, "after {step}");
        }
    };
    acquired(lock.as_ref(), "node-0").await;
    unchanged("acquire of slot 0").await;
    acquired(lock.as_ref(), "node-1").await;
    unchanged("acquire of a second slot").await;
    lock.release("node-0").await.unwrap();
    unchanged("release of slot 0").await;
    acquired(lock.as_ref(), "node-0").await;
    unchanged("slot 0 taken again").await;
    delete_node(&c, "node-1").await;
    // Older than the node cache: its node is looked up, found gone, and the slot taken over.
    tokio::time::sleep(common::NODE_CACHE + Duration::from_millis(100)).await;
    acquired(lock.as_ref(), "node-2").await;
    unchanged("takeover").await;
    assert_eq!(
        common::holder_names(lock.as_ref()).await,
        ["node-0", "node-2"]
    );

    let s = lock
        .record_failure(failure("node-0", "r"), 2)
        .await
        .unwrap();
    assert!(s.is_halted());
    lock.release("node-2").await.unwrap();
    assert_eq!(
        backend.raw_rollout(&c).await,
        s.to_annotation(),
        "after release"
    );
    assert_eq!(lock.rollout().await.unwrap(), s);
    cluster.shutdown().await;
}

async fn concurrent_failures_all_land(backend: Backend) {
    let faults = FaultConfig {
        conflict_409_fraction: 0.25,
        jitter: Duration::from_millis(2),
        seed: 18,
        ..FaultConfig::default()
    };
    let cluster = faulty_cluster(8, faults).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let lock = backend.lock(client(&cluster), 1, NO_TTL);
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{i}");
            lock.record_failure(failure(&node, "gate"), 100).await
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("each record lands despite conflicts");
    }
    let lock = backend.lock(client(&cluster), 1, NO_TTL);
    let s = lock.rollout().await.unwrap();
    let mut nodes: Vec<&str> = s.failures.iter().map(|f| f.node.as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(
        nodes,
        (0..8).map(|i| format!("node-{i}")).collect::<Vec<_>>()
    );
    assert!(!s.is_halted(), "8 of a budget of 100");
    eprintln!("injected: {:?}", cluster.fault_stats());
    cluster.shutdown().await;
}

async fn waiters_sleep_through_a_halt(backend: Backend) {
    let cluster = cluster(3).await;
    let holder = backend.lock(client(&cluster), 2, NO_TTL);
    acquired(holder.as_ref(), "node-0").await;
    holder
        .record_failure(failure("node-0", "r"), 1)
        .await
        .unwrap();
    let waiter = backend.lock(client(&cluster), 2, NO_TTL);
    halted(waiter.as_ref(), "node-1").await;
    let task = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.wait_for_slot("node-1").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !task.is_finished(),
        "a free slot during a halt must not wake the waiter"
    );
    holder.resume().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the resume wakes the waiter")
        .unwrap()
        .unwrap();
    acquired(waiter.as_ref(), "node-1").await;
    cluster.shutdown().await;
}

macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn budget_one_halts_until_resumed_with_kubectl() {
                budget_one_halts_until_resumed($backend).await;
            }

            #[tokio::test]
            async fn budget_two_counts_nodes_once() {
                budget_two_counts_nodes($backend).await;
            }

            #[tokio::test]
            async fn clear_failure_keeps_the_halt() {
                clear_failure_forgets_one_node($backend).await;
            }

            #[tokio::test]
            async fn unparsable_state_is_a_halt() {
                unparsable_state_halts_until_resumed($backend).await;
            }

            #[tokio::test]
            async fn state_survives_the_lock_writes() {
                state_survives_lock_writes($backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_record_failure_both_land() {
                concurrent_failures_all_land($backend).await;
            }

            #[tokio::test]
            async fn wait_for_slot_sleeps_through_a_halt() {
                waiters_sleep_through_a_halt($backend).await;
            }
        }
    };
}

suite!(daemonset, Backend::DAEMONSET);
suite!(daemonset_merge_patch, Backend::DAEMONSET_PATCH);
suite!(lease, Backend::LEASE);

/// Go kured's lock write: read the `DaemonSet`, change only its annotation, PUT. Our state
/// stays; and our state writes leave kured's annotation byte for byte.
async fn coexists_with_go_kured(backend: Backend) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let lock = backend.lock(c.clone(), 1, NO_TTL);
    acquired(lock.as_ref(), "node-0").await;
    let kured = raw_annotation(&c).await;
    let s = lock
        .record_failure(failure("node-0", "r"), 1)
        .await
        .unwrap();
    assert_eq!(
        raw_annotation(&c).await,
        kured,
        "record_failure keeps kured's lock"
    );
    assert_eq!(held_by_or_halted(lock.as_ref(), "node-1").await, "halted");

    let api: Api<DaemonSet> = Api::namespaced(c.clone(), NAMESPACE);
    let mut ds = api.get(NAME).await.unwrap();
    let go = LockRecord::new(
        "node-2",
        meta(false),
        Timestamp::now(),
        jiff::SignedDuration::ZERO,
    );
    ds.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(DEFAULT_ANNOTATION.into(), go.to_json());
    api.replace(NAME, &PostParams::default(), &ds)
        .await
        .unwrap();
    assert_eq!(
        backend.raw_rollout(&c).await,
        s.to_annotation(),
        "Go kured's PUT keeps ours"
    );
    assert_eq!(lock.rollout().await.unwrap(), s);

    lock.resume().await.unwrap();
    assert_eq!(
        raw_annotation(&c).await,
        Some(go.to_json()),
        "resume keeps kured's lock"
    );
    assert_eq!(held_by(lock.as_ref(), "node-1").await, ["node-2"]);
    cluster.shutdown().await;
}

async fn held_by_or_halted(lock: &dyn RebootLock, holder: &str) -> &'static str {
    match lock.acquire(holder, meta(false)).await.unwrap() {
        AcquireOutcome::Acquired(_) => "acquired",
        AcquireOutcome::HeldBy(_) => "held",
        AcquireOutcome::Halted(_) => "halted",
    }
}

#[tokio::test]
async fn daemonset_coexists_with_go_kured_writes() {
    coexists_with_go_kured(Backend::DAEMONSET).await;
}

#[tokio::test]
async fn daemonset_merge_patch_coexists_with_go_kured_writes() {
    coexists_with_go_kured(Backend::DAEMONSET_PATCH).await;
}
