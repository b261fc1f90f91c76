//! Agent footprint: one real `kured-rs` process against kubesim with no reboot pending.
//! Prints its resident memory (current and peak, from /proc) and the API requests it made,
//! by verb, over the measured time, extrapolated to an hour.
//!
//! `cargo run --release -p reboot-sim --example agent_footprint -- target/release/kured-rs 60s [kured-rs flags…]`

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use kubesim::cluster::Cluster;

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .unwrap_or_else(|| "target/release/kured-rs".into());
    let measure = args
        .next()
        .map(|s| humantime::parse_duration(&s))
        .transpose()?
        .unwrap_or(Duration::from_secs(60));
    let extra: Vec<String> = args.collect();

    let cluster = Cluster::builder()
        .nodes(3)
        .daemonset("kube-system", "kured")
        .pods_per_node(2)
        .start()
        .await?;
    let dir = std::env::temp_dir().join(format!("agent-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    cluster.kubeconfig(&kubeconfig)?;
    let mut child = Command::new(&binary)
        .args(["--node-id", "node-0", "--metrics-port", "0"])
        .args([
            "--reboot-sentinel",
            &dir.join("reboot-required").display().to_string(),
        ])
        .args(&extra)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {binary}"))?;
    // Start-up (discovery, first reads) is not steady state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = cluster.requests_by_verb();
    tokio::time::sleep(measure).await;
    let after = cluster.requests_by_verb();
    let pid = child.id();
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let alive = child.try_wait()?.is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(alive, "{binary} exited early");

    println!(
        "kured-rs idle: RSS {} KiB, peak {} KiB",
        rss.unwrap_or(0),
        hwm.unwrap_or(0)
    );
    let hours = measure.as_secs_f64() / 3600.0;
    let mut total = 0;
    for (verb, n) in &after {
        let d = n - before.get(verb).copied().unwrap_or(0);
        if d > 0 {
            total += d;
            #[allow(clippy::cast_precision_loss)] // small counts
            let per_hour = d as f64 / hours;
            println!(
                "  {verb:<8} {d} in {} -> {per_hour:.0}/h",
                humantime::format_duration(measure)
            );
        }
    }
    #[allow(clippy::cast_precision_loss)] // small counts
    let per_hour = total as f64 / hours;
    println!("  total    {total} -> {per_hour:.0}/h (watch streams stay open across the window)");
    cluster.shutdown().await;
    Ok(())
}
