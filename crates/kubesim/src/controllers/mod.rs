//! Simulated cluster behaviour: a kubelet for every node, the ReplicaSet/Deployment, DaemonSet
//! and PodDisruptionBudget controllers, and a minimal scheduler.
//!
//! Every controller is one tokio task that follows the [`Store`]'s event log
//! ([`Store::subscribe`] + [`Store::events_since`]; a full resync when the log was compacted
//! past it), collects the keys an event makes "dirty", and reconciles them by reading the
//! current state from the store and writing straight to it (not over HTTP). Delays (pod start,
//! shutdown, rescheduling) are timers inside the task. [`Controllers`] starts them and stops them
//! (explicitly with [`Controllers::stop`] or by being dropped).
//!
//! The kubelet is one task for all nodes: per node it behaves as a kubelet would (pods bound to
//! a Ready node start, terminating pods stop), see [`kubelet`].

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

pub mod daemonset;
pub mod kubelet;
pub mod pdb;
pub mod replicaset;
pub mod sched;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::resources::ResourceType;
use crate::store::{Event, Store};

/// Which controllers run and how fast the simulated world moves.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one independent on/off switch per controller"
)]
pub struct ControllerConfig {
    /// Run the simulated kubelet (pods start and stop, node reboots complete).
    pub kubelet: bool,
    /// Run the ReplicaSet + Deployment controllers and the scheduler.
    pub replicasets: bool,
    /// Run the DaemonSet controller.
    pub daemonsets: bool,
    /// Run the PodDisruptionBudget (disruption) controller.
    pub pdbs: bool,
    /// Time from a pod being bound to a Ready node (or its node coming back) until it is
    /// Running and Ready.
    pub kubelet_start_delay: Duration,
    /// How long a terminating pod really takes to stop: it is removed after
    /// `min(its grace period, shutdown_time)`.
    pub shutdown_time: Duration,
    /// Delay before a ReplicaSet replaces a pod that went away (or started terminating).
    pub reschedule_delay: Duration,
    /// How long an entry of a PDB's `status.disruptedPods` is honoured (the real controller's
    /// `DeletionTimeout` is 2 minutes).
    pub disrupted_pod_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            kubelet: true,
            replicasets: true,
            daemonsets: true,
            pdbs: true,
            kubelet_start_delay: Duration::from_millis(500),
            shutdown_time: Duration::from_secs(1),
            reschedule_delay: Duration::from_millis(500),
            disrupted_pod_timeout: Duration::from_secs(120),
        }
    }
}

impl ControllerConfig {
    /// Every controller switched off (fixture replay, hand-driven tests).
    pub fn none() -> Self {
        Self {
            kubelet: false,
            replicasets: false,
            daemonsets: false,
            pdbs: false,
            ..Self::default()
        }
    }
}

/// The running controller tasks. Dropping it stops them.
#[derive(Debug)]
pub struct Controllers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Controllers {
    /// Starts the controllers `config` switches on, over `store`. Must be called inside a tokio
    /// runtime.
    pub fn start(store: &Arc<Store>, config: &ControllerConfig) -> Self {
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.kubelet {
            let r = kubelet::Kubelet::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.replicasets {
            let r = replicaset::ReplicaSetController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.daemonsets {
            let r = daemonset::DaemonSetController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        if config.pdbs {
            let r = pdb::DisruptionController::new(config);
            tasks.push(tokio::spawn(run(store.clone(), r, stop.subscribe())));
        }
        Self { stop, tasks }
    }

    /// Stops every controller and waits until their tasks have ended.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        for t in std::mem::take(&mut self.tasks) {
            // A task that panicked has ended too; nothing else to do with its error.
            let _ = t.await;
        }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Work queue of one controller: keys to reconcile now, and timers that make keys dirty later.
pub(crate) struct Queue<K: Ord> {
    dirty: BTreeSet<K>,
    timers: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Clone> Queue<K> {
    fn new() -> Self {
        Self {
            dirty: BTreeSet::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Reconcile `key` as soon as possible.
    pub(crate) fn dirty(&mut self, key: K) {
        self.dirty.insert(key);
    }

    /// Reconcile `key` at `at` (again).
    pub(crate) fn at(&mut self, at: Instant, key: K) {
        self.timers.push(Reverse((at, key)));
    }

    fn fire_due(&mut self, now: Instant) {
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            if let Some(Reverse((_, k))) = self.timers.pop() {
                self.dirty.insert(k);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }
}

/// One simulated controller, driven by [`run`].
pub(crate) trait Reconciler: Send + 'static {
    /// What the work queue holds.
    type Key: Ord + Clone + Send;

    /// Marks everything this controller owns dirty (at start and after the event log expired).
    fn resync(&mut self, store: &Store, queue: &mut Queue<Self::Key>);

    /// Marks the keys an event affects dirty.
    fn on_event(&mut self, store: &Store, event: &Event, queue: &mut Queue<Self::Key>);

    /// Called before a batch of reconciles (to drop per-batch caches).
    fn begin_batch(&mut self) {}

    /// Brings one key to its desired state.
    fn reconcile(&mut self, store: &Store, key: &Self::Key, queue: &mut Queue<Self::Key>);
}

/// The controller loop: follow the event log, reconcile dirty keys, sleep until the next write,
/// timer or stop.
async fn run<R: Reconciler>(store: Arc<Store>, mut r: R, mut stop: watch::Receiver<bool>) {
    let mut changes = store.subscribe();
    let mut queue = Queue::new();
    let mut rv = store.current_rv();
    r.resync(&store, &mut queue);
    loop {
        if *stop.borrow() {
            return;
        }
        queue.fire_due(Instant::now());
        if !queue.dirty.is_empty() {
            r.begin_batch();
            let dirty = std::mem::take(&mut queue.dirty);
            for key in &dirty {
                r.reconcile(&store, key, &mut queue);
            }
            // Let the HTTP server and the other controllers run between batches.
            tokio::task::yield_now().await;
        }
        let idle = queue.dirty.is_empty();
        let deadline = queue.next_deadline();
        let wait_timer = async move {
            if !idle {
                return;
            }
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            res = stop.changed() => {
                if res.is_err() {
                    return;
                }
                continue;
            }
            res = changes.changed() => {
                if res.is_err() {
                    return;
                }
            }
            () = wait_timer => {}
        }
        if let Ok(events) = store.events_since(rv) {
            for e in &events {
                r.on_event(&store, e, &mut queue);
            }
            if let Some(last) = events.last() {
                rv = last.rv;
            }
        } else {
            // The log was compacted past us: start over from the current state.
            rv = store.current_rv();
            r.resync(&store, &mut queue);
        }
    }
}

/// Whether two resource types are the same (by group and plural: the `well_known` statics are
/// equal to, but not at the same address as, the `RESOURCES` entries the server looks up).
pub(crate) fn same(a: &ResourceType, b: &ResourceType) -> bool {
    a.group == b.group && a.plural == b.plural
}

/// `(namespace, name)` of an object.
pub(crate) type ObjKey = (String, String);

/// The controller owner reference of an object (`controller: true`), if any.
pub(crate) fn controller_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// `(kind, name, uid)` of the controller owner of an object.
pub(crate) fn controller_ref(obj: &Value) -> Option<(&str, &str, &str)> {
    let r = controller_of(obj)?;
    Some((
        r["kind"].as_str()?,
        r["name"].as_str()?,
        r["uid"].as_str().unwrap_or_default(),
    ))
}

/// Whether an object is controlled by the object with this uid.
pub(crate) fn is_controlled_by(obj: &Value, uid: &str) -> bool {
    controller_ref(obj).is_some_and(|(_, _, u)| u == uid)
}

/// Whether an object has `metadata.deletionTimestamp`.
pub(crate) fn is_terminating(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// A pod's `status.phase`.
pub(crate) fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

/// Whether a pod has finished (Succeeded or Failed).
pub(crate) fn is_finished(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether a pod counts for its controller: neither terminating nor finished.
pub(crate) fn is_active(pod: &Value) -> bool {
    !is_terminating(pod) && !is_finished(pod)
}

/// Whether an object's condition of `type` has status `True`.
pub(crate) fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"].as_str() == Some(kind) && c["status"].as_str() == Some("True"))
    })
}

/// Whether a pod is Ready (its `Ready` condition is True).
pub(crate) fn pod_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Whether a node is Ready (its `Ready` condition is True).
pub(crate) fn node_ready(node: &Value) -> bool {
    condition_true(node, "Ready")
}

/// `metadata.generation` (0 when absent).
pub(crate) fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// `obj.status.observedGeneration` (0 when absent).
pub(crate) fn observed_generation(obj: &Value) -> i64 {
    obj["status"]["observedGeneration"].as_i64().unwrap_or(0)
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// The object's `(namespace, name)`.
pub(crate) fn key_of(obj: &Value) -> ObjKey {
    crate::store::object_key(obj)
}

/// A short, stable hash of a JSON value in the apiserver's name alphabet (for
/// `pod-template-hash` and `controller-revision-hash`).
pub fn template_hash(v: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(10);
    for _ in 0..10 {
        let i = usize::try_from(h % 27).unwrap_or(0);
        out.push(char::from(ALPHABET[i]));
        h /= 27;
    }
    out
}

/// Converts a [`Duration`] of whole seconds (as the grace periods are) from an `i64`.
pub(crate) fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}
