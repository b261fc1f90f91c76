//! The agent's seam to the health gate and to the attempt record on the Node
//! ([`AttemptGate`]), and its Kubernetes implementation ([`KubeAttemptGate`]).
//!
//! Every attempt is recorded on the Node when the lock is taken ([`gate::ATTEMPT_ANNOTATION`]:
//! the boot ID then, and with the health gate the workloads and budgets the drain disturbs), so
//! that the agent started after the reboot can tell whether the node rebooted at all (same
//! boot ID and the sentinel still set: the attempt is resumed, not released) and what the gate
//! must wait for. The record is never put in kured's lock JSON (Go kured rewrites it).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use gate::{Attempt, GateError, GateVerdict, HealthGate, NodeBoot};
use jiff::Timestamp;

/// What the reboot loop needs from the health gate and the attempt record.
#[async_trait]
pub trait AttemptGate: Send + Sync {
    /// Whether a health gate is configured (otherwise [`Self::wait`] passes at once).
    fn enabled(&self) -> bool;
    /// Builds the record of an attempt starting `now` (boot ID; with the gate, what the drain
    /// will disturb) and writes it on the Node.
    async fn begin(&self, node: &str, now: Timestamp) -> Result<Attempt, GateError>;
    /// Writes `attempt` on the Node (e.g. with the time the reboot command ran).
    async fn save(&self, node: &str, attempt: &Attempt) -> Result<(), GateError>;
    /// The record on the Node, if any.
    async fn read(&self, node: &str) -> Result<Option<Attempt>, GateError>;
    /// Removes the record.
    async fn clear(&self, node: &str) -> Result<(), GateError>;
    /// The Node's boot ID and readiness now.
    async fn boot(&self, node: &str) -> Result<NodeBoot, GateError>;
    /// Waits until the node is healthy or the gate's time (counted from `since`) runs out.
    async fn wait(&self, node: &str, attempt: &Attempt, since: Instant) -> GateVerdict;
}

/// [`AttemptGate`] over the Kubernetes API; `gate: None` records the boot ID only and passes
/// at once.
#[derive(Clone)]
pub struct KubeAttemptGate {
    client: kube::Client,
    gate: Option<HealthGate>,
}

impl std::fmt::Debug for KubeAttemptGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeAttemptGate")
            .field("gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl KubeAttemptGate {
    /// Records attempts through `client`; checks health with `gate` if there is one.
    pub fn new(client: kube::Client, gate: Option<HealthGate>) -> Self {
        Self { client, gate }
    }
}

#[async_trait]
impl AttemptGate for KubeAttemptGate {
    fn enabled(&self) -> bool {
        self.gate.is_some()
    }

    async fn begin(&self, node: &str, now: Timestamp) -> Result<Attempt, GateError> {
        let attempt = if self.gate.is_some() {
            gate::prepare_attempt(&self.client, node, now).await?
        } else {
            let boot = gate::node_boot(&self.client, node).await?;
            Attempt::new(boot.boot_id.unwrap_or_default(), now)
        };
        gate::record_attempt(&self.client, node, &attempt).await?;
        Ok(attempt)
    }

    async fn save(&self, node: &str, attempt: &Attempt) -> Result<(), GateError> {
        gate::record_attempt(&self.client, node, attempt).await
    }

    async fn read(&self, node: &str) -> Result<Option<Attempt>, GateError> {
        gate::read_attempt(&self.client, node).await
    }

    async fn clear(&self, node: &str) -> Result<(), GateError> {
        gate::clear_attempt(&self.client, node).await
    }

    async fn boot(&self, node: &str) -> Result<NodeBoot, GateError> {
        gate::node_boot(&self.client, node).await
    }

    async fn wait(&self, node: &str, attempt: &Attempt, since: Instant) -> GateVerdict {
        match &self.gate {
            Some(gate) => gate.wait(node, attempt, since).await,
            None => GateVerdict::Passed {
                waited: Duration::ZERO,
            },
        }
    }
}

/// Whether the node rebooted since `attempt` was recorded: its boot ID differs (an unknown
/// boot ID on either side counts as rebooted, as kured assumes).
pub(crate) fn rebooted_since(attempt: &Attempt, boot: &NodeBoot) -> bool {
    match boot.boot_id.as_deref() {
        Some(now) if !now.is_empty() && !attempt.boot_id.is_empty() => now != attempt.boot_id,
        _ => true,
    }
}
