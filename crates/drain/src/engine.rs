//! The drain engine: select, evict with bounded concurrency, wait by uid on a watch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use jiff::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{EvictResponse, KubePodApi, PdbState, PodApi, PodEvent};
use crate::error::{
    DrainError, EvictionFailure, PendingPod, PendingState, humanize, kube_error_is_retryable,
};
use crate::retry::DEFAULT_RETRY;
use crate::select::{
    DaemonSetLookup, SelectionOptions, SkipReason, daemonset_owner, deleted_long_ago,
    deletion_timestamp, is_finished, select_pods, selector_matches,
};
use crate::types::PodRef;
use backoff::Backoff;

/// Drain options; the defaults are kured's (`--drain-grace-period=-1`, `--drain-timeout=0`,
/// `--skip-wait-for-delete-timeout=0`, no pod selector, and kured's fixed `--force`,
/// `--ignore-daemonsets`, `--delete-emptydir-data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainOptions {
    /// Grace period for evicted pods in seconds; negative = each pod's own.
    pub grace_period_seconds: i64,
    /// Give up after this long, listing what is left; zero = never.
    pub timeout: Duration,
    /// Stop waiting for (and do not select) pods whose `deletionTimestamp` is more than this
    /// far in the past; zero = always wait.
    pub skip_wait_for_delete_timeout: Duration,
    /// Only drain pods matching this label selector (empty = all).
    pub pod_selector: String,
    /// Evict pods with `emptyDir` volumes (their data is lost).
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods on the node instead of refusing to drain.
    pub ignore_daemonsets: bool,
    /// Evict pods that have no controller (they will not come back).
    pub force: bool,
    /// At most this many eviction/delete requests in flight at once (at least 1).
    pub max_in_flight: usize,
    /// Backoff for 429 (PDB or throttling), 5xx and transport errors.
    pub retry: Backoff,
    /// Beyond kured (#303): delete (not evict) a pod that a PodDisruptionBudget has kept
    /// blocking for this long. `None` (the default) = never bypass a PDB.
    pub pdb_delete_fallback_after: Option<Duration>,
}

/// The default number of requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

impl Default for DrainOptions {
    fn default() -> Self {
        Self {
            grace_period_seconds: -1,
            timeout: Duration::ZERO,
            skip_wait_for_delete_timeout: Duration::ZERO,
            pod_selector: String::new(),
            delete_emptydir_data: true,
            ignore_daemonsets: true,
            force: true,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry: DEFAULT_RETRY,
            pdb_delete_fallback_after: None,
        }
    }
}

impl DrainOptions {
    fn selection(&self) -> SelectionOptions {
        SelectionOptions {
            ignore_daemonsets: self.ignore_daemonsets,
            delete_emptydir_data: self.delete_emptydir_data,
            force: self.force,
            skip_wait_for_delete_timeout_secs: self.skip_wait_for_delete_timeout.as_secs(),
        }
    }

    fn grace(&self) -> Option<i64> {
        (self.grace_period_seconds >= 0).then_some(self.grace_period_seconds)
    }
}

/// Progress of a drain, for logs, metrics and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainEvent {
    /// Selection is done.
    Selected {
        /// The node.
        node: String,
        /// Pods to evict.
        evict: Vec<PodRef>,
        /// Pods left on the node.
        skipped: Vec<(PodRef, SkipReason)>,
        /// kubectl-style warning text (empty if none).
        warnings: String,
    },
    /// The eviction was accepted.
    Evicted(PodRef),
    /// The pod was gone before (or while) it was evicted.
    AlreadyGone(PodRef),
    /// A PodDisruptionBudget refused the eviction; it is retried after `retry_in`.
    BlockedByPdb {
        /// The pod.
        pod: PodRef,
        /// The server's message.
        message: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The eviction failed transiently (throttled, 5xx, transport); retried after `retry_in`.
    Retrying {
        /// The pod.
        pod: PodRef,
        /// The HTTP status, if any.
        code: Option<u16>,
        /// The message.
        message: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The PDB fallback deleted the pod after it was blocked for `blocked_for`.
    DeletedDespitePdb {
        /// The pod.
        pod: PodRef,
        /// How long the PDB had been blocking it.
        blocked_for: Duration,
    },
    /// The eviction was refused for good.
    Failed(EvictionFailure),
    /// The evicted pod is gone (deleted, or replaced by a pod with a new uid).
    Gone(PodRef),
    /// Stopped waiting for a pod terminating past the skip-wait timeout.
    StoppedWaiting(PodRef),
    /// Every pod is gone.
    Finished {
        /// The node.
        node: String,
        /// How long it took.
        elapsed: Duration,
    },
}

/// A receiver of [`DrainEvent`]s (called inline: keep it quick, e.g. send to a channel).
pub type EventSink = Arc<dyn Fn(&DrainEvent) + Send + Sync>;

/// What a successful drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods whose eviction was accepted, sorted.
    pub evicted: Vec<PodRef>,
    /// Pods deleted by the PDB fallback, sorted.
    pub deleted_despite_pdb: Vec<PodRef>,
    /// Pods that were gone before their eviction was accepted, sorted.
    pub already_gone: Vec<PodRef>,
    /// Pods left on the node by selection.
    pub skipped: Vec<(PodRef, SkipReason)>,
    /// Evicted pods not waited for (terminating past the skip-wait timeout), sorted.
    pub not_waited_for: Vec<PodRef>,
    /// kubectl-style warning text (empty if none).
    pub warnings: String,
    /// Wall time of the drain.
    pub elapsed: Duration,
}

/// Drains a node: evicts every pod that must move and waits until they are gone.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Drainer: Send + Sync {
    /// Drains `node` (the caller cordons it first, see [`crate::NodeOps::cordon`]).
    async fn drain(&self, node: &str) -> Result<DrainReport, DrainError>;
}

/// The drain engine over a [`PodApi`].
///
/// 1. One `LIST` of the node's pods (`fieldSelector=spec.nodeName=NODE`, plus the pod
///    selector), one `GET` per distinct DaemonSet owning a pod; selection by
///    [`crate::select`] — any refusal fails the drain before anything is evicted.
/// 2. A watch on the node's pods from the list's resourceVersion, so waiting costs one request
///    instead of a poll per pod.
/// 3. One task per pod POSTs its Eviction; at most `max_in_flight` requests run at once. A 429
///    (PDB or throttling), a 5xx or a transport error is retried with jittered, capped
///    backoff; 404 and a uid-precondition 409 mean the pod is already gone.
/// 4. Done when every evicted pod is gone by uid: deleted, or its name now belongs to a pod with
///    a new uid. With a timeout, the error lists every pod left and why.
pub struct DrainEngine<A: PodApi + 'static> {
    api: Arc<A>,
    options: DrainOptions,
    events: Option<EventSink>,
}

impl<A: PodApi + 'static> std::fmt::Debug for DrainEngine<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainEngine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl DrainEngine<KubePodApi> {
    /// An engine over the Kubernetes API, with its own client built from `config` with kube's
    /// hidden 429 retries switched off (preferred; see [`KubePodApi::new`]).
    pub fn for_config(config: kube::Config, options: DrainOptions) -> Result<Self, kube::Error> {
        Ok(Self::new(KubePodApi::from_config(config)?, options))
    }

    /// An engine over the Kubernetes API through `client`, which should have been built with
    /// `default_retry` off (see [`KubePodApi::new`]).
    pub fn for_client(client: kube::Client, options: DrainOptions) -> Self {
        Self::new(KubePodApi::new(client), options)
    }
}

impl<A: PodApi + 'static> DrainEngine<A> {
    /// An engine over `api`.
    pub fn new(api: A, options: DrainOptions) -> Self {
        Self {
            api: Arc::new(api),
            options,
            events: None,
        }
    }

    /// Calls `sink` with every [`DrainEvent`].
    pub fn on_event(mut self, sink: impl Fn(&DrainEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Sends every [`DrainEvent`] to the returned channel (unbounded, so a slow reader never
    /// slows the drain; events stop when the receiver is dropped).
    pub fn with_event_channel(self) -> (Self, mpsc::UnboundedReceiver<DrainEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            self.on_event(move |e| {
                let _ = tx.send(e.clone());
            }),
            rx,
        )
    }

    /// The options.
    pub fn options(&self) -> &DrainOptions {
        &self.options
    }

    fn emit(&self, e: &DrainEvent) {
        if let Some(sink) = &self.events {
            sink(e);
        }
    }

    async fn lookup_daemonsets(
        &self,
        node: &str,
        pods: &[k8s_openapi::api::core::v1::Pod],
    ) -> Result<BTreeMap<(String, String), DaemonSetLookup>, DrainError> {
        let keys: BTreeSet<(String, String)> = pods
            .iter()
            .filter(|p| !is_finished(p))
            .filter_map(daemonset_owner)
            .collect();
        let results: Vec<_> = futures::stream::iter(keys)
            .map(|(ns, name)| {
                let api = self.api.clone();
                let retry = self.options.retry;
                async move {
                    let r = with_retries(retry, || api.daemonset_exists(&ns, &name)).await;
                    ((ns, name), r)
                }
            })
            .buffer_unordered(self.options.max_in_flight.max(1))
            .collect()
            .await;
        let mut out = BTreeMap::new();
        for (key, r) in results {
            let lookup = match r {
                Ok(true) => DaemonSetLookup::Exists,
                Ok(false) => DaemonSetLookup::Missing,
                Err(e) if kube_error_is_retryable(&e) => {
                    return Err(DrainError::Api {
                        node: node.to_string(),
                        action: format!("get DaemonSet {}/{}", key.0, key.1),
                        source: e,
                    });
                }
                Err(e) => DaemonSetLookup::Failed(e.to_string()),
            };
            out.insert(key, lookup);
        }
        Ok(out)
    }

    async fn run(&self, node: &str, deadline: Option<Instant>) -> Result<DrainReport, DrainError> {
        let started = Instant::now();
        let selector = Some(self.options.pod_selector.clone()).filter(|s| !s.is_empty());
        let list = with_retries(self.options.retry, || {
            self.api.list_pods_on_node(node, selector.clone())
        })
        .await
        .map_err(|e| DrainError::Api {
            node: node.to_string(),
            action: "list pods".into(),
            source: e,
        })?;
        let daemonsets = self.lookup_daemonsets(node, &list.pods).await?;
        let selection = select_pods(
            &list.pods,
            &self.options.selection(),
            &daemonsets,
            Timestamp::now(),
        );
        let evict: Vec<PodRef> = selection.evict.iter().map(PodRef::of).collect();
        let warnings = selection.warning_text();
        self.emit(&DrainEvent::Selected {
            node: node.to_string(),
            evict: evict.clone(),
            skipped: selection.skipped.clone(),
            warnings: warnings.clone(),
        });
        if !selection.refusals.is_empty() {
            return Err(DrainError::Refused {
                node: node.to_string(),
                refusals: selection.refusals,
            });
        }
        if !warnings.is_empty() {
            tracing::warn!(node, "{warnings}");
        }
        tracing::info!(
            node,
            evict = evict.len(),
            skipped = selection.skipped.len(),
            "draining"
        );
        let targets: Vec<Target> = selection
            .evict
            .iter()
            .map(|p| Target {
                pod: PodRef::of(p),
                deletion: deletion_timestamp(p),
                labels: p.metadata.labels.clone().unwrap_or_default(),
            })
            .collect();
        let mut report = DrainReport {
            skipped: selection.skipped,
            warnings,
            ..DrainReport::default()
        };
        self.evict_and_wait(node, targets, list.resource_version, deadline, &mut report)
            .await?;
        report.evicted.sort();
        report.deleted_despite_pdb.sort();
        report.already_gone.sort();
        report.not_waited_for.sort();
        report.elapsed = started.elapsed();
        self.emit(&DrainEvent::Finished {
            node: node.to_string(),
            elapsed: report.elapsed,
        });
        tracing::info!(node, elapsed = ?report.elapsed, evicted = report.evicted.len(), "drained");
        Ok(report)
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one event loop; splitting it scatters the state machine"
    )]
    async fn evict_and_wait(
        &self,
        node: &str,
        targets: Vec<Target>,
        resource_version: String,
        deadline: Option<Instant>,
        report: &mut DrainReport,
    ) -> Result<(), DrainError> {
        if targets.is_empty() {
            return Ok(());
        }
        let mut waiting = Waiting::default();
        for t in &targets {
            waiting.track(t.pod.clone(), t.deletion);
        }
        let (watch_tx, mut watch_rx) = mpsc::unbounded_channel();
        let watcher = AbortOnDrop(tokio::spawn(watch_node(
            self.api.clone(),
            node.to_string(),
            resource_version,
            watch_tx,
            self.options.retry,
        )));
        let ctx = Arc::new(TaskCtx {
            api: self.api.clone(),
            permits: Semaphore::new(self.options.max_in_flight.max(1)),
            grace: self.options.grace(),
            retry: self.options.retry,
            fallback: self.options.pdb_delete_fallback_after,
            events: self.events.clone(),
            last_refusal: Mutex::new(HashMap::new()),
            waiters: Arc::new(PdbWaiters::default()),
            pdb_watch: Mutex::new(None),
        });
        let mut tasks = JoinSet::new();
        let mut task_pods = HashMap::new();
        for t in targets {
            let pod = t.pod.clone();
            let handle = tasks.spawn(evict_pod(ctx.clone(), t.pod, t.labels));
            task_pods.insert(handle.id(), pod);
        }
        let skip_wait = self.options.skip_wait_for_delete_timeout.as_secs();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let mut failures = Vec::new();
        while !(tasks.is_empty() && waiting.is_empty()) {
            tokio::select! {
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    tasks.abort_all();
                    let last = ctx.last_refusal.lock().unwrap_or_else(PoisonError::into_inner);
                    let pending = waiting.pending(&last);
                    return Err(DrainError::Timeout {
                        node: node.to_string(),
                        timeout: self.options.timeout,
                        pending,
                    });
                }
                Some(done) = tasks.join_next() => {
                    let (pod, outcome) = match done {
                        Ok(done) => done,
                        // Only a bug panics a task: fail that pod rather than wait forever.
                        Err(e) => match task_pods.get(&e.id()) {
                            Some(pod) => (pod.clone(), Outcome::Failed(EvictionFailure {
                                pod: pod.clone(),
                                code: None,
                                message: format!("eviction task failed: {e}"),
                            })),
                            None => continue,
                        },
                    };
                    match outcome {
                        Outcome::Evicted | Outcome::Deleted => {
                            if matches!(outcome, Outcome::Deleted) {
                                report.deleted_despite_pdb.push(pod.clone());
                            } else {
                                report.evicted.push(pod.clone());
                            }
                            waiting.mark_evicted(&pod.uid);
                        }
                        Outcome::Gone => {
                            if waiting.remove(&pod.uid).is_some() {
                                self.emit(&DrainEvent::AlreadyGone(pod.clone()));
                            }
                            report.already_gone.push(pod);
                        }
                        Outcome::Failed(f) => {
                            waiting.remove(&pod.uid);
                            tracing::error!(pod = %pod, "eviction failed: {}", f.message);
                            self.emit(&DrainEvent::Failed(f.clone()));
                            failures.push(f);
                        }
                    }
                }
                Some(msg) = watch_rx.recv() => {
                    for pod in waiting.apply(msg) {
                        tracing::debug!(pod = %pod, "gone");
                        self.emit(&DrainEvent::Gone(pod));
                    }
                }
                _ = tick.tick(), if skip_wait > 0 => {
                    for pod in waiting.overdue(skip_wait, Timestamp::now()) {
                        tracing::warn!(pod = %pod, "terminating past the skip-wait timeout; not waiting for it");
                        self.emit(&DrainEvent::StoppedWaiting(pod.clone()));
                        report.not_waited_for.push(pod);
                    }
                }
            }
        }
        drop(watcher);
        if failures.is_empty() {
            Ok(())
        } else {
            failures.sort_by(|a, b| a.pod.cmp(&b.pod));
            Err(DrainError::Eviction {
                node: node.to_string(),
                failures,
            })
        }
    }
}

#[async_trait]
impl<A: PodApi + 'static> Drainer for DrainEngine<A> {
    async fn drain(&self, node: &str) -> Result<DrainReport, DrainError> {
        let deadline =
            (!self.options.timeout.is_zero()).then(|| Instant::now() + self.options.timeout);
        let run = self.run(node, deadline);
        match deadline {
            None => run.await,
            Some(d) => match tokio::time::timeout_at(d, run).await {
                Ok(r) => r,
                // Only reached while listing/looking up: the event loop reports its own timeout.
                Err(_) => Err(DrainError::Timeout {
                    node: node.to_string(),
                    timeout: self.options.timeout,
                    pending: Vec::new(),
                }),
            },
        }
    }
}

/// How many times a failed list or DaemonSet lookup is retried before the drain fails.
const CALL_RETRIES: u32 = 5;

/// Calls `f`, retrying transient failures (transport, 429, 5xx) a few times with backoff.
async fn with_retries<T, F, Fut>(retry: Backoff, mut f: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < CALL_RETRIES && kube_error_is_retryable(&e) => {
                attempt += 1;
                tracing::debug!(attempt, "retrying after: {e}");
                tokio::time::sleep(retry.delay(attempt, None)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the watcher reports.
#[derive(Debug)]
enum WatchMsg {
    Event(PodEvent),
    /// A fresh list of the node's pods (after the watch ended or expired).
    Snapshot(Vec<(PodRef, Option<Timestamp>)>),
}

/// Watches the node's pods, relisting when the watch ends, expires or fails.
async fn watch_node<A: PodApi + ?Sized>(
    api: Arc<A>,
    node: String,
    mut rv: String,
    tx: mpsc::UnboundedSender<WatchMsg>,
    retry: Backoff,
) {
    let mut failures = 0u32;
    loop {
        match api.watch_pods_on_node(&node, &rv).await {
            Ok(mut stream) => {
                failures = 0;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(PodEvent::Expired) => break,
                        Ok(ev) => {
                            if tx.send(WatchMsg::Event(ev)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(node, "pod watch error: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(node, "pod watch failed: {e}");
                tokio::time::sleep(retry.delay(failures, None)).await;
            }
        }
        // Resynchronise: the list says which pods still exist.
        loop {
            if tx.is_closed() {
                return;
            }
            match api.list_pods_on_node(&node, None).await {
                Ok(list) => {
                    rv = list.resource_version;
                    let snapshot = list
                        .pods
                        .iter()
                        .map(|p| (PodRef::of(p), deletion_timestamp(p)))
                        .collect();
                    if tx.send(WatchMsg::Snapshot(snapshot)).is_err() {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(node, "pod relist failed: {e}");
                    tokio::time::sleep(retry.delay(failures, None)).await;
                }
            }
        }
    }
}

#[derive(Debug)]
struct Tracked {
    pod: PodRef,
    evicted: bool,
    deletion: Option<Timestamp>,
}

/// The pods not gone yet, by uid.
#[derive(Debug, Default)]
struct Waiting {
    by_uid: HashMap<String, Tracked>,
    by_name: HashMap<(String, String), String>,
}

impl Waiting {
    fn track(&mut self, pod: PodRef, deletion: Option<Timestamp>) {
        self.by_name
            .insert((pod.namespace.clone(), pod.name.clone()), pod.uid.clone());
        self.by_uid.insert(
            pod.uid.clone(),
            Tracked {
                pod,
                evicted: false,
                deletion,
            },
        );
    }

    fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    fn remove(&mut self, uid: &str) -> Option<PodRef> {
        let t = self.by_uid.remove(uid)?;
        self.by_name
            .remove(&(t.pod.namespace.clone(), t.pod.name.clone()));
        Some(t.pod)
    }

    fn mark_evicted(&mut self, uid: &str) {
        if let Some(t) = self.by_uid.get_mut(uid) {
            t.evicted = true;
        }
    }

    /// Applies a watch message; returns the tracked pods it shows to be gone.
    fn apply(&mut self, msg: WatchMsg) -> Vec<PodRef> {
        let mut gone = Vec::new();
        match msg {
            WatchMsg::Event(PodEvent::Deleted(p)) => gone.extend(self.remove(&p.uid)),
            WatchMsg::Event(PodEvent::Present { pod, deletion }) => {
                gone.extend(self.seen(&pod, deletion));
            }
            WatchMsg::Event(PodEvent::Expired) => {}
            WatchMsg::Snapshot(pods) => {
                let present: HashSet<&str> = pods.iter().map(|(p, _)| p.uid.as_str()).collect();
                let missing: Vec<String> = self
                    .by_uid
                    .keys()
                    .filter(|u| !present.contains(u.as_str()))
                    .cloned()
                    .collect();
                for uid in missing {
                    gone.extend(self.remove(&uid));
                }
                for (p, deletion) in &pods {
                    gone.extend(self.seen(p, *deletion));
                }
            }
        }
        gone
    }

    /// A pod exists: update our record of it, or retire ours if the name has a new uid.
    fn seen(&mut self, pod: &PodRef, deletion: Option<Timestamp>) -> Option<PodRef> {
        if let Some(t) = self.by_uid.get_mut(&pod.uid) {
            t.deletion = deletion;
            return None;
        }
        let old = self
            .by_name
            .get(&(pod.namespace.clone(), pod.name.clone()))?
            .clone();
        self.remove(&old)
    }

    /// Evicted pods terminating for more than `secs` past their deletionTimestamp (removed).
    fn overdue(&mut self, secs: u64, now: Timestamp) -> Vec<PodRef> {
        let uids: Vec<String> = self
            .by_uid
            .values()
            .filter(|t| t.evicted && deleted_long_ago(t.deletion, secs, now))
            .map(|t| t.pod.uid.clone())
            .collect();
        uids.iter().filter_map(|u| self.remove(u)).collect()
    }

    fn pending(&self, last_refusal: &HashMap<String, String>) -> Vec<PendingPod> {
        let mut out: Vec<PendingPod> = self
            .by_uid
            .values()
            .map(|t| PendingPod {
                pod: t.pod.clone(),
                state: if t.evicted {
                    PendingState::Terminating
                } else {
                    PendingState::NotEvicted(
                        last_refusal.get(&t.pod.uid).cloned().unwrap_or_default(),
                    )
                },
            })
            .collect();
        out.sort_by(|a, b| a.pod.cmp(&b.pod));
        out
    }
}

/// A pod to evict.
struct Target {
    pod: PodRef,
    deletion: Option<Timestamp>,
    labels: BTreeMap<String, String>,
}

/// Evictions a PodDisruptionBudget refused, waiting for one to allow disruptions again.
#[derive(Default)]
struct PdbWaiters {
    /// In the order they were first refused.
    waiting: Mutex<Vec<Waiter>>,
    /// The PDB watch is established (waiters need no short backoff timer).
    live: AtomicBool,
}

struct Waiter {
    uid: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    wake: Arc<Notify>,
}

impl PdbWaiters {
    fn register(&self, pod: &PodRef, labels: &BTreeMap<String, String>) -> Arc<Notify> {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = w.iter().find(|w| w.uid == pod.uid) {
            return existing.wake.clone();
        }
        let wake = Arc::new(Notify::new());
        w.push(Waiter {
            uid: pod.uid.clone(),
            namespace: pod.namespace.clone(),
            labels: labels.clone(),
            wake: wake.clone(),
        });
        wake
    }

    fn unregister(&self, uid: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|w| w.uid != uid);
    }

    /// Wakes as many of the longest-waiting pods this budget covers as it allows disruptions.
    fn on_pdb(&self, pdb: &PdbState) {
        let Ok(allowed) = usize::try_from(pdb.disruptions_allowed) else {
            return;
        };
        if allowed == 0 {
            return;
        }
        let w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        for waiter in w
            .iter()
            .filter(|w| {
                w.namespace == pdb.namespace && selector_matches(pdb.selector.as_ref(), &w.labels)
            })
            .take(allowed)
        {
            waiter.wake.notify_one();
        }
    }
}

/// Feeds PDB changes to the waiters until aborted or forbidden.
async fn watch_pdbs<A: PodApi + ?Sized>(api: Arc<A>, waiters: Arc<PdbWaiters>, retry: Backoff) {
    let mut failures = 0u32;
    loop {
        match api.watch_pdbs().await {
            Ok(mut stream) => {
                failures = 0;
                waiters.live.store(true, Ordering::SeqCst);
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(pdb) => waiters.on_pdb(&pdb),
                        Err(e) => {
                            tracing::debug!("PodDisruptionBudget watch error: {e}");
                            break;
                        }
                    }
                }
                waiters.live.store(false, Ordering::SeqCst);
            }
            Err(e) if matches!(crate::error::kube_error_code(&e), Some(401 | 403 | 404)) => {
                tracing::info!(
                    "cannot watch PodDisruptionBudgets ({e}); blocked evictions are retried on \
                     a timer only"
                );
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::debug!("PodDisruptionBudget watch failed: {e}");
                tokio::time::sleep(retry.delay(failures, None)).await;
            }
        }
    }
}

/// Shared state of the eviction tasks.
struct TaskCtx<A: PodApi + ?Sized> {
    api: Arc<A>,
    permits: Semaphore,
    grace: Option<i64>,
    retry: Backoff,
    fallback: Option<Duration>,
    events: Option<EventSink>,
    /// The last refusal message per uid (for the timeout error).
    last_refusal: Mutex<HashMap<String, String>>,
    waiters: Arc<PdbWaiters>,
    /// The PDB watch, started by the first refusal (aborted when the drain ends).
    pdb_watch: Mutex<Option<AbortOnDrop>>,
}

impl<A: PodApi + ?Sized> TaskCtx<A> {
    fn emit(&self, e: &DrainEvent) {
        if let Some(sink) = &self.events {
            sink(e);
        }
    }

    /// Registers `pod` as blocked by a PDB (starting the PDB watch on the first one); returns
    /// what wakes it.
    fn blocked(&self, pod: &PodRef, labels: &BTreeMap<String, String>) -> Arc<Notify>
    where
        A: 'static,
    {
        let wake = self.waiters.register(pod, labels);
        let mut watch = self
            .pdb_watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if watch.is_none() {
            *watch = Some(AbortOnDrop(tokio::spawn(watch_pdbs(
                self.api.clone(),
                self.waiters.clone(),
                self.retry,
            ))));
        }
        wake
    }

    fn note(&self, pod: &PodRef, message: &str) {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pod.uid.clone(), message.to_string());
    }

    async fn call<F, Fut>(&self, f: F) -> EvictResponse
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = EvictResponse>,
    {
        // The semaphore is never closed, so acquire cannot fail; fall back to running unbounded
        // rather than panicking if that ever changes.
        let _permit = self.permits.acquire().await.ok();
        f().await
    }
}

#[derive(Debug)]
enum Outcome {
    Evicted,
    Deleted,
    Gone,
    Failed(EvictionFailure),
}

/// Evicts one pod until it is accepted, gone, or refused for good.
async fn evict_pod<A: PodApi + ?Sized + 'static>(
    ctx: Arc<TaskCtx<A>>,
    pod: PodRef,
    labels: BTreeMap<String, String>,
) -> (PodRef, Outcome) {
    let out = evict_until_settled(&ctx, pod, &labels).await;
    ctx.waiters.unregister(&out.0.uid);
    out
}

async fn evict_until_settled<A: PodApi + ?Sized + 'static>(
    ctx: &Arc<TaskCtx<A>>,
    pod: PodRef,
    labels: &BTreeMap<String, String>,
) -> (PodRef, Outcome) {
    let mut attempt = 0u32;
    let mut blocked_since: Option<Instant> = None;
    loop {
        let response = ctx.call(|| ctx.api.evict(&pod, ctx.grace)).await;
        attempt += 1;
        let mut wake = None;
        let wait = match response {
            EvictResponse::Evicted => {
                ctx.emit(&DrainEvent::Evicted(pod.clone()));
                return (pod, Outcome::Evicted);
            }
            EvictResponse::NotFound | EvictResponse::UidChanged => return (pod, Outcome::Gone),
            EvictResponse::TooManyRequests {
                pdb: true,
                message,
                retry_after,
            } => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                ctx.note(&pod, &message);
                if let Some(after) = ctx.fallback {
                    let blocked_for = since.elapsed();
                    if blocked_for >= after {
                        match fallback_delete(ctx, &pod, blocked_for, &message).await {
                            Some(outcome) => return (pod, outcome),
                            None => continue,
                        }
                    }
                }
                wake = Some(ctx.blocked(&pod, labels));
                // With the PDB watch up, a change of the budget wakes us: the timer is only a
                // safety net, at the longest backoff.
                let backoff_step = if ctx.waiters.live.load(Ordering::SeqCst) {
                    u32::MAX
                } else {
                    attempt
                };
                let mut wait = ctx.retry.delay(backoff_step, retry_after);
                if let Some(after) = ctx.fallback {
                    // Wake up in time for the fallback rather than a full backoff later.
                    let left = after.saturating_sub(since.elapsed());
                    wait = wait.min(left.max(Duration::from_millis(10)));
                }
                tracing::info!(pod = %pod, retry_in = ?wait, "eviction blocked by a PodDisruptionBudget: {message}");
                ctx.emit(&DrainEvent::BlockedByPdb {
                    pod: pod.clone(),
                    message,
                    retry_in: wait,
                });
                wait
            }
            EvictResponse::TooManyRequests {
                pdb: false,
                message,
                retry_after,
            } => retrying(
                ctx,
                &pod,
                Some(429),
                message,
                ctx.retry.delay(attempt, retry_after),
            ),
            EvictResponse::Retryable { code, message } => {
                retrying(ctx, &pod, code, message, ctx.retry.delay(attempt, None))
            }
            EvictResponse::Rejected { code, message } => {
                let failure = EvictionFailure {
                    pod: pod.clone(),
                    code: Some(code).filter(|c| *c != 0),
                    message,
                };
                return (pod, Outcome::Failed(failure));
            }
        };
        match wake {
            Some(wake) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {
                        tracing::debug!(pod = %pod, "a PodDisruptionBudget allows disruptions again");
                    }
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}

fn retrying<A: PodApi + ?Sized>(
    ctx: &TaskCtx<A>,
    pod: &PodRef,
    code: Option<u16>,
    message: String,
    wait: Duration,
) -> Duration {
    ctx.note(pod, &message);
    tracing::debug!(pod = %pod, ?code, retry_in = ?wait, "eviction failed, retrying: {message}");
    ctx.emit(&DrainEvent::Retrying {
        pod: pod.clone(),
        code,
        message,
        retry_in: wait,
    });
    wait
}

/// The opt-in PDB bypass: `Some(outcome)` when settled, `None` to keep trying.
async fn fallback_delete<A: PodApi + ?Sized>(
    ctx: &TaskCtx<A>,
    pod: &PodRef,
    blocked_for: Duration,
    message: &str,
) -> Option<Outcome> {
    tracing::warn!(
        pod = %pod,
        blocked_for = %humanize(blocked_for),
        "DELETING POD DESPITE ITS PODDISRUPTIONBUDGET: the budget has blocked its eviction for \
         {} ({message}); the PDB delete fallback is enabled",
        humanize(blocked_for)
    );
    match ctx.call(|| ctx.api.delete(pod, ctx.grace)).await {
        EvictResponse::Evicted => {
            ctx.emit(&DrainEvent::DeletedDespitePdb {
                pod: pod.clone(),
                blocked_for,
            });
            Some(Outcome::Deleted)
        }
        EvictResponse::NotFound | EvictResponse::UidChanged => Some(Outcome::Gone),
        EvictResponse::Rejected { code, message } => Some(Outcome::Failed(EvictionFailure {
            pod: pod.clone(),
            code: Some(code).filter(|c| *c != 0),
            message: format!("fallback delete: {message}"),
        })),
        EvictResponse::TooManyRequests { message, .. }
        | EvictResponse::Retryable { message, .. } => {
            tracing::warn!(pod = %pod, "fallback delete failed, retrying: {message}");
            tokio::time::sleep(ctx.retry.delay(1, None)).await;
            None
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
