//! Stop the line: a failed attempt is recorded on the Node (no retry without a change) and in
//! the rollout state on the lock object; once the failures reach `--max-failed-nodes` the
//! rollout halts — the failed node keeps its lock record, no agent takes a new lock — until an
//! operator resumes it. The waiting agents also notice a holder that ran its reboot command
//! and is not back in time.

use std::time::Duration;

use events::NodeEvent;
use gate::Attempt;
use jiff::Timestamp;
use lock::{LockRecord, RolloutFailure, RolloutState};
use notify::Event;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::completion::rounded;
use super::{Agent, Cancelled};
use crate::attempt::rebooted_since;
use crate::failure::{NodeFailure, REBOOT_FAILURE_ANNOTATION};

impl Agent {
    /// This node's attempt failed: record it on the Node and in the rollout state; uncordon
    /// (if `uncordon`). If the rollout is halted, keep the lock until an operator resumes it;
    /// then (or at once when not halted) end the attempt and release.
    pub(super) async fn fail(
        &self,
        cancel: &CancellationToken,
        reason: &str,
        uncordon: bool,
    ) -> Result<(), Cancelled> {
        let node = self.node().to_string();
        self.mark_failed(cancel, reason).await?;
        let state = self.record_failure(cancel, &node, reason).await?;
        if uncordon {
            self.uncordon_until_done(cancel).await?;
            self.event(NodeEvent::uncordoned("after a failed attempt"))
                .await;
        }
        if state.halt.is_some() {
            self.wait_while_halted(cancel).await?;
        }
        self.finish(cancel).await
    }

    /// Records `node`'s failure in the rollout state (retried until written); announces the
    /// halt if this failure caused it.
    async fn record_failure(
        &self,
        cancel: &CancellationToken,
        node: &str,
        reason: &str,
    ) -> Result<RolloutState, Cancelled> {
        let failure = RolloutFailure {
            node: node.to_string(),
            reason: reason.to_string(),
            since: self.deps.clock.now(),
        };
        let budget = self.config.max_failed_nodes.max(1);
        let state = loop {
            match self
                .cancellable(
                    cancel,
                    self.deps.lock.record_failure(failure.clone(), budget),
                )
                .await?
            {
                Ok(state) => break state,
                Err(e) => {
                    error!(node, error = %e, "cannot record the failure in the rollout state; retrying");
                    self.sleep(cancel, self.config.retry_interval).await?;
                }
            }
        };
        if let Some(halt) = state.halt.as_ref().filter(|h| h.node == node) {
            self.deps.metrics.rollout_halted.set(1);
            error!(
                node,
                reason = %halt.reason,
                failed_nodes = state.failures.len(),
                budget,
                "the reboot rollout is halted: no node takes the lock until an operator resumes it"
            );
            self.deps
                .events
                .publish(node, NodeEvent::rollout_halted(node, &halt.reason))
                .await;
            if let Some(n) = &self.deps.notifications {
                n.notify(
                    node,
                    Event::Halted {
                        reason: &halt.reason,
                    },
                )
                .await;
            }
        } else {
            warn!(
                node,
                failed_nodes = state.failures.len(),
                budget,
                "failure recorded; the rollout goes on"
            );
        }
        Ok(state)
    }

    /// Marks this node's failure on its Node (logged if it cannot be written).
    async fn mark_failed(&self, cancel: &CancellationToken, reason: &str) -> Result<(), Cancelled> {
        let node = self.node();
        let previous = match self
            .cancellable(cancel, self.deps.nodes.node_state(node))
            .await?
        {
            Ok(state) => NodeFailure::read(&state.annotations),
            Err(_) => None,
        };
        let failure = NodeFailure::next(
            previous.as_ref(),
            reason,
            self.deps.clock.now(),
            &self.config.fingerprint,
        );
        self.failure_maybe_set
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = self
            .cancellable(
                cancel,
                self.deps.nodes.add_annotations(node, &failure.annotation()),
            )
            .await?
        {
            error!(node, error = %e, "cannot record the failure on the node");
        }
        Ok(())
    }

    /// The sentinel cleared: forget this node's failure (Node record and rollout entry).
    pub(super) async fn forget_failure(&self) {
        if !self
            .failure_maybe_set
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let node = self.node();
        let keys = [REBOOT_FAILURE_ANNOTATION.to_string()];
        if let Err(e) = self.deps.nodes.remove_annotations(node, &keys).await {
            debug!(node, error = %e, "cannot remove the failure record");
            self.failure_maybe_set
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if let Err(e) = self.deps.lock.clear_failure(node).await {
            debug!(node, error = %e, "cannot clear the rollout failure");
        }
    }

    /// Whether the rollout is halted by this node's failure (unreadable: no).
    pub(super) async fn halted_by_me(&self, cancel: &CancellationToken) -> Result<bool, Cancelled> {
        match self.cancellable(cancel, self.deps.lock.rollout()).await? {
            Ok(state) => Ok(state.halt.is_some_and(|h| h.node == self.node())),
            Err(e) => {
                warn!(node = %self.node(), error = %e, "cannot read the rollout state");
                Ok(false)
            }
        }
    }

    /// Holds the lock while the rollout is halted (woken by lock changes, re-read every
    /// period). The node's own failure record stays: resuming lets the others go on, and this
    /// node tries again only after its own change (sentinel, configuration, the record removed).
    pub(super) async fn wait_while_halted(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let node = self.node();
        loop {
            match self.cancellable(cancel, self.deps.lock.rollout()).await? {
                Ok(state) if state.halt.is_none() => break,
                Ok(state) => {
                    self.deps.metrics.rollout_halted.set(1);
                    if let Some(h) = state.halt {
                        info!(node, halted_by = %h.node, reason = %h.reason, since = %h.since, "rollout halted; keeping the lock until an operator resumes it");
                    }
                }
                Err(e) => warn!(node, error = %e, "cannot read the rollout state"),
            }
            let _ = self
                .cancellable(
                    cancel,
                    tokio::time::timeout(self.config.period, self.deps.lock.wait_for_change()),
                )
                .await?;
        }
        info!(node, "the rollout was resumed");
        self.deps.metrics.rollout_halted.set(0);
        Ok(())
    }

    /// With `--reboot-not-back-timeout`: a holder that ran its reboot command longer ago and
    /// is not Ready with a new boot ID has failed; record it (which may halt the rollout).
    /// Reads a holder's Node only once its lock record is older than the timeout.
    pub(super) async fn check_overdue(
        &self,
        cancel: &CancellationToken,
        holders: &[LockRecord],
    ) -> Result<(), Cancelled> {
        let timeout = self.config.not_back_timeout;
        if timeout.is_zero() {
            return Ok(());
        }
        let now = self.deps.clock.now();
        for holder in holders
            .iter()
            .filter(|h| h.created.is_some_and(|c| older_than(c, now, timeout)))
        {
            let other = holder.node_id.as_str();
            let attempt = match self.cancellable(cancel, self.deps.gate.read(other)).await? {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    debug!(node = %self.node(), holder = other, error = %e, "cannot read the holder's attempt");
                    continue;
                }
            };
            if !self.overdue(cancel, other, &attempt, now, timeout).await? {
                continue;
            }
            match self.cancellable(cancel, self.deps.lock.rollout()).await? {
                Ok(state) if state.failures.iter().any(|f| f.node == other) => continue,
                Ok(_) => {}
                Err(_) => continue,
            }
            let reason = format!(
                "not back (Ready with a new boot ID) {} after the reboot command",
                humantime::format_duration(rounded(timeout))
            );
            warn!(node = %self.node(), holder = other, %reason, "a lock holder is overdue");
            self.record_failure(cancel, other, &reason).await?;
        }
        Ok(())
    }

    /// Whether `other` ran its reboot command more than `timeout` ago and is not back.
    async fn overdue(
        &self,
        cancel: &CancellationToken,
        other: &str,
        attempt: &Attempt,
        now: Timestamp,
        timeout: Duration,
    ) -> Result<bool, Cancelled> {
        let Some(since) = attempt.rebooting_since else {
            return Ok(false);
        };
        if !older_than(since, now, timeout) {
            return Ok(false);
        }
        match self.cancellable(cancel, self.deps.gate.boot(other)).await? {
            Ok(boot) => Ok(!(boot.ready && rebooted_since(attempt, &boot))),
            Err(e) => {
                debug!(node = %self.node(), holder = other, error = %e, "cannot read the holder's node");
                Ok(false)
            }
        }
    }
}

/// `then` lies more than `d` before `now`.
fn older_than(then: Timestamp, now: Timestamp, d: Duration) -> bool {
    now.duration_since(then).unsigned_abs() > d && now > then
}
