//! An attempt, from the lock taken to the reboot command: guard, attempt record, labels,
//! drain, reboot — or, when a step fails, the attempt abandoned.

use std::collections::BTreeMap;
use std::time::Instant;

use events::NodeEvent;
use gate::Attempt;
use lock::LockRecord;
use notify::Event;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Agent, Cancelled, Step, go_rfc3339};
use crate::config::CORDONED_BY_ANNOTATION;

impl Agent {
    /// Runs an attempt holding `record`: a new one (`resumed: None`: the attempt is recorded
    /// on the Node first) or one a stopped agent left before its reboot.
    pub(super) async fn run_attempt(
        &self,
        cancel: &CancellationToken,
        record: &LockRecord,
        resumed: Option<Attempt>,
    ) -> Result<Step, Cancelled> {
        let node = self.node();
        // Uncordon after the reboot only if the node was schedulable when the lock was taken.
        let we_cordon = !record.metadata.unschedulable;
        self.set_guard(cancel).await?;
        let attempt = if resumed.is_some() {
            resumed
        } else {
            let Ok(a) = self.begin_attempt(cancel).await? else {
                self.abandon(cancel, we_cordon, "as the attempt could not be recorded")
                    .await?;
                return Ok(Step::Continue);
            };
            a
        };
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
        self.event(NodeEvent::draining()).await;
        if !self.cordon_and_drain(cancel, we_cordon).await? && !self.config.force_reboot {
            self.abandon(cancel, we_cordon, "after a failed drain")
                .await?;
            return Ok(Step::Continue);
        }
        if !self.config.reboot_delay.is_zero() {
            info!(node, delay = ?self.config.reboot_delay, "delaying reboot");
            self.sleep(cancel, self.config.reboot_delay).await?;
            info!(node, "making sure the node is drained before the reboot");
            if !self.cordon_and_drain(cancel, we_cordon).await? && !self.config.force_reboot {
                self.abandon(cancel, we_cordon, "after a failed drain")
                    .await?;
                return Ok(Step::Continue);
            }
        }
        self.notify(Event::Reboot).await;
        self.event(NodeEvent::rebooting()).await;
        if let Some(mut a) = attempt {
            // When the command ran: how the waiting agents tell a node that is not back.
            a.rebooting_since = Some(self.deps.clock.now());
            if let Err(e) = self
                .cancellable(cancel, self.deps.gate.save(node, &a))
                .await?
            {
                warn!(node, error = %e, "cannot record the reboot time in the attempt record");
            }
        }
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
                self.deps.metrics.reboot_failures.inc();
                let reason = format!("reboot command failed: {e}");
                self.event(NodeEvent::reboot_failed(&e.to_string())).await;
                self.fail(cancel, &reason, we_cordon).await?;
                Ok(Step::Continue)
            }
        }
    }

    /// Records the attempt on the Node. With the health gate, a record that cannot be written
    /// abandons the attempt (`Err`): the gate could not tell what to wait for. Without it,
    /// the attempt goes on without a record (`Ok(None)`), as kured's does.
    async fn begin_attempt(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Result<Option<Attempt>, ()>, Cancelled> {
        let node = self.node();
        let now = self.deps.clock.now();
        match self
            .cancellable(cancel, self.deps.gate.begin(node, now))
            .await?
        {
            Ok(a) => Ok(Ok(Some(a))),
            Err(e) if self.deps.gate.enabled() => {
                error!(node, error = %e, "cannot record the attempt for the health gate");
                Ok(Err(()))
            }
            Err(e) => {
                warn!(node, error = %e, "cannot record the attempt (boot ID); going on without");
                Ok(Ok(None))
            }
        }
    }

    /// Cordons (marking the cordon as ours when we make it) and drains; `false` when either
    /// failed (logged, counted, Event).
    async fn cordon_and_drain(
        &self,
        cancel: &CancellationToken,
        we_cordon: bool,
    ) -> Result<bool, Cancelled> {
        let node = self.node();
        info!(node, "draining node");
        if we_cordon {
            self.cordon_maybe_marked
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let mark: BTreeMap<String, String> = [(
                CORDONED_BY_ANNOTATION.to_string(),
                go_rfc3339(self.deps.clock.now()),
            )]
            .into_iter()
            .collect();
            if let Err(e) = self
                .cancellable(cancel, self.deps.nodes.add_annotations(node, &mark))
                .await?
            {
                warn!(node, error = %e, "cannot mark the cordon as ours");
            }
        }
        if let Err(e) = self
            .cancellable(cancel, self.deps.nodes.cordon(node))
            .await?
        {
            error!(node, error = %e, "cannot cordon");
            self.deps.metrics.drain_failures.inc();
            self.event(NodeEvent::drain_failed(&format!("cannot cordon: {e}")))
                .await;
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
                self.event(NodeEvent::drain_failed(&e.to_string())).await;
                Ok(false)
            }
        }
    }

    /// Gives up this attempt: uncordon (if we cordoned) first, then guard, record, release —
    /// never release while the node is cordoned by us.
    pub(super) async fn abandon(
        &self,
        cancel: &CancellationToken,
        we_cordon: bool,
        why: &str,
    ) -> Result<(), Cancelled> {
        if we_cordon {
            info!(node = %self.node(), "best-effort uncordon {why}");
            self.uncordon_until_done(cancel).await?;
            self.event(NodeEvent::uncordoned(why)).await;
        }
        self.finish(cancel).await
    }
}
