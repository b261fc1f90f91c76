//! `kured-rs`: the Kubernetes reboot daemon, a drop-in replacement for kured 1.23.
//!
//! Parse ([`cli`]: flags and `KURED_*` variables) → plan ([`plan`]: every part validated before
//! any client exists; a bad value prints one line naming the flag and exits with code 2) →
//! client ([`client`]) → run ([`agent::Deps::for_client`], `/metrics` and `/healthz` on
//! `--metrics-host:--metrics-port`, SIGTERM/SIGINT stop the agent cleanly).
//! `kured-rs --print-flags-markdown` prints the table of flags and variables.
//! Without a usable cluster configuration it logs one line saying what it tried
//! ([`client::client`]) and exits with code 1.

mod cli;
mod client;
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
    let client = client::client().await?;
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
