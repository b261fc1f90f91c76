//! The one seam that owns the Node: reading its state, cordon, taints, labels and annotations
//! ([`NodeOps`], [`KubeNodeOps`]).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::error::{NodeOpsError, kube_error_code};

/// The effect of the taint kured puts on a node it is about to reboot.
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// What the reboot loop needs to know about its Node before taking the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// `spec.unschedulable`: cordoned (by an admin, if we do not hold the lock).
    pub unschedulable: bool,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// The `Ready` condition is `True`.
    pub ready: bool,
}

/// Everything the reboot loop reads from and does to a Node object.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait NodeOps: Send + Sync {
    /// Reads the node's state (one `GET`).
    async fn node_state(&self, node: &str) -> Result<NodeState, NodeOpsError>;

    /// Marks the node unschedulable. Returns whether it already was (an admin cordon the
    /// caller should leave in place after the reboot); nothing is written in that case.
    async fn cordon(&self, node: &str) -> Result<bool, NodeOpsError>;

    /// Marks the node schedulable. Returns whether it was unschedulable before.
    async fn uncordon(&self, node: &str) -> Result<bool, NodeOpsError>;

    /// Adds a `PreferNoSchedule` taint with `key` (no value). Returns whether it was added
    /// (`false`: it was already there). Safe under concurrent writers.
    async fn add_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError>;

    /// Removes the `PreferNoSchedule` taint with `key`. Returns whether one was removed.
    async fn remove_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError>;

    /// Sets labels (overwriting existing values).
    async fn add_labels(
        &self,
        node: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError>;

    /// Removes labels by key (absent keys are fine).
    async fn remove_labels(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError>;

    /// Sets annotations (overwriting existing values).
    async fn add_annotations(
        &self,
        node: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError>;

    /// Removes annotations by key (absent keys are fine).
    async fn remove_annotations(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError>;
}

/// [`NodeOps`] over the Kubernetes API.
///
/// - cordon/uncordon: `GET` the node, then (only if it changes anything) a strategic merge
///   patch of `spec.unschedulable`, as `kubectl cordon` does;
/// - taints: `spec.taints` has no merge key (any patch replaces the whole list), so the node is
///   read, the list edited, and written back with the read `metadata.resourceVersion`; a `409`
///   (another writer got in between) re-reads and tries again, up to `max_conflict_retries`;
/// - labels/annotations: one JSON merge patch (`null` removes a key).
#[derive(Clone)]
pub struct KubeNodeOps {
    nodes: Api<Node>,
    max_conflict_retries: u32,
}

impl std::fmt::Debug for KubeNodeOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeOps")
            .field("max_conflict_retries", &self.max_conflict_retries)
            .finish_non_exhaustive()
    }
}

impl KubeNodeOps {
    /// Node operations through `client` (20 conflict retries).
    pub fn new(client: kube::Client) -> Self {
        Self {
            nodes: Api::all(client),
            max_conflict_retries: 20,
        }
    }

    /// How many times a conflicting taint write is retried.
    pub fn max_conflict_retries(mut self, n: u32) -> Self {
        self.max_conflict_retries = n;
        self
    }

    fn api_err(node: &str, action: &str, source: kube::Error) -> NodeOpsError {
        NodeOpsError::Api {
            node: node.to_string(),
            action: action.to_string(),
            source,
        }
    }

    async fn get(&self, node: &str, action: &str) -> Result<Node, NodeOpsError> {
        self.nodes
            .get(node)
            .await
            .map_err(|e| Self::api_err(node, action, e))
    }

    async fn set_unschedulable(&self, node: &str, on: bool) -> Result<bool, NodeOpsError> {
        let action = if on { "cordon" } else { "uncordon" };
        let current = self.get(node, action).await?;
        let was = current
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if was == on {
            tracing::debug!(node, "{action}: nothing to do");
            return Ok(was);
        }
        let value = if on { json!(true) } else { Value::Null };
        let patch = json!({"spec": {"unschedulable": value}});
        self.nodes
            .patch(node, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(|e| Self::api_err(node, action, e))?;
        tracing::info!(node, "{action}ed");
        Ok(was)
    }

    /// Read-modify-write of `spec.taints` with the read resourceVersion; `edit` returns the new
    /// list, or `None` when nothing needs to change.
    async fn edit_taints(
        &self,
        node: &str,
        action: &str,
        edit: impl Fn(&[Taint]) -> Option<Vec<Taint>> + Send + Sync,
    ) -> Result<bool, NodeOpsError> {
        let mut attempts = 0;
        loop {
            let current = self.get(node, action).await?;
            let taints = current
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let Some(new) = edit(&taints) else {
                return Ok(false);
            };
            let rv = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            let list = if new.is_empty() {
                Value::Null
            } else {
                serde_json::to_value(&new)
                    .map_err(|e| Self::api_err(node, action, kube::Error::SerdeError(e)))?
            };
            let patch = json!({"metadata": {"resourceVersion": rv}, "spec": {"taints": list}});
            attempts += 1;
            match self
                .nodes
                .patch(node, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => {
                    tracing::info!(node, attempts, "{action}");
                    return Ok(true);
                }
                Err(e) if kube_error_code(&e) == Some(409) => {
                    if attempts > self.max_conflict_retries {
                        return Err(NodeOpsError::Conflict {
                            node: node.to_string(),
                            action: action.to_string(),
                            attempts,
                        });
                    }
                    tracing::debug!(node, attempts, "{action}: conflict, re-reading");
                    let ms = 5 + fastrand::u64(0..20 * u64::from(attempts.min(10)));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => return Err(Self::api_err(node, action, e)),
            }
        }
    }

    async fn merge_metadata(
        &self,
        node: &str,
        field: &str,
        values: Value,
    ) -> Result<(), NodeOpsError> {
        let action = format!("update {field}");
        let patch = json!({"metadata": {field: values}});
        self.nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Self::api_err(node, &action, e))?;
        Ok(())
    }
}

fn is_prefer_no_schedule(t: &Taint, key: &str) -> bool {
    t.key == key && t.effect == PREFER_NO_SCHEDULE
}

fn set_map(values: &BTreeMap<String, String>) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn null_map(keys: &[String]) -> Value {
    Value::Object(keys.iter().map(|k| (k.clone(), Value::Null)).collect())
}

#[async_trait]
impl NodeOps for KubeNodeOps {
    async fn node_state(&self, node: &str) -> Result<NodeState, NodeOpsError> {
        let n = self.get(node, "read").await?;
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        Ok(NodeState {
            unschedulable: n.spec.and_then(|s| s.unschedulable).unwrap_or(false),
            annotations: n.metadata.annotations.unwrap_or_default(),
            ready,
        })
    }

    async fn cordon(&self, node: &str) -> Result<bool, NodeOpsError> {
        self.set_unschedulable(node, true).await
    }

    async fn uncordon(&self, node: &str) -> Result<bool, NodeOpsError> {
        self.set_unschedulable(node, false).await
    }

    async fn add_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError> {
        let action = format!("add taint {key}:{PREFER_NO_SCHEDULE}");
        self.edit_taints(node, &action, |taints| {
            if taints.iter().any(|t| is_prefer_no_schedule(t, key)) {
                return None;
            }
            let mut new = taints.to_vec();
            new.push(Taint {
                key: key.to_string(),
                effect: PREFER_NO_SCHEDULE.to_string(),
                value: None,
                time_added: None,
            });
            Some(new)
        })
        .await
    }

    async fn remove_prefer_no_schedule_taint(
        &self,
        node: &str,
        key: &str,
    ) -> Result<bool, NodeOpsError> {
        let action = format!("remove taint {key}:{PREFER_NO_SCHEDULE}");
        self.edit_taints(node, &action, |taints| {
            let new: Vec<Taint> = taints
                .iter()
                .filter(|t| !is_prefer_no_schedule(t, key))
                .cloned()
                .collect();
            (new.len() != taints.len()).then_some(new)
        })
        .await
    }

    async fn add_labels(
        &self,
        node: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError> {
        if labels.is_empty() {
            return Ok(());
        }
        self.merge_metadata(node, "labels", set_map(labels)).await
    }

    async fn remove_labels(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.merge_metadata(node, "labels", null_map(keys)).await
    }

    async fn add_annotations(
        &self,
        node: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), NodeOpsError> {
        if annotations.is_empty() {
            return Ok(());
        }
        self.merge_metadata(node, "annotations", set_map(annotations))
            .await
    }

    async fn remove_annotations(&self, node: &str, keys: &[String]) -> Result<(), NodeOpsError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.merge_metadata(node, "annotations", null_map(keys))
            .await
    }
}
