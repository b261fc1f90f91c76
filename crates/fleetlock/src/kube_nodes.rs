//! Kubernetes mode: map FleetLock ids to Nodes from a watch-fed cache, cordon and drain a node
//! before its reboot is granted, uncordon it after (only if we cordoned it).
//!
//! The drain runs in a background task: `pre-reboot` never waits for it, it answers
//! `drain_in_progress` (non-2xx) until the drain has finished, so every answer is fast and
//! Zincati simply asks again. What we did to a node is recorded in annotations on the node
//! itself ([`ANNOTATION_WAS_UNSCHEDULABLE`], [`ANNOTATION_HOLDER`]), so a restarted or another
//! replica knows whether to uncordon.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drain::{Drainer, NodeOps};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::metrics::{DrainHistogram, DrainLabels};
use crate::node_id::{LookupError, NodeIdentity, NodeIndex};

/// Annotation holding `true`/`false`: was the node unschedulable before we cordoned it?
/// Its presence also means "fleetlock-rs is preparing this node for a reboot".
pub const ANNOTATION_WAS_UNSCHEDULABLE: &str = "fleetlock-rs.kured-rs.dev/was-unschedulable";
/// Annotation holding the FleetLock id that holds the reboot slot for this node.
pub const ANNOTATION_HOLDER: &str = "fleetlock-rs.kured-rs.dev/holder";

/// What the node side says about a pre-reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// The id maps to no node: a plain fleet machine, the semaphore alone decides.
    NotANode,
    /// The node is cordoned and drained: the reboot may go ahead.
    Ready,
    /// The node is being drained; ask again later.
    Draining(String),
    /// The last drain attempt failed (e.g. refused pods); it is retried on the next request.
    DrainFailed(String),
}

/// Node-side failures.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The id matches several nodes.
    #[error(transparent)]
    Ambiguous(#[from] LookupError),
    /// A Kubernetes call failed.
    #[error("kubernetes: {0}")]
    Api(String),
}

/// The seam between the FleetLock server and the cluster.
#[async_trait]
pub trait NodeHandler: Send + Sync + std::fmt::Debug {
    /// Which node `id` names (`None`: not a node).
    fn lookup(&self, id: &str) -> Result<Option<String>, NodeError>;
    /// Called after `id` got (or already held) its slot: cordon + drain, report progress.
    async fn prepare(&self, id: &str, node: &str) -> Result<Preparation, NodeError>;
    /// Called on steady-state before the slot is released: undo what `prepare` did.
    async fn finish(&self, node: &str) -> Result<(), NodeError>;
}

#[derive(Debug, Clone)]
enum DrainState {
    Running,
    Done,
    Failed(String),
}

/// A watch-fed node cache with a lazily rebuilt [`NodeIndex`].
#[derive(Clone)]
pub struct NodeCache {
    store: Store<Node>,
    index: Arc<Mutex<(usize, u64, Arc<NodeIndex>)>>,
    changes: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("nodes", &self.store.state().len())
            .finish_non_exhaustive()
    }
}

fn identity(node: &Node) -> NodeIdentity {
    let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
    NodeIdentity {
        name: node.metadata.name.clone().unwrap_or_default(),
        machine_id: info.map(|i| i.machine_id.clone()).filter(|s| !s.is_empty()),
        system_uuid: info
            .map(|i| i.system_uuid.clone())
            .filter(|s| !s.is_empty()),
    }
}

impl NodeCache {
    /// Starts a reflector over all Nodes (one LIST, then a WATCH) and waits until the first
    /// list is in the cache. The task ends when the returned cache is dropped.
    pub async fn start(client: Client) -> Result<Self, NodeError> {
        let api: Api<Node> = Api::all(client);
        let (store, writer) = reflector::store();
        let changes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let bump = Arc::clone(&changes);
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        );
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(_) => {
                        bump.fetch_add(1, std::sync::atomic::Ordering::Release);
                    }
                    Err(e) => tracing::warn!(error = %e, "node watch error (retrying)"),
                }
            }
        });
        store
            .wait_until_ready()
            .await
            .map_err(|e| NodeError::Api(format!("node cache never became ready: {e}")))?;
        Ok(Self {
            store,
            index: Arc::new(Mutex::new((usize::MAX, u64::MAX, Arc::default()))),
            changes,
        })
    }

    /// Whether the cached node carries our marks for holder `id`.
    pub fn marked_for(&self, node: &str, id: &str) -> bool {
        self.store
            .get(&reflector::ObjectRef::new(node))
            .and_then(|n| {
                let a = n.metadata.annotations.as_ref()?;
                Some(
                    a.contains_key(ANNOTATION_WAS_UNSCHEDULABLE)
                        && a.get(ANNOTATION_HOLDER).map(String::as_str) == Some(id),
                )
            })
            .unwrap_or(false)
    }

    /// The current index (rebuilt only when the watch reported changes since the last build).
    pub fn index(&self) -> Arc<NodeIndex> {
        let seen = self.changes.load(std::sync::atomic::Ordering::Acquire);
        // The index is only ever replaced whole, so a poisoned lock still holds a valid one.
        let mut guard = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.1 != seen || guard.0 == usize::MAX {
            let nodes: Vec<NodeIdentity> = self.store.state().iter().map(|n| identity(n)).collect();
            *guard = (nodes.len(), seen, Arc::new(NodeIndex::new(&nodes)));
        }
        Arc::clone(&guard.2)
    }
}

/// The real [`NodeHandler`]: crates/drain's `NodeOps` and `Drainer` over a [`NodeCache`].
pub struct KubeNodeHandler {
    cache: NodeCache,
    nodes: Api<Node>,
    ops: Arc<dyn NodeOps>,
    drainer: Arc<dyn Drainer>,
    drains: Arc<Mutex<HashMap<String, DrainState>>>,
    drain_metrics: Option<DrainHistogram>,
}

impl std::fmt::Debug for KubeNodeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeHandler")
            .field("cache", &self.cache)
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
        }
    }

    /// Records each drain's duration in `histogram` (see [`crate::metrics::Metrics::drains`]).
    pub fn with_drain_metrics(mut self, histogram: DrainHistogram) -> Self {
        self.drain_metrics = Some(histogram);
        self
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
}

fn api_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Api(e.to_string())
}

#[async_trait]
impl NodeHandler for KubeNodeHandler {
    fn lookup(&self, id: &str) -> Result<Option<String>, NodeError> {
        Ok(self.cache.index().lookup(id)?.map(str::to_owned))
    }

    async fn prepare(&self, id: &str, node: &str) -> Result<Preparation, NodeError> {
        let state = self.drains().get(node).cloned();
        match state {
            Some(DrainState::Running) => {
                return Ok(Preparation::Draining(format!(
                    "node {node} is being drained; ask again later"
                )));
            }
            Some(DrainState::Done) => {
                // Another replica may have finished this cycle (steady-state) since: only trust
                // our memory while the node still carries the marks for this holder.
                if self.cache.marked_for(node, id) {
                    return Ok(Preparation::Ready);
                }
                self.drains().remove(node);
            }
            Some(DrainState::Failed(msg)) => {
                // Retry on this request; report the failure meanwhile.
                self.spawn_drain(node);
                return Ok(Preparation::DrainFailed(format!(
                    "drain of node {node} failed, retrying: {msg}"
                )));
            }
            None => {}
        }
        let current = self.nodes.get(node).await.map_err(api_err)?;
        let annotated = current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_WAS_UNSCHEDULABLE));
        if !annotated {
            let was = current
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            let marks = BTreeMap::from([
                (ANNOTATION_WAS_UNSCHEDULABLE.to_owned(), was.to_string()),
                (ANNOTATION_HOLDER.to_owned(), id.to_owned()),
            ]);
            self.ops
                .add_annotations(node, &marks)
                .await
                .map_err(api_err)?;
        }
        self.ops.cordon(node).await.map_err(api_err)?;
        self.spawn_drain(node);
        Ok(Preparation::Draining(format!(
            "node {node} cordoned, drain started; ask again later"
        )))
    }

    async fn finish(&self, node: &str) -> Result<(), NodeError> {
        let Some(current) = self.nodes.get_opt(node).await.map_err(api_err)? else {
            self.drains().remove(node);
            return Ok(());
        };
        let was = current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_WAS_UNSCHEDULABLE).cloned());
        if let Some(was) = was {
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
        self.drains().remove(node);
        Ok(())
    }
}
