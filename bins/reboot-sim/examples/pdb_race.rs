//! Stress for the double eviction grant seen by the chaos runs (docs/chaos.md): two evictions
//! of pods under one PDB (`maxUnavailable: 1`, all pods healthy) sent at once, as soon as the
//! budget allows one, many rounds. Prints how many rounds granted both (a correct API server:
//! never). `cargo run --release -p reboot-sim --example pdb_race [rounds]`

use std::time::Duration;

use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
use kubesim::resources::well_known::{PDBS, PODS};
use reboot_sim::pdb_healthy;
use serde_json::json;

// kubesim's store API returns its ApiError by value.
#[allow(clippy::result_large_err)]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    kubesim::cluster::install_crypto_provider();
    let replicas = 8;
    let cluster = Cluster::builder()
        .nodes(4)
        .deployment(
            "default",
            "web",
            replicas,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        )
        .kubelet_start_delay(Duration::from_millis(5))
        .shutdown_time(Duration::from_millis(5))
        .reschedule_delay(Duration::from_millis(2))
        .start()
        .await?;
    let http = raw_http(&cluster);
    let store = cluster.store().clone();
    // Churn: pod writes in the namespace keep the disruption controller reconciling, as the
    // pod starts and status updates of a rolling reboot do.
    let churn = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut i = 0u64;
            loop {
                let (pods, _) = store.list(PODS, Some("default"), pdb_healthy);
                if let Some(p) = pods.first()
                    && let Some(name) = p["metadata"]["name"].as_str()
                {
                    i += 1;
                    let _ = store.update(PODS, "default", name, |cur| {
                        let mut o = cur.clone();
                        o["metadata"]["annotations"]["churn"] = json!(i.to_string());
                        Ok(o)
                    });
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let (mut both, mut one, mut none) = (0, 0, 0);
    for _ in 0..rounds {
        // Wait for a whole app and a budget that allows exactly one disruption.
        let pods = loop {
            let (pods, _) = store.list(PODS, Some("default"), |p| {
                p["metadata"]["labels"]["app"] == "web" && pdb_healthy(p)
            });
            let allowed = store.get(PDBS, "default", "web-pdb").map_or(0, |p| {
                p["status"]["disruptionsAllowed"].as_i64().unwrap_or(0)
            });
            if pods.len() == replicas && allowed == 1 {
                break pods;
            }
            tokio::task::yield_now().await;
        };
        let names: Vec<String> = pods
            .iter()
            .take(2)
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        let (a, b) = tokio::join!(http.evict(&names[0]), http.evict(&names[1]));
        match (a?, b?) {
            (true, true) => both += 1,
            (true, false) | (false, true) => one += 1,
            (false, false) => none += 1,
        }
    }
    churn.abort();
    println!("{rounds} rounds: both evictions granted {both}, one {one}, none {none}");
    cluster.shutdown().await;
    Ok(())
}

/// Raw HTTP/1.1 eviction POSTs over a TCP socket (no client library in the way).
struct Evictor {
    addr: std::net::SocketAddr,
}

fn raw_http(cluster: &kubesim::cluster::RunningCluster) -> Evictor {
    Evictor {
        addr: cluster.addr(),
    }
}

impl Evictor {
    /// `true` when the eviction was granted (2xx).
    async fn evict(&self, pod: &str) -> anyhow::Result<bool> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": pod, "namespace": "default"}})
        .to_string();
        let req = format!(
            "POST /api/v1/namespaces/default/pods/{pod}/eviction HTTP/1.1\r\nHost: kubesim\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut s = tokio::net::TcpStream::connect(self.addr).await?;
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        let head = String::from_utf8_lossy(&out[..out.len().min(16)]).to_string();
        Ok(head.starts_with("HTTP/1.1 2"))
    }
}
