//! Assembling and running the server: opening the store, the Kubernetes node handler, binding
//! the listen address, plain HTTP or TLS, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::error::ServeError;
use super::http::router;
use super::service::FleetLock;
use crate::config::ServerConfig;
#[cfg(feature = "kubernetes")]
use crate::kube_nodes::NodeHandler;
#[cfg(feature = "kubernetes")]
use crate::metrics::DrainHistogram;
#[cfg(feature = "etcd")]
use crate::store::EtcdStore;
use crate::store::{FileStore, LockStore, MemoryStore, StoreError, StoreSpec};

/// The Kubernetes client the caller builds once and hands to [`serve`] and [`open_store`]
/// (the Lease store, the node cache, cordoning and the drain engine all share it).
///
/// Build it with `default_retry` off, as the `fleetlock-rs` binary does: kube's default client
/// retries 429s inside the request for up to minutes, which hides PodDisruptionBudget refusals
/// from the drain engine (see `drain::KubePodApi::new`).
#[cfg(feature = "kubernetes")]
pub type KubeClient = kube::Client;

/// The Kubernetes client the caller builds once and hands to [`serve`] and [`open_store`].
/// This build has no `kubernetes` feature: the type has no values, so only `None` is passed.
#[cfg(not(feature = "kubernetes"))]
#[derive(Clone, Debug)]
pub enum KubeClient {}

#[cfg(not(all(feature = "kubernetes", feature = "etcd")))]
fn missing_feature(feature: &str) -> String {
    format!("this build of fleetlock has no {feature} store (cargo feature `{feature}`)")
}

/// Opens the store a [`StoreSpec`] names; the Kubernetes (Lease) store uses `kube`, and
/// fails as unavailable without it.
pub async fn open_store(
    spec: &StoreSpec,
    kube: Option<&KubeClient>,
) -> Result<Arc<dyn LockStore>, StoreError> {
    #[cfg(not(feature = "kubernetes"))]
    let _ = kube;
    Ok(match spec {
        StoreSpec::Memory => Arc::new(MemoryStore::new()),
        StoreSpec::File(path) => Arc::new(FileStore::open(path.clone()).await?),
        #[cfg(feature = "kubernetes")]
        StoreSpec::Kubernetes { namespace } => {
            let client = kube.cloned().ok_or_else(|| {
                StoreError::Unavailable("no Kubernetes client was given for the Lease store".into())
            })?;
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

/// Builds the Kubernetes node handler over `client` and waits until the node cache holds the
/// first list. `drains` receives drain durations. Drain progress and PodDisruptionBudget
/// refusals are reported in the answers; `seed_annotations` also maintains the
/// `rebootmanager/status` node annotation. The drain engine shares `client`, which should
/// have `default_retry` off (see [`KubeClient`]).
#[cfg(feature = "kubernetes")]
pub async fn kubernetes_node_handler(
    client: KubeClient,
    drains: Option<DrainHistogram>,
    seed_annotations: bool,
) -> Result<Arc<dyn NodeHandler>, ServeError> {
    let progress = crate::kube_nodes::DrainProgress::new();
    let drainer = drain::DrainEngine::for_client(client.clone(), drain::DrainOptions::default())
        .on_event(progress.sink());
    let cache = crate::kube_nodes::NodeCache::start(client.clone())
        .await
        .map_err(|e| ServeError::Kubernetes(e.to_string()))?;
    let mut handler = crate::kube_nodes::KubeNodeHandler::new(client, cache, Arc::new(drainer))
        .with_progress(progress)
        .with_seed_annotations(seed_annotations);
    if let Some(drains) = drains {
        handler = handler.with_drain_metrics(drains);
    }
    Ok(Arc::new(handler))
}

/// Opens the configured store, binds `config.listen` and serves until `shutdown`.
///
/// `kube` is the Kubernetes client, built once by the caller; it is needed (and only used)
/// when the store is `kubernetes` or `config.kubernetes_nodes` is on.
#[cfg_attr(
    not(feature = "kubernetes"),
    allow(
        clippy::needless_pass_by_value,
        reason = "only `None` exists without the feature"
    )
)]
pub async fn serve(
    config: ServerConfig,
    kube: Option<KubeClient>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    tracing::debug!(?config, "configuration");
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    let store = open_store(&config.store, kube.as_ref()).await?;
    let addr = config.listen;
    #[cfg(feature = "kubernetes")]
    let (kubernetes_nodes, seed_annotations) = (config.kubernetes_nodes, config.seed_annotations);
    #[cfg_attr(not(feature = "kubernetes"), allow(unused_mut))]
    let mut app = FleetLock::new(config, store)?;
    // Without the `kubernetes` feature, `validate` has refused `kubernetes_nodes`.
    #[cfg(feature = "kubernetes")]
    if kubernetes_nodes {
        let client = kube.ok_or_else(|| {
            ServeError::Kubernetes("node handling needs a Kubernetes client; none was given".into())
        })?;
        let drains = app.metrics().drains.clone();
        let handler =
            kubernetes_node_handler(client.clone(), Some(drains), seed_annotations).await?;
        let events: Arc<dyn events::NodeEvents> = if app.config().events {
            let instance = std::env::var("HOSTNAME").unwrap_or_else(|_| "fleetlock-rs".to_owned());
            Arc::new(events::KubeNodeEvents::new(
                client.clone(),
                "fleetlock-rs",
                &instance,
            ))
        } else {
            Arc::new(events::NoEvents)
        };
        if app.config().rollout.enabled() {
            let rollout = crate::rollout::Rollout::start(
                client,
                Arc::clone(app.store()),
                Arc::clone(&handler),
                &app.config().rollout,
                app.metrics().gate_failures.clone(),
                app.metrics().gate_waits.clone(),
                Arc::clone(&events),
            )
            .map_err(|e| match e {
                gate::GateError::Config { field, message } => ServeError::Config(
                    crate::config::ConfigError::new(format!("health_gate ({field})"), message),
                ),
                other => ServeError::Kubernetes(other.to_string()),
            })?;
            app = app.with_rollout(rollout);
        }
        app = app.with_node_handler(handler).with_events(events);
    }
    let app = Arc::new(app);
    let background = Arc::clone(&app);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Io { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let served = if let Some(tls) = tls {
        let client_certificates = app
            .config()
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some());
        tracing::info!(%local, client_certificates, "fleetlock listening (HTTPS)");
        serve_tls_on(listener, tls, app, shutdown).await
    } else {
        tracing::info!(%local, "fleetlock listening");
        serve_on(listener, app, shutdown).await
    };
    background.stop_background();
    served.map_err(|source| ServeError::Io { addr, source })
}
