//! A tiny `kubectl drain` built on this crate: cordon a node, drain it (evictions that honour
//! PodDisruptionBudgets), print progress; or uncordon it again.
//!
//! ```text
//! cargo run -p kured-drain --example drain_node -- NODE [--timeout SECONDS] [--grace SECONDS]
//! cargo run -p kured-drain --example drain_node -- NODE --uncordon
//! ```
//!
//! Credentials are inferred as kubectl does (`KUBECONFIG`, `~/.kube/config`, or the in-cluster
//! service account). Exit status: 0 drained (or uncordoned), 1 the drain or the API call
//! failed, 2 bad usage.

// Kubernetes kind names read better unquoted in prose.
#![allow(clippy::doc_markdown)]

use std::process::ExitCode;
use std::time::Duration;

use drain::{DrainEngine, DrainEvent, DrainOptions, Drainer, KubeNodeOps, NodeOps};

const USAGE: &str =
    "usage: drain_node NODE [--timeout SECONDS] [--grace SECONDS] | drain_node NODE --uncordon";

struct Args {
    node: String,
    uncordon: bool,
    timeout: Duration,
    grace_seconds: i64,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut node = None;
    let mut uncordon = false;
    let mut timeout = Duration::from_secs(300);
    let mut grace_seconds = -1; // -1: each pod's own terminationGracePeriodSeconds
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--uncordon" => uncordon = true,
            "--timeout" | "--grace" => {
                let value = argv.next().ok_or(format!("{arg} needs a value"))?;
                let secs: u32 = value
                    .parse()
                    .map_err(|_| format!("{arg}: not a number of seconds: {value:?}"))?;
                if arg == "--timeout" {
                    timeout = Duration::from_secs(secs.into());
                } else {
                    grace_seconds = secs.into();
                }
            }
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            name if node.is_none() => node = Some(name.to_owned()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    Ok(Args {
        node: node.ok_or("missing NODE")?,
        uncordon,
        timeout,
        grace_seconds,
    })
}

fn print_event(event: &DrainEvent) {
    match event {
        DrainEvent::Selected {
            evict, warnings, ..
        } => {
            if !warnings.is_empty() {
                eprintln!("warning: {warnings}");
            }
            println!("evicting {} pods", evict.len());
        }
        DrainEvent::Evicted(pod) => println!("evicted {pod}"),
        DrainEvent::BlockedByPdb {
            pod,
            message,
            retry_in,
        } => println!("{pod}: blocked by a PodDisruptionBudget ({message}); retry in {retry_in:?}"),
        DrainEvent::Gone(pod) => println!("{pod} is gone"),
        DrainEvent::Failed(failure) => eprintln!("eviction failed: {failure}"),
        DrainEvent::Finished { node, elapsed } => println!("{node} drained in {elapsed:?}"),
        _ => {}
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = kube::Config::infer().await?;
    let ops = KubeNodeOps::new(kube::Client::try_from(config.clone())?);
    if args.uncordon {
        let was = ops.uncordon(&args.node).await?;
        println!(
            "{}: {}",
            args.node,
            if was {
                "uncordoned"
            } else {
                "was not cordoned"
            }
        );
        return Ok(());
    }
    if ops.cordon(&args.node).await? {
        println!("{} was already cordoned", args.node);
    } else {
        println!("{} cordoned", args.node);
    }
    let options = DrainOptions {
        grace_period_seconds: args.grace_seconds,
        timeout: args.timeout,
        ..DrainOptions::default()
    };
    let drainer = DrainEngine::for_config(config, options)?.on_event(print_event);
    let report = drainer.drain(&args.node).await?;
    for (pod, reason) in &report.skipped {
        println!("left on the node: {pod} ({reason})");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // kube's rustls client needs a process-wide crypto provider (ring, the workspace's only one).
    // An error only means one is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
