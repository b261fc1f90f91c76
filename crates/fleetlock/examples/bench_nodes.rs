//! Benchmark: pre-reboot answers at 5,000 nodes on kubesim, our server (watch-fed
//! node cache) against a baseline that LISTs all nodes on every request (what the PHP reboot
//! manager does), measured in the same run with the same client load.
//!
//! Ours is measured on its hot path: ids that already hold their slot and whose (empty) node
//! is drained, i.e. Zincati re-asking while it postpones the reboot. The baseline does only the
//! LIST and the lookup by name, nothing else, so the ratio favours the baseline.
//!
//! `cargo run -p fleetlock --example bench_nodes [NODES] [CONCURRENCY]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use fleetlock::kube_nodes::{KubeNodeHandler, NodeCache};
use fleetlock::store::MemoryStore;
use fleetlock::{FleetLock, LockRequest, ServerConfig};
use http::StatusCode;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

struct Stats {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.requests as f64;
        n / self.elapsed.as_secs_f64()
    }
}

/// `workers` connections, each sending pre-reboots for its own ids until `total` are done.
async fn load(base: url::Url, ids: Arc<Vec<String>>, workers: usize, total: usize) -> Stats {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (base, ids, done) = (base.clone(), Arc::clone(&ids), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut i = w;
            while done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let id = &ids[i % ids.len()];
                i += workers;
                let c = fleetlock::Client::new(base.clone(), id, "default", http.clone())
                    .expect("client body encodes");
                let t = Instant::now();
                c.pre_reboot().await.expect("pre-reboot granted");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((all.len() as f64 - 1.0) * q).round() as usize;
        all[i]
    };
    Stats {
        requests: all.len(),
        elapsed,
        p50: pick(0.5),
        p99: pick(0.99),
    }
}

async fn baseline_handler(State(client): State<kube::Client>, body: Bytes) -> StatusCode {
    let Ok(req) = LockRequest::parse(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let nodes: Api<Node> = Api::all(client);
    match nodes.list(&ListParams::default()).await {
        Ok(list)
            if list
                .items
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(req.client_params.id.as_str())) =>
        {
            StatusCode::OK
        }
        Ok(_) => StatusCode::NOT_FOUND,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn serve(router: axum::Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url::Url::parse(&format!("http://{addr}/")).expect("valid URL")
}

#[tokio::main]
async fn main() {
    kubesim::cluster::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let t = Instant::now();
    let cluster = kubesim::cluster::Cluster::builder()
        .nodes(nodes)
        .controllers(false)
        .start()
        .await
        .expect("kubesim starts");
    let client = cluster.client().expect("kubesim client");
    println!("kubesim with {nodes} nodes up in {:?}", t.elapsed());

    // Ours.
    let t = Instant::now();
    let cache = NodeCache::start(client.clone()).await.expect("node cache");
    let drainer =
        drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
            .expect("drainer");
    let handler = Arc::new(KubeNodeHandler::new(
        client.clone(),
        cache,
        Arc::new(drain::KubeNodeOps::new(client.clone())),
        Arc::new(drainer),
    ));
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        ..ServerConfig::default()
    };
    config
        .groups
        .insert("default".into(), u32::try_from(nodes).unwrap_or(u32::MAX));
    let app = FleetLock::new(config, Arc::new(MemoryStore::new()))
        .expect("valid config")
        .with_node_handler(handler);
    let ours = serve(fleetlock::router(Arc::new(app))).await;
    let ids: Arc<Vec<String>> = Arc::new((0..workers * 8).map(|i| format!("node-{i}")).collect());
    // Warm-up: every id takes its slot, its node is cordoned and drained (empty nodes).
    let http = reqwest::Client::new();
    for id in ids.iter() {
        let c = fleetlock::Client::new(ours.clone(), id, "default", http.clone()).expect("client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.pre_reboot().await.is_err() {
            assert!(Instant::now() < deadline, "{id} never granted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "ours: node cache + {} grants ready in {:?}",
        ids.len(),
        t.elapsed()
    );
    let ours_stats = load(ours, Arc::clone(&ids), workers, 20_000).await;

    // Baseline: one LIST of all nodes per request.
    let baseline = serve(
        axum::Router::new()
            .route("/v1/pre-reboot", post(baseline_handler))
            .with_state(client.clone()),
    )
    .await;
    let baseline_stats = load(baseline, ids, workers, 200).await;

    println!("nodes={nodes} concurrency={workers}");
    for (name, s) in [
        ("fleetlock-rs", &ours_stats),
        ("list-all-nodes baseline", &baseline_stats),
    ] {
        println!(
            "{name:>24}: {:>6} requests in {:>8.2?}  {:>9.1} req/s  p50 {:>9.2?}  p99 {:>9.2?}",
            s.requests,
            s.elapsed,
            s.rate(),
            s.p50,
            s.p99
        );
    }
    println!(
        "throughput ratio {:.1}x, p99 ratio {:.1}x",
        ours_stats.rate() / baseline_stats.rate(),
        baseline_stats.p99.as_secs_f64() / ours_stats.p99.as_secs_f64()
    );
    cluster.shutdown().await;
}
