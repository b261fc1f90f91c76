//! A builder that seeds a simulated cluster, serves it on 127.0.0.1 and runs its controllers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
//! let cluster = Cluster::builder()
//!     .nodes(3)
//!     .deployment("default", "web", 3, Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))))
//!     .daemonset("kube-system", "kured")
//!     .start()
//!     .await?;
//! let client = cluster.client()?;
//! # let _ = client;
//! cluster.reboot_node("node-0", std::time::Duration::from_secs(1))?;
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Seeded objects are written straight into the store already in their steady state (nodes
//! Ready, pods bound, Running and Ready, workload and PDB status computed), so that a
//! 5,000-node / 50,000-pod cluster starts in seconds; the controllers then only act on changes.
//! Seeded objects go through the same admission defaults as objects created over HTTP.

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod seed;
mod spec;

use crate::auth::{AuthConfig, auth_layer};
use crate::controllers::kubelet;
use crate::controllers::{ControllerConfig, Controllers};
use crate::errors::ApiError;
use crate::faults::{FaultConfig, FaultStats, Faults, fault_layer};
use crate::resources::ResourceType;
use crate::server::{ServerOptions, ServerState, request_info, router};
use crate::store::{Event, Store, StoreConfig};
use seed::Seeder;
use spec::DeploymentSeed;
pub use spec::{IntOrPercent, PdbSpec};

/// Why a cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Binding or serving failed.
    #[error("kubesim: {0}")]
    Io(#[from] std::io::Error),
    /// Seeding an object failed.
    #[error("kubesim: seeding failed: {0}")]
    Seed(#[from] ApiError),
}

/// Entry point: [`Cluster::builder`].
#[derive(Debug)]
pub struct Cluster;

impl Cluster {
    /// A builder with defaults: 3 nodes named `node-0…`, no workloads, controllers on, served
    /// on `127.0.0.1:0`.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }
}

/// Describes the cluster to seed and how to run it.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    node_name_prefix: String,
    deployments: Vec<DeploymentSeed>,
    daemonsets: Vec<(String, String)>,
    pods_per_node: usize,
    controllers_on: bool,
    controller_writes_after_create: bool,
    controllers: ControllerConfig,
    record_history: bool,
    watch_window: usize,
    faults: Option<FaultConfig>,
    auth: Option<AuthConfig>,
    listen: SocketAddr,
    server_options: ServerOptions,
    seed: Option<u64>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            nodes: 3,
            node_name_prefix: "node-".into(),
            deployments: Vec::new(),
            daemonsets: Vec::new(),
            pods_per_node: 0,
            controllers_on: true,
            controller_writes_after_create: true,
            controllers: ControllerConfig::default(),
            record_history: false,
            watch_window: StoreConfig::default().watch_window,
            faults: None,
            auth: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server_options: ServerOptions::default(),
            seed: None,
        }
    }
}

impl ClusterBuilder {
    /// Number of nodes (`<prefix>0` … `<prefix>{n-1}`), all Ready.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Node name prefix (default `node-`).
    pub fn node_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.node_name_prefix = prefix.into();
        self
    }

    /// A Deployment (label `app=<name>`, one container, grace 30 s) with `replicas` Running +
    /// Ready pods spread over the nodes, and optionally a PodDisruptionBudget `<name>-pdb`
    /// selecting them.
    pub fn deployment(
        mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        replicas: usize,
        pdb: Option<PdbSpec>,
    ) -> Self {
        self.deployments.push(DeploymentSeed {
            namespace: namespace.into(),
            name: name.into(),
            replicas,
            pdb,
        });
        self
    }

    /// A DaemonSet (label `name=<name>`) with one Running + Ready pod per node.
    pub fn daemonset(mut self, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        self.daemonsets.push((namespace.into(), name.into()));
        self
    }

    /// Adds `k` Deployments `app-0…app-{k-1}` in `default`, each with one pod per node, so
    /// every node runs `k` of their pods.
    pub fn pods_per_node(mut self, k: usize) -> Self {
        self.pods_per_node = k;
        self
    }

    /// Runs the simulated controllers (default on).
    pub fn controllers(mut self, on: bool) -> Self {
        self.controllers_on = on;
        self
    }

    /// Whether the controllers' first writes to a new Node (TTL annotation) or DaemonSet
    /// (status) land before the create is answered, so that an update carrying the creation
    /// resourceVersion gets a 409 Conflict as on a real cluster (default on, with the
    /// controllers; off: the object stays as created until a controller gets to it).
    pub fn controller_writes_after_create(mut self, on: bool) -> Self {
        self.controller_writes_after_create = on;
        self
    }

    /// Full controller configuration (which ones, delays).
    pub fn controller_config(mut self, config: ControllerConfig) -> Self {
        self.controllers = config;
        self
    }

    /// Pod start delay of the simulated kubelet.
    pub fn kubelet_start_delay(mut self, d: Duration) -> Self {
        self.controllers.kubelet_start_delay = d;
        self
    }

    /// How long a terminating pod really takes (capped by its grace period).
    pub fn shutdown_time(mut self, d: Duration) -> Self {
        self.controllers.shutdown_time = d;
        self
    }

    /// Delay before a ReplicaSet replaces a lost pod.
    pub fn reschedule_delay(mut self, d: Duration) -> Self {
        self.controllers.reschedule_delay = d;
        self
    }

    /// Keep every write for [`RunningCluster::history`] (default off).
    pub fn record_history(mut self, on: bool) -> Self {
        self.record_history = on;
        self
    }

    /// Size of the watch event window (older resourceVersions expire).
    pub fn watch_window(mut self, events: usize) -> Self {
        self.watch_window = events;
        self
    }

    /// Fault injection.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Bearer-token authentication; [`RunningCluster::client`] uses an admin token of it.
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Listen address (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// HTTP server options (bookmark interval, …).
    pub fn server_options(mut self, options: ServerOptions) -> Self {
        self.server_options = options;
        self
    }

    /// Seeds the generator used for seeded names and uids (on the calling thread) and the fault
    /// RNG (unless the fault config has its own seed). Pod IPs and container ids of large
    /// deployments are drawn on worker threads and stay random.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Names of the nodes this builder seeds.
    pub fn node_names(&self) -> Vec<String> {
        (0..self.nodes)
            .map(|i| format!("{}{i}", self.node_name_prefix))
            .collect()
    }

    /// A store seeded with the described cluster (no server, no controllers).
    pub fn build_store(&self) -> Result<Arc<Store>, ApiError> {
        if let Some(seed) = self.seed {
            fastrand::seed(seed);
        }
        let store = Store::new(StoreConfig {
            watch_window: self.watch_window,
            record_history: self.record_history,
        });
        Seeder::new(&store).seed(
            &self.node_names(),
            &self.deployments,
            self.pods_per_node,
            &self.daemonsets,
        )?;
        Ok(store)
    }

    /// Seeds the store, starts the controllers and serves the API. Must run inside a tokio
    /// runtime.
    pub async fn start(self) -> Result<RunningCluster, ClusterError> {
        let store = self.build_store()?;
        let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let mut options = self.server_options.clone();
        options.controller_writes_after_create =
            self.controllers_on && self.controller_writes_after_create;
        let state = ServerState {
            store: store.clone(),
            options: Arc::new(options),
        };
        let mut app = router(state);
        let token = self
            .auth
            .as_ref()
            .and_then(|a| a.any_admin_token().map(str::to_string));
        if let Some(auth) = self.auth.clone() {
            app = app.layer(from_fn_with_state(Arc::new(auth), auth_layer));
        }
        let faults = self.faults.clone().map(|mut f| {
            if f.seed == 0 {
                f.seed = self.seed.unwrap_or(0);
            }
            Faults::new(f)
        });
        if let Some(f) = &faults {
            app = app.layer(from_fn_with_state(f.clone(), fault_layer));
        }
        app = app.layer(from_fn_with_state(counts.clone(), count_layer));
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                // Either a shutdown() call or the RunningCluster being dropped.
                let _ = stop_rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!("kubesim server ended: {e}");
            }
        });
        let controllers = self
            .controllers_on
            .then(|| Controllers::start(&store, &self.controllers));
        tracing::debug!(%addr, "kubesim serving");
        Ok(RunningCluster {
            url: format!("http://{addr}"),
            addr,
            store,
            token,
            counts,
            faults,
            controllers,
            server: Some(server),
            stop: Some(stop_tx),
            reboots: Mutex::new(Vec::new()),
        })
    }
}

/// Counts requests by RBAC verb.
async fn count_layer(
    State(counts): State<Arc<Mutex<BTreeMap<String, u64>>>>,
    req: Request,
    next: Next,
) -> Response {
    let verb = request_info(req.method(), req.uri()).verb;
    *counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(verb)
        .or_default() += 1;
    next.run(req).await
}

/// A served, running simulated cluster. Dropping it stops the server and the controllers.
#[derive(Debug)]
pub struct RunningCluster {
    url: String,
    addr: SocketAddr,
    store: Arc<Store>,
    token: Option<String>,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    faults: Option<Arc<Faults>>,
    controllers: Option<Controllers>,
    server: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    reboots: Mutex<Vec<JoinHandle<()>>>,
}

impl RunningCluster {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The object store (read or write it directly).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The bearer token clients use (an admin token of the auth config), if auth is on.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A `kube::Config` for this cluster (plain HTTP; the admin token when auth is on).
    pub fn kube_config(&self) -> kube::Config {
        self.kube_config_with_token(self.token.as_deref())
    }

    /// A `kube::Config` with a specific bearer token (kube's hidden 429/503/504 retry off).
    pub fn kube_config_with_token(&self, token: Option<&str>) -> kube::Config {
        let uri: axum::http::Uri = self
            .url
            .parse()
            .unwrap_or_else(|_| axum::http::Uri::from_static("http://127.0.0.1"));
        let mut config = kube::Config::new(uri);
        config.auth_info.token = token.map(|t| t.to_string().into());
        // As kured-rs and fleetlock-rs build theirs: kube's built-in retry of 429/503/504
        // (up to minutes, inside one request, invisible to the caller) off. With it on, every
        // PodDisruptionBudget refusal of a drain was retried inside the client with a growing
        // backoff, which stalled reboot-sim's drains for 20–150 s at C=10.
        config.default_retry = false;
        config
    }

    /// A kube-rs client for this cluster. Installs the rustls `ring` provider first (once).
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        install_crypto_provider();
        kube::Client::try_from(self.kube_config())
    }

    /// A kube-rs client authenticating with `token`.
    pub fn client_with_token(&self, token: &str) -> Result<kube::Client, kube::Error> {
        install_crypto_provider();
        kube::Client::try_from(self.kube_config_with_token(Some(token)))
    }

    /// Every write since start (empty unless built with `record_history(true)`).
    pub fn history(&self) -> Vec<Arc<Event>> {
        self.store.history()
    }

    /// Requests served so far, by verb (`get`, `list`, `watch`, `patch`, …).
    pub fn requests_by_verb(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Faults injected so far (all zero without fault injection).
    pub fn fault_stats(&self) -> FaultStats {
        self.faults.as_ref().map(|f| f.stats()).unwrap_or_default()
    }

    /// Simulates a reboot of `node`: when this returns the node is NotReady and its pods are
    /// not Ready; after `down_for` the node is Ready again with a new `bootID` and its pods
    /// restart (Ready again after the kubelet start delay, if the kubelet controller runs).
    pub fn reboot_node(&self, node: &str, down_for: Duration) -> Result<(), ApiError> {
        kubelet::begin_reboot(&self.store, node)?;
        let store = self.store.clone();
        let node = node.to_string();
        let task = tokio::spawn(async move {
            tokio::time::sleep(down_for).await;
            if let Err(e) = kubelet::finish_reboot(&store, &node) {
                tracing::warn!(%node, "kubesim: reboot did not complete: {e}");
            }
        });
        let mut reboots = self
            .reboots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reboots.retain(|t| !t.is_finished());
        reboots.push(task);
        Ok(())
    }

    /// The kubeconfig for this cluster as JSON (valid YAML): cluster `kubesim` at the URL, user
    /// `kubesim` (with the token when auth is on), context `kubesim` (namespace `default`).
    ///
    /// Note: `kubectl` (client-go's clientcmd) sends no credentials to a plain-HTTP server, so
    /// with [`ClusterBuilder::auth`] on, kubectl gets 401; use kube-rs clients there.
    pub fn kubeconfig_value(&self) -> Value {
        let user = match &self.token {
            Some(t) => json!({"token": t}),
            None => json!({}),
        };
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubesim", "cluster": {"server": self.url}}],
            "users": [{"name": "kubesim", "user": user}],
            "contexts": [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim", "namespace": "default"}}],
            "current-context": "kubesim",
            "preferences": {},
        })
    }

    /// Writes [`Self::kubeconfig_value`] to `path` (for `kubectl --kubeconfig`).
    pub fn kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.kubeconfig_value())
            .map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    /// Stops the controllers and the server (open watch streams are cut after a short grace).
    pub async fn shutdown(mut self) {
        if let Some(c) = self.controllers.take() {
            c.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for RunningCluster {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        for t in self
            .reboots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }
}

/// Replays a write history (see [`RunningCluster::history`]) and returns, after every write to
/// `rt`, `(resourceVersion, how many objects of rt satisfy pred)` — for invariant checks such
/// as "never more than one node cordoned at once" (`max` of the counts) or "the budget held"
/// (`min`).
pub fn matching_over_time(
    events: &[Arc<Event>],
    rt: &ResourceType,
    pred: impl Fn(&Value) -> bool,
) -> Vec<(u64, usize)> {
    let mut matching = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for e in events {
        if e.resource.group != rt.group || e.resource.plural != rt.plural {
            continue;
        }
        let key = crate::store::object_key(&e.object);
        if e.kind != crate::store::EventType::Deleted && pred(&e.object) {
            matching.insert(key);
        } else {
            matching.remove(&key);
        }
        out.push((e.rv, matching.len()));
    }
    out
}

/// Installs rustls' `ring` provider as the process default (ignores "already installed").
pub fn install_crypto_provider() {
    daemon::install_crypto_provider();
}

#[cfg(test)]
mod tests;
