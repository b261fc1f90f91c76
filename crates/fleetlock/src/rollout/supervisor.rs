//! The supervisor: every poll, each group's holders are looked at — a node not back within
//! `reboot_not_back_timeout` of its grant is a failure, and a kept slot whose gate task does
//! not run here (restarted or another replica) gets one. Every replica runs it; what it writes
//! is idempotent (failures are counted once per id, a gate task per slot per replica).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Inner;
use crate::store::GroupState;

/// Runs until aborted.
pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        tokio::time::sleep(inner.poll).await;
        let groups = match inner.store.groups().await {
            Ok(groups) => groups,
            Err(e) => {
                tracing::debug!(error = %e, "supervisor: listing groups");
                continue;
            }
        };
        for group in groups {
            match inner.store.get(&group).await {
                Ok(v) => inner.look_at(&group, &v.state).await,
                Err(e) => tracing::debug!(%group, error = %e, "supervisor: reading group"),
            }
        }
    }
}

/// How long ago an RFC 3339 timestamp was (zero when it is in the future or unreadable).
fn age(timestamp: &str) -> Duration {
    timestamp
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| jiff::Timestamp::now().duration_since(t).try_into().ok())
        .unwrap_or_default()
}

impl Inner {
    async fn look_at(self: &Arc<Self>, group: &str, state: &GroupState) {
        for holder in &state.holders {
            let id = holder.id.as_str();
            if state.failures.iter().any(|f| f.id == id) {
                continue;
            }
            let Ok(Some(node)) = self.nodes.lookup(id) else {
                continue;
            };
            if let Some(kept) = state.gating.iter().find(|g| g.id == id) {
                self.resume_gate(group, id, &node, &kept.since).await;
            } else if let Some(limit) = self.not_back {
                self.check_back(group, id, &node, limit).await;
            }
        }
    }

    /// Starts the gate of a kept slot that has no task here.
    async fn resume_gate(self: &Arc<Self>, group: &str, id: &str, node: &str, since: &str) {
        let Some(gate) = &self.gate else {
            return;
        };
        if self.has_task(group, id) {
            return;
        }
        match gate::read_attempt(&self.client, node).await {
            Ok(Some(attempt)) => {
                let since = Instant::now()
                    .checked_sub(age(since))
                    .unwrap_or_else(Instant::now);
                tracing::info!(%group, %id, %node, "resuming the health gate of a kept slot");
                self.spawn_gate(gate.clone(), group, id, node, attempt, since);
            }
            Ok(None) => {
                tracing::warn!(%group, %id, %node, "kept slot without a reboot attempt record: the gate cannot run; releasing");
                if let Err(e) = crate::semaphore::release(self.store.as_ref(), group, id).await {
                    tracing::warn!(%group, %id, error = %e, "releasing a kept slot");
                }
            }
            Err(e) => tracing::debug!(%node, error = %e, "supervisor: reading the attempt"),
        }
    }

    /// A failure when `node`'s reboot was allowed more than `limit` ago and it is not Ready
    /// with a new boot ID.
    async fn check_back(&self, group: &str, id: &str, node: &str, limit: Duration) {
        let attempt = match gate::read_attempt(&self.client, node).await {
            Ok(Some(attempt)) => attempt,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%node, error = %e, "supervisor: reading the attempt");
                return;
            }
        };
        let Some(allowed) = attempt.rebooting_since else {
            return;
        };
        let elapsed = age(&allowed.to_string());
        if elapsed <= limit {
            return;
        }
        let boot = match gate::node_boot(&self.client, node).await {
            Ok(boot) => boot,
            Err(e) => {
                tracing::debug!(%node, error = %e, "supervisor: reading the node");
                return;
            }
        };
        if boot.ready && boot.rebooted_since(&attempt) {
            return;
        }
        let state = if boot.rebooted_since(&attempt) {
            "rebooted but not Ready"
        } else {
            "not rebooted (boot ID unchanged)"
        };
        let reason = format!(
            "node {node} is {state} {}s after its reboot was allowed (limit {}s)",
            elapsed.as_secs(),
            limit.as_secs()
        );
        self.fail(group, id, node, reason, "not_back").await;
    }
}
