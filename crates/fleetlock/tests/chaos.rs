//! FleetLock chaos (issue 10): over seeded runs, two server replicas share ONE store (the
//! file store, and a real etcd), many clients run Zincati's pre-reboot → reboot →
//! steady-state cycle concurrently, and the replicas are crashed (their runtime torn down
//! mid-request) or stopped gracefully and restarted all along.
//!
//! Invariants, checked after every client step and by an observer reading the store
//! directly every few milliseconds:
//! - never more holders in the store than slots, never a duplicate holder;
//! - never more clients between "pre-reboot granted" and "rebooted" than slots;
//! - a holder re-asking pre-reboot is never refused with "semaphore full";
//! - no unexpected refusal kind (only full / store unavailable / transport errors);
//! - every client completes its reboot exactly once, and the store is empty at the end.
//!
//! Quick mode (default, CI): `FLEETLOCK_CHAOS_RUNS` = 3 runs per store. Long mode:
//! `FLEETLOCK_CHAOS_RUNS=200 cargo nextest run -p fleetlock --test chaos --no-capture`.
//! `FLEETLOCK_CHAOS_SEED` sets the first seed (default 1); a failure prints its seed.
//! etcd is skipped only when the binary is missing and `CI` is unset.

// FleetLock and Zincati are product names in prose.
#![allow(clippy::doc_markdown)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetlock::store::{EtcdStore, FileStore};
use fleetlock::{ClientError, FleetLock, LockStore, ServerConfig};

const GROUP: &str = "chaos";
/// A run that has not finished by then counts as a violation (a client never completed).
const RUN_DEADLINE: Duration = Duration::from_secs(90);

/// How each replica (and the observer) opens its own handle on the shared store.
#[derive(Clone, Debug)]
enum Backing {
    File(PathBuf),
    Etcd { endpoint: url::Url, prefix: String },
}

impl Backing {
    async fn open(&self) -> Arc<dyn LockStore> {
        match self {
            Self::File(path) => Arc::new(FileStore::open(path.clone()).await.unwrap()),
            Self::Etcd { endpoint, prefix } => {
                Arc::new(EtcdStore::new(vec![endpoint.clone()], prefix.clone()).unwrap())
            }
        }
    }
}

/// One server replica with its own runtime, so a crash can drop every task it has.
struct Replica {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl Replica {
    async fn start(config: &ServerConfig, backing: &Backing) -> (Self, SocketAddr) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = config.clone();
        // Opened here (on the test's runtime) so a failure fails the test; the handle's
        // operations then run on the replica's runtime.
        let store = backing.open().await;
        let served = runtime.spawn(async move {
            let app = Arc::new(FleetLock::new(config, store).unwrap());
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            fleetlock::serve_on(listener, app, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (
            Self {
                runtime: Some(runtime),
                stop: Some(stop),
                served: Some(served),
            },
            addr,
        )
    }

    /// Crash: every task of the replica (requests in flight included) is dropped at once.
    fn crash(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        self.stop = None;
        self.served = None;
    }

    /// Graceful stop, falling back to a crash after a second.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), served).await;
        }
        self.crash();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.crash();
    }
}

/// Shared between clients, the observer and the chaos controller.
struct World {
    slots: usize,
    /// Current address of each replica (`None` while it is down).
    addrs: Mutex<Vec<Option<SocketAddr>>>,
    /// Clients between "pre-reboot granted" and "rebooted".
    rebooting: Mutex<BTreeSet<usize>>,
    completed: Mutex<Vec<usize>>,
    violations: Mutex<Vec<String>>,
    done: AtomicBool,
    requests: AtomicUsize,
    restarts: AtomicUsize,
}

impl World {
    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> Option<SocketAddr> {
        let addrs = self.addrs.lock().unwrap();
        addrs[rng.usize(..addrs.len())]
    }
}

fn http() -> reqwest::Client {
    common::install_crypto();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
}

enum Step {
    Pre,
    Steady,
}

/// One request to a random live replica; `Ok(true)` = 200, `Ok(false)` = retry later.
async fn call(
    world: &World,
    http: &reqwest::Client,
    rng: &mut fastrand::Rng,
    id: &str,
    step: &Step,
) -> Result<bool, String> {
    let Some(addr) = world.pick(rng) else {
        return Ok(false);
    };
    world.requests.fetch_add(1, Ordering::Relaxed);
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let client = fleetlock::Client::new(base, id, GROUP, http.clone()).unwrap();
    let result = match step {
        Step::Pre => client.pre_reboot().await,
        Step::Steady => client.steady_state().await,
    };
    match result {
        Ok(()) => Ok(true),
        Err(ClientError::Http(_)) => Ok(false),
        Err(ClientError::Rejected { body, .. })
            if body.kind == "failed_lock_semaphore_full"
                || body.kind == "failed_store_unavailable" =>
        {
            if matches!(step, Step::Steady) && body.kind == "failed_lock_semaphore_full" {
                return Err(format!("{id}: steady-state refused as full"));
            }
            Ok(false)
        }
        Err(e) => Err(format!("{id}: unexpected refusal: {e}")),
    }
}

async fn pause(rng: &mut fastrand::Rng, max_ms: u64) {
    tokio::time::sleep(Duration::from_millis(rng.u64(0..=max_ms))).await;
}

/// Retries `step` until it gets 200; `false` if the run is over or something was violated.
async fn until_ok(
    world: &World,
    http: &reqwest::Client,
    rng: &mut fastrand::Rng,
    id: &str,
    step: &Step,
) -> bool {
    while !world.done.load(Ordering::Relaxed) {
        match call(world, http, rng, id, step).await {
            Ok(true) => return true,
            Ok(false) => pause(rng, 8).await,
            Err(e) => {
                world.violation(e);
                return false;
            }
        }
    }
    false
}

/// One Zincati: (maybe a stray steady-state) → pre-reboot until granted → maybe re-ask while
/// "postponing" → reboot → steady-state until 200.
async fn zincati(world: Arc<World>, n: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let http = http();
    let id = format!("node-{n:02}");
    pause(&mut rng, 20).await;
    if rng.u8(..10) < 2 {
        // Steady-state by a non-holder: must change nothing (the observer would see a
        // holder vanish only through the store; the invariants below catch over-grants).
        let _ = call(&world, &http, &mut rng, &id, &Step::Steady).await;
    }
    if !until_ok(&world, &http, &mut rng, &id, &Step::Pre).await {
        return;
    }
    {
        let mut rebooting = world.rebooting.lock().unwrap();
        rebooting.insert(n);
        if rebooting.len() > world.slots {
            let now: Vec<_> = rebooting.iter().collect();
            world.violation(format!(
                "{} clients rebooting at once with {} slot(s): {now:?}",
                rebooting.len(),
                world.slots
            ));
        }
    }
    // Zincati re-asks while it postpones the reboot: a holder must get 200 again.
    for _ in 0..rng.usize(0..3) {
        match call(&world, &http, &mut rng, &id, &Step::Pre).await {
            Ok(_) => {}
            Err(e) => world.violation(e),
        }
        pause(&mut rng, 5).await;
    }
    pause(&mut rng, 15).await; // the reboot
    world.rebooting.lock().unwrap().remove(&n);
    // After boot: steady-state, retried until it is certainly released.
    if until_ok(&world, &http, &mut rng, &id, &Step::Steady).await {
        world.completed.lock().unwrap().push(n);
    }
}

/// Reads the store directly and checks holders ≤ slots and no duplicate holder.
async fn observe(world: Arc<World>, store: Arc<dyn LockStore>) -> usize {
    let mut checks = 0;
    while !world.done.load(Ordering::Relaxed) {
        if let Ok(v) = store.get(GROUP).await {
            checks += 1;
            let ids: BTreeSet<_> = v.state.holders.iter().map(|h| h.id.as_str()).collect();
            if v.state.holders.len() > world.slots || ids.len() != v.state.holders.len() {
                world.violation(format!(
                    "store holds {:?} with {} slot(s)",
                    v.state.holders, world.slots
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    checks
}

/// Crashes or stops replicas at random and restarts them until the run is over.
async fn chaos(
    world: Arc<World>,
    mut replicas: Vec<Replica>,
    config: ServerConfig,
    backing: Backing,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x00c0_ffee);
    let mut first = true;
    while !world.done.load(Ordering::Relaxed) {
        // The first failure comes early, while every client is still at work.
        pause(&mut rng, if first { 5 } else { 40 }).await;
        first = false;
        // Usually one replica, sometimes both at once.
        let victims: Vec<usize> = if rng.u8(..5) == 0 {
            (0..replicas.len()).collect()
        } else {
            vec![rng.usize(..replicas.len())]
        };
        for &i in &victims {
            world.addrs.lock().unwrap()[i] = None;
            if rng.bool() {
                replicas[i].crash();
            } else {
                replicas[i].stop().await;
            }
        }
        pause(&mut rng, 25).await;
        for &i in &victims {
            let (replica, addr) = Replica::start(&config, &backing).await;
            replicas[i] = replica;
            world.addrs.lock().unwrap()[i] = Some(addr);
            world.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }
    for r in &mut replicas {
        r.crash();
    }
}

/// Outcome of one seeded run.
struct RunReport {
    violations: Vec<String>,
    requests: usize,
    restarts: usize,
    checks: usize,
}

async fn run(seed: u64, backing: Backing) -> RunReport {
    let mut rng = fastrand::Rng::with_seed(seed);
    let slots = rng.usize(1..=3);
    let clients = rng.usize(6..=14);
    let mut config = common::config(&[(GROUP, u32::try_from(slots).unwrap())]);
    config.request_timeout = Duration::from_secs(2);

    let mut replicas = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let (r, a) = Replica::start(&config, &backing).await;
        replicas.push(r);
        addrs.push(Some(a));
    }
    let world = Arc::new(World {
        slots,
        addrs: Mutex::new(addrs),
        rebooting: Mutex::new(BTreeSet::new()),
        completed: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
        requests: AtomicUsize::new(0),
        restarts: AtomicUsize::new(0),
    });
    let observer_store = backing.open().await;
    let observer = tokio::spawn(observe(Arc::clone(&world), Arc::clone(&observer_store)));
    let controller = tokio::spawn(chaos(
        Arc::clone(&world),
        replicas,
        config.clone(),
        backing.clone(),
        seed,
    ));
    let mut tasks = Vec::new();
    for n in 0..clients {
        tasks.push(tokio::spawn(zincati(
            Arc::clone(&world),
            n,
            seed.wrapping_mul(1000) + n as u64,
        )));
    }
    let started = Instant::now();
    let all = futures::future::join_all(tasks);
    let timed_out = tokio::time::timeout(RUN_DEADLINE, all).await.is_err();
    world.done.store(true, Ordering::Relaxed);
    if timed_out {
        world.violation(format!(
            "clients did not finish within {:?}",
            started.elapsed()
        ));
    }
    let checks = observer.await.unwrap();
    controller.await.unwrap();

    let mut completed = world.completed.lock().unwrap().clone();
    completed.sort_unstable();
    if completed != (0..clients).collect::<Vec<_>>() {
        world.violation(format!(
            "{} of {clients} clients completed exactly once: {completed:?}",
            completed.len()
        ));
    }
    match observer_store.get(GROUP).await {
        Ok(v) if v.state.holders.is_empty() => {}
        Ok(v) => world.violation(format!("holders left at the end: {:?}", v.state.holders)),
        Err(e) => world.violation(format!("reading the store at the end: {e}")),
    }
    let violations = world.violations.lock().unwrap().clone();
    RunReport {
        violations,
        requests: world.requests.load(Ordering::Relaxed),
        restarts: world.restarts.load(Ordering::Relaxed),
        checks,
    }
}

fn runs_and_seed() -> (u64, u64) {
    let runs = std::env::var("FLEETLOCK_CHAOS_RUNS")
        .ok()
        .map_or(3, |v| v.parse().expect("FLEETLOCK_CHAOS_RUNS is a number"));
    let seed = std::env::var("FLEETLOCK_CHAOS_SEED")
        .ok()
        .map_or(1, |v| v.parse().expect("FLEETLOCK_CHAOS_SEED is a number"));
    (runs, seed)
}

async fn campaign(name: &str, backing: impl Fn(u64) -> Backing) {
    let (runs, first) = runs_and_seed();
    let started = Instant::now();
    let (mut violations, mut requests, mut restarts, mut checks) = (0, 0, 0, 0);
    for seed in first..first + runs {
        let report = run(seed, backing(seed)).await;
        for v in &report.violations {
            eprintln!("[{name}] seed {seed}: VIOLATION {v}");
        }
        violations += report.violations.len();
        requests += report.requests;
        restarts += report.restarts;
        checks += report.checks;
    }
    println!(
        "fleetlock chaos [{name}]: runs={runs} (seeds {first}..{}), violations={violations}, \
         requests={requests}, replica restarts={restarts}, store checks={checks}, wall={:.1?}",
        first + runs,
        started.elapsed()
    );
    assert_eq!(violations, 0, "[{name}] invariant violations (see above)");
    assert!(restarts > 0 && checks > 0, "the chaos did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_two_replicas_on_one_file_store() {
    let dir = tempfile::tempdir().unwrap();
    campaign("file", |seed| {
        Backing::File(dir.path().join(format!("run-{seed}.db")))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_two_replicas_on_one_etcd() {
    if !common::etcd_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "etcd is required in CI (apt-get install -y etcd-server)"
        );
        eprintln!("SKIPPED: no `etcd` binary (install etcd-server); set CI=1 to make this fail");
        return;
    }
    let etcd = common::start_etcd().await;
    let endpoint = url::Url::parse(&etcd.client_url).unwrap();
    campaign("etcd", |seed| Backing::Etcd {
        endpoint: endpoint.clone(),
        prefix: format!("/chaos/{seed}"),
    })
    .await;
}
