//! The drain engine: select, evict with bounded concurrency, wait by uid on a watch.
//!
//! This file holds the engine ([`DrainEngine`], the [`Drainer`] seam) and the drain's two
//! phases: selection, then the event loop that runs the eviction tasks and the waiting side by
//! side. The parts it drives, one concern each:
//!
//! - `options`: [`DrainOptions`] and their defaults;
//! - `events` and `report`: what a drain tells while it runs ([`DrainEvent`]) and when it is
//!   done ([`DrainReport`]);
//! - `evict`: one pod's eviction task (retries, PDB refusals, the escalation delete);
//! - `escalation`: [`PdbEscalation`], which blocked pods may be deleted, and which match;
//! - `pdb`: waking PDB-refused evictions when a watch shows the budget allows one, and which
//!   budgets cover a blocked pod;
//! - `stuck`: reporting budgets that keep the drain stuck ([`PdbStuck`]);
//! - `waiting`: the node's pod watch and the pods not gone yet, by uid;
//! - `abort_on_drop`: the background watches end with the drain.

mod abort_on_drop;
mod escalation;
mod events;
mod evict;
mod options;
mod pdb;
mod report;
mod stuck;
#[cfg(test)]
mod tests;
mod waiting;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::abort_on_drop::AbortOnDrop;
use self::evict::{Outcome, Target, TaskCtx, evict_pod};
use self::stuck::StuckReporter;
use self::waiting::{Waiting, watch_node};
use crate::api::{KubePodApi, PodApi};
use crate::error::{DrainError, EvictionFailure, kube_error_is_retryable};
use crate::select::{
    DaemonSetLookup, daemonset_owner, deletion_timestamp, is_finished, select_pods,
};
use crate::types::PodRef;
use backoff::Backoff;

pub use self::escalation::PdbEscalation;
pub use self::events::{DrainEvent, EventSink};
pub use self::options::{DEFAULT_MAX_IN_FLIGHT, DrainOptions};
pub use self::report::DrainReport;
pub use self::stuck::PdbStuck;

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
        events::emit(self.events.as_ref(), e);
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
            .buffer_unordered(self.options.in_flight())
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
        report.sort();
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
        let ctx = Arc::new(TaskCtx::new(
            self.api.clone(),
            node,
            &self.options,
            self.events.clone(),
        ));
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
        let mut stuck = self.options.pdb_stuck_after.map(StuckReporter::new);
        let mut stuck_tick = tokio::time::interval(
            stuck
                .as_ref()
                .map_or(Duration::from_secs(1), StuckReporter::period),
        );
        stuck_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = Vec::new();
        while !(tasks.is_empty() && waiting.is_empty()) {
            tokio::select! {
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    let blocked_by = ctx
                        .blocked()
                        .into_iter()
                        .map(|b| (b.pod.uid, b.pdbs))
                        .collect();
                    tasks.abort_all();
                    let last = ctx.last_refusals();
                    let pending = waiting.pending(&last, &blocked_by);
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
                _ = stuck_tick.tick(), if stuck.is_some() => {
                    if let Some(reporter) = stuck.as_mut() {
                        for s in reporter.check(ctx.blocked(), Instant::now()) {
                            tracing::warn!(
                                node,
                                pdbs = ?s.pdbs,
                                pods = s.pods.len(),
                                blocked_for = ?s.blocked_for,
                                "PodDisruptionBudgets keep refusing evictions"
                            );
                            self.emit(&DrainEvent::PdbStuck {
                                pdbs: s.pdbs.clone(),
                                pods: s.pods.clone(),
                                blocked_for: s.blocked_for,
                            });
                            report.pdb_stuck.push(s);
                        }
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
