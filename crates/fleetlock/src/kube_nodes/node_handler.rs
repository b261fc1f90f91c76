//! The seam between the FleetLock server and the cluster: [`NodeHandler`], what it answers
//! ([`Preparation`], [`NodeError`]) and the `kind`s of its refusals.

use async_trait::async_trait;

use crate::node_id::LookupError;

/// The `kind` answered while a PodDisruptionBudget refuses an eviction (the drain keeps
/// retrying in the background; the value names the budget, the pod and the progress).
pub const PDB_BLOCKED_KIND: &str = "failed_pdb_blocked";
/// The `kind` answered for a node whose `Ready` condition is not `True` (it is not drained).
pub const NODE_NOT_READY_KIND: &str = "failed_node_not_ready";

/// What the node side says about a pre-reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// The id maps to no node: a plain fleet machine, the semaphore alone decides.
    NotANode,
    /// The node is cordoned and drained: the reboot may go ahead.
    Ready,
    /// The node is being drained; ask again later. The text reports the progress.
    Draining(String),
    /// The last drain attempt failed (e.g. refused pods); it is retried on the next request.
    DrainFailed(String),
}

/// Node-side failures and refusals.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The id matches several nodes.
    #[error(transparent)]
    Ambiguous(#[from] LookupError),
    /// A Kubernetes call failed (the text is the API's error, naming verb and resource).
    #[error("kubernetes: {0}")]
    Api(String),
    /// The node's `Ready` condition is not `True`: it is not cordoned or drained.
    #[error(
        "node {node} is not Ready ({condition}): fleetlock-rs does not drain a node whose kubelet is down; ask again once it is Ready, or delete the Node to handle this machine without Kubernetes"
    )]
    NotReady {
        /// The node.
        node: String,
        /// The condition's status, reason and message.
        condition: String,
    },
    /// A PodDisruptionBudget refuses evicting a pod of the node; the drain keeps retrying.
    #[error(
        "node {node} is being drained but blocked by a PodDisruptionBudget: pod {pod}: {message}; {progress}"
    )]
    PdbBlocked {
        /// The node.
        node: String,
        /// The refused pod (`namespace/name`).
        pod: String,
        /// The API server's refusal (it names the budget).
        message: String,
        /// Drain progress so far.
        progress: String,
    },
}

/// Whether the holder a drain runs for still holds its slot (asked on every heartbeat of the
/// drain: a slot that went away stops the drain).
#[async_trait]
pub trait ClaimCheck: Send + Sync {
    /// `Ok(false)` when the slot is no longer held; an error keeps the drain going.
    async fn holds(&self) -> Result<bool, String>;
}

/// The seam between the FleetLock server and the cluster.
#[async_trait]
pub trait NodeHandler: Send + Sync + std::fmt::Debug {
    /// Which node `id` names (`None`: not a node).
    fn lookup(&self, id: &str) -> Result<Option<String>, NodeError>;
    /// Called after `id` got (or already held) its slot: cordon + drain, report progress. The
    /// drain stops as soon as `claim` says the slot is gone.
    async fn prepare(
        &self,
        id: &str,
        node: &str,
        claim: std::sync::Arc<dyn ClaimCheck>,
    ) -> Result<Preparation, NodeError>;
    /// Called when a holder's claim ends (steady-state, admin release), before its slot is
    /// released: stops the node's drain (on whichever replica runs it) and then undoes what
    /// `prepare` did. No eviction for the node is sent after this returns.
    async fn finish(&self, node: &str) -> Result<(), NodeError>;
}

/// A Kubernetes client error as an operator reads it: for an API answer, the server's message
/// (which names the verb and resource of a 403) with code and reason, not the `Status` dump.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} ({} {})", s.message, s.code, s.reason)
        }
        other => other.to_string(),
    }
}
