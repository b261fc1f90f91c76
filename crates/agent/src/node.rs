//! Reading the agent's own Node (the writes go through [`drain::NodeOps`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

/// What the loop needs to know about its Node before taking the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// `spec.unschedulable`: cordoned (by an admin, if we do not hold the lock).
    pub unschedulable: bool,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// Reads a Node.
#[async_trait]
pub trait NodeReader: Send + Sync {
    /// The state of `node`.
    async fn node_state(&self, node: &str) -> Result<NodeState, kube::Error>;
}

/// [`NodeReader`] over the Kubernetes API (one `GET`).
#[derive(Clone)]
pub struct KubeNodeReader {
    nodes: Api<Node>,
}

impl std::fmt::Debug for KubeNodeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeReader").finish_non_exhaustive()
    }
}

impl KubeNodeReader {
    /// A reader using `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            nodes: Api::all(client),
        }
    }
}

#[async_trait]
impl NodeReader for KubeNodeReader {
    async fn node_state(&self, node: &str) -> Result<NodeState, kube::Error> {
        let n = self.nodes.get(node).await?;
        Ok(NodeState {
            unschedulable: n.spec.and_then(|s| s.unschedulable).unwrap_or(false),
            annotations: n.metadata.annotations.unwrap_or_default(),
        })
    }
}
