//! `kured-rs`: the Kubernetes reboot daemon, a drop-in replacement for kured 1.23.
//!
//! Parse ([`cli`]: flags and `KURED_*` variables) → plan ([`plan`]: every part validated before
//! any client exists; a bad value prints one line naming the flag and exits with code 2) →
//! client → run ([`agent::Deps::for_client`], `/metrics` and `/healthz` on
//! `--metrics-host:--metrics-port`, SIGTERM/SIGINT stop the agent cleanly).
//! `kured-rs --print-flags-markdown` prints the table of flags and variables.
//! Without a usable cluster configuration it logs one line saying what it tried
//! ([`kube_config`]) and exits with code 1.

mod cli;
mod plan;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::{Flags, apply_env};
use crate::plan::Plan;

fn main() -> ExitCode {
    // kube's rustls client panics without a process-wide provider.
    daemon::install_crypto_provider();
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.first().is_some_and(|a| a == "--print-flags-markdown") {
        print!("{}", cli::flags_markdown());
        return ExitCode::SUCCESS;
    }
    let args = apply_env(args, |name| std::env::var(name).ok());
    let flags = match Flags::try_parse_from(std::iter::once("kured-rs".to_string()).chain(args)) {
        Ok(f) => f,
        Err(e) => e.exit(),
    };
    let plan = match Plan::from_flags(&flags) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kured-rs: error: {e}");
            return ExitCode::from(2);
        }
    };
    daemon::init_logging(flags.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kured-rs: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        node = %plan.config.node_id,
        window = %plan.config.window,
        "Kubernetes Reboot Daemon (kured-rs)"
    );
    let mut kube_config = kube_config().await?;
    // kube's default client retries 429/503/504 inside a request for up to minutes, invisibly:
    // a PDB refusal of an eviction would never reach the drain engine, and a lock request
    // could hang that long. Every part retries by itself (lock: bounded rounds; drain: its
    // own backoff and PDB watch; the loop: every period), so one client with it off serves all.
    kube_config.default_retry = false;
    let client =
        kube::Client::try_from(kube_config).context("cannot create the Kubernetes client")?;
    let metrics = agent::Metrics::new();
    let deps = agent::Deps::for_client(&client, plan.parts, metrics.clone())?;

    let cancel = CancellationToken::new();
    let (host, port) = (plan.metrics_host, plan.metrics_port);
    let (listener, addr) = agent::bind(&host, port)
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    info!(%addr, "serving /metrics and /healthz");
    let server = tokio::spawn(agent::serve(listener, metrics, cancel.clone()));
    let signals = cancel.clone();
    tokio::spawn(async move {
        daemon::termination_signal().await;
        info!("termination signal received; stopping");
        signals.cancel();
    });
    let outcome = agent::Agent::new(plan.config, deps)
        .run(cancel.clone())
        .await;
    cancel.cancel();
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "metrics server failed");
    }
    info!(?outcome, "exiting");
    Ok(())
}

/// The in-cluster service account's files, as kube reads them.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The variables that point a pod at its API server.
const IN_CLUSTER_VARIABLES: [&str; 2] = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];

/// kube's `Config::infer` (a kubeconfig from `KUBECONFIG` or `~/.kube/config`, else the pod's
/// service account), except that when neither works the error is one line naming what was
/// tried and why each failed (kube's own error repeats the kubeconfig's reason three times).
async fn kube_config() -> anyhow::Result<kube::Config> {
    let options = kube::config::KubeConfigOptions::default();
    let kubeconfig = match kube::Config::from_kubeconfig(&options).await {
        Ok(mut config) => {
            config.apply_debug_overrides();
            return Ok(config);
        }
        Err(e) => e,
    };
    let in_cluster = match kube::Config::incluster() {
        Ok(mut config) => {
            config.apply_debug_overrides();
            return Ok(config);
        }
        Err(e) => e,
    };
    anyhow::bail!(
        "cannot load the Kubernetes configuration: tried a kubeconfig file ({}) and the in-cluster service account ({})",
        kubeconfig_failure(&kubeconfig),
        in_cluster_failure(&in_cluster)
    )
}

/// Where the kubeconfig was looked for and why it could not be used.
fn kubeconfig_failure(error: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError;
    let source = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(value) => format!("KUBECONFIG={}", value.to_string_lossy()),
        None => "KUBECONFIG is not set, so ~/.kube/config".to_owned(),
    };
    match error {
        KubeconfigError::ReadConfig(io, path) => {
            format!("{source}: cannot read {}: {io}", path.display())
        }
        KubeconfigError::FindPath => format!("{source}: there is no home directory"),
        other => format!("{source}: {}", first_line(&other.to_string())),
    }
}

/// The first line of a message: a YAML error goes on with a multi-line excerpt of the file.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// Why the pod's service account could not be used.
fn in_cluster_failure(error: &kube::config::InClusterError) -> String {
    use kube::config::InClusterError;
    let unset: Vec<&str> = IN_CLUSTER_VARIABLES
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    match error {
        InClusterError::ReadEnvironmentVariable(_) if !unset.is_empty() => {
            let verb = if unset.len() == 1 { "is" } else { "are" };
            format!("{} {verb} not set", unset.join(" and "))
        }
        InClusterError::ReadDefaultNamespace(io) => {
            format!("cannot read {SERVICE_ACCOUNT_DIR}/namespace: {io}")
        }
        InClusterError::ReadCertificateBundle(io) => {
            format!("cannot read {SERVICE_ACCOUNT_DIR}/ca.crt: {io}")
        }
        other => {
            let values: Vec<String> = IN_CLUSTER_VARIABLES
                .into_iter()
                .map(|name| {
                    let value = std::env::var_os(name).unwrap_or_default();
                    format!("{name}={}", value.to_string_lossy())
                })
                .collect();
            format!("{}: {}", values.join(" "), first_line(&other.to_string()))
        }
    }
}
