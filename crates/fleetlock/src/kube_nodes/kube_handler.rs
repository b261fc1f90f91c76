//! [`KubeNodeHandler`], the real [`NodeHandler`]: cordon, annotate and drain a node (in the
//! background) before its reboot is granted; uncordon it at steady-state if we cordoned it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drain::{Drainer, NodeOps};
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};

use super::annotations::{ANNOTATION_HOLDER, ANNOTATION_SEED_STATUS, ANNOTATION_WAS_UNSCHEDULABLE};
use super::cache::NodeCache;
use super::node_handler::{NodeError, NodeHandler, Preparation, api_err, api_message};
use super::progress::DrainProgress;
use crate::metrics::{DrainHistogram, DrainLabels};

#[derive(Debug, Clone)]
enum DrainState {
    Running,
    Done,
    Failed(String),
}

/// The real [`NodeHandler`]: crates/drain's `NodeOps` and `Drainer` over a [`NodeCache`].
pub struct KubeNodeHandler {
    cache: NodeCache,
    nodes: Api<Node>,
    ops: Arc<dyn NodeOps>,
    drainer: Arc<dyn Drainer>,
    drains: Arc<Mutex<HashMap<String, DrainState>>>,
    drain_metrics: Option<DrainHistogram>,
    progress: Option<DrainProgress>,
    seed_annotations: bool,
}

impl std::fmt::Debug for KubeNodeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeHandler")
            .field("cache", &self.cache)
            .field("seed_annotations", &self.seed_annotations)
            .finish_non_exhaustive()
    }
}

impl KubeNodeHandler {
    /// A handler using `ops` to cordon/annotate and `drainer` to evict.
    pub fn new(
        client: Client,
        cache: NodeCache,
        ops: Arc<dyn NodeOps>,
        drainer: Arc<dyn Drainer>,
    ) -> Self {
        Self {
            cache,
            nodes: Api::all(client),
            ops,
            drainer,
            drains: Arc::default(),
            drain_metrics: None,
            progress: None,
            seed_annotations: false,
        }
    }

    /// Records each drain's duration in `histogram` (see [`crate::metrics::Metrics::drains`]).
    pub fn with_drain_metrics(mut self, histogram: DrainHistogram) -> Self {
        self.drain_metrics = Some(histogram);
        self
    }

    /// Reports drain progress and PodDisruptionBudget refusals from `progress`, which must
    /// be fed by the drainer's events ([`DrainProgress::sink`]).
    pub fn with_progress(mut self, progress: DrainProgress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Maintains the original reboot manager's [`ANNOTATION_SEED_STATUS`] annotation:
    /// `Rebooting` when a node is cordoned for its reboot, `Ready` at its steady-state.
    pub fn with_seed_annotations(mut self, on: bool) -> Self {
        self.seed_annotations = on;
        self
    }

    /// The node cache.
    pub fn cache(&self) -> &NodeCache {
        &self.cache
    }

    fn drains(&self) -> std::sync::MutexGuard<'_, HashMap<String, DrainState>> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.drains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn spawn_drain(&self, node: &str) {
        self.drains().insert(node.to_owned(), DrainState::Running);
        let drainer = Arc::clone(&self.drainer);
        let drains = Arc::clone(&self.drains);
        let metrics = self.drain_metrics.clone();
        let node = node.to_owned();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = drainer.drain(&node).await;
            if let Some(m) = &metrics {
                let result = if result.is_ok() { "ok" } else { "failed" };
                m.get_or_create(&DrainLabels { result })
                    .observe(started.elapsed().as_secs_f64());
            }
            let state = match result {
                Ok(report) => {
                    tracing::info!(%node, evicted = report.evicted.len(), elapsed = ?started.elapsed(), "node drained");
                    DrainState::Done
                }
                Err(e) => {
                    tracing::warn!(%node, error = %e, "drain failed");
                    DrainState::Failed(e.to_string())
                }
            };
            drains
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(node, state);
        });
    }

    /// The answer while `node`'s drain runs: progress, or the PDB refusal.
    fn running(&self, node: &str) -> Result<Preparation, NodeError> {
        let Some(progress) = self.progress.as_ref().and_then(|p| p.get(node)) else {
            return Ok(Preparation::Draining(format!(
                "node {node} is being drained; ask again later"
            )));
        };
        if let Some((pod, message)) = progress.blocked.iter().next() {
            return Err(NodeError::PdbBlocked {
                node: node.to_owned(),
                pod: pod.clone(),
                message: message.clone(),
                progress: progress.to_string(),
            });
        }
        Ok(Preparation::Draining(format!(
            "node {node} is being drained: {progress}; ask again later"
        )))
    }
}

#[async_trait]
impl NodeHandler for KubeNodeHandler {
    fn lookup(&self, id: &str) -> Result<Option<String>, NodeError> {
        Ok(self.cache.lookup(id)?)
    }

    async fn prepare(&self, id: &str, node: &str) -> Result<Preparation, NodeError> {
        let state = self.drains().get(node).cloned();
        match state {
            Some(DrainState::Running) => return self.running(node),
            Some(DrainState::Done) => {
                // Another replica may have finished this cycle (steady-state) since: only trust
                // our memory while the node still carries the marks for this holder.
                if self.cache.marked_for(node, id) {
                    return Ok(Preparation::Ready);
                }
                self.drains().remove(node);
            }
            Some(DrainState::Failed(msg)) => {
                if let Some(condition) = self.cache.not_ready(node) {
                    return Err(NodeError::NotReady {
                        node: node.to_owned(),
                        condition,
                    });
                }
                // Retry on this request; report the failure meanwhile.
                self.spawn_drain(node);
                return Ok(Preparation::DrainFailed(format!(
                    "drain of node {node} failed, retrying: {msg}"
                )));
            }
            None => {}
        }
        if let Some(condition) = self.cache.not_ready(node) {
            return Err(NodeError::NotReady {
                node: node.to_owned(),
                condition,
            });
        }
        let current = self
            .nodes
            .get(node)
            .await
            .map_err(|e| NodeError::Api(api_message(&e)))?;
        let annotations = current.metadata.annotations.as_ref();
        let annotated = annotations.is_some_and(|a| a.contains_key(ANNOTATION_WAS_UNSCHEDULABLE));
        let mut marks = BTreeMap::new();
        if !annotated {
            let was = current
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            marks.insert(ANNOTATION_WAS_UNSCHEDULABLE.to_owned(), was.to_string());
            marks.insert(ANNOTATION_HOLDER.to_owned(), id.to_owned());
        }
        if self.seed_annotations
            && annotations
                .and_then(|a| a.get(ANNOTATION_SEED_STATUS))
                .map(String::as_str)
                != Some("Rebooting")
        {
            marks.insert(ANNOTATION_SEED_STATUS.to_owned(), "Rebooting".to_owned());
        }
        if !marks.is_empty() {
            self.ops
                .add_annotations(node, &marks)
                .await
                .map_err(api_err)?;
        }
        self.ops.cordon(node).await.map_err(api_err)?;
        if let Some(p) = &self.progress {
            p.forget(node);
        }
        self.spawn_drain(node);
        Ok(Preparation::Draining(format!(
            "node {node} cordoned, drain started; ask again later"
        )))
    }

    async fn finish(&self, node: &str) -> Result<(), NodeError> {
        // Metadata only: the marks are all we need, and the answer is much smaller.
        let Some(current) = self
            .nodes
            .get_metadata_opt(node)
            .await
            .map_err(|e| NodeError::Api(api_message(&e)))?
        else {
            self.drains().remove(node);
            return Ok(());
        };
        let annotations = current.metadata.annotations.unwrap_or_default();
        if let Some(was) = annotations.get(ANNOTATION_WAS_UNSCHEDULABLE) {
            if was == "false" {
                self.ops.uncordon(node).await.map_err(api_err)?;
            }
            self.ops
                .remove_annotations(
                    node,
                    &[
                        ANNOTATION_WAS_UNSCHEDULABLE.to_owned(),
                        ANNOTATION_HOLDER.to_owned(),
                    ],
                )
                .await
                .map_err(api_err)?;
        }
        if self.seed_annotations
            && annotations.get(ANNOTATION_SEED_STATUS).map(String::as_str) != Some("Ready")
        {
            let ready = BTreeMap::from([(ANNOTATION_SEED_STATUS.to_owned(), "Ready".to_owned())]);
            self.ops
                .add_annotations(node, &ready)
                .await
                .map_err(api_err)?;
        }
        self.drains().remove(node);
        if let Some(p) = &self.progress {
            p.forget(node);
        }
        Ok(())
    }
}
