//! One kept slot's health gate: waits for `gate::HealthGate::wait` while watching the store,
//! and ends when the gate decides, when the slot is no longer kept (released by an admin or
//! another replica), or when it is aborted.

use std::sync::Arc;
use std::time::Instant;

use gate::{Attempt, GateVerdict, HealthGate};

use super::Inner;
use crate::metrics::GateLabels;
use crate::semaphore;

impl Inner {
    /// Starts the gate of `id`'s kept slot (node `node`), its timeout counted from `since`;
    /// does nothing when one already runs here.
    pub(super) fn spawn_gate(
        self: &Arc<Self>,
        gate: HealthGate,
        group: &str,
        id: &str,
        node: &str,
        attempt: Attempt,
        since: Instant,
    ) {
        let mut tasks = self.lock_tasks();
        let key = (group.to_owned(), id.to_owned());
        if tasks.get(&key).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let inner = Arc::clone(self);
        let (group, id, node) = (group.to_owned(), id.to_owned(), node.to_owned());
        let task = tokio::spawn(async move {
            inner
                .run_gate(&gate, &group, &id, &node, &attempt, since)
                .await;
            inner.lock_tasks().remove(&(group, id));
        });
        tasks.insert(key, task.abort_handle());
    }

    /// Waits for the verdict unless the slot stops being kept first.
    async fn run_gate(
        &self,
        gate: &HealthGate,
        group: &str,
        id: &str,
        node: &str,
        attempt: &Attempt,
        since: Instant,
    ) {
        let verdict = tokio::select! {
            verdict = gate.wait(node, attempt, since) => verdict,
            () = self.until_not_kept(group, id) => {
                tracing::info!(%group, %id, %node, "health gate stopped: the slot is no longer kept");
                return;
            }
        };
        match verdict {
            GateVerdict::Passed { waited } => {
                self.waits
                    .get_or_create(&GateLabels { result: "passed" })
                    .observe(waited.as_secs_f64());
                // The slot may have been released meanwhile: release only a kept one.
                match self.store.get(group).await {
                    Ok(v) if v.state.is_gating(id) => {}
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(%group, %id, error = %e, "reading the group after the gate passed");
                        return;
                    }
                }
                tracing::info!(%group, %id, %node, ?waited, "health gate passed: slot released");
                self.events
                    .publish(node, events::NodeEvent::gate_passed(waited))
                    .await;
                if let Err(e) = semaphore::release(self.store.as_ref(), group, id).await {
                    tracing::warn!(%group, %id, error = %e, "releasing the slot after the gate passed");
                    return;
                }
                self.events
                    .publish(node, events::NodeEvent::lock_released())
                    .await;
                if let Err(e) = gate::clear_attempt(&self.client, node).await {
                    tracing::warn!(%node, error = %e, "clearing the reboot attempt record");
                }
            }
            GateVerdict::Failed { waited, last } => {
                self.waits
                    .get_or_create(&GateLabels { result: "failed" })
                    .observe(waited.as_secs_f64());
                let reason = format!(
                    "health gate failed after {}s: {}",
                    waited.as_secs(),
                    gate::describe(&last, 5)
                );
                self.fail(group, id, node, reason, "gate_failed").await;
            }
        }
    }

    /// Returns once `id` no longer holds a kept slot in `group` (checked every poll; a failed
    /// read keeps waiting).
    async fn until_not_kept(&self, group: &str, id: &str) {
        loop {
            tokio::time::sleep(self.poll).await;
            if let Ok(v) = self.store.get(group).await
                && !(v.state.holds(id) && v.state.is_gating(id))
            {
                return;
            }
        }
    }
}
