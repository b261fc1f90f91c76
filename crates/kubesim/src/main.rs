//! `kubesim`: serve a seeded, simulated cluster on 127.0.0.1 until SIGTERM or Ctrl-C.
//!
//! ```text
//! kubesim --nodes 5 --pods-per-node 10 --listen 127.0.0.1:0 --kubeconfig-out /tmp/kubesim.json
//! kubectl --kubeconfig /tmp/kubesim.json get nodes
//! ```
//!
//! The URL is printed on stdout (one line); logs go to stderr.

// The argument docs are clap's `--help` text, where Kubernetes kind names read better plain.
#![allow(clippy::doc_markdown)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kubesim::auth::AuthConfig;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
use kubesim::faults::FaultConfig;

/// Serve an in-memory, simulated Kubernetes cluster over plain HTTP.
#[derive(Debug, Parser)]
#[command(name = "kubesim", version)]
struct Args {
    /// Number of nodes (named `<node-prefix>0…`).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Pods per node, as that many Deployments (`default/app-N`) of one pod per node.
    #[arg(long, default_value_t = 0)]
    pods_per_node: usize,
    /// Address to listen on (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig for the cluster to this path.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Seed for generated names and uids (and the fault RNG).
    #[arg(long)]
    seed: Option<u64>,
    /// Do not run the simulated kubelet and controllers.
    #[arg(long)]
    no_controllers: bool,
    /// Node name prefix.
    #[arg(long, default_value = "node-")]
    node_prefix: String,
    /// Also seed a DaemonSet `NAMESPACE/NAME` (repeatable), e.g. `kube-system/kured`.
    #[arg(long = "daemonset", value_name = "NAMESPACE/NAME")]
    daemonsets: Vec<String>,
    /// Also seed a Deployment `NAMESPACE/NAME=REPLICAS` with a PDB `minAvailable: 1` (repeatable).
    #[arg(long = "deployment", value_name = "NAMESPACE/NAME=REPLICAS")]
    deployments: Vec<String>,
    /// Require this bearer token (admin) on every request.
    #[arg(long)]
    token: Option<String>,
    /// Fault injection: latency added to every non-discovery request.
    #[arg(long, default_value = "0ms", value_parser = humantime_duration)]
    latency: Duration,
    /// Fault injection: fraction (0–1) of non-discovery requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// Fault injection: end every watch stream after this many events.
    #[arg(long)]
    cut_watch_after: Option<usize>,
    /// Pod start delay of the simulated kubelet.
    #[arg(long, default_value = "500ms", value_parser = humantime_duration)]
    start_delay: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|e| format!("{s}: {e}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s}: unit must be ms, s or m")),
    }
}

fn split_ns_name(s: &str) -> anyhow::Result<(String, String)> {
    let (ns, name) = s
        .split_once('/')
        .with_context(|| format!("{s}: expected NAMESPACE/NAME"))?;
    Ok((ns.to_string(), name.to_string()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Colours only on a terminal (a log file gets plain text).
    daemon::init_logging(daemon::LogFormat::Text);
    let args = Args::parse();
    let mut b = Cluster::builder()
        .nodes(args.nodes)
        .node_name_prefix(args.node_prefix.clone())
        .pods_per_node(args.pods_per_node)
        .listen(args.listen)
        .controllers(!args.no_controllers)
        .kubelet_start_delay(args.start_delay);
    if let Some(seed) = args.seed {
        b = b.seed(seed);
    }
    for ds in &args.daemonsets {
        let (ns, name) = split_ns_name(ds)?;
        b = b.daemonset(ns, name);
    }
    for d in &args.deployments {
        let (ns_name, replicas) = d
            .split_once('=')
            .with_context(|| format!("{d}: expected NAMESPACE/NAME=REPLICAS"))?;
        let (ns, name) = split_ns_name(ns_name)?;
        let replicas: usize = replicas
            .parse()
            .with_context(|| format!("{d}: bad replica count"))?;
        b = b.deployment(
            ns,
            name,
            replicas,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        );
    }
    let faults = FaultConfig {
        latency: args.latency,
        error_500_fraction: args.fail_rate,
        cut_watch_after: args.cut_watch_after,
        seed: args.seed.unwrap_or(0),
        ..FaultConfig::default()
    };
    if faults.is_active() {
        b = b.faults(faults);
    }
    if let Some(token) = &args.token {
        b = b.auth(AuthConfig::new().admin(token.clone(), "kubesim-admin"));
    }
    let started = std::time::Instant::now();
    let cluster = b.start().await.context("starting the cluster")?;
    tracing::info!(
        nodes = args.nodes,
        pods = cluster
            .store()
            .list(kubesim::resources::well_known::PODS, None, |_| true)
            .0
            .len(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "kubesim started"
    );
    if let Some(path) = &args.kubeconfig_out {
        cluster
            .kubeconfig(path)
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "kubeconfig written");
    }
    println!("{}", cluster.url());
    daemon::termination_signal().await;
    tracing::info!("stopping");
    cluster.shutdown().await;
    Ok(())
}
