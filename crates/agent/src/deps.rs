//! [`Deps`]: everything the loop touches outside itself, and the one constructor that builds
//! them for a Kubernetes client from their parts ([`Deps::for_client`]). kured-rs, reboot-sim
//! and the tests all build their agents here, so a simulation runs the wiring of the `DaemonSet`.

use std::sync::Arc;

use blockers::{BlockerError, BlockerSpec, RebootBlocker};
use drain::{DrainEngine, DrainOptions, Drainer, KubeNodeOps, NodeOps};
use lock::{LockConfig, LockError, RebootLock};
use notify::Notifications;
use sentinel::{RebootSentinel, Rebooter};

use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;

/// Everything the loop touches outside itself.
#[derive(Clone)]
pub struct Deps {
    /// The Node: its state, cordon, taint, labels, annotations.
    pub nodes: Arc<dyn NodeOps>,
    /// Drains the node.
    pub drainer: Arc<dyn Drainer>,
    /// The cluster reboot lock.
    pub lock: Arc<dyn RebootLock>,
    /// "Is a reboot required?"
    pub sentinel: Arc<dyn RebootSentinel>,
    /// "Reboot now."
    pub rebooter: Arc<dyn Rebooter>,
    /// Reasons not to reboot now (usually a `CompositeBlocker`).
    pub blockers: Arc<dyn RebootBlocker>,
    /// Notifications (`None`: none configured).
    pub notifications: Option<Notifications>,
    /// Now and sleeping.
    pub clock: Arc<dyn Clock>,
    /// Metrics to update.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// The parts of an agent that are configuration or the host, not the cluster: what
/// [`Deps::for_client`] turns into [`Deps`].
#[derive(Clone)]
pub struct Parts {
    /// The reboot lock (backend, object, concurrency, TTL…).
    pub lock: LockConfig,
    /// How the node is drained.
    pub drain: DrainOptions,
    /// Which blockers run.
    pub blockers: BlockerSpec,
    /// "Is a reboot required?" (host side).
    pub sentinel: Arc<dyn RebootSentinel>,
    /// "Reboot now." (host side).
    pub rebooter: Arc<dyn Rebooter>,
    /// Notifications (`None`: none configured).
    pub notifications: Option<Notifications>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("lock", &self.lock)
            .field("drain", &self.drain)
            .field("blockers", &self.blockers)
            .finish_non_exhaustive()
    }
}

/// A part that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    /// The lock configuration is invalid.
    #[error("reboot lock: {0}")]
    Lock(#[from] LockError),
    /// A blocker could not be built.
    #[error("blockers: {0}")]
    Blockers(#[from] BlockerError),
}

impl Deps {
    /// The agent's dependencies over the Kubernetes API through `client` (which should have
    /// kube's `default_retry` off: every part retries by itself), with the system clock.
    pub fn for_client(
        client: &kube::Client,
        parts: Parts,
        metrics: Metrics,
    ) -> Result<Self, DepsError> {
        Ok(Self {
            nodes: Arc::new(KubeNodeOps::new(client.clone())),
            drainer: Arc::new(DrainEngine::for_client(client.clone(), parts.drain)),
            lock: parts.lock.build(client.clone())?,
            sentinel: parts.sentinel,
            rebooter: parts.rebooter,
            blockers: Arc::new(parts.blockers.build(client)?),
            notifications: parts.notifications,
            clock: Arc::new(SystemClock),
            metrics,
        })
    }
}
