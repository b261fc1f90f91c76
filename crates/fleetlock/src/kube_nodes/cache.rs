//! The node cache: one LIST and then one WATCH of all Nodes feed a [`NodeIndex`] (ids to
//! names) and, per node, its readiness and our marks; lookups never call the API server.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::WatchParams;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_nodes};
use kube::{Api, Client};

use super::annotations::{ANNOTATION_HOLDER, ANNOTATION_WAS_UNSCHEDULABLE};
use super::node_handler::{NodeError, api_message};
use crate::node_id::{LookupError, NodeIdentity, NodeIndex};

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
