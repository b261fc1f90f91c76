//! [`Deps`]: everything the loop touches outside itself, and the one constructor that builds
//! them for a Kubernetes client from their parts ([`Deps::for_client`]). kured-rs, reboot-sim
//! and the tests all build their agents here, so a simulation runs the wiring of the `DaemonSet`.

use std::sync::Arc;

use blockers::{BlockerError, BlockerSpec, RebootBlocker};
use drain::{DrainEngine, DrainEvent, DrainOptions, Drainer, KubeNodeOps, NodeOps};
use events::{KubeNodeEvents, NoEvents, NodeEvent, NodeEvents};
use gate::{GateConfig, GateError, HealthGate};
use lock::{LockConfig, LockError, RebootLock};
use notify::Notifications;
use sentinel::{RebootSentinel, Rebooter};

use crate::attempt::{AttemptGate, KubeAttemptGate};
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
    /// The attempt record on the Node and the health gate.
    pub gate: Arc<dyn AttemptGate>,
    /// Kubernetes Events about the node.
    pub events: Arc<dyn NodeEvents>,
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
    /// The health gate's checks (`None`: no gate; the attempt's boot ID is still recorded).
    pub gate: Option<GateConfig>,
    /// Publish Kubernetes Events as this reporting instance (`None`: no Events).
    pub events: Option<String>,
}

/// The reporting controller of the agent's Events.
pub const EVENT_CONTROLLER: &str = "kured-rs";

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("lock", &self.lock)
            .field("drain", &self.drain)
            .field("blockers", &self.blockers)
            .field("gate", &self.gate)
            .field("events", &self.events)
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
    /// The health gate could not be built.
    #[error("health gate: {0}")]
    Gate(#[from] GateError),
}

impl Deps {
    /// The agent's dependencies over the Kubernetes API through `client` (which should have
    /// kube's `default_retry` off: every part retries by itself), with the system clock.
    /// The drain's reports of a `PodDisruptionBudget` blocking it feed the metric
    /// `kured_drain_pdb_blocked` and a Warning Event.
    pub fn for_client(
        client: &kube::Client,
        parts: Parts,
        metrics: Metrics,
    ) -> Result<Self, DepsError> {
        let events: Arc<dyn NodeEvents> = match &parts.events {
            Some(instance) => Arc::new(KubeNodeEvents::new(
                client.clone(),
                EVENT_CONTROLLER,
                instance,
            )),
            None => Arc::new(NoEvents),
        };
        let gate = match parts.gate {
            Some(config) => Some(HealthGate::for_client(client.clone(), config)?),
            None => None,
        };
        let drainer = DrainEngine::for_client(client.clone(), parts.drain)
            .on_event(drain_event_sink(events.clone(), metrics.clone()));
        Ok(Self {
            nodes: Arc::new(KubeNodeOps::new(client.clone())),
            drainer: Arc::new(drainer),
            lock: parts.lock.build(client.clone())?,
            sentinel: parts.sentinel,
            rebooter: parts.rebooter,
            blockers: Arc::new(parts.blockers.build(client)?),
            notifications: parts.notifications,
            gate: Arc::new(KubeAttemptGate::new(client.clone(), gate)),
            events,
            clock: Arc::new(SystemClock),
            metrics,
        })
    }
}

/// Turns the drain's reports of a `PodDisruptionBudget` blocking it into the metric and a
/// Warning Event about the node being drained (the node of the drain's last `Selected`
/// report; published from a task: the sink must not block).
fn drain_event_sink(
    events: Arc<dyn NodeEvents>,
    metrics: Metrics,
) -> impl Fn(&DrainEvent) + Send + Sync + 'static {
    let draining = std::sync::Mutex::new(String::new());
    move |event| {
        let publish = |event: NodeEvent| {
            let node = draining.lock().map(|n| n.clone()).unwrap_or_default();
            let events = events.clone();
            if !node.is_empty() {
                tokio::spawn(async move { events.publish(&node, event).await });
            }
        };
        match event {
            DrainEvent::Selected { node, .. } => {
                if let Ok(mut n) = draining.lock() {
                    n.clone_from(node);
                }
            }
            DrainEvent::PdbStuck {
                pdbs,
                pods,
                blocked_for,
                ..
            } => {
                let pods: Vec<String> = pods.iter().map(ToString::to_string).collect();
                for pdb in pdbs {
                    metrics.set_pdb_blocked(pdb, pods.len());
                }
                publish(NodeEvent::drain_blocked(pdbs, &pods, *blocked_for));
            }
            DrainEvent::DeletedDespitePdb { pod, .. } => {
                publish(NodeEvent::drain_escalated(&[pod.to_string()]));
            }
            DrainEvent::Finished { .. } => metrics.clear_pdb_blocked(),
            _ => {}
        }
    }
}
