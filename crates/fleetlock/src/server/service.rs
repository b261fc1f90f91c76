//! The FleetLock service: configuration, store, metrics and the optional node handler, with
//! the lock operations behind the endpoints (`pre_reboot`, `steady_state`, `status`).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::ServeError;
use crate::config::ServerConfig;
#[cfg(feature = "kubernetes")]
use crate::kube_nodes::{ClaimCheck, NodeError, NodeHandler, Preparation};
use crate::metrics::Metrics;
use crate::protocol::{ErrorKind, LockRequest, ProtocolError};
#[cfg(feature = "kubernetes")]
use crate::rollout::{Rollout, SteadyOutcome};
use crate::semaphore::{self, AcquireError, Acquired, Released};
use crate::store::{Failure, Gating, Halt, Holder, LockStore, StoreError};

/// The FleetLock service: configuration, store and metrics shared by all handlers.
#[derive(Debug)]
pub struct FleetLock {
    config: ServerConfig,
    store: Arc<dyn LockStore>,
    metrics: Metrics,
    #[cfg(feature = "kubernetes")]
    nodes: Option<Arc<dyn NodeHandler>>,
    #[cfg(feature = "kubernetes")]
    rollout: Option<Rollout>,
    #[cfg(feature = "kubernetes")]
    events: Option<Arc<dyn events::NodeEvents>>,
}

/// `GET /v1/status` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Every configured or stored group.
    pub groups: Vec<GroupStatus>,
}

/// One group in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// Group name.
    pub group: String,
    /// Slots in effect (`None` for a stored group that is no longer configured).
    pub slots: Option<u32>,
    /// Holders, oldest first.
    pub holders: Vec<Holder>,
    /// The halt (who, why, since when), while the group's rollout is halted.
    #[serde(default)]
    pub halt: Option<Halt>,
    /// Failures counted against the budget since the last clear.
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// Holders whose slot is kept while their health gate runs.
    #[serde(default)]
    pub gating: Vec<Gating>,
}

/// `POST /v1/admin/clear-halt` answer: what was cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltCleared {
    /// The group.
    pub group: String,
    /// The halt that stood (`None`: the group was not halted).
    pub halt: Option<Halt>,
    /// The failures that were counted.
    pub failures: Vec<Failure>,
    /// Failed machines whose kept slot was released (their claim ended as an admin release
    /// would end it).
    pub released: Vec<String>,
}

impl FleetLock {
    /// A service over `store`. Validates the configuration.
    pub fn new(config: ServerConfig, store: Arc<dyn LockStore>) -> Result<Self, ServeError> {
        config.validate()?;
        Ok(Self {
            config,
            store,
            metrics: Metrics::new(),
            #[cfg(feature = "kubernetes")]
            nodes: None,
            #[cfg(feature = "kubernetes")]
            rollout: None,
            #[cfg(feature = "kubernetes")]
            events: None,
        })
    }

    /// Publishes Node Events (lock taken, draining, lock released) in Kubernetes mode; the
    /// rollout's Events go through the sink given to [`Rollout::start`].
    #[cfg(feature = "kubernetes")]
    pub fn with_events(mut self, events: Arc<dyn events::NodeEvents>) -> Self {
        self.events = Some(events);
        self
    }

    #[cfg(feature = "kubernetes")]
    async fn publish(&self, node: &str, event: events::NodeEvent) {
        if let Some(sink) = &self.events {
            sink.publish(node, event).await;
        }
    }

    /// Enables the health gate and stop-the-line (Kubernetes mode; see [`crate::rollout`]).
    #[cfg(feature = "kubernetes")]
    pub fn with_rollout(mut self, rollout: Rollout) -> Self {
        self.rollout = Some(rollout);
        self
    }

    /// Stops background work (the rollout's supervisor and health gates); the server calls it
    /// when it stops serving.
    pub fn stop_background(&self) {
        #[cfg(feature = "kubernetes")]
        if let Some(r) = &self.rollout {
            r.stop();
        }
    }

    /// Enables Kubernetes node handling (cordon + drain before granting, uncordon after).
    #[cfg(feature = "kubernetes")]
    pub fn with_node_handler(mut self, nodes: Arc<dyn NodeHandler>) -> Self {
        self.nodes = Some(nodes);
        self
    }

    #[cfg(feature = "kubernetes")]
    fn node_for(&self, id: &str) -> Result<Option<String>, ProtocolError> {
        match &self.nodes {
            None => Ok(None),
            Some(h) => h.lookup(id).map_err(|e| node_error(&e)),
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The metrics (e.g. to hand the drain histogram to a node handler).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn LockStore> {
        &self.store
    }

    fn slots(&self, group: &str) -> Result<u32, ProtocolError> {
        self.config.slots_for(group).ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::UnknownGroup,
                format!("group {group:?} is not configured on this server"),
            )
        })
    }

    /// Runs `f`, answering [`ErrorKind::StoreUnavailable`] if it takes longer than the
    /// configured request timeout.
    async fn bounded<T>(
        &self,
        f: impl Future<Output = Result<T, ProtocolError>>,
    ) -> Result<T, ProtocolError> {
        tokio::time::timeout(self.config.request_timeout, f)
            .await
            .unwrap_or_else(|_| {
                Err(ProtocolError::new(
                    ErrorKind::StoreUnavailable,
                    format!(
                        "lock store did not answer within {:?}",
                        self.config.request_timeout
                    ),
                ))
            })
    }

    /// The lock operation behind `POST /v1/pre-reboot`. In Kubernetes mode a node's slot is
    /// only reported granted once the node is cordoned and drained.
    pub async fn pre_reboot(&self, req: &LockRequest) -> Result<Acquired, ProtocolError> {
        let p = &req.client_params;
        let slots = self.slots(&p.group)?;
        #[cfg(feature = "kubernetes")]
        let node = self.node_for(&p.id)?;
        self.bounded(async {
            let acquired = semaphore::acquire(self.store.as_ref(), &p.group, &p.id, slots)
                .await
                .map_err(|e| match e {
                    AcquireError::Full { .. } => {
                        ProtocolError::new(ErrorKind::SemaphoreFull, e.to_string())
                    }
                    AcquireError::Halted { .. } => {
                        ProtocolError::new(ErrorKind::RolloutHalted, e.to_string())
                    }
                    AcquireError::Store(e) => store_error(&e),
                })?;
            #[cfg(feature = "kubernetes")]
            if let (Some(handler), Some(node)) = (&self.nodes, node) {
                if let Some(r) = &self.rollout {
                    r.before_prepare(&p.group, &p.id, &node, acquired)
                        .await
                        .map_err(|e| node_error(&e))?;
                }
                if acquired == Acquired::Granted {
                    self.publish(&node, events::NodeEvent::lock_taken()).await;
                    self.publish(&node, events::NodeEvent::draining()).await;
                }
                let claim = Arc::new(SlotClaim {
                    store: Arc::clone(&self.store),
                    group: p.group.clone(),
                    id: p.id.clone(),
                });
                match handler.prepare(&p.id, &node, claim).await {
                    Ok(Preparation::Ready) => {
                        if let Some(r) = &self.rollout {
                            r.granted(&node).await.map_err(|e| node_error(&e))?;
                        }
                    }
                    Ok(Preparation::NotANode) => {}
                    Ok(Preparation::Draining(msg)) => {
                        return Err(ProtocolError::new(ErrorKind::DrainInProgress, msg));
                    }
                    Ok(Preparation::DrainFailed(msg)) => {
                        return Err(ProtocolError::new(ErrorKind::DrainFailed, msg));
                    }
                    Err(e) => return Err(node_error(&e)),
                }
            }
            Ok(acquired)
        })
        .await
    }

    /// The unlock operation behind `POST /v1/steady-state`. With the health gate (Kubernetes
    /// mode), a node that rebooted is uncordoned and answered at once while its slot is kept
    /// until the gate passes ([`Released::KeptForGate`]).
    pub async fn steady_state(&self, req: &LockRequest) -> Result<Released, ProtocolError> {
        let p = &req.client_params;
        self.slots(&p.group)?;
        #[cfg(feature = "kubernetes")]
        if let Some(r) = &self.rollout
            && let Some(node) = self.node_for(&p.id)?
        {
            let outcome = self
                .bounded(async {
                    r.steady_state(&p.group, &p.id, &node)
                        .await
                        .map_err(|e| node_error(&e))
                })
                .await?;
            match outcome {
                SteadyOutcome::KeptForGate => return Ok(Released::KeptForGate),
                SteadyOutcome::KeptWhileHalted => return Ok(Released::KeptWhileHalted),
                SteadyOutcome::Release => {}
            }
        }
        self.end_claim(&p.group, &p.id).await
    }

    /// The operation behind `POST /v1/admin/clear-halt`: clears `group`'s halt and failures,
    /// and ends the claims of failed machines that still hold a slot (as
    /// [`Self::admin_release`] would).
    pub async fn clear_halt(&self, group: &str) -> Result<HaltCleared, ProtocolError> {
        let known = self.config.slots_for(group).is_some()
            || self
                .store
                .groups()
                .await
                .map_err(|e| store_error(&e))?
                .iter()
                .any(|g| g == group);
        if !known {
            return Err(ProtocolError::new(
                ErrorKind::UnknownGroup,
                format!("group {group:?} is neither configured nor stored"),
            ));
        }
        let cleared = self
            .bounded(async {
                crate::halt::clear_halt(self.store.as_ref(), group)
                    .await
                    .map_err(|e| store_error(&e))
            })
            .await?;
        let mut released = Vec::new();
        for failure in &cleared.failures {
            if self.end_claim(group, &failure.id).await? == Released::Released {
                released.push(failure.id.clone());
            }
        }
        Ok(HaltCleared {
            group: group.to_owned(),
            halt: cleared.halt,
            failures: cleared.failures,
            released,
        })
    }

    /// The operation behind `POST /v1/admin/release`: ends `id`'s claim as its steady-state
    /// would (its drain stopped, its node uncordoned if we cordoned it), in any group.
    pub async fn admin_release(&self, group: &str, id: &str) -> Result<Released, ProtocolError> {
        self.end_claim(group, id).await
    }

    /// Ends `id`'s claim in `group`: in Kubernetes mode its drain is stopped (on whichever
    /// replica runs it) and the node marks undone first — if that fails, the slot stays held
    /// and a retry finds everything as it was — then the slot is released.
    async fn end_claim(&self, group: &str, id: &str) -> Result<Released, ProtocolError> {
        #[cfg(feature = "kubernetes")]
        let node = self.node_for(id)?;
        self.bounded(async {
            #[cfg(feature = "kubernetes")]
            if let (Some(handler), Some(node)) = (&self.nodes, &node) {
                handler.finish(node).await.map_err(|e| node_error(&e))?;
            }
            let released = semaphore::release(self.store.as_ref(), group, id)
                .await
                .map_err(|e| store_error(&e))?;
            #[cfg(feature = "kubernetes")]
            if let (Some(r), Some(node)) = (&self.rollout, &node) {
                r.claim_ended(group, id, node).await;
            }
            #[cfg(feature = "kubernetes")]
            if let (Released::Released, Some(node)) = (released, &node) {
                self.publish(node, events::NodeEvent::lock_released()).await;
            }
            Ok(released)
        })
        .await
    }

    /// Who holds which slot.
    pub async fn status(&self) -> Result<Status, StoreError> {
        let mut names: BTreeSet<String> = self.config.groups.keys().cloned().collect();
        names.extend(self.store.groups().await?);
        let mut groups = Vec::with_capacity(names.len());
        for group in names {
            let state = self.store.get(&group).await?.state;
            groups.push(GroupStatus {
                slots: self.config.slots_for(&group),
                holders: state.holders,
                halt: state.halt,
                failures: state.failures,
                gating: state.gating,
                group,
            });
        }
        Ok(Status { groups })
    }
}

/// A drain's claim: `id` holds a slot of `group` in the store.
#[cfg(feature = "kubernetes")]
struct SlotClaim {
    store: Arc<dyn LockStore>,
    group: String,
    id: String,
}

#[cfg(feature = "kubernetes")]
#[async_trait::async_trait]
impl ClaimCheck for SlotClaim {
    async fn holds(&self) -> Result<bool, String> {
        self.store
            .get(&self.group)
            .await
            .map(|v| v.state.holds(&self.id))
            .map_err(|e| e.to_string())
    }
}

/// A store failure as the protocol answers it (logged: the operator needs to see it).
pub(super) fn store_error(e: &StoreError) -> ProtocolError {
    tracing::warn!(error = %e, "lock store failure");
    ProtocolError::new(ErrorKind::StoreUnavailable, e.to_string())
}

/// A node-side refusal or failure as the protocol answers it.
#[cfg(feature = "kubernetes")]
fn node_error(e: &NodeError) -> ProtocolError {
    match e {
        NodeError::Ambiguous(_) => ProtocolError::new(ErrorKind::NodeAmbiguous, e.to_string()),
        NodeError::PdbBlocked { .. } => ProtocolError::new(ErrorKind::PdbBlocked, e.to_string()),
        NodeError::NotReady { .. } => ProtocolError::new(ErrorKind::NodeNotReady, e.to_string()),
        NodeError::Api(_) => {
            tracing::warn!(error = %e, "kubernetes failure");
            ProtocolError::new(ErrorKind::KubernetesUnavailable, e.to_string())
        }
    }
}
