//! Shared fixtures for the lock's integration tests: both backends behind one [`Backend`]
//! switch, so every scenario is written once and run against each.
#![allow(dead_code)]

pub mod rollout;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubesim::cluster::{Cluster, RunningCluster};
use kubesim::faults::FaultConfig;
use kubesim::resources::well_known::{DAEMONSETS, LEASES};
use lock::{
    AcquireOutcome, DEFAULT_ANNOTATION, LockConfig, LockError, LockMetadata, LockRecord, LockValue,
    RebootLock, WriteMethod,
};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "kured";
/// Node-existence answers are reused this long in tests (30 s by default).
pub const NODE_CACHE: Duration = Duration::from_millis(200);

/// Which backend (and, for the annotation, which write method) a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    pub kind: lock::Backend,
    pub write: WriteMethod,
}

impl Backend {
    /// The annotation, written with PUT (the default).
    pub const DAEMONSET: Self = Self {
        kind: lock::Backend::Annotation,
        write: WriteMethod::Update,
    };
    /// The annotation, written with a merge patch carrying the resourceVersion.
    pub const DAEMONSET_PATCH: Self = Self {
        kind: lock::Backend::Annotation,
        write: WriteMethod::MergePatch,
    };
    /// One Lease per slot.
    pub const LEASE: Self = Self {
        kind: lock::Backend::Lease,
        write: WriteMethod::Update,
    };
}

/// A kubesim cluster with `nodes` nodes and kured's `DaemonSet`, controllers off (no status
/// churn on the `DaemonSet`).
pub async fn cluster(nodes: usize) -> RunningCluster {
    Cluster::builder()
        .nodes(nodes)
        .daemonset(NAMESPACE, NAME)
        .controllers(false)
        .start()
        .await
        .expect("kubesim starts")
}

/// As [`cluster`], recording history, with faults.
pub async fn faulty_cluster(nodes: usize, faults: FaultConfig) -> RunningCluster {
    Cluster::builder()
        .nodes(nodes)
        .daemonset(NAMESPACE, NAME)
        .controllers(false)
        .record_history(true)
        .faults(faults)
        .start()
        .await
        .expect("kubesim starts")
}

pub fn client(cluster: &RunningCluster) -> Client {
    cluster.client().expect("client")
}

impl Backend {
    /// A lock of this backend on `client`.
    pub fn lock(self, client: Client, concurrency: u32, ttl: Duration) -> Arc<dyn RebootLock> {
        self.config(concurrency, ttl)
            .build(client)
            .expect("valid config")
    }

    /// The lock configuration of this backend.
    pub fn config(self, concurrency: u32, ttl: Duration) -> LockConfig {
        LockConfig {
            write_method: self.write,
            ..LockConfig::default()
        }
        .backend(self.kind)
        .concurrency(concurrency)
        .ttl(ttl)
        .node_cache(NODE_CACHE)
    }

    /// Writes `records` straight into the backing objects, as another writer (Go kured, an
    /// operator) would: the `DaemonSet` annotation in kured's format (single form when
    /// `concurrency == 1`), or one Lease per record.
    pub async fn plant(self, client: &Client, concurrency: u32, records: &[LockRecord]) {
        match self.kind {
            lock::Backend::Annotation => {
                let value = if concurrency == 1 {
                    assert_eq!(records.len(), 1, "single form holds one record");
                    LockValue::Single(records[0].clone())
                } else {
                    LockValue::Multi {
                        max_owners: i64::from(concurrency),
                        locks: records.to_vec(),
                    }
                };
                set_annotation(client, Some(&value.to_json())).await;
            }
            lock::Backend::Lease => {
                for (i, record) in records.iter().enumerate() {
                    put_lease(client, i, record).await;
                }
            }
        }
    }

    /// Plants kured's manual lock: `{"nodeID":"manual"}` on the `DaemonSet`; a Lease held by
    /// `manual` without any time in every slot for the Lease backend.
    pub async fn plant_manual(self, client: &Client, concurrency: u32) {
        match self.kind {
            lock::Backend::Annotation => {
                set_annotation(client, Some(r#"{"nodeID":"manual"}"#)).await;
            }
            lock::Backend::Lease => {
                let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
                for i in 0..concurrency {
                    let lease = json!({
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": format!("{NAME}-{i}"), "namespace": NAMESPACE},
                        "spec": {"holderIdentity": "manual"},
                    });
                    let lease: Lease = serde_json::from_value(lease).unwrap();
                    api.create(&PostParams::default(), &lease)
                        .await
                        .expect("create lease");
                }
            }
        }
    }
}

/// Sets (or with `None` removes) the lock annotation without any precondition.
pub async fn set_annotation(client: &Client, value: Option<&str>) {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let patch = json!({"metadata": {"annotations": {DEFAULT_ANNOTATION: value}}});
    api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
}

/// The raw lock annotation on the `DaemonSet`.
pub async fn raw_annotation(client: &Client) -> Option<String> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let ds = api.get(NAME).await.expect("get ds");
    ds.metadata
        .annotations
        .and_then(|mut a| a.remove(DEFAULT_ANNOTATION))
}

async fn put_lease(client: &Client, slot: usize, record: &LockRecord) {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let time = record
        .created
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string());
    let secs = record.ttl.as_secs();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": format!("{NAME}-{slot}"),
            "namespace": NAMESPACE,
            "annotations": {DEFAULT_ANNOTATION: record.to_json()},
        },
        "spec": {
            "holderIdentity": record.node_id,
            "acquireTime": time,
            "renewTime": time,
            "leaseDurationSeconds": (secs > 0).then_some(secs),
        },
    });
    let typed: Lease = serde_json::from_value(lease.clone()).unwrap();
    match api.create(&PostParams::default(), &typed).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            api.patch(
                &format!("{NAME}-{slot}"),
                &PatchParams::default(),
                &Patch::Merge(&lease),
            )
            .await
            .expect("patch lease");
        }
        Err(e) => panic!("create lease: {e}"),
    }
}

pub async fn delete_node(client: &Client, name: &str) {
    let api: Api<Node> = Api::all(client.clone());
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete node");
}

pub fn record(node: &str, created: Timestamp, ttl: SignedDuration) -> LockRecord {
    LockRecord::new(node, LockMetadata::default(), created, ttl)
}

pub fn names(records: &[LockRecord]) -> Vec<&str> {
    records.iter().map(|r| r.node_id.as_str()).collect()
}

/// The holders' node names, sorted.
pub async fn holder_names(lock: &dyn RebootLock) -> Vec<String> {
    let mut all: Vec<String> = lock
        .holders()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.node_id)
        .collect();
    all.sort();
    all
}

pub fn meta(unschedulable: bool) -> LockMetadata {
    LockMetadata { unschedulable }
}

pub async fn acquired(lock: &dyn RebootLock, holder: &str) -> LockRecord {
    match lock.acquire(holder, meta(false)).await.expect("acquire") {
        AcquireOutcome::Acquired(r) => r,
        AcquireOutcome::HeldBy(h) => panic!("{holder} expected the lock, held by {:?}", names(&h)),
        AcquireOutcome::Halted(h) => panic!("{holder} expected the lock, rollout halted: {h:?}"),
    }
}

pub async fn held_by(lock: &dyn RebootLock, holder: &str) -> Vec<String> {
    match lock.acquire(holder, meta(false)).await.expect("acquire") {
        AcquireOutcome::Acquired(r) => panic!("{holder} unexpectedly acquired: {r:?}"),
        AcquireOutcome::HeldBy(h) => h.into_iter().map(|r| r.node_id).collect(),
        AcquireOutcome::Halted(h) => panic!("{holder} expected HeldBy, rollout halted: {h:?}"),
    }
}

/// Parameters of one race run.
#[derive(Debug, Clone, Copy)]
pub struct Race {
    pub backend: Backend,
    pub concurrency: u32,
    pub contenders: usize,
    /// Contenders that crash holding the lock and are freed by the TTL.
    pub crash_ttl: usize,
    /// Contenders that crash holding the lock and whose Node is then deleted.
    pub crash_deleted: usize,
    pub ttl: Duration,
    pub seed: u64,
}

/// What a race run observed.
#[derive(Debug)]
pub struct RaceReport {
    pub winners: usize,
    pub max_in_section: usize,
    /// Releases that found the record already expired and dropped (hold + release > TTL).
    pub released_after_expiry: usize,
    pub versions_checked: usize,
    pub max_recorded_holders: usize,
    pub faults: kubesim::faults::FaultStats,
}

/// Runs `race.contenders` tasks, each with its own client, against one lock object on a
/// kubesim with injected 409s, 500s and latency. Asserts, from kubesim's record of every
/// write, that no version of the lock object ever names more than `concurrency` holders, that
/// at most `concurrency` contenders are ever inside the critical section at once, and that
/// every contender gets the lock.
pub async fn run_race(race: Race) -> RaceReport {
    let faults = FaultConfig {
        jitter: Duration::from_millis(4),
        error_500_fraction: 0.03,
        conflict_409_fraction: 0.05,
        error_429_fraction: 0.01,
        cut_watch_after: Some(15),
        seed: race.seed,
        ..FaultConfig::default()
    };
    let nodes = race.contenders + 2;
    let cluster = faulty_cluster(nodes, faults).await;
    let admin = client(&cluster);
    let in_section = Arc::new(AtomicUsize::new(0));
    let max_in_section = Arc::new(AtomicUsize::new(0));
    let lost_by_ttl = Arc::new(AtomicUsize::new(0));
    let (crashed_tx, mut crashed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut tasks = Vec::new();
    for i in 0..race.contenders {
        let me = format!("node-{i}");
        let crash = if i < race.crash_ttl {
            Some(false)
        } else if i < race.crash_ttl + race.crash_deleted {
            Some(true)
        } else {
            None
        };
        let lock = race
            .backend
            .lock(client(&cluster), race.concurrency, race.ttl);
        let in_section = in_section.clone();
        let max_in_section = max_in_section.clone();
        let crashed_tx = crashed_tx.clone();
        let c = race.concurrency as usize;
        let ttl = race.ttl;
        let lost_by_ttl = lost_by_ttl.clone();
        tasks.push(tokio::spawn(contender(
            lock,
            me,
            i,
            crash,
            c,
            ttl,
            Counters {
                in_section,
                max_in_section,
                lost_by_ttl,
            },
            crashed_tx,
        )));
    }
    drop(crashed_tx);
    let deleter = {
        let admin = admin.clone();
        tokio::spawn(async move {
            while let Some(node) = crashed_rx.recv().await {
                // The cluster autoscaler removes the crashed node (retry through injected 500s).
                let api: Api<Node> = Api::all(admin.clone());
                for _ in 0..50 {
                    match api.delete(&node, &DeleteParams::default()).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(s)) if s.code == 404 => break,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
        })
    };
    let mut winners = BTreeSet::new();
    let all = futures::future::join_all(tasks);
    let results = tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .expect("every contender gets the lock within the time limit");
    for r in results {
        winners.insert(r.expect("contender task"));
    }
    deleter.await.expect("deleter");
    assert_eq!(
        winners.len(),
        race.contenders,
        "every contender got the lock"
    );

    let (versions_checked, max_recorded_holders) = check_history(&cluster, race);
    let report = RaceReport {
        winners: winners.len(),
        max_in_section: max_in_section.load(Ordering::SeqCst),
        released_after_expiry: lost_by_ttl.load(Ordering::SeqCst),
        versions_checked,
        max_recorded_holders,
        faults: cluster.fault_stats(),
    };
    cluster.shutdown().await;
    report
}

struct Counters {
    in_section: Arc<AtomicUsize>,
    max_in_section: Arc<AtomicUsize>,
    lost_by_ttl: Arc<AtomicUsize>,
}

/// One contender: acquire (waiting on changes), hold briefly, then release, or crash while
/// holding (`crash = Some(delete_node)`).
#[allow(clippy::too_many_arguments)]
async fn contender(
    lock: Arc<dyn RebootLock>,
    me: String,
    i: usize,
    crash: Option<bool>,
    c: usize,
    ttl: Duration,
    counters: Counters,
    crashed_tx: tokio::sync::mpsc::UnboundedSender<String>,
) -> String {
    let Counters {
        in_section,
        max_in_section,
        lost_by_ttl,
    } = counters;

    loop {
        match lock.acquire(&me, meta(i.is_multiple_of(2))).await {
            Ok(AcquireOutcome::Acquired(_)) => break,
            Ok(AcquireOutcome::HeldBy(_)) => {
                // Bounded: TTL lapses and node deletions change nothing on the object.
                let _ =
                    tokio::time::timeout(Duration::from_millis(400), lock.wait_for_change()).await;
            }
            Ok(AcquireOutcome::Halted(h)) => panic!("{me}: no race halts the rollout: {h:?}"),
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("{me}: permanent error {e}"),
        }
    }
    let acquired_at = std::time::Instant::now();
    let now = in_section.fetch_add(1, Ordering::SeqCst) + 1;
    max_in_section.fetch_max(now, Ordering::SeqCst);
    assert!(
        now <= c,
        "{now} contenders in the critical section, concurrency {c}"
    );
    tokio::time::sleep(Duration::from_millis(fastrand::u64(5..40))).await;
    in_section.fetch_sub(1, Ordering::SeqCst);
    if let Some(delete_node) = crash {
        // Crash while holding: never release.
        if delete_node {
            let _ = crashed_tx.send(me.clone());
        }
        return me;
    }
    loop {
        match lock.release(&me).await {
            Ok(()) => break,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(20)).await,
            // Releasing took longer than the TTL (contention, backoff): the record may
            // have expired and been dropped by a newcomer. That is the TTL's contract;
            // anything earlier is a bug.
            Err(LockError::NotHeld { .. }) if acquired_at.elapsed() >= ttl && !ttl.is_zero() => {
                lost_by_ttl.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Err(e) => panic!(
                "{me}: release failed after {:?}: {e}",
                acquired_at.elapsed()
            ),
        }
    }
    me
}

/// Replays every recorded write of the lock object(s) and asserts the holder bound at each
/// version. Returns (versions checked, most holders seen at once).
fn check_history(cluster: &RunningCluster, race: Race) -> (usize, usize) {
    let c = race.concurrency as usize;
    let mut checked = 0;
    let mut max_holders = 0;
    match race.backend.kind {
        lock::Backend::Annotation => {
            for event in cluster.history() {
                if event.resource.plural != DAEMONSETS.plural
                    || event.object["metadata"]["name"] != NAME
                {
                    continue;
                }
                checked += 1;
                let Some(text) =
                    event.object["metadata"]["annotations"][DEFAULT_ANNOTATION].as_str()
                else {
                    continue;
                };
                let value = LockValue::parse(text).expect("every written value parses");
                // Exactly kured's bytes: our re-serialisation reproduces the stored text.
                assert_eq!(value.to_json(), text, "rv {}", event.rv);
                let holders = value.records().len();
                max_holders = max_holders.max(holders);
                assert!(
                    holders <= c,
                    "rv {}: {holders} holders > {c}: {text}",
                    event.rv
                );
                if race.concurrency == 1 {
                    assert!(
                        matches!(value, LockValue::Single(_)),
                        "single form at concurrency 1"
                    );
                }
            }
        }
        lock::Backend::Lease => {
            let mut slots: BTreeMap<String, String> = BTreeMap::new();
            for event in cluster.history() {
                if event.resource.plural != LEASES.plural {
                    continue;
                }
                let name = event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                checked += 1;
                match event.object["spec"]["holderIdentity"].as_str() {
                    Some(h)
                        if !h.is_empty() && event.kind != kubesim::store::EventType::Deleted =>
                    {
                        slots.insert(name, h.to_string());
                    }
                    _ => {
                        slots.remove(&name);
                    }
                }
                let holders: Vec<&String> = slots.values().collect();
                let distinct: BTreeSet<&String> = holders.iter().copied().collect();
                assert_eq!(
                    distinct.len(),
                    holders.len(),
                    "rv {}: a holder in two slots: {slots:?}",
                    event.rv
                );
                assert!(holders.len() <= c, "rv {}: {slots:?}", event.rv);
                max_holders = max_holders.max(holders.len());
                let value: Value = event.object.as_ref().clone();
                assert!(
                    value["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&format!("{NAME}-"))),
                    "only slot leases are written"
                );
            }
        }
    }
    assert!(checked > 0, "the lock object was written");
    (checked, max_holders)
}

/// Errors that name the holders.
pub fn not_held_holders(e: &LockError) -> Vec<String> {
    match e {
        LockError::NotHeld { holders, .. } => holders.clone(),
        other => panic!("expected NotHeld, got {other}"),
    }
}
