//! Handoff latency: 10 waiters queue for a lock; each winner holds it briefly and releases.
//! Measures the time from a release (the start of the call) to the next successful acquire, with waiters that block on
//! `wait_for_change()` versus waiters that poll every second (kured's behaviour with a short
//! `--period`), on the same in-process kubesim, for both backends.
//!
//! Run: `cargo run --release -p kured-lock --example handoff` (options: `--waiters N`,
//! `--poll-ms MS`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubesim::cluster::Cluster;
use lock::{AcquireOutcome, Backend, LockConfig, LockMetadata, RebootLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Watch,
    Poll(Duration),
}

fn make_lock(backend: Backend, client: kube::Client) -> Arc<dyn RebootLock> {
    LockConfig::default()
        .backend(backend)
        .build(client)
        .expect("valid config")
}

/// Runs one queue of `waiters` and returns the release→acquire latencies.
async fn run(backend: Backend, mode: Mode, waiters: usize) -> Vec<Duration> {
    let cluster = Cluster::builder()
        .nodes(waiters + 1)
        .daemonset("kube-system", "kured")
        .controllers(false)
        .start()
        .await
        .expect("kubesim starts");
    let first = make_lock(backend, cluster.client().expect("client"));
    let meta = LockMetadata::default();
    assert!(matches!(
        first.acquire("node-0", meta).await,
        Ok(AcquireOutcome::Acquired(_))
    ));
    let released_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 1..=waiters {
        let lock = make_lock(backend, cluster.client().expect("client"));
        let released_at = released_at.clone();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("node-{i}");
            loop {
                match lock.acquire(&me, meta).await {
                    Ok(AcquireOutcome::Acquired(_)) => break,
                    Ok(AcquireOutcome::HeldBy(_)) => match mode {
                        Mode::Watch => {
                            let _ = tokio::time::timeout(
                                Duration::from_secs(30),
                                lock.wait_for_change(),
                            )
                            .await;
                        }
                        Mode::Poll(period) => tokio::time::sleep(period).await,
                    },
                    Ok(AcquireOutcome::Halted(h)) => panic!("{me}: rollout halted: {h:?}"),
                    Err(e) => panic!("{me}: {e}"),
                }
            }
            let took = released_at
                .lock()
                .expect("not poisoned")
                .map(|t| t.elapsed());
            if let Some(took) = took {
                latencies.lock().expect("not poisoned").push(took);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Stamped before the release call, so the stamp always precedes the next acquire
            // (the latency includes the release's own round trip, in both modes alike).
            *released_at.lock().expect("not poisoned") = Some(Instant::now());
            lock.release(&me).await.expect("release");
        }));
    }
    // Let every waiter find the lock held and start waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    *released_at.lock().expect("not poisoned") = Some(Instant::now());
    first.release("node-0").await.expect("release");
    for t in tasks {
        t.await.expect("waiter");
    }
    cluster.shutdown().await;
    latencies.lock().expect("not poisoned").clone()
}

fn summary(v: &[Duration]) -> (Duration, Duration, Duration) {
    let mut s = v.to_vec();
    s.sort();
    let n = u32::try_from(s.len().max(1)).unwrap_or(u32::MAX);
    let mean = s.iter().sum::<Duration>() / n;
    let median = s.get(s.len() / 2).copied().unwrap_or_default();
    let max = s.last().copied().unwrap_or_default();
    (mean, median, max)
}

#[tokio::main]
async fn main() {
    kubesim::cluster::install_crypto_provider();
    let mut waiters = 10;
    let mut poll = Duration::from_secs(1);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--waiters" => waiters = args.next().and_then(|v| v.parse().ok()).unwrap_or(waiters),
            "--poll-ms" => {
                poll = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map_or(poll, Duration::from_millis);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    println!("handoff latency, {waiters} waiters, release -> next acquire");
    for backend in Backend::ALL {
        let watch = run(backend, Mode::Watch, waiters).await;
        let polled = run(backend, Mode::Poll(poll), waiters).await;
        let (wm, wmed, wmax) = summary(&watch);
        let (pm, pmed, pmax) = summary(&polled);
        println!(
            "{backend:?}: wait_for_change mean {wm:?} median {wmed:?} max {wmax:?} ({} handoffs)",
            watch.len()
        );
        println!(
            "{backend:?}: poll every {poll:?} mean {pm:?} median {pmed:?} max {pmax:?} ({} handoffs)",
            polled.len()
        );
        println!(
            "{backend:?}: polling / wait_for_change mean latency ratio = {:.1}x",
            pm.as_secs_f64() / wm.as_secs_f64().max(1e-9)
        );
    }
}
