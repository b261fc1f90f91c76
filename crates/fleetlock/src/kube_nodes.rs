//! Kubernetes mode: map FleetLock ids to Nodes from a watch-fed cache, cordon and drain a node
//! before its reboot is granted, uncordon it after (only if we cordoned it).
//!
//! # What a Zincati caller sees
//!
//! `pre-reboot` never waits for a drain: the drain runs in a background task and every answer
//! comes from memory within milliseconds, so Zincati simply asks again (it retries every few
//! minutes, and any non-2xx means "not yet"). The answers while a node is being prepared:
//!
//! | situation | HTTP | `kind` | `value` says |
//! | --- | --- | --- | --- |
//! | cordoned, pods being evicted | 409 | `drain_in_progress` | pods evicted so far / left, the pods still waited for |
//! | a PodDisruptionBudget refuses an eviction | 409 | see [`PDB_BLOCKED_KIND`] | the budget's message (it names the PDB) and the pod |
//! | the node's `Ready` condition is not `True` | 409 | see [`NODE_NOT_READY_KIND`] | the condition's status, reason and message |
//! | the drain failed (e.g. an eviction forbidden by RBAC) | 409 | `failed_drain` | the error; the drain is retried on the next request |
//! | the id matches several nodes | 409 | `failed_node_ambiguous` | the nodes and the rule that matched |
//! | a Kubernetes call failed (e.g. 403) | 503 | `failed_kubernetes_unavailable` | the API error, which names the verb and resource |
//! | drained | 200 | | |
//!
//! **Node not ready.** A node whose kubelet is down cannot be drained (its pods would be
//! evicted but never terminate), so fleetlock-rs does not cordon or drain it and does not let it
//! reboot through the node path: the answer stays "not ready" until the kubelet reports Ready
//! again. The id keeps the slot it took: a NotReady node is capacity the cluster has already
//! lost, so letting another node of the group reboot on top of it would make the outage worse.
//! The slot is freed by the node's steady-state, by `POST /v1/admin/release`, or by deleting the
//! Node object (the id is then a plain fleet machine and is granted by the semaphore alone).
//! A node that was already drained and granted is not affected: it is rebooting, and is
//! expected to go NotReady.
//!
//! What we did to a node is recorded in annotations on the node itself
//! ([`ANNOTATION_WAS_UNSCHEDULABLE`], [`ANNOTATION_HOLDER`]), so a restarted or another replica
//! knows whether to uncordon. With [`KubeNodeHandler::with_seed_annotations`], the original
//! reboot manager's `rebootmanager/status` annotation is maintained too: `Rebooting` when the
//! node is cordoned for its reboot, `Ready` at steady-state.
//!
//! # The node cache
//!
//! One LIST and then one WATCH of all Nodes feed a [`NodeIndex`] that is updated node by node:
//! a watch event costs a hash-map update (and two HMACs only when the node's machine id or
//! system UUID changed), a lookup costs at most four hash-map probes under a read lock. Nothing
//! about the id mapping calls the API server on the request path.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use drain::{DrainEvent, Drainer, NodeOps, PodRef};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::WatchParams;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_nodes};
use kube::{Api, Client};

use crate::metrics::{DrainHistogram, DrainLabels};
use crate::node_id::{LookupError, NodeIdentity, NodeIndex};

/// Annotation holding `true`/`false`: was the node unschedulable before we cordoned it?
/// Its presence also means "fleetlock-rs is preparing this node for a reboot".
pub const ANNOTATION_WAS_UNSCHEDULABLE: &str = "fleetlock-rs.kured-rs.dev/was-unschedulable";
/// Annotation holding the FleetLock id that holds the reboot slot for this node.
pub const ANNOTATION_HOLDER: &str = "fleetlock-rs.kured-rs.dev/holder";
/// The original reboot manager's status annotation (`Ready` / `Rebooting`), maintained with
/// [`KubeNodeHandler::with_seed_annotations`].
pub const ANNOTATION_SEED_STATUS: &str = "rebootmanager/status";

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

/// What the cache keeps of one Node besides its ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NodeFacts {
    /// `None` when `Ready` is `True`, else the condition's status/reason/message.
    not_ready: Option<String>,
    /// The [`ANNOTATION_HOLDER`] value when the node carries both of our marks.
    marked_for: Option<String>,
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

fn facts(node: &Node) -> NodeFacts {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let not_ready = match ready {
        Some(c) if c.status == "True" => None,
        Some(c) => {
            let mut text = format!("Ready={}", c.status);
            if let Some(r) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                let _ = write!(text, ", reason {r}");
            }
            if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                let _ = write!(text, ": {m}");
            }
            Some(text)
        }
        None => Some("no Ready condition reported".to_owned()),
    };
    let annotations = node.metadata.annotations.as_ref();
    let marked_for = annotations
        .filter(|a| a.contains_key(ANNOTATION_WAS_UNSCHEDULABLE))
        .and_then(|a| a.get(ANNOTATION_HOLDER).cloned());
    NodeFacts {
        not_ready,
        marked_for,
    }
}

#[derive(Debug, Default)]
struct CacheState {
    index: NodeIndex,
    facts: HashMap<String, NodeFacts>,
}

impl CacheState {
    fn apply(&mut self, node: &Node) {
        let id = identity(node);
        self.facts.insert(id.name.clone(), facts(node));
        self.index.upsert(&id);
    }

    fn delete(&mut self, node: &Node) {
        if let Some(name) = node.metadata.name.as_deref() {
            self.facts.remove(name);
            self.index.remove(name);
        }
    }
}

/// Whether a watcher error is a refusal that retrying will not fix (401, 403, 404).
fn refused(e: &watcher::Error) -> bool {
    let code = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s.code,
        _ => return false,
    };
    matches!(code, 401 | 403 | 404)
}

/// Where the start-up of the cache is.
#[derive(Clone, Debug)]
enum Startup {
    Waiting,
    Ready,
    Failed(String),
}

/// Aborts the watch task when the last [`NodeCache`] clone is dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A watch-fed node cache: the id index plus readiness and our marks per node.
#[derive(Clone)]
pub struct NodeCache {
    state: Arc<RwLock<CacheState>>,
    _task: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("nodes", &self.read().index.len())
            .finish_non_exhaustive()
    }
}

impl NodeCache {
    /// Starts the watch (one LIST, then a WATCH) and waits until the first list is in the
    /// cache (transient errors are retried with backoff meanwhile). Fails, instead of waiting
    /// forever, when the list or the watch is refused (401/403/404, e.g. RBAC without
    /// `list`/`watch` on `nodes`): the error is the API's, naming verb and resource. The watch
    /// task ends when the last clone of the cache is dropped.
    pub async fn start(client: Client) -> Result<Self, NodeError> {
        let api: Api<Node> = Api::all(client);
        let state = Arc::new(RwLock::new(CacheState::default()));
        let (tx, mut rx) = tokio::sync::watch::channel(Startup::Waiting);
        let stream = watch_nodes(api.clone(), watcher::Config::default()).default_backoff();
        let writer = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut buffer: Option<CacheState> = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Init) => buffer = Some(CacheState::default()),
                    Ok(Event::InitApply(node)) => buffer.get_or_insert_default().apply(&node),
                    Ok(Event::InitDone) => {
                        // Built outside the lock (5,000 nodes = 10,000 HMACs), swapped in whole.
                        let fresh = buffer.take().unwrap_or_default();
                        *writer
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                        tx.send_if_modified(|s| {
                            let first = matches!(s, Startup::Waiting);
                            *s = Startup::Ready;
                            first
                        });
                    }
                    Ok(Event::Apply(node)) => writer
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .apply(&node),
                    Ok(Event::Delete(node)) => writer
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .delete(&node),
                    Err(e) => {
                        tracing::warn!(error = %e, "node watch error (retrying)");
                        // Refused (RBAC, credentials): fail the start-up. Anything else (API
                        // server not up yet, 5xx) is retried with backoff meanwhile.
                        tx.send_if_modified(|s| {
                            if matches!(s, Startup::Waiting) && refused(&e) {
                                *s = Startup::Failed(e.to_string());
                                true
                            } else {
                                false
                            }
                        });
                    }
                }
            }
        });
        let task = AbortOnDrop(task);
        let outcome = rx
            .wait_for(|s| !matches!(s, Startup::Waiting))
            .await
            .map(|s| s.clone())
            .map_err(|_| NodeError::Api("node watch task ended before the first list".into()))?;
        if let Startup::Failed(e) = outcome {
            return Err(NodeError::Api(format!("listing nodes: {e}")));
        }
        // The watcher retries a refused WATCH forever, silently serving a stale cache: probe
        // the permission once so a missing `watch nodes` rule fails the start-up instead.
        let probe = WatchParams::default()
            .labels("fleetlock-rs.kured-rs.dev/watch-permission-probe")
            .timeout(1);
        drop(
            api.watch(&probe, "0")
                .await
                .map_err(|e| NodeError::Api(format!("watching nodes: {}", api_message(&e))))?,
        );
        Ok(Self {
            state,
            _task: Arc::new(task),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        // Writers replace entries whole; a poisoned lock still holds a consistent state.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The node `id` names (see [`NodeIndex::lookup`]).
    pub fn lookup(&self, id: &str) -> Result<Option<String>, LookupError> {
        Ok(self.read().index.lookup(id)?.map(str::to_owned))
    }

    /// How many nodes the cache holds.
    pub fn len(&self) -> usize {
        self.read().index.len()
    }

    /// Whether the cache holds no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the cached node carries our marks for holder `id`.
    pub fn marked_for(&self, node: &str, id: &str) -> bool {
        self.read()
            .facts
            .get(node)
            .and_then(|f| f.marked_for.as_deref())
            == Some(id)
    }

    /// `None` if the cached node is Ready (or unknown), else what its Ready condition says.
    pub fn not_ready(&self, node: &str) -> Option<String> {
        self.read()
            .facts
            .get(node)
            .and_then(|f| f.not_ready.clone())
    }
}

/// Progress of one node's drain, from the drain engine's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeProgress {
    /// Pods the drain has to move.
    pub to_evict: usize,
    /// Evictions accepted so far (including pods deleted by the PDB fallback).
    pub evicted: usize,
    /// Pods gone from the node so far.
    pub gone: usize,
    /// Pods whose last eviction a PodDisruptionBudget refused, with the server's message.
    pub blocked: BTreeMap<String, String>,
}

impl NodeProgress {
    /// Pods still on the node that the drain waits for.
    pub fn left(&self) -> usize {
        self.to_evict.saturating_sub(self.gone)
    }
}

impl std::fmt::Display for NodeProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} pod(s) evicted, {} left",
            self.evicted,
            self.to_evict,
            self.left()
        )
    }
}

#[derive(Debug, Default)]
struct ProgressState {
    nodes: HashMap<String, NodeProgress>,
    pod_node: HashMap<PodRef, String>,
}

/// Collects [`DrainEvent`]s per node; hand [`DrainProgress::sink`] to
/// `drain::DrainEngine::on_event` and the same value to [`KubeNodeHandler::with_progress`].
#[derive(Clone, Debug, Default)]
pub struct DrainProgress {
    state: Arc<Mutex<ProgressState>>,
}

impl DrainProgress {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // Every update is a few field writes; a poisoned state is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one event.
    pub fn record(&self, event: &DrainEvent) {
        let mut s = self.lock();
        let node_of = |s: &ProgressState, pod: &PodRef| s.pod_node.get(pod).cloned();
        match event {
            DrainEvent::Selected { node, evict, .. } => {
                s.pod_node.retain(|_, n| n != node);
                for pod in evict {
                    s.pod_node.insert(pod.clone(), node.clone());
                }
                s.nodes.insert(
                    node.clone(),
                    NodeProgress {
                        to_evict: evict.len(),
                        ..NodeProgress::default()
                    },
                );
            }
            DrainEvent::Evicted(pod) | DrainEvent::DeletedDespitePdb { pod, .. } => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.evicted += 1;
                    p.blocked.remove(&pod.to_string());
                }
            }
            DrainEvent::AlreadyGone(pod) | DrainEvent::Gone(pod) => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.gone += 1;
                    p.blocked.remove(&pod.to_string());
                }
            }
            DrainEvent::BlockedByPdb { pod, message, .. } => {
                if let Some(node) = node_of(&s, pod)
                    && let Some(p) = s.nodes.get_mut(&node)
                {
                    p.blocked.insert(pod.to_string(), message.clone());
                }
            }
            DrainEvent::Finished { node, .. } => {
                if let Some(p) = s.nodes.get_mut(node) {
                    p.blocked.clear();
                }
            }
            _ => {}
        }
    }

    /// A closure for `drain::DrainEngine::on_event`.
    pub fn sink(&self) -> impl Fn(&DrainEvent) + Send + Sync + 'static {
        let this = self.clone();
        move |e| this.record(e)
    }

    /// The progress of `node`'s current (or last) drain.
    pub fn get(&self, node: &str) -> Option<NodeProgress> {
        self.lock().nodes.get(node).cloned()
    }

    fn forget(&self, node: &str) {
        let mut s = self.lock();
        s.nodes.remove(node);
        s.pod_node.retain(|_, n| n != node);
    }
}

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

fn api_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Api(e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> PodRef {
        PodRef::new("default", name, format!("uid-{name}"))
    }

    #[test]
    fn progress_counts_evictions_and_pdb_refusals_per_node() {
        let p = DrainProgress::new();
        p.record(&DrainEvent::Selected {
            node: "n1".into(),
            evict: vec![pod("a"), pod("b")],
            skipped: Vec::new(),
            warnings: String::new(),
        });
        p.record(&DrainEvent::Selected {
            node: "n2".into(),
            evict: vec![pod("c")],
            skipped: Vec::new(),
            warnings: String::new(),
        });
        p.record(&DrainEvent::Evicted(pod("a")));
        p.record(&DrainEvent::BlockedByPdb {
            pod: pod("b"),
            message: "The disruption budget web-pdb needs 2".into(),
            retry_in: std::time::Duration::from_secs(1),
        });
        let n1 = p.get("n1").unwrap();
        assert_eq!((n1.to_evict, n1.evicted, n1.gone, n1.left()), (2, 1, 0, 2));
        assert_eq!(
            n1.blocked.get("default/b").map(String::as_str),
            Some("The disruption budget web-pdb needs 2")
        );
        assert_eq!(n1.to_string(), "1 of 2 pod(s) evicted, 2 left");
        assert_eq!(p.get("n2").unwrap().evicted, 0, "other nodes untouched");
        p.record(&DrainEvent::Gone(pod("a")));
        p.record(&DrainEvent::Evicted(pod("b")));
        let n1 = p.get("n1").unwrap();
        assert!(
            n1.blocked.is_empty(),
            "an accepted eviction clears the refusal"
        );
        assert_eq!((n1.evicted, n1.left()), (2, 1));
        p.forget("n1");
        assert_eq!(p.get("n1"), None);
        assert!(p.get("n2").is_some());
    }
}
