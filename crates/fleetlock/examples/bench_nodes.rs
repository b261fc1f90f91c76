//! Benchmark: lock-protocol answers at 5,000 nodes on kubesim, our server (watch-fed node index)
//! against a baseline that LISTs all nodes on every request (what the original PHP reboot
//! manager does), measured in the same run.
//!
//! The measured requests are what a Zincati fleet sends during a rolling update, byte for byte
//! (POST, `fleet-lock-protocol: true`, pretty-printed JSON body, no Content-Type), with ids
//! that are Zincati's app-specific machine ids, so every request goes through the id → node
//! mapping:
//!
//! - `pre-reboot, holder`: the ids holding the group's slots re-ask while Zincati postpones
//!   the reboot; their (empty) nodes are already cordoned and drained, so no eviction happens
//!   per request — the path is id mapping + semaphore read + drain state → 200;
//! - `pre-reboot, slots full`: the rest of the fleet asking for a slot → 409
//!   `failed_lock_semaphore_full` with its JSON body;
//! - `steady-state, not held`: machines reporting after boot; by design this path reads the
//!   node's metadata from the API server once (our marks decide whether to uncordon, and a
//!   cache that lags must never leave a node cordoned), so it is bound by the API server.
//!
//! `pre-reboot, holder, node churn` repeats the holder path while 100 Node updates per second
//! (an annotation patch on nodes round robin) flow through the watch into the node index, as
//! status, label and annotation changes do in a real cluster of this size.
//!
//! The first four use the in-memory store, to measure the server itself. The last line,
//! `pre-reboot, holder, Lease store`, is the same holder path with `--store kubernetes` (what
//! the deploy base runs with two replicas): every request then also GETs the group's Lease.
//!
//! The baseline does only the LIST and a lookup by name, nothing else, so the ratio favours
//! the baseline.
//!
//! The load generator is a minimal HTTP/1.1 keep-alive client (pre-encoded requests) on its
//! own single-threaded runtime and OS thread. It shares the machine's cores with the server and
//! with kubesim; `load generator CPU` in the output is what it used.
//!
//! `cargo run --release -p fleetlock --example bench_nodes -- [NODES] [CONNECTIONS] [REQUESTS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use fleetlock::kube_nodes::{DrainProgress, KubeNodeHandler, NodeCache};
use fleetlock::node_id::zincati_id;
use fleetlock::store::MemoryStore;
use fleetlock::{FleetLock, LockRequest, ServerConfig};
use http::StatusCode;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Holders of the group's slots (and their nodes, drained during the warm-up).
const HOLDERS: usize = 64;

struct Stats {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    cpu: Duration,
}

impl Stats {
    fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.requests as f64;
        n / self.elapsed.as_secs_f64()
    }
}

/// The exact bytes Zincati sends (reqwest: Host, Accept, Content-Length; no Content-Type).
fn request(addr: std::net::SocketAddr, path: &str, id: &str) -> Vec<u8> {
    let body = serde_json::to_string_pretty(&LockRequest::new(id, "default"))
        .expect("a request body always encodes");
    format!(
        "POST /{path} HTTP/1.1\r\nhost: {addr}\r\nfleet-lock-protocol: true\r\naccept: */*\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends one request on a keep-alive connection and reads the status and the whole answer.
async fn exchange(
    conn: &mut BufReader<TcpStream>,
    req: &[u8],
    line: &mut String,
) -> std::io::Result<u16> {
    conn.get_mut().write_all(req).await?;
    line.clear();
    conn.read_line(line).await?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if conn.read_line(line).await? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok(status)
}

/// `connections` keep-alive connections, cycling through `requests` (pre-encoded), until
/// `total` answers are in; every answer must have status `want`. Runs on its own thread and
/// single-threaded runtime so its cost is measured apart (thread CPU time).
fn load(
    addr: std::net::SocketAddr,
    requests: Vec<Vec<u8>>,
    connections: usize,
    total: usize,
    want: u16,
) -> Stats {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("load generator runtime");
        let cpu_start = thread_cpu();
        let stats = rt.block_on(async move {
            let requests = Arc::new(requests);
            let done = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..connections {
                let (requests, done) = (Arc::clone(&requests), Arc::clone(&done));
                tasks.push(tokio::spawn(async move {
                    let stream = TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut conn = BufReader::new(stream);
                    let mut line = String::new();
                    let mut latencies = Vec::with_capacity(total / connections + 1);
                    let mut i = c;
                    while done.fetch_add(1, Ordering::Relaxed) < total {
                        let req = &requests[i % requests.len()];
                        i += connections;
                        let t = Instant::now();
                        let status = exchange(&mut conn, req, &mut line).await.expect("answer");
                        latencies.push(t.elapsed());
                        assert_eq!(status, want, "unexpected answer");
                    }
                    latencies
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("connection task"));
            }
            (all, started.elapsed())
        });
        let cpu = thread_cpu().saturating_sub(cpu_start);
        let (mut all, elapsed) = stats;
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
            cpu,
        }
    })
    .join()
    .expect("load generator thread")
}

/// CPU time (user + system) from a `/proc/.../stat` file, in clock ticks of 10 ms.
fn stat_cpu(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // After the command name (in parentheses) come fields 3 (state), 4, …; utime and stime
    // are fields 14 and 15, so indexes 11 and 12 here. Some fields may be negative (tpgid).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((tick(11) + tick(12)) * 10)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    stat_cpu("/proc/thread-self/stat")
}

/// CPU time of the whole process.
fn process_cpu() -> Duration {
    stat_cpu("/proc/self/stat")
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

async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// One result line. `busy` is the process CPU time during the run; minus the load generator's
/// thread CPU time, it is what the server (and the idle kubesim) used: per request, a figure
/// that does not depend on how much CPU other programs left us.
fn print(name: &str, s: &Stats, busy: Duration) {
    let server = busy.saturating_sub(s.cpu);
    #[allow(clippy::cast_precision_loss)]
    let per_request = server.as_secs_f64() * 1e6 / s.requests as f64;
    println!(
        "{name:>28}: {:>7} requests in {:>8.2?}  {:>9.1} req/s  p50 {:>9.2?}  p99 {:>9.2?}  CPU: load generator {:.0}%, server+kubesim {:.0}% = {per_request:.1} µs/request",
        s.requests,
        s.elapsed,
        s.rate(),
        s.p50,
        s.p99,
        100.0 * s.cpu.as_secs_f64() / s.elapsed.as_secs_f64(),
        100.0 * server.as_secs_f64() / s.elapsed.as_secs_f64(),
    );
}

/// Runs `load` and returns its stats with the process CPU time used meanwhile.
fn measured(
    addr: std::net::SocketAddr,
    requests: Vec<Vec<u8>>,
    connections: usize,
    total: usize,
    want: u16,
) -> (Stats, Duration) {
    let before = process_cpu();
    let stats = load(addr, requests, connections, total, want);
    (stats, process_cpu().saturating_sub(before))
}

#[tokio::main]
#[allow(clippy::too_many_lines)] // one benchmark, read top to bottom
async fn main() {
    kubesim::cluster::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    assert!(nodes >= 2 * HOLDERS, "need at least {} nodes", 2 * HOLDERS);
    let t = Instant::now();
    let cluster = kubesim::cluster::Cluster::builder()
        .nodes(nodes)
        .controllers(false)
        .start()
        .await
        .expect("kubesim starts");
    let client = cluster.client().expect("kubesim client");
    println!("kubesim with {nodes} nodes up in {:?}", t.elapsed());

    // Zincati's ids: the app-specific id of each node's machine id.
    let list = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let mut ids: Vec<String> = list
        .items
        .iter()
        .filter_map(|n| {
            let mid = &n.status.as_ref()?.node_info.as_ref()?.machine_id;
            zincati_id(mid)
        })
        .collect();
    assert_eq!(ids.len(), nodes, "every kubesim node has a machine id");
    ids.sort();
    let holders: Vec<String> = ids[..HOLDERS].to_vec();
    let others: Vec<String> = ids[HOLDERS..].to_vec();

    // Ours.
    let t = Instant::now();
    let cache = NodeCache::start(client.clone()).await.expect("node cache");
    println!("node cache: {} nodes in {:?}", cache.len(), t.elapsed());
    let progress = DrainProgress::new();
    let drainer =
        drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
            .expect("drainer")
            .on_event(progress.sink());
    let handler = Arc::new(
        KubeNodeHandler::new(client.clone(), cache, Arc::new(drainer)).with_progress(progress),
    );
    let app = FleetLock::new(bench_config(), Arc::new(MemoryStore::new()))
        .expect("valid config")
        .with_node_handler(Arc::clone(&handler) as Arc<dyn fleetlock::kube_nodes::NodeHandler>);
    let ours = serve(fleetlock::router(Arc::new(app))).await;
    // The same node handler behind a server on the Lease store.
    let lease_app = FleetLock::new(
        bench_config(),
        Arc::new(fleetlock::store::KubernetesStore::new(
            client.clone(),
            "default",
        )),
    )
    .expect("valid config")
    .with_node_handler(Arc::clone(&handler) as Arc<dyn fleetlock::kube_nodes::NodeHandler>);
    let leased = serve(fleetlock::router(Arc::new(lease_app))).await;
    // Warm-up: every holder takes its slot, its node is cordoned and drained (empty nodes).
    let t = Instant::now();
    let http = reqwest::Client::new();
    let base = url::Url::parse(&format!("http://{ours}/")).expect("valid URL");
    for id in &holders {
        let c = fleetlock::Client::new(base.clone(), id, "default", http.clone()).expect("client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.pre_reboot().await.is_err() {
            assert!(Instant::now() < deadline, "{id} never granted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "{HOLDERS} holders granted (nodes cordoned + drained) in {:?}",
        t.elapsed()
    );
    let base_leased = url::Url::parse(&format!("http://{leased}/")).expect("valid URL");
    for id in &holders {
        fleetlock::Client::new(base_leased.clone(), id, "default", http.clone())
            .expect("client")
            .pre_reboot()
            .await
            .expect("granted on the Lease store (node already drained)");
    }

    let reqs = |path: &str, ids: &[String]| -> Vec<Vec<u8>> {
        ids.iter().map(|id| request(ours, path, id)).collect()
    };
    // A short warm-up of the measured path (connections, allocator).
    let _ = load(
        ours,
        reqs("v1/pre-reboot", &holders),
        connections,
        total / 20,
        200,
    );
    let (held, held_cpu) = measured(
        ours,
        reqs("v1/pre-reboot", &holders),
        connections,
        total,
        200,
    );
    let (full, full_cpu) = measured(
        ours,
        reqs("v1/pre-reboot", &others),
        connections,
        total,
        409,
    );
    // Node churn: 100 updates/s through the watch while holders re-ask.
    let churn = {
        let nodes: Api<Node> = Api::all(client.clone());
        let names: Vec<String> = list
            .items
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for i in 0usize.. {
                tick.tick().await;
                let patch =
                    serde_json::json!({"metadata": {"annotations": {"bench/tick": i.to_string()}}});
                let _ = nodes
                    .patch(
                        &names[i % names.len()],
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await;
            }
        })
    };
    let (churned, churned_cpu) = measured(
        ours,
        reqs("v1/pre-reboot", &holders),
        connections,
        total,
        200,
    );
    churn.abort();
    let (steady, steady_cpu) = measured(
        ours,
        reqs("v1/steady-state", &others),
        connections,
        total / 10,
        200,
    );

    let (lease, lease_cpu) = measured(
        leased,
        holders
            .iter()
            .map(|id| request(leased, "v1/pre-reboot", id))
            .collect(),
        connections,
        total / 10,
        200,
    );

    // Baseline: one LIST of all nodes per request (node names as ids: it does no mapping).
    let baseline = serve(
        axum::Router::new()
            .route("/v1/pre-reboot", post(baseline_handler))
            .with_state(client.clone()),
    )
    .await;
    let names: Vec<String> = (0..HOLDERS).map(|i| format!("node-{i}")).collect();
    let base_reqs = names
        .iter()
        .map(|n| request(baseline, "v1/pre-reboot", n))
        .collect();
    let (base_stats, base_cpu) = measured(baseline, base_reqs, connections, 100, 200);

    println!(
        "nodes={nodes} connections={connections} cores={}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    print("pre-reboot, holder", &held, held_cpu);
    print("pre-reboot, slots full", &full, full_cpu);
    print("pre-reboot, holder, churn", &churned, churned_cpu);
    print("steady-state, not held", &steady, steady_cpu);
    print("pre-reboot, holder, Lease", &lease, lease_cpu);
    print("list-all-nodes baseline", &base_stats, base_cpu);
    println!(
        "holder pre-reboot vs baseline: throughput {:.0}x, p99 {:.0}x",
        held.rate() / base_stats.rate(),
        base_stats.p99.as_secs_f64() / held.p99.as_secs_f64()
    );
    cluster.shutdown().await;
}

/// A server on a free loopback port whose `default` group has `HOLDERS` slots.
fn bench_config() -> ServerConfig {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        ..ServerConfig::default()
    };
    config.groups.insert(
        "default".into(),
        u32::try_from(HOLDERS).expect("HOLDERS fits u32"),
    );
    config
}
