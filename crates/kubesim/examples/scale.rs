//! Scale measurement: start a large simulated cluster and time start-up, a node list and a
//! field-selected pod list, through kube-rs (raw and typed) and through the real `kubectl`.
//!
//! ```text
//! cargo run --release -p kubesim --example scale -- [NODES] [PODS_PER_NODE] [REPEATS]
//! ```
//!
//! Defaults: 5,000 nodes, 10 pods per node (50,000 pods), 5 repeats (the median is printed).

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kubesim::cluster::Cluster;
use kubesim::resources::well_known::PODS;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median duration of `n` runs of `f`, and the last result.
async fn median<F, Fut, T>(n: usize, mut f: F) -> anyhow::Result<(Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed());
    }
    times.sort();
    let last = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok((times[times.len() / 2], last))
}

/// Raw GET through the kube client: response size in bytes.
async fn raw_get(client: &kube::Client, path: &str) -> anyhow::Result<usize> {
    let req = axum::http::Request::get(path).body(Vec::new())?;
    Ok(client.request_text(req).await?.len())
}

/// One kubectl run: elapsed time and output line count.
async fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> Option<(Duration, usize)> {
    let t = Instant::now();
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env("KUBECACHEDIR", home.join("cache"))
        .output()
        .await
        .ok()?;
    let elapsed = t.elapsed();
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    out.status.success().then_some((elapsed, lines))
}

/// Median of `repeats` kubectl runs.
async fn kubectl_median(
    kubeconfig: &Path,
    home: &Path,
    args: &[&str],
    repeats: usize,
) -> Option<(Duration, usize)> {
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        runs.push(kubectl(kubeconfig, home, args).await?);
    }
    runs.sort();
    runs.get(runs.len() / 2).copied()
}

async fn api_figures(client: &kube::Client, target: &str, repeats: usize) -> anyhow::Result<()> {
    let (d, bytes) = median(repeats, || raw_get(client, "/api/v1/nodes")).await?;
    println!(
        "GET /api/v1/nodes (raw, {} kB): {:.1} ms",
        bytes / 1000,
        ms(d)
    );

    let nodes: Api<Node> = Api::all(client.clone());
    let (d, n) = median(repeats, || async {
        Ok(nodes.list(&ListParams::default()).await?.items.len())
    })
    .await?;
    println!(
        "kube-rs Api<Node>::list ({n} nodes, typed decode): {:.1} ms",
        ms(d)
    );

    let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{target}");
    let (d, bytes) = median(repeats, || raw_get(client, &path)).await?;
    println!(
        "GET /api/v1/pods?fieldSelector=spec.nodeName={target} (raw, {bytes} B): {:.1} ms",
        ms(d)
    );

    let pods: Api<Pod> = Api::all(client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={target}"));
    let (d, n) = median(repeats, || async { Ok(pods.list(&lp).await?.items.len()) }).await?;
    println!(
        "kube-rs Api<Pod>::list fieldSelector spec.nodeName ({n} pods): {:.1} ms",
        ms(d)
    );
    Ok(())
}

async fn kubectl_figures(
    cluster: &kubesim::cluster::RunningCluster,
    target: &str,
    repeats: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig.json");
    cluster.kubeconfig(&kubeconfig)?;
    // One warm-up run fills kubectl's discovery cache.
    if kubectl(&kubeconfig, dir.path(), &["get", "nodes", "-o", "name"])
        .await
        .is_none()
    {
        println!("kubectl not found or failed: kubectl figures skipped");
        return Ok(());
    }
    if let Some((d, lines)) =
        kubectl_median(&kubeconfig, dir.path(), &["get", "nodes"], repeats).await
    {
        println!(
            "kubectl get nodes ({} rows, paged by 500): {:.0} ms",
            lines.saturating_sub(1),
            ms(d)
        );
    }
    let sel = format!("spec.nodeName={target}");
    let args = ["get", "pods", "-A", "--field-selector", &sel];
    if let Some((d, lines)) = kubectl_median(&kubeconfig, dir.path(), &args, repeats).await {
        println!(
            "kubectl get pods -A --field-selector {sel} ({} rows): {:.0} ms",
            lines.saturating_sub(1),
            ms(d)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nodes = arg(1, 5_000);
    let per_node = arg(2, 10);
    let repeats = arg(3, 5);
    println!("kubesim scale: {nodes} nodes, {per_node} pods per node, median of {repeats} runs");

    let t = Instant::now();
    let cluster = Cluster::builder()
        .nodes(nodes)
        .pods_per_node(per_node)
        .start()
        .await?;
    let startup = t.elapsed();
    let pods = cluster.store().list(PODS, None, |_| true).0.len();
    println!(
        "start-up (seed {nodes} nodes + {pods} pods, serve, controllers): {:.0} ms",
        ms(startup)
    );

    // Let the controllers finish their initial resync before measuring requests.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = cluster.client()?;
    let target = format!("node-{}", nodes / 2);
    api_figures(&client, &target, repeats).await?;
    kubectl_figures(&cluster, &target, repeats).await?;
    cluster.shutdown().await;
    Ok(())
}
