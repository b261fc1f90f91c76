//! Doubles of the attempt record and health gate for the mock tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gate::{Attempt, GateError, GateVerdict, NodeBoot};
use jiff::Timestamp;

use crate::AttemptGate;

/// Attempt records in memory; each node's boot ID is settable; the gate verdict is fixed.
#[derive(Debug, Default)]
pub(super) struct MemoryGate {
    pub(super) attempts: Mutex<BTreeMap<String, Attempt>>,
    pub(super) boots: Mutex<BTreeMap<String, NodeBoot>>,
    /// `Some(pass)`: a gate is configured and passes (true) or fails (false).
    pub(super) verdict: Option<bool>,
}

impl MemoryGate {
    /// No health gate; every node boots as `boot-1`, Ready.
    pub(super) fn without_gate() -> Self {
        Self::default()
    }

    /// `node`'s recorded attempt.
    pub(super) fn attempt(&self, node: &str) -> Option<Attempt> {
        self.attempts.lock().unwrap().get(node).cloned()
    }
}

#[async_trait]
impl AttemptGate for MemoryGate {
    fn enabled(&self) -> bool {
        self.verdict.is_some()
    }

    async fn begin(&self, node: &str, now: Timestamp) -> Result<Attempt, GateError> {
        let boot = self.boot(node).await?;
        let attempt = Attempt::new(boot.boot_id.unwrap_or_default(), now);
        self.save(node, &attempt).await?;
        Ok(attempt)
    }

    async fn save(&self, node: &str, attempt: &Attempt) -> Result<(), GateError> {
        self.attempts
            .lock()
            .unwrap()
            .insert(node.to_string(), attempt.clone());
        Ok(())
    }

    async fn read(&self, node: &str) -> Result<Option<Attempt>, GateError> {
        Ok(self.attempt(node))
    }

    async fn clear(&self, node: &str) -> Result<(), GateError> {
        self.attempts.lock().unwrap().remove(node);
        Ok(())
    }

    async fn boot(&self, node: &str) -> Result<NodeBoot, GateError> {
        Ok(self
            .boots
            .lock()
            .unwrap()
            .get(node)
            .cloned()
            .unwrap_or(NodeBoot {
                boot_id: Some("boot-1".to_string()),
                ready: true,
            }))
    }

    async fn wait(&self, _node: &str, _attempt: &Attempt, since: Instant) -> GateVerdict {
        match self.verdict {
            Some(false) => GateVerdict::Failed {
                waited: since.elapsed(),
                last: Vec::new(),
            },
            _ => GateVerdict::Passed {
                waited: Duration::ZERO,
            },
        }
    }
}
