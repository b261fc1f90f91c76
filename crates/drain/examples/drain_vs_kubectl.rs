//! Benchmark: drain a node with 110 pods (some under PodDisruptionBudgets) with this crate's
//! engine and with the real `kubectl drain`, each on its own fresh, identical kubesim cluster,
//! in the same run; print wall time, API requests by verb, and the ratios.
//!
//! ```text
//! cargo run --release -p kured-drain --example drain_vs_kubectl [-- --pods 110 --pdb-groups 5]
//! ```
//!
//! The cluster: 4 nodes; `--pdb-groups` Deployments of 8 replicas (2 per node) each under a
//! PDB with `maxUnavailable: 1`, so the two pods of a group on the drained node must go one
//! after the other, the second only once the first one's replacement is Ready on another node;
//! the rest of the node's pods come from Deployments without a PDB (one pod per node each); one
//! DaemonSet pod per node. Both sides cordon node-0 and evict with grace period 0:
//! `kubectl drain node-0 --ignore-daemonsets --delete-emptydir-data --force --grace-period=0
//! --timeout=…`. kubectl (from the PATH) gets its own HOME and cache directory, so its
//! discovery requests are counted as a fresh kubectl's would be.

// Kubernetes kind names read better unquoted in prose.
#![allow(clippy::doc_markdown)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use drain::{DrainEngine, DrainOptions, Drainer, KubeNodeOps, NodeOps};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::resources::well_known::PODS;
use kubesim::store::EventType;
use serde_json::Value;

const NODE: &str = "node-0";
const NODES: usize = 4;
const REPLICAS_PER_GROUP: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Params {
    pods: usize,
    pdb_groups: usize,
}

fn parse_args() -> anyhow::Result<Params> {
    let mut p = Params {
        pods: 110,
        pdb_groups: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<usize> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} takes a number"))
        };
        match a.as_str() {
            "--pods" => p.pods = value("--pods")?,
            "--pdb-groups" => p.pdb_groups = value("--pdb-groups")?,
            "--bench" => {}
            other => bail!("unknown argument {other:?} (use --pods N, --pdb-groups K)"),
        }
    }
    let per_node = REPLICAS_PER_GROUP / NODES;
    ensure!(
        p.pods >= p.pdb_groups * per_node,
        "--pods must be at least {per_node} × --pdb-groups"
    );
    Ok(p)
}

async fn cluster(p: Params) -> anyhow::Result<RunningCluster> {
    let per_node = REPLICAS_PER_GROUP / NODES;
    let mut b = Cluster::builder()
        .nodes(NODES)
        .seed(42)
        .record_history(true)
        .daemonset("kube-system", "kured")
        .pods_per_node(p.pods - p.pdb_groups * per_node);
    for g in 0..p.pdb_groups {
        b = b.deployment(
            "shop",
            format!("web-{g}"),
            REPLICAS_PER_GROUP,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        );
    }
    let c = b.start().await?;
    let on_node = pods_on(&c).len();
    ensure!(
        on_node == p.pods + 1,
        "expected {} pods on {NODE} (with the DaemonSet pod), found {on_node}",
        p.pods + 1
    );
    Ok(c)
}

fn pods_on(c: &RunningCluster) -> Vec<std::sync::Arc<Value>> {
    c.store()
        .list(PODS, None, |p| p["spec"]["nodeName"] == NODE)
        .0
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The fewest healthy pods any PDB group had after `from_rv` (from the recorded history).
fn min_healthy_per_group(c: &RunningCluster, from_rv: u64) -> usize {
    let mut state: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let mut min = usize::MAX;
    for e in c.history() {
        if e.resource.plural != PODS.plural || e.object["metadata"]["namespace"] != "shop" {
            continue;
        }
        let group = e.object["metadata"]["labels"]["app"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = e.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let healthy = e.kind != EventType::Deleted
            && is_ready(&e.object)
            && e.object["metadata"]["deletionTimestamp"].is_null();
        let g = state.entry(group).or_default();
        g.insert(name, healthy);
        if e.rv > from_rv {
            min = min.min(g.values().filter(|h| **h).count());
        }
    }
    min
}

struct Run {
    wall: Duration,
    requests: BTreeMap<String, u64>,
    left: usize,
    min_healthy: usize,
}

impl Run {
    fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

fn finish(c: &RunningCluster, from_rv: u64, wall: Duration) -> Run {
    Run {
        wall,
        requests: c.requests_by_verb(),
        left: pods_on(c).len(),
        min_healthy: min_healthy_per_group(c, from_rv),
    }
}

async fn ours(p: Params) -> anyhow::Result<Run> {
    let c = cluster(p).await?;
    let before = c.requests_by_verb();
    ensure!(before.is_empty(), "fresh cluster has served nothing");
    let from_rv = c.store().current_rv();
    let started = Instant::now();
    kubesim::cluster::install_crypto_provider();
    let ops = KubeNodeOps::new(c.client()?);
    ops.cordon(NODE).await?;
    let engine = DrainEngine::for_config(
        c.kube_config(),
        DrainOptions {
            grace_period_seconds: 0,
            timeout: TIMEOUT,
            ..DrainOptions::default()
        },
    )?;
    let report = engine.drain(NODE).await?;
    let wall = started.elapsed();
    ensure!(
        report.evicted.len() == p.pods,
        "evicted {}",
        report.evicted.len()
    );
    let run = finish(&c, from_rv, wall);
    c.shutdown().await;
    Ok(run)
}

async fn kubectl(p: Params) -> anyhow::Result<Run> {
    let c = cluster(p).await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig.json");
    c.kubeconfig(&kubeconfig)?;
    let from_rv = c.store().current_rv();
    let started = Instant::now();
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "drain",
            NODE,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--grace-period=0",
            &format!("--timeout={}s", TIMEOUT.as_secs()),
        ])
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .env("KUBECACHEDIR", dir.path().join("cache"))
        .kill_on_drop(true)
        .output()
        .await
        .context("running kubectl (Debian package kubernetes-client)")?;
    let wall = started.elapsed();
    ensure!(
        out.status.success(),
        "kubectl drain failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let run = finish(&c, from_rv, wall);
    c.shutdown().await;
    Ok(run)
}

fn verbs(r: &BTreeMap<String, u64>) -> String {
    r.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(
    clippy::cast_precision_loss,
    reason = "request counts are far below 2^52"
)]
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    kubesim::cluster::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let p = parse_args()?;
    println!(
        "drain of {NODE}: {} pods ({} under {} PDBs with maxUnavailable 1) + 1 DaemonSet pod, \
         {NODES} nodes, grace period 0",
        p.pods,
        p.pdb_groups * REPLICAS_PER_GROUP / NODES,
        p.pdb_groups
    );
    let a = ours(p).await.context("our drain")?;
    let b = kubectl(p).await.context("kubectl drain")?;
    println!(
        "{:<16} {:>9} {:>9}  {:>11}  {:>10}  by verb",
        "", "wall", "requests", "pods left", "min PDB ok"
    );
    for (name, r) in [("kured-rs drain", &a), ("kubectl drain", &b)] {
        let min_ok = if r.min_healthy == usize::MAX {
            "-".to_string()
        } else {
            format!("{}/{REPLICAS_PER_GROUP}", r.min_healthy)
        };
        println!(
            "{name:<16} {:>8.2}s {:>9}  {:>11}  {min_ok:>10}  {}",
            r.wall.as_secs_f64(),
            r.total(),
            r.left,
            verbs(&r.requests)
        );
    }
    println!(
        "ratio kured-rs/kubectl: wall {:.3}x, requests {:.3}x (max {} eviction requests in \
         flight; kubectl: client-go's 5 QPS / burst 10)",
        a.wall.as_secs_f64() / b.wall.as_secs_f64(),
        ratio(a.total(), b.total()),
        drain::DEFAULT_MAX_IN_FLIGHT
    );
    ensure!(
        a.min_healthy >= REPLICAS_PER_GROUP - 1 && b.min_healthy >= REPLICAS_PER_GROUP - 1,
        "a PodDisruptionBudget was violated"
    );
    Ok(())
}
