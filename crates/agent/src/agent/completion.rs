//! After the reboot: the agent started on a node that holds the lock completes the attempt —
//! resumes it if the node never rebooted, otherwise uncordons, runs the health gate and
//! releases (or, on a gate failure, stops the line).

use std::time::Instant;

use events::NodeEvent;
use gate::{Attempt, GateVerdict};
use lock::{LockError, LockRecord};
use notify::Event;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Agent, Cancelled, Step};
use crate::attempt::rebooted_since;
use crate::config::REBOOT_IN_PROGRESS_ANNOTATION;
use crate::guard;

impl Agent {
    /// Start-up: if this node holds the lock, its attempt is over or under way. A recorded
    /// attempt with the node's boot ID unchanged and the sentinel still set is resumed (drain,
    /// reboot): the agent was stopped before the reboot. Otherwise the reboot happened (or was
    /// abandoned): uncordon unless the node was cordoned before we took the lock, post-reboot
    /// labels, remove the in-progress annotation, notify; with the health gate, keep the lock
    /// until the node is healthy; THEN wait the release delay and release. A node that halted
    /// the rollout keeps the lock until an operator resumes it.
    pub(super) async fn complete_previous_reboot(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Step, Cancelled> {
        let node = self.node();
        let record = loop {
            match self
                .cancellable(cancel, self.deps.lock.holding(node))
                .await?
            {
                Ok(Some(record)) => break record,
                Ok(None) => return Ok(Step::Continue),
                Err(e) => {
                    warn!(node, error = %e, "cannot read the reboot lock; retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        };
        self.deps.metrics.lock_held.set(1);
        let attempt = self.read_attempt(cancel).await?;
        let rebooted = match &attempt {
            Some(a) => self.rebooted(cancel, a).await?,
            None => true,
        };
        // Read once: a node that halted the rollout neither resumes nor releases.
        let halted_by_me = self.halted_by_me(cancel).await?;
        if let Some(a) = attempt.as_ref().filter(|_| !rebooted) {
            match self
                .cancellable(cancel, self.deps.sentinel.reboot_required())
                .await?
            {
                Ok(true) if !halted_by_me => {
                    info!(
                        node,
                        boot_id = %a.boot_id,
                        "holding the reboot lock after start, and the node has not rebooted: resuming the attempt"
                    );
                    return self.run_attempt(cancel, &record, Some(a.clone())).await;
                }
                _ => info!(
                    node,
                    "holding the reboot lock after start; the node has not rebooted and needs no reboot now: releasing"
                ),
            }
        } else {
            info!(
                node,
                "holding the reboot lock after start: completing the reboot"
            );
            if attempt.is_some() {
                self.event(NodeEvent::node_back()).await;
            }
        }
        self.after_reboot(cancel, &record).await?;
        if halted_by_me {
            self.wait_while_halted(cancel).await?;
        } else if let Some(a) = attempt.as_ref().filter(|_| rebooted)
            && !self.gate_passes(cancel, a).await?
        {
            return Ok(Step::Continue);
        }
        self.sleep(cancel, self.config.lock_release_delay).await?;
        self.finish(cancel).await?;
        Ok(Step::Continue)
    }

    /// The node's boot ID differs from the attempt's (unreadable: assume it did, as kured).
    async fn rebooted(
        &self,
        cancel: &CancellationToken,
        attempt: &Attempt,
    ) -> Result<bool, Cancelled> {
        match self
            .cancellable(cancel, self.deps.gate.boot(self.node()))
            .await?
        {
            Ok(boot) => Ok(rebooted_since(attempt, &boot)),
            Err(e) => {
                warn!(node = %self.node(), error = %e, "cannot read the node's boot ID; assuming it rebooted");
                Ok(true)
            }
        }
    }

    /// The attempt recorded on the Node (a read error is logged: no record).
    async fn read_attempt(&self, cancel: &CancellationToken) -> Result<Option<Attempt>, Cancelled> {
        match self
            .cancellable(cancel, self.deps.gate.read(self.node()))
            .await?
        {
            Ok(a) => Ok(a),
            Err(e) => {
                warn!(node = %self.node(), error = %e, "cannot read the attempt record");
                Ok(None)
            }
        }
    }

    /// kured's post-reboot steps: uncordon (if we cordoned), labels, annotation, notify.
    async fn after_reboot(
        &self,
        cancel: &CancellationToken,
        record: &LockRecord,
    ) -> Result<(), Cancelled> {
        let node = self.node();
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
        Ok(())
    }

    /// Runs the health gate (if configured); `false` when it failed (the failure is recorded
    /// and, if it halted the rollout, the lock kept until an operator resumes it).
    async fn gate_passes(
        &self,
        cancel: &CancellationToken,
        attempt: &Attempt,
    ) -> Result<bool, Cancelled> {
        if !self.deps.gate.enabled() {
            return Ok(true);
        }
        let node = self.node();
        info!(
            node,
            "waiting for the health gate before releasing the lock"
        );
        let verdict = self
            .cancellable(cancel, self.deps.gate.wait(node, attempt, Instant::now()))
            .await?;
        match verdict {
            GateVerdict::Passed { waited } => {
                info!(node, ?waited, "health gate passed");
                self.deps.metrics.gate_wait.observe(waited.as_secs_f64());
                self.event(NodeEvent::gate_passed(waited)).await;
                Ok(true)
            }
            GateVerdict::Failed { waited, last } => {
                let reasons = last
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                error!(node, ?waited, %reasons, "health gate failed");
                self.deps.metrics.gate_failures.inc();
                self.event(NodeEvent::gate_failed(&reasons)).await;
                let reason = format!(
                    "health gate failed after {}: {reasons}",
                    humantime::format_duration(rounded(waited))
                );
                self.fail(cancel, &reason, false).await?;
                Ok(false)
            }
        }
    }

    /// The end of an attempt: the guard removed, the attempt record cleared, this node's
    /// rollout failure forgotten, the lock released (in this order: release last).
    pub(super) async fn finish(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        // Whether or not the guard is on now: what the marker lists was set by an agent here.
        self.clear_guard_until_done(cancel).await?;
        if let Err(e) = self
            .cancellable(cancel, self.deps.gate.clear(self.node()))
            .await?
        {
            warn!(node = %self.node(), error = %e, "cannot remove the attempt record");
        }
        self.release_until_done(cancel).await
    }

    /// Sets the autoscaler guard (if configured); a failure is logged, never stops the reboot.
    pub(super) async fn set_guard(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
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

    /// Uncordons and removes our cordon marker; retried until done.
    pub(super) async fn uncordon_until_done(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        loop {
            match self
                .cancellable(cancel, self.deps.nodes.uncordon(self.node()))
                .await?
            {
                Ok(_) => {
                    info!(node = %self.node(), "uncordoned");
                    self.unmark_cordon(cancel).await?;
                    return Ok(());
                }
                Err(e) => {
                    error!(node = %self.node(), error = %e, "cannot uncordon; keeping the lock and retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        }
    }

    pub(super) async fn release_until_done(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        loop {
            match self
                .cancellable(cancel, self.deps.lock.release(self.node()))
                .await?
            {
                Ok(()) | Err(LockError::NotHeld { .. }) => {
                    info!(node = %self.node(), "released the reboot lock");
                    self.deps.metrics.lock_held.set(0);
                    self.event(NodeEvent::lock_released()).await;
                    return Ok(());
                }
                Err(e) => {
                    warn!(node = %self.node(), error = %e, "cannot release the reboot lock; retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        }
    }
}

/// A duration to whole seconds (for messages).
pub(super) fn rounded(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(d.as_secs())
}
