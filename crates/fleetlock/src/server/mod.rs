//! The HTTP server: FleetLock endpoints plus health, readiness, metrics, status and admin.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::config::ServerConfig;
#[cfg(feature = "kubernetes")]
use crate::kube_nodes::{NodeError, NodeHandler, Preparation};
#[cfg(feature = "kubernetes")]
use crate::metrics::DrainHistogram;
use crate::metrics::Metrics;
use crate::protocol::{ErrorKind, LockRequest, PROTOCOL_HEADER, ProtocolError};
use crate::semaphore::{self, AcquireError, Acquired, Released};
#[cfg(feature = "etcd")]
use crate::store::EtcdStore;
use crate::store::{FileStore, Holder, LockStore, MemoryStore, StoreError, StoreSpec};

/// Server start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
    #[error("opening the lock store: {0}")]
    Store(#[from] StoreError),
    /// Kubernetes mode could not start.
    #[error("kubernetes: {0}")]
    Kubernetes(String),
    /// Binding or serving failed.
    #[error("serving on {addr}: {source}")]
    Io {
        /// The listen address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

#[cfg(not(all(feature = "kubernetes", feature = "etcd")))]
fn missing_feature(feature: &str) -> String {
    format!("this build of fleetlock has no {feature} store (cargo feature `{feature}`)")
}

/// Opens the store a [`StoreSpec`] names.
pub async fn open_store(spec: &StoreSpec) -> Result<Arc<dyn LockStore>, StoreError> {
    Ok(match spec {
        StoreSpec::Memory => Arc::new(MemoryStore::new()),
        StoreSpec::File(path) => Arc::new(FileStore::open(path.clone()).await?),
        #[cfg(feature = "kubernetes")]
        StoreSpec::Kubernetes { namespace } => {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| StoreError::Unavailable(format!("no Kubernetes client: {e}")))?;
            let ns = namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_owned());
            Arc::new(crate::store::KubernetesStore::new(client, &ns))
        }
        #[cfg(feature = "etcd")]
        StoreSpec::Etcd { endpoints, prefix } => {
            Arc::new(EtcdStore::new(endpoints.clone(), prefix.clone())?)
        }
        #[cfg(not(feature = "kubernetes"))]
        StoreSpec::Kubernetes { .. } => {
            return Err(StoreError::Unsupported(missing_feature("kubernetes")));
        }
        #[cfg(not(feature = "etcd"))]
        StoreSpec::Etcd { .. } => return Err(StoreError::Unsupported(missing_feature("etcd"))),
    })
}

/// The FleetLock service: configuration, store and metrics shared by all handlers.
#[derive(Debug)]
pub struct FleetLock {
    config: ServerConfig,
    store: Arc<dyn LockStore>,
    metrics: Metrics,
    #[cfg(feature = "kubernetes")]
    nodes: Option<Arc<dyn NodeHandler>>,
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
}

/// `POST /v1/admin/release` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRelease {
    /// Group of the stuck slot.
    pub group: String,
    /// Holder id to remove.
    pub id: String,
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
        })
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
                    AcquireError::Store(e) => store_error(&e),
                })?;
            #[cfg(feature = "kubernetes")]
            if let (Some(handler), Some(node)) = (&self.nodes, node) {
                match handler.prepare(&p.id, &node).await {
                    Ok(Preparation::Ready | Preparation::NotANode) => {}
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

    /// The unlock operation behind `POST /v1/steady-state`.
    pub async fn steady_state(&self, req: &LockRequest) -> Result<Released, ProtocolError> {
        let p = &req.client_params;
        self.slots(&p.group)?;
        #[cfg(feature = "kubernetes")]
        let node = self.node_for(&p.id)?;
        self.bounded(async {
            // Undo the node marks first: if that fails, the slot stays held and Zincati's
            // retry finds everything as it was.
            #[cfg(feature = "kubernetes")]
            if let (Some(handler), Some(node)) = (&self.nodes, node) {
                handler.finish(&node).await.map_err(|e| node_error(&e))?;
            }
            semaphore::release(self.store.as_ref(), &p.group, &p.id)
                .await
                .map_err(|e| store_error(&e))
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
                group,
            });
        }
        Ok(Status { groups })
    }
}

fn store_error(e: &StoreError) -> ProtocolError {
    tracing::warn!(error = %e, "lock store failure");
    ProtocolError::new(ErrorKind::StoreUnavailable, e.to_string())
}

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

fn error_response(e: &ProtocolError) -> Response {
    let mut response = (
        e.kind.status(),
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&e.body()).unwrap_or_default(),
    )
        .into_response();
    if e.kind == ErrorKind::Unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

fn ok_json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Checks the token (if configured), the body limit, the protocol header and the JSON body,
/// in that order.
fn parse_protocol_request(
    app: &FleetLock,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<LockRequest, ProtocolError> {
    check_protocol_token(app, headers)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ProtocolError::new(ErrorKind::BodyTooLarge, "request body is too large")
        } else {
            ProtocolError::new(ErrorKind::BadBody, format!("reading request body: {r}"))
        }
    })?;
    let header_ok = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !header_ok {
        return Err(ProtocolError::new(
            ErrorKind::MissingProtocolHeader,
            "header `fleet-lock-protocol: true` is required",
        ));
    }
    LockRequest::parse(&body)
}

async fn pre_reboot(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const EP: &str = "pre-reboot";
    let result = match parse_protocol_request(&app, &headers, body) {
        Ok(req) => app.pre_reboot(&req).await.map(|a| (req, a)),
        Err(e) => Err(e),
    };
    match result {
        Ok((req, outcome)) => {
            let label = match outcome {
                Acquired::Granted => "granted",
                Acquired::AlreadyHeld => "already_held",
            };
            tracing::info!(id = %req.client_params.id, group = %req.client_params.group, outcome = label, "pre-reboot");
            app.metrics.count(EP, label);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::info!(kind = e.kind.as_str(), value = %e.value, "pre-reboot refused");
            app.metrics.count(EP, e.kind.as_str());
            error_response(&e)
        }
    }
}

async fn steady_state(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const EP: &str = "steady-state";
    let result = match parse_protocol_request(&app, &headers, body) {
        Ok(req) => app.steady_state(&req).await.map(|r| (req, r)),
        Err(e) => Err(e),
    };
    match result {
        Ok((req, outcome)) => {
            let label = match outcome {
                Released::Released => "released",
                Released::NotHeld => "not_held",
            };
            tracing::info!(id = %req.client_params.id, group = %req.client_params.group, outcome = label, "steady-state");
            app.metrics.count(EP, label);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::info!(kind = e.kind.as_str(), value = %e.value, "steady-state refused");
            app.metrics.count(EP, e.kind.as_str());
            error_response(&e)
        }
    }
}

/// Constant-time comparison of a presented token with the configured one: both are hashed
/// first, so neither the contents nor the length of the expected token leak through timing.
fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, presented);
    let b = ring::digest::digest(&ring::digest::SHA256, expected);
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The bearer token of an `Authorization` header (scheme case-insensitive), or "".
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .unwrap_or_default()
}

/// Checks the lock endpoints' bearer token when one is configured.
fn check_protocol_token(app: &FleetLock, headers: &HeaderMap) -> Result<(), ProtocolError> {
    match app.config.protocol_token.as_deref() {
        None => Ok(()),
        Some(expected) if token_matches(bearer(headers).as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ProtocolError::new(
            ErrorKind::Unauthorized,
            "this server requires `Authorization: Bearer <protocol token>` on the lock endpoints",
        )),
    }
}

fn check_admin(app: &FleetLock, headers: &HeaderMap) -> Result<(), ProtocolError> {
    let Some(expected) = app.config.admin_token.as_deref() else {
        return Err(ProtocolError::new(
            ErrorKind::AdminDisabled,
            "admin endpoints are disabled: no admin token configured",
        ));
    };
    if token_matches(bearer(headers).as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorKind::Unauthorized,
            "admin endpoints need `Authorization: Bearer <admin token>`",
        ))
    }
}

async fn admin_release(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const EP: &str = "admin-release";
    let result = async {
        check_admin(&app, &headers)?;
        let body = body.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ProtocolError::new(ErrorKind::BodyTooLarge, "request body is too large")
            } else {
                ProtocolError::new(ErrorKind::BadBody, r.to_string())
            }
        })?;
        let req: AdminRelease = serde_json::from_slice(&body).map_err(|e| {
            ProtocolError::new(
                ErrorKind::BadBody,
                format!("expected {{\"group\": \"...\", \"id\": \"...\"}}: {e}"),
            )
        })?;
        if !crate::protocol::is_valid_group(&req.group) || req.id.is_empty() {
            return Err(ProtocolError::new(
                ErrorKind::BadBody,
                "group must match ^[a-zA-Z0-9.-]+$ and id must be non-empty",
            ));
        }
        let released = app
            .bounded(async {
                semaphore::release(app.store.as_ref(), &req.group, &req.id)
                    .await
                    .map_err(|e| store_error(&e))
            })
            .await?;
        Ok::<_, ProtocolError>((req, released))
    }
    .await;
    match result {
        Ok((req, released)) => {
            let label = if released == Released::Released {
                "released"
            } else {
                "not_held"
            };
            tracing::warn!(id = %req.id, group = %req.group, outcome = label, "admin release");
            app.metrics.count(EP, label);
            ok_json(&serde_json::json!({ "released": released == Released::Released }))
        }
        Err(e) => {
            app.metrics.count(EP, e.kind.as_str());
            error_response(&e)
        }
    }
}

async fn status(State(app): State<Arc<FleetLock>>) -> Response {
    match app.status().await {
        Ok(s) => ok_json(&s),
        Err(e) => error_response(&store_error(&e)),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<Arc<FleetLock>>) -> Response {
    match tokio::time::timeout(app.config.request_timeout, app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(e)) => error_response(&store_error(&e)),
        Err(_) => error_response(&ProtocolError::new(
            ErrorKind::StoreUnavailable,
            "lock store did not answer in time",
        )),
    }
}

async fn metrics(State(app): State<Arc<FleetLock>>) -> Response {
    if let Ok(status) = app.status().await {
        for g in status.groups {
            let labels = crate::metrics::GroupLabels { group: g.group };
            app.metrics
                .holders
                .get_or_create(&labels)
                .set(i64::try_from(g.holders.len()).unwrap_or(i64::MAX));
            if let Some(slots) = g.slots {
                app.metrics
                    .slots
                    .get_or_create(&labels)
                    .set(i64::from(slots));
            }
        }
    }
    match app.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn method_not_allowed() -> Response {
    error_response(&ProtocolError::new(
        ErrorKind::MethodNotAllowed,
        "FleetLock endpoints accept POST only",
    ))
}

async fn not_found() -> Response {
    error_response(&ProtocolError::new(ErrorKind::NotFound, "no such endpoint"))
}

/// The router: `/v1/pre-reboot`, `/v1/steady-state`, `/v1/status`, `/v1/admin/release`,
/// `/healthz`, `/readyz`, `/metrics`.
pub fn router(app: Arc<FleetLock>) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route(
            "/v1/pre-reboot",
            post(pre_reboot).fallback(method_not_allowed),
        )
        .route(
            "/v1/steady-state",
            post(steady_state).fallback(method_not_allowed),
        )
        .route(
            "/v1/admin/release",
            post(admin_release).fallback(method_not_allowed),
        )
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Serves `app` over plain HTTP on an already bound listener until `shutdown` completes.
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<FleetLock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `app` over HTTPS on an already bound listener until `shutdown` completes; `tls`
/// comes from [`crate::tls::server_config`].
pub async fn serve_tls_on(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<FleetLock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = crate::tls::TlsListener::new(listener, tls)?;
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Builds the Kubernetes node handler from inferred credentials (kubeconfig or in-cluster)
/// and waits until the node cache holds the first list. `drains` receives drain durations.
/// Drain progress and PodDisruptionBudget refusals are reported in the answers;
/// `seed_annotations` also maintains the `rebootmanager/status` node annotation.
#[cfg(feature = "kubernetes")]
pub async fn kubernetes_node_handler(
    drains: Option<DrainHistogram>,
    seed_annotations: bool,
) -> Result<Arc<dyn NodeHandler>, ServeError> {
    let kube_config = kube::Config::infer()
        .await
        .map_err(|e| ServeError::Kubernetes(format!("no Kubernetes credentials: {e}")))?;
    let client = kube::Client::try_from(kube_config.clone())
        .map_err(|e| ServeError::Kubernetes(e.to_string()))?;
    let progress = crate::kube_nodes::DrainProgress::new();
    let drainer = drain::DrainEngine::for_config(kube_config, drain::DrainOptions::default())
        .map_err(|e| ServeError::Kubernetes(e.to_string()))?
        .on_event(progress.sink());
    let cache = crate::kube_nodes::NodeCache::start(client.clone())
        .await
        .map_err(|e| ServeError::Kubernetes(e.to_string()))?;
    let mut handler = crate::kube_nodes::KubeNodeHandler::new(
        client.clone(),
        cache,
        Arc::new(drain::KubeNodeOps::new(client)),
        Arc::new(drainer),
    )
    .with_progress(progress)
    .with_seed_annotations(seed_annotations);
    if let Some(drains) = drains {
        handler = handler.with_drain_metrics(drains);
    }
    Ok(Arc::new(handler))
}

/// Opens the configured store, binds `config.listen` and serves until `shutdown`.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    tracing::debug!(?config, "configuration");
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    let store = open_store(&config.store).await?;
    let addr = config.listen;
    #[cfg(feature = "kubernetes")]
    let (kubernetes_nodes, seed_annotations) = (config.kubernetes_nodes, config.seed_annotations);
    #[cfg_attr(not(feature = "kubernetes"), allow(unused_mut))]
    let mut app = FleetLock::new(config, store)?;
    // Without the `kubernetes` feature, `validate` has refused `kubernetes_nodes`.
    #[cfg(feature = "kubernetes")]
    if kubernetes_nodes {
        let drains = app.metrics().drains.clone();
        app = app.with_node_handler(kubernetes_node_handler(Some(drains), seed_annotations).await?);
    }
    let app = Arc::new(app);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Io { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let served = if let Some(tls) = tls {
        let client_certificates = app
            .config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some());
        tracing::info!(%local, client_certificates, "fleetlock listening (HTTPS)");
        serve_tls_on(listener, tls, app, shutdown).await
    } else {
        tracing::info!(%local, "fleetlock listening");
        serve_on(listener, app, shutdown).await
    };
    served.map_err(|source| ServeError::Io { addr, source })
}
