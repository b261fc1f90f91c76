//! The reboot loop: eligibility and the lock here; an attempt (drain, reboot), its completion
//! after the reboot (health gate, release), failures and the halt, and the cordon
//! reconciliation in the submodules.

mod attempt;
mod completion;
mod halt;
mod reconcile;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use blockers::check_or_block;
use drain::NodeState;
use events::NodeEvent;
use jiff::Timestamp;
use lock::{AcquireOutcome, LockMetadata, LockRecord};
use notify::Event;
use sentinel::RebootSentinel;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::clock::{Clock, first_tick_delay};
use crate::config::{
    Config, LockWaitMode, MOST_RECENT_REBOOT_NEEDED_ANNOTATION, REBOOT_IN_PROGRESS_ANNOTATION,
};
use crate::deps::Deps;
use crate::failure::NodeFailure;
use crate::metrics::Metrics;

/// How [`Agent::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Cancelled (SIGTERM) before a reboot was triggered.
    Cancelled,
    /// A reboot was triggered; the agent then waited for the end (cancellation).
    Rebooted,
}

/// The token was cancelled: unwind.
#[derive(Debug)]
struct Cancelled;

/// What one check decided.
enum Step {
    /// Nothing (more) to do this period.
    Continue,
    /// The reboot was triggered.
    Rebooted,
}

/// The kured reboot loop for one node.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    deps: Deps,
    /// Whether the `PreferNoSchedule` taint may be on the node: unknown (true) at start,
    /// false once removed, true again when added. Removing a taint known to be absent would
    /// cost a Node GET every period on every node that needs no reboot.
    taint_maybe_set: AtomicBool,
    /// Whether a failure record ([`crate::REBOOT_FAILURE_ANNOTATION`]) may be on the node:
    /// unknown (true) at start; removed when the sentinel clears.
    failure_maybe_set: AtomicBool,
    /// Whether our cordon mark ([`crate::CORDONED_BY_ANNOTATION`]) may be on the node: unknown
    /// (true) at start, false once a read shows it gone, true again when we cordon.
    cordon_maybe_marked: AtomicBool,
}

impl Agent {
    /// An agent for `config.node_id`.
    pub fn new(config: Config, deps: Deps) -> Self {
        Self {
            config,
            deps,
            taint_maybe_set: AtomicBool::new(true),
            failure_maybe_set: AtomicBool::new(true),
            cordon_maybe_marked: AtomicBool::new(true),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs until `cancel` fires: completes a reboot this node started (if it holds the
    /// lock), then checks every period (first check jittered like kured). After triggering a
    /// reboot it waits for the end. Cancellation is safe at every await point: the node is
    /// never left cordoned by this agent without the lock held (the next start completes it).
    pub async fn run(self, cancel: CancellationToken) -> Outcome {
        let refresher = tokio::spawn(refresh_reboot_required(
            self.config.node_id.clone(),
            self.config.metrics_interval,
            self.deps.sentinel.clone(),
            self.deps.metrics.clone(),
            self.deps.clock.clone(),
            cancel.child_token(),
        ));
        let outcome = match self.run_inner(&cancel).await {
            Ok(()) => Outcome::Rebooted,
            Err(Cancelled) => Outcome::Cancelled,
        };
        refresher.abort();
        info!(node = %self.config.node_id, ?outcome, "agent stopped");
        outcome
    }

    async fn run_inner(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        if let Step::Rebooted = self.complete_previous_reboot(cancel).await? {
            return self.wait_for_reboot(cancel).await;
        }
        self.reconcile_cordon(cancel).await?;
        if let Ok(false) = self
            .cancellable(cancel, self.deps.sentinel.reboot_required())
            .await?
        {
            self.remove_taint().await;
        }
        let first = first_tick_delay(self.config.period, fastrand::f64());
        self.sleep(cancel, first).await?;
        loop {
            match self.tick(cancel).await? {
                Step::Continue => {}
                Step::Rebooted => return self.wait_for_reboot(cancel).await,
            }
            self.sleep(cancel, self.config.period).await?;
        }
    }

    /// After the reboot command: wait for the end (the host going down stops the agent).
    async fn wait_for_reboot(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        info!(node = %self.config.node_id, "waiting for reboot");
        cancel.cancelled().await;
        Ok(())
    }

    fn node(&self) -> &str {
        &self.config.node_id
    }

    async fn cancellable<F: Future>(
        &self,
        cancel: &CancellationToken,
        fut: F,
    ) -> Result<F::Output, Cancelled> {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Cancelled),
            out = fut => Ok(out),
        }
    }

    async fn sleep(&self, cancel: &CancellationToken, d: Duration) -> Result<(), Cancelled> {
        if d.is_zero() {
            return if cancel.is_cancelled() {
                Err(Cancelled)
            } else {
                Ok(())
            };
        }
        self.cancellable(cancel, self.deps.clock.sleep(d)).await
    }

    async fn notify(&self, event: Event<'_>) {
        if let Some(n) = &self.deps.notifications {
            n.notify(self.node(), event).await;
        }
    }

    /// Publishes a Kubernetes Event about this node (best effort).
    async fn event(&self, event: NodeEvent) {
        self.deps.events.publish(self.node(), event).await;
    }

    async fn add_taint(&self) {
        if let Some(key) = &self.config.prefer_no_schedule_taint {
            self.taint_maybe_set.store(true, Ordering::SeqCst);
            if let Err(e) = self
                .deps
                .nodes
                .add_prefer_no_schedule_taint(self.node(), key)
                .await
            {
                warn!(node = %self.node(), error = %e, "cannot add the PreferNoSchedule taint");
            }
        }
    }

    /// Removes the taint unless this agent knows it is absent (it removed it and has not
    /// added it since).
    async fn remove_taint(&self) {
        if let Some(key) = &self.config.prefer_no_schedule_taint
            && self.taint_maybe_set.load(Ordering::SeqCst)
        {
            match self
                .deps
                .nodes
                .remove_prefer_no_schedule_taint(self.node(), key)
                .await
            {
                Ok(_) => self.taint_maybe_set.store(false, Ordering::SeqCst),
                Err(e) => {
                    warn!(node = %self.node(), error = %e, "cannot remove the PreferNoSchedule taint");
                }
            }
        }
    }

    /// Window open and reboot required (metrics updated; the taint removed where kured
    /// removes it when not).
    async fn wanted(&self, cancel: &CancellationToken) -> Result<bool, Cancelled> {
        let node = self.node();
        let open = self.config.window.contains(self.deps.clock.now());
        self.deps.metrics.window_open.set(i64::from(open));
        if !open {
            debug!(node, window = %self.config.window, "outside the reboot window");
            self.remove_taint().await;
            return Ok(false);
        }
        let required = match self
            .cancellable(cancel, self.deps.sentinel.reboot_required())
            .await?
        {
            Ok(r) => r,
            Err(e) => {
                // Never a reboot: log, count and try again next period.
                error!(node, error = %e, "cannot tell whether a reboot is required");
                self.deps.metrics.sentinel_errors.inc();
                return Ok(false);
            }
        };
        self.deps.metrics.set_reboot_required(node, required);
        if !required {
            info!(node, "reboot not required");
            self.deps.metrics.set_blocked(None);
            self.remove_taint().await;
            self.forget_failure().await;
        }
        Ok(required)
    }

    /// Whether a blocker (alert, pod, …) holds the reboot back now (logged, metric set).
    async fn blocked(&self, cancel: &CancellationToken) -> Result<bool, Cancelled> {
        let node = self.node();
        let reason = self
            .cancellable(cancel, check_or_block(self.deps.blockers.as_ref(), node))
            .await?;
        self.deps.metrics.set_blocked(reason.as_ref());
        if let Some(reason) = &reason {
            info!(node, %reason, "reboot required, but blocked at this time");
            self.event(NodeEvent::blocked(&reason.to_string())).await;
        }
        Ok(reason.is_some())
    }

    /// Window open, reboot required, (annotations written), nothing blocks: the node state;
    /// otherwise `None` (and the taint removed where kured removes it).
    async fn eligible(&self, cancel: &CancellationToken) -> Result<Option<NodeState>, Cancelled> {
        let node = self.node();
        if !self.wanted(cancel).await? {
            return Ok(None);
        }
        let state = match self
            .cancellable(cancel, self.deps.nodes.node_state(node))
            .await?
        {
            Ok(s) => s,
            Err(e) => {
                error!(node, error = %e, "cannot read the node");
                return Ok(None);
            }
        };
        if self.config.annotate_nodes
            && !state
                .annotations
                .contains_key(REBOOT_IN_PROGRESS_ANNOTATION)
        {
            let stamp = go_rfc3339(self.deps.clock.now());
            let annotations = [
                (REBOOT_IN_PROGRESS_ANNOTATION.to_string(), stamp.clone()),
                (MOST_RECENT_REBOOT_NEEDED_ANNOTATION.to_string(), stamp),
            ]
            .into_iter()
            .collect();
            if let Err(e) = self
                .cancellable(cancel, self.deps.nodes.add_annotations(node, &annotations))
                .await?
            {
                error!(node, error = %e, "cannot annotate the node");
                return Ok(None);
            }
        }
        if let Some(failure) = NodeFailure::read(&state.annotations) {
            self.failure_maybe_set.store(true, Ordering::SeqCst);
            if failure.holds(&self.config.fingerprint) {
                warn!(
                    node,
                    reason = %failure.reason,
                    since = %failure.since,
                    failures = failure.count,
                    "a previous attempt failed: not trying again until the sentinel clears, the configuration changes or an operator removes the {} annotation",
                    crate::REBOOT_FAILURE_ANNOTATION
                );
                return Ok(None);
            }
        }
        if self.blocked(cancel).await? {
            return Ok(None);
        }
        info!(node, "reboot required");
        self.event(NodeEvent::reboot_required()).await;
        Ok(Some(state))
    }

    /// Takes the lock, waiting (per [`LockWaitMode`]) while others hold it; `None` when the
    /// node is no longer eligible or the lock cannot be read.
    ///
    /// In [`LockWaitMode::Wait`] the wait is [`lock::RebootLock::wait_for_slot`]: it makes no
    /// request while the lock stays full and wakes (about) one waiter per freed slot, so the
    /// eligibility re-check (a Node GET, the blockers) and the acquire cost O(1) requests per
    /// handoff however many nodes wait. Each period without a free slot re-checks what
    /// kured's period checks (window, sentinel, blockers) but neither reads the Node nor
    /// tries the lock: the Node is read right before each acquire (its `unschedulable` goes
    /// into the lock record), and holders whose node was deleted are looked for by
    /// `wait_for_slot` itself. A waiting agent thus makes no request per period besides its
    /// blockers'. The taint is set once per call, as kured does once per period.
    async fn take_lock(
        &self,
        cancel: &CancellationToken,
        mut state: NodeState,
    ) -> Result<Option<LockRecord>, Cancelled> {
        let node = self.node();
        let mut tainted = false;
        loop {
            let metadata = LockMetadata {
                unschedulable: state.unschedulable,
            };
            match self
                .cancellable(cancel, self.deps.lock.acquire(node, metadata))
                .await?
            {
                Ok(AcquireOutcome::Acquired(record)) => {
                    info!(node, "acquired the reboot lock");
                    self.deps.metrics.lock_held.set(1);
                    self.deps.metrics.rollout_halted.set(0);
                    return Ok(Some(record));
                }
                Ok(AcquireOutcome::Halted(halt)) => {
                    self.deps.metrics.rollout_halted.set(1);
                    warn!(
                        node,
                        halted_by = %halt.node,
                        reason = %halt.reason,
                        since = %halt.since,
                        "the reboot rollout is halted; not taking the lock (an operator resumes it)"
                    );
                    return Ok(None);
                }
                Ok(AcquireOutcome::HeldBy(holders)) => {
                    self.deps.metrics.rollout_halted.set(0);
                    self.check_overdue(cancel, &holders).await?;
                    let names: Vec<&str> = holders.iter().map(|r| r.node_id.as_str()).collect();
                    if tainted {
                        debug!(node, held_by = ?names, "lock taken by another waiter");
                    } else {
                        warn!(node, held_by = ?names, "lock already held");
                        self.add_taint().await;
                        tainted = true;
                    }
                    if self.config.lock_wait == LockWaitMode::Poll {
                        return Ok(None);
                    }
                    if !self.wait_for_slot(cancel, &names).await? {
                        return Ok(None);
                    }
                    match self.eligible(cancel).await? {
                        Some(s) => state = s,
                        None => return Ok(None),
                    }
                }
                Err(e) => {
                    error!(node, error = %e, "cannot acquire the reboot lock");
                    return Ok(None);
                }
            }
        }
    }

    /// Waits until the lock shows a free slot (or its watch fails, after a pause); every
    /// period meanwhile, re-checks window, sentinel and blockers. `false`: no longer
    /// eligible.
    async fn wait_for_slot(
        &self,
        cancel: &CancellationToken,
        last_holders: &[&str],
    ) -> Result<bool, Cancelled> {
        let node = self.node();
        loop {
            let waited = self
                .cancellable(
                    cancel,
                    tokio::time::timeout(self.config.period, self.deps.lock.wait_for_slot(node)),
                )
                .await?;
            match waited {
                Ok(Ok(())) => return Ok(true),
                Ok(Err(e)) => {
                    debug!(node, error = %e, "lock watch failed; polling");
                    self.sleep(cancel, self.config.retry_interval.min(self.config.period))
                        .await?;
                    return Ok(true);
                }
                Err(_) => {
                    // A whole period without a free slot: what kured checks every period.
                    info!(node, last_seen_holders = ?last_holders, "reboot lock still held; waiting");
                    if !self.wanted(cancel).await? || self.blocked(cancel).await? {
                        return Ok(false);
                    }
                    if !self.config.not_back_timeout.is_zero() {
                        // Only now (a whole period without a free slot) is a holder overdue.
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// One period: reconcile a cordon left behind, then (if eligible) take the lock and run
    /// an attempt.
    async fn tick(&self, cancel: &CancellationToken) -> Result<Step, Cancelled> {
        self.reconcile_cordon(cancel).await?;
        let Some(state) = self.eligible(cancel).await? else {
            return Ok(Step::Continue);
        };
        let Some(record) = self.take_lock(cancel, state).await? else {
            return Ok(Step::Continue);
        };
        self.event(NodeEvent::lock_taken()).await;
        self.run_attempt(cancel, &record, None).await
    }
}

/// Go's `time.RFC3339` rendering of an instant in UTC (second precision).
fn go_rfc3339(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Keeps `kured_reboot_required{node}` current, independent of the window (as kured does).
async fn refresh_reboot_required(
    node: String,
    every: Duration,
    sentinel: Arc<dyn RebootSentinel>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
) {
    loop {
        match sentinel.reboot_required().await {
            Ok(r) => metrics.set_reboot_required(&node, r),
            Err(e) => debug!(%node, error = %e, "sentinel check for the metric failed"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = clock.sleep(every.max(Duration::from_millis(10))) => {}
        }
    }
}

#[cfg(test)]
mod tests;
