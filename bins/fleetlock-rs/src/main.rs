//! `fleetlock-rs`: flags, environment and configuration file → [`fleetlock::ServerConfig`] →
//! [`fleetlock::serve`], with one Kubernetes client built here when the Lease store or node
//! handling needs it. Invalid input exits with status 2 and names the field; a failure to
//! start (e.g. no Kubernetes credentials) exits 1 with the reason.

// Doc comments of the CLI are its --help text, where product names (FleetLock, CoreOS) read
// better without code backticks.
#![allow(clippy::doc_markdown)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::Args;
use fleetlock::StoreSpec;

/// Resolves on SIGTERM or SIGINT, then logs that the server is shutting down.
async fn shutdown_signal() {
    daemon::termination_signal().await;
    tracing::info!("shutting down");
}

/// Builds the Kubernetes client when the configuration needs one, then serves.
async fn run(config: fleetlock::ServerConfig) -> Result<(), String> {
    let needs_kubernetes =
        matches!(config.store, StoreSpec::Kubernetes { .. }) || config.kubernetes_nodes;
    let kube = if needs_kubernetes {
        Some(kube_client().await?)
    } else {
        None
    };
    fleetlock::serve(config, kube, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// The one Kubernetes client of the server (kubeconfig or in-cluster credentials).
async fn kube_client() -> Result<kube::Client, String> {
    let mut kube_config = kube::Config::infer()
        .await
        .map_err(|e| format!("kubernetes: no Kubernetes credentials: {e}"))?;
    // kube's default client retries 429/503/504 inside a request for up to minutes, invisibly:
    // a PodDisruptionBudget refusal would never reach the drain engine, and a lock request
    // would only end at the request timeout. Every part retries by itself (the drain engine:
    // its own backoff and PDB watch; the node cache: the watcher's backoff; the Lease store and
    // cordoning: every request is bounded and answered non-2xx, and Zincati asks again), so
    // one client with it off serves all, as in kured-rs.
    kube_config.default_retry = false;
    kube::Client::try_from(kube_config)
        .map_err(|e| format!("kubernetes: cannot create the Kubernetes client: {e}"))
}

fn main() -> ExitCode {
    // One TLS stack everywhere: reqwest (etcd store) uses rustls with ring. Err only means a
    // provider was already installed, which is fine.
    daemon::install_crypto_provider();
    let args = Args::parse();
    let config = match cli::build_config(&args, &cli::EnvTokens::from_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleetlock-rs: {e}");
            return ExitCode::from(2);
        }
    };
    daemon::init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleetlock-rs: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        store = ?config.store,
        groups = ?config.groups,
        auto_create_groups = config.auto_create_groups,
        tls = config.tls.is_some(),
        client_certificates = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        protocol_token = config.protocol_token.is_some(),
        admin = config.admin_token.is_some(),
        "starting fleetlock-rs"
    );
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fleetlock-rs failed");
            eprintln!("fleetlock-rs: {e}");
            ExitCode::FAILURE
        }
    }
}
