//! Kill points: decorators around the agent's node operations, drainer and lock that kill the
//! agent (cancel its task, as a pod being killed) at an exact phase of its cycle, plus the
//! sentinel and rebooter doubles.
//!
//! A kill cancels the agent's token and leaves the decorated call pending, so the agent stops
//! at that await without the call's effect: "holding the lock before the cordon" really has
//! the lock and no cordon.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent::CancellationToken;
use async_trait::async_trait;
use drain::{DrainError, DrainReport, Drainer, NodeOps, NodeOpsError, NodeState};
use lock::{
    AcquireOutcome, LockError, LockMetadata, LockRecord, RebootLock, RolloutFailure, RolloutState,
};

use super::plan::KillPoint;

pub(crate) fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why an agent task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It triggered the reboot.
    Rebooted,
    /// It was killed; a fresh one starts after this delay.
    Restart(Duration),
    /// It was killed for good; the node is deleted after the delay, if any.
    Dead(Option<Duration>),
}

/// A planned kill, consumed when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlannedKill {
    pub(crate) point: KillPoint,
    pub(crate) exit: Exit,
}

/// One node's agent supervision state, shared with its decorators.
#[derive(Debug)]
pub(crate) struct NodeCtl {
    pub(crate) name: String,
    kill: Mutex<Option<PlannedKill>>,
    exit: Mutex<Option<Exit>>,
    current: Mutex<Option<CancellationToken>>,
    reboots: AtomicUsize,
    /// Kill points that fired, in order.
    pub(crate) fired: Mutex<Vec<KillPoint>>,
    /// When a kill fires mid-drain (after the drain started).
    pub(crate) mid_drain_after: Duration,
}

impl NodeCtl {
    pub(crate) fn new(name: String, kill: Option<PlannedKill>, mid_drain_after: Duration) -> Self {
        Self {
            name,
            kill: Mutex::new(kill),
            exit: Mutex::new(None),
            current: Mutex::new(None),
            reboots: AtomicUsize::new(0),
            fired: Mutex::new(Vec::new()),
            mid_drain_after,
        }
    }

    /// A new agent starts with `token`.
    pub(crate) fn begin(&self, token: CancellationToken) {
        *guard(&self.exit) = None;
        *guard(&self.current) = Some(token);
    }

    /// Why the last agent ended (`None`: not said).
    pub(crate) fn take_exit(&self) -> Option<Exit> {
        guard(&self.current).take();
        guard(&self.exit).take()
    }

    pub(crate) fn rebooted(&self) -> bool {
        self.reboots.load(Ordering::SeqCst) > 0
    }

    /// The host rebooted: counts it, and the reboot outranks any other reason this agent was
    /// ending for.
    pub(crate) fn on_reboot(&self) {
        self.reboots.fetch_add(1, Ordering::SeqCst);
        *guard(&self.exit) = Some(Exit::Rebooted);
    }

    fn pending_point(&self) -> Option<KillPoint> {
        guard(&self.kill).map(|k| k.point)
    }

    /// Ends the current agent with `exit` unless it already has a reason to end. Returns
    /// whether it did.
    pub(crate) fn stop_current(&self, exit: Exit) -> bool {
        let mut e = guard(&self.exit);
        if e.is_some() {
            return false;
        }
        let Some(token) = guard(&self.current).clone() else {
            return false;
        };
        *e = Some(exit);
        token.cancel();
        true
    }

    /// Fires the planned kill if it is for `point`: ends the agent owning `token`.
    fn fire(&self, point: KillPoint, token: &CancellationToken) -> bool {
        let mut kill = guard(&self.kill);
        let Some(k) = *kill else { return false };
        if k.point != point || token.is_cancelled() {
            return false;
        }
        let mut e = guard(&self.exit);
        if e.is_some() {
            return false;
        }
        *kill = None;
        *e = Some(k.exit);
        guard(&self.fired).push(point);
        tracing::info!(node = %self.name, %point, exit = ?k.exit, "chaos: agent killed");
        token.cancel();
        true
    }
}

/// Parks the killed call: the agent's own select sees the cancellation first.
async fn park<T>() -> T {
    std::future::pending().await
}

/// [`NodeOps`] with the before-cordon, before-uncordon and release-delay kill points.
pub(crate) struct HookedNodes {
    pub(crate) inner: Arc<dyn NodeOps>,
    pub(crate) ctl: Arc<NodeCtl>,
    pub(crate) token: CancellationToken,
}

#[async_trait]
impl NodeOps for HookedNodes {
    async fn node_state(&self, node: &str) -> Result<NodeState, NodeOpsError> {
        self.inner.node_state(node).await
    }

    async fn cordon(&self, node: &str) -> Result<bool, NodeOpsError> {
        if self.ctl.fire(KillPoint::BeforeCordon, &self.token) {
            return park().await;
        }
        self.inner.cordon(node).await
    }

    async fn uncordon(&self, node: &str) -> Result<bool, NodeOpsError> {
        let after_reboot = self.ctl.rebooted();
        if after_reboot && self.ctl.fire(KillPoint::BeforeUncordon, &self.token) {
            return park().await;
        }
        let out = self.inner.uncordon(node).await;
        if out.is_ok() && after_reboot {
            // Killed during the release delay: uncordoned, still holding the lock.
            self.ctl.fire(KillPoint::ReleaseDelay, &self.token);
        }
        out
    }

    async fn add_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError> {
        self.inner.add_prefer_no_schedule_taint(node, key).await
    }

    async fn remove_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError> {
        self.inner.remove_prefer_no_schedule_taint(node, key).await
    }

    async fn add_labels(
        &self,
        node: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError> {
        self.inner.add_labels(node, labels).await
    }

    async fn remove_labels(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError> {
        self.inner.remove_labels(node, keys).await
    }

    async fn add_annotations(
        &self,
        node: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError> {
        self.inner.add_annotations(node, annotations).await
    }

    async fn remove_annotations(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError> {
        self.inner.remove_annotations(node, keys).await
    }
}

/// [`Drainer`] with the mid-drain kill point.
pub(crate) struct HookedDrainer {
    pub(crate) inner: Arc<dyn Drainer>,
    pub(crate) ctl: Arc<NodeCtl>,
    pub(crate) token: CancellationToken,
}

#[async_trait]
impl Drainer for HookedDrainer {
    async fn drain(&self, node: &str) -> Result<DrainReport, DrainError> {
        if self.ctl.pending_point() != Some(KillPoint::MidDrain) {
            return self.inner.drain(node).await;
        }
        tokio::select! {
            out = self.inner.drain(node) => {
                // Finished before the kill: kill right after (still before the reboot).
                if self.ctl.fire(KillPoint::MidDrain, &self.token) {
                    return park().await;
                }
                out
            }
            () = tokio::time::sleep(self.ctl.mid_drain_after) => {
                // Dropping the drain future mid-flight, as a killed process does.
                self.ctl.fire(KillPoint::MidDrain, &self.token);
                park().await
            }
        }
    }
}

/// [`RebootLock`] with the before-lock kill point.
pub(crate) struct HookedLock {
    pub(crate) inner: Arc<dyn RebootLock>,
    pub(crate) ctl: Arc<NodeCtl>,
    pub(crate) token: CancellationToken,
}

#[async_trait]
impl RebootLock for HookedLock {
    async fn acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, LockError> {
        if self.ctl.fire(KillPoint::BeforeLock, &self.token) {
            return park().await;
        }
        self.inner.acquire(holder, metadata).await
    }

    async fn release(&self, holder: &str) -> Result<(), LockError> {
        self.inner.release(holder).await
    }

    async fn holders(&self) -> Result<Vec<LockRecord>, LockError> {
        self.inner.holders().await
    }

    async fn holding(&self, holder: &str) -> Result<Option<LockRecord>, LockError> {
        self.inner.holding(holder).await
    }

    async fn wait_for_change(&self) -> Result<(), LockError> {
        self.inner.wait_for_change().await
    }

    async fn wait_for_slot(&self, holder: &str) -> Result<(), LockError> {
        self.inner.wait_for_slot(holder).await
    }

    async fn rollout(&self) -> Result<RolloutState, LockError> {
        self.inner.rollout().await
    }

    async fn record_failure(
        &self,
        failure: RolloutFailure,
        budget: u32,
    ) -> Result<RolloutState, LockError> {
        self.inner.record_failure(failure, budget).await
    }

    async fn clear_failure(&self, node: &str) -> Result<(), LockError> {
        self.inner.clear_failure(node).await
    }

    async fn resume(&self) -> Result<(), LockError> {
        self.inner.resume().await
    }
}
