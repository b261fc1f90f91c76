//! `kured-rs`: the Kubernetes reboot daemon, a drop-in replacement for kured 1.23.
//!
//! Flags and `KURED_*` variables ([`cli`]) are validated ([`settings`]) before any client is
//! created — a bad value prints one line naming the flag and exits with code 2 — then the
//! real implementations are wired into [`agent::Agent`], `/metrics` and `/healthz` are served
//! on `--metrics-host:--metrics-port`, and SIGTERM/SIGINT stop the agent cleanly.
//! `kured-rs --print-flags-markdown` prints the table of flags and variables.

mod cli;
mod settings;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::{Flags, LockBackend, LockWait, LogFormat, apply_env};
use crate::settings::Settings;

fn main() -> ExitCode {
    // kube's rustls client panics without a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    let settings = match Settings::from_flags(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kured-rs: error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(flags.log_format);
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
    match runtime.block_on(run(flags, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn run(flags: Flags, settings: Settings) -> anyhow::Result<()> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        node = %flags.node_id,
        window = %settings.window,
        "Kubernetes Reboot Daemon (kured-rs)"
    );
    let kube_config = kube::Config::infer()
        .await
        .context("cannot load the Kubernetes configuration")?;
    // kube's default client retries 429/503/504 inside a request for up to minutes, invisibly:
    // a PDB refusal of an eviction would never reach the drain engine, and a lock request
    // could hang that long. Every part retries by itself (lock: bounded rounds; drain: its
    // own backoff and PDB watch; the loop: every period), so one client with it off serves all.
    let mut kube_config = kube_config;
    kube_config.default_retry = false;
    let client =
        kube::Client::try_from(kube_config).context("cannot create the Kubernetes client")?;

    let (lock, drainer, blockers) = cluster_parts(&flags, &settings, &client)?;
    run_agent(flags, settings, client, lock, drainer, blockers).await
}

type ClusterParts = (
    Arc<dyn lock::RebootLock>,
    Arc<dyn drain::Drainer>,
    Arc<dyn blockers::RebootBlocker>,
);

/// The lock, the drainer and the blockers (they need the cluster client).
fn cluster_parts(
    flags: &Flags,
    settings: &Settings,
    client: &kube::Client,
) -> anyhow::Result<ClusterParts> {
    let lock: Arc<dyn lock::RebootLock> = match flags.lock_backend {
        LockBackend::Annotation => Arc::new(lock::DaemonSetLock::new(
            client.clone(),
            lock::DaemonSetLockConfig {
                namespace: flags.ds_namespace.clone(),
                name: flags.ds_name.clone(),
                annotation: flags.lock_annotation.clone(),
                ..lock::DaemonSetLockConfig::default()
            }
            .concurrency(flags.concurrency)
            .ttl(flags.lock_ttl),
        )?),
        LockBackend::Lease => Arc::new(lock::LeaseLock::new(
            client.clone(),
            lock::LeaseLockConfig {
                namespace: flags.ds_namespace.clone(),
                name: flags.ds_name.clone(),
                annotation: flags.lock_annotation.clone(),
                ..lock::LeaseLockConfig::default()
            }
            .concurrency(flags.concurrency)
            .ttl(flags.lock_ttl),
        )?),
    };
    let drainer = drain::DrainEngine::for_client(
        client.clone(),
        drain::DrainOptions {
            grace_period_seconds: flags.drain_grace_period,
            timeout: flags.drain_timeout,
            skip_wait_for_delete_timeout: std::time::Duration::from_secs(
                flags.skip_wait_for_delete_timeout,
            ),
            pod_selector: flags.drain_pod_selector.clone(),
            ..drain::DrainOptions::default()
        },
    );
    let mut blockers = blockers::CompositeBlocker::new();
    if let Some(p) = &settings.prometheus {
        blockers.push(Arc::new(p.clone()));
    }
    if !flags.blocking_pod_selector.is_empty() {
        blockers.push(Arc::new(blockers::PodBlocker::new(
            client.clone(),
            flags.blocking_pod_selector.clone(),
        )?));
    }
    if !flags.opt_out_key.trim().is_empty() {
        blockers.push(Arc::new(blockers::OptOutBlocker::new(
            client.clone(),
            flags.opt_out_key.clone(),
            blockers::OptOutSource::LabelOrAnnotation,
        )?));
    }
    Ok((lock, Arc::new(drainer), Arc::new(blockers)))
}

async fn run_agent(
    flags: Flags,
    settings: Settings,
    client: kube::Client,
    lock: Arc<dyn lock::RebootLock>,
    drainer: Arc<dyn drain::Drainer>,
    blockers: Arc<dyn blockers::RebootBlocker>,
) -> anyhow::Result<()> {
    let metrics = agent::Metrics::new();
    let cancel = CancellationToken::new();
    let (listener, addr) = agent::bind(&flags.metrics_host, flags.metrics_port)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{}",
                flags.metrics_host, flags.metrics_port
            )
        })?;
    info!(%addr, "serving /metrics and /healthz");
    let server = tokio::spawn(agent::serve(listener, metrics.clone(), cancel.clone()));

    let mut config = agent::Config::new(flags.node_id.clone());
    config.period = flags.period;
    config.window = settings.window;
    config.force_reboot = flags.force_reboot;
    config.drain_delay = flags.drain_delay;
    config.reboot_delay = flags.reboot_delay;
    config.lock_release_delay = flags.lock_release_delay;
    config.prefer_no_schedule_taint =
        Some(flags.prefer_no_schedule_taint.clone()).filter(|t| !t.trim().is_empty());
    config.annotate_nodes = flags.annotate_nodes;
    config.pre_reboot_node_labels = settings.pre_labels;
    config.post_reboot_node_labels = settings.post_labels;
    config.lock_wait = match flags.lock_wait {
        LockWait::Poll => agent::LockWaitMode::Poll,
        LockWait::Wait => agent::LockWaitMode::Wait,
    };
    let deps = agent::Deps {
        nodes: Arc::new(drain::KubeNodeOps::new(client.clone())),
        node_reader: Arc::new(agent::KubeNodeReader::new(client)),
        drainer,
        lock,
        sentinel: settings.sentinel,
        rebooter: settings.rebooter,
        blockers,
        notifications: settings.notifications,
        clock: Arc::new(agent::SystemClock),
        metrics,
    };

    let signals = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("termination signal received; stopping");
        signals.cancel();
    });
    let outcome = agent::Agent::new(config, deps).run(cancel.clone()).await;
    cancel.cancel();
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "metrics server failed");
    }
    info!(?outcome, "exiting");
    Ok(())
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
