//! (Over 600 lines: one idea, the reboot loop read top to bottom; Deps, Config and metrics live beside it.)
//! The reboot loop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use blockers::check_or_block;
use drain::NodeState;
use jiff::Timestamp;
use lock::{AcquireOutcome, LockError, LockMetadata, LockRecord};
use notify::Event;
use sentinel::RebootSentinel;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::clock::{Clock, first_tick_delay};
use crate::config::{
    Config, LockWaitMode, MOST_RECENT_REBOOT_NEEDED_ANNOTATION, REBOOT_IN_PROGRESS_ANNOTATION,
};
use crate::deps::Deps;
use crate::guard;
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
}

impl Agent {
    /// An agent for `config.node_id`.
    pub fn new(config: Config, deps: Deps) -> Self {
        Self {
            config,
            deps,
            taint_maybe_set: AtomicBool::new(true),
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
        self.complete_previous_reboot(cancel).await?;
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
                Step::Rebooted => {
                    info!(node = %self.config.node_id, "waiting for reboot");
                    cancel.cancelled().await;
                    return Ok(());
                }
            }
            self.sleep(cancel, self.config.period).await?;
        }
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

    /// Start-up: if this node holds the lock, the reboot has happened (or was abandoned):
    /// uncordon unless the node was cordoned before we took the lock, post-reboot labels,
    /// remove the in-progress annotation, notify, THEN wait the release delay and release.
    async fn complete_previous_reboot(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let node = self.node();
        let record = loop {
            match self
                .cancellable(cancel, self.deps.lock.holding(node))
                .await?
            {
                Ok(Some(record)) => break record,
                Ok(None) => return Ok(()),
                Err(e) => {
                    warn!(node, error = %e, "cannot read the reboot lock; retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        };
        info!(
            node,
            "holding the reboot lock after start: completing the reboot"
        );
        self.deps.metrics.lock_held.set(1);
        let we_cordoned = !record.metadata.unschedulable;
        if we_cordoned {
            self.uncordon_until_done(cancel).await?;
        }
        if !self.config.post_reboot_node_labels.is_empty() {
            let labels = &self.config.post_reboot_node_labels;
            if let Err(e) = self
                .cancellable(cancel, self.deps.nodes.add_labels(node, labels))
                .await?
            {
                error!(node, error = %e, "cannot set post-reboot labels");
            }
        }
        if self.config.annotate_nodes {
            match self
                .cancellable(cancel, self.deps.sentinel.reboot_required())
                .await?
            {
                Ok(false) => {
                    let keys = [REBOOT_IN_PROGRESS_ANNOTATION.to_string()];
                    if let Err(e) = self
                        .cancellable(cancel, self.deps.nodes.remove_annotations(node, &keys))
                        .await?
                    {
                        warn!(node, error = %e, "cannot remove the reboot-in-progress annotation");
                    }
                }
                Ok(true) => warn!(node, "a reboot is still required after the reboot"),
                Err(e) => warn!(node, error = %e, "sentinel check failed"),
            }
        }
        if we_cordoned {
            self.notify(Event::Uncordon).await;
        }
        self.sleep(cancel, self.config.lock_release_delay).await?;
        // Whether or not the guard is on now: what the marker lists was set by an agent here.
        self.clear_guard_until_done(cancel).await?;
        self.release_until_done(cancel).await
    }

    /// Sets the autoscaler guard (if configured); a failure is logged, never stops the reboot.
    async fn set_guard(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        if !self.config.autoscaler_guard {
            return Ok(());
        }
        let node = self.node();
        match self
            .cancellable(cancel, guard::set(self.deps.nodes.as_ref(), node))
            .await?
        {
            Ok(set) => {
                info!(node, annotations = ?set.keys().collect::<Vec<_>>(), "autoscaler guard set");
            }
            Err(e) => error!(node, error = %e, "cannot set the autoscaler guard"),
        }
        Ok(())
    }

    /// Removes what the autoscaler guard's marker says this agent set; retried until done
    /// (a leftover guard would keep the node from ever being scaled down).
    async fn clear_guard_until_done(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let node = self.node();
        loop {
            match self
                .cancellable(cancel, guard::clear(self.deps.nodes.as_ref(), node))
                .await?
            {
                Ok(removed) => {
                    if !removed.is_empty() {
                        info!(node, annotations = ?removed, "autoscaler guard removed");
                    }
                    return Ok(());
                }
                Err(e) => {
                    error!(node, error = %e, "cannot remove the autoscaler guard; keeping the lock and retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        }
    }

    async fn uncordon_until_done(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        loop {
            match self
                .cancellable(cancel, self.deps.nodes.uncordon(self.node()))
                .await?
            {
                Ok(_) => {
                    info!(node = %self.node(), "uncordoned");
                    return Ok(());
                }
                Err(e) => {
                    error!(node = %self.node(), error = %e, "cannot uncordon; keeping the lock and retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        }
    }

    async fn release_until_done(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        loop {
            match self
                .cancellable(cancel, self.deps.lock.release(self.node()))
                .await?
            {
                Ok(()) | Err(LockError::NotHeld { .. }) => {
                    info!(node = %self.node(), "released the reboot lock");
                    self.deps.metrics.lock_held.set(0);
                    return Ok(());
                }
                Err(e) => {
                    warn!(node = %self.node(), error = %e, "cannot release the reboot lock; retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        }
    }

    async fn notify(&self, event: Event<'_>) {
        if let Some(n) = &self.deps.notifications {
            n.notify(self.node(), event).await;
        }
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
        if self.blocked(cancel).await? {
            return Ok(None);
        }
        info!(node, "reboot required");
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
                    return Ok(Some(record));
                }
                Ok(AcquireOutcome::HeldBy(holders)) => {
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
                Ok(AcquireOutcome::Halted(halt)) => {
                    warn!(
                        node,
                        halted_by = %halt.node,
                        reason = %halt.reason,
                        since = %halt.since,
                        "rollout halted"
                    );
                    return Ok(None);
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
                }
            }
        }
    }

    async fn tick(&self, cancel: &CancellationToken) -> Result<Step, Cancelled> {
        let Some(state) = self.eligible(cancel).await? else {
            return Ok(Step::Continue);
        };
        let Some(record) = self.take_lock(cancel, state).await? else {
            return Ok(Step::Continue);
        };
        let node = self.node();
        // Uncordon after the reboot only if the node was schedulable when the lock was taken.
        let we_cordon = !record.metadata.unschedulable;
        self.set_guard(cancel).await?;
        if !self.config.pre_reboot_node_labels.is_empty() {
            let labels = &self.config.pre_reboot_node_labels;
            if let Err(e) = self
                .cancellable(cancel, self.deps.nodes.add_labels(node, labels))
                .await?
            {
                error!(node, error = %e, "cannot set pre-reboot labels");
            }
        }
        if !self.config.drain_delay.is_zero() {
            info!(node, delay = ?self.config.drain_delay, "delaying drain");
            self.sleep(cancel, self.config.drain_delay).await?;
        }
        self.notify(Event::Drain).await;
        if !self.cordon_and_drain(cancel).await? && !self.config.force_reboot {
            self.abandon(cancel, we_cordon, Failed::Drain).await?;
            return Ok(Step::Continue);
        }
        if !self.config.reboot_delay.is_zero() {
            info!(node, delay = ?self.config.reboot_delay, "delaying reboot");
            self.sleep(cancel, self.config.reboot_delay).await?;
            info!(node, "making sure the node is drained before the reboot");
            if !self.cordon_and_drain(cancel).await? && !self.config.force_reboot {
                self.abandon(cancel, we_cordon, Failed::Drain).await?;
                return Ok(Step::Continue);
            }
        }
        self.notify(Event::Reboot).await;
        info!(node, "rebooting");
        match self
            .cancellable(cancel, self.deps.rebooter.reboot())
            .await?
        {
            Ok(()) => {
                self.deps.metrics.reboots.inc();
                Ok(Step::Rebooted)
            }
            Err(e) => {
                error!(node, error = %e, "reboot failed");
                self.abandon(cancel, we_cordon, Failed::Reboot).await?;
                Ok(Step::Continue)
            }
        }
    }

    /// Cordons and drains; `false` when either failed (logged and counted).
    async fn cordon_and_drain(&self, cancel: &CancellationToken) -> Result<bool, Cancelled> {
        let node = self.node();
        info!(node, "draining node");
        if let Err(e) = self
            .cancellable(cancel, self.deps.nodes.cordon(node))
            .await?
        {
            error!(node, error = %e, "cannot cordon");
            self.deps.metrics.drain_failures.inc();
            return Ok(false);
        }
        let started = Instant::now();
        let result = self
            .cancellable(cancel, self.deps.drainer.drain(node))
            .await?;
        self.deps
            .metrics
            .drain_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(report) => {
                info!(node, evicted = report.evicted.len(), "drained");
                Ok(true)
            }
            Err(e) => {
                if self.config.force_reboot {
                    warn!(node, error = %e, "drain failed; rebooting anyway (--force-reboot)");
                } else {
                    error!(node, error = %e, "drain failed; releasing the lock");
                }
                self.deps.metrics.drain_failures.inc();
                Ok(false)
            }
        }
    }

    /// Gives up this attempt: uncordon (if we cordoned) first, then release — never release
    /// while the node is cordoned by us.
    async fn abandon(
        &self,
        cancel: &CancellationToken,
        we_cordon: bool,
        failed: Failed,
    ) -> Result<(), Cancelled> {
        if we_cordon {
            match failed {
                Failed::Drain => {
                    info!(node = %self.node(), "best-effort uncordon after a failed drain");
                }
                Failed::Reboot => {
                    info!(node = %self.node(), "best-effort uncordon after a failed reboot command");
                }
            }
            self.uncordon_until_done(cancel).await?;
        }
        if self.config.autoscaler_guard {
            self.clear_guard_until_done(cancel).await?;
        }
        self.release_until_done(cancel).await
    }
}

/// What made `Agent::abandon` give up this attempt (for its log line).
#[derive(Clone, Copy, Debug)]
enum Failed {
    Drain,
    Reboot,
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
