//! Safety under races: ≥ 50 contenders, each with its own client, on kubesim with injected
//! 409s, 500s, 429s, latency and cut watch streams; some crash while holding and are freed by the TTL or by the
//! deletion of their Node. Fixed fault seed here (override with `LOCK_RACE_SEED`); the ignored
//! `random_seeds_loop` runs many random seeds (`cargo test -p kured-lock --test race -- --ignored`).

mod common;

use std::time::Duration;

use common::{Backend, Race, run_race};

fn seed() -> u64 {
    std::env::var("LOCK_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b75_7265_6472_7321)
}

fn race(backend: Backend, concurrency: u32, seed: u64) -> Race {
    Race {
        backend,
        concurrency,
        contenders: 50,
        crash_ttl: 2,
        crash_deleted: 2,
        ttl: Duration::from_millis(
            std::env::var("LOCK_RACE_TTL_MS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3000),
        ),
        seed,
    }
}

async fn check(r: Race) {
    let report = run_race(r).await;
    eprintln!("{r:?}: {report:?}");
    assert_eq!(report.winners, r.contenders);
    assert!(report.max_recorded_holders <= r.concurrency as usize);
    let f = report.faults;
    assert!(
        f.errors_500 > 0 && f.conflicts_409 > 0,
        "faults were injected: {f:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_race_concurrency_1() {
    check(race(Backend::DAEMONSET, 1, seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_race_concurrency_3() {
    check(race(Backend::DAEMONSET, 3, seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_merge_patch_race_concurrency_3() {
    check(race(Backend::DAEMONSET_PATCH, 3, seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_race_concurrency_1() {
    check(race(Backend::LEASE, 1, seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_race_concurrency_3() {
    check(race(Backend::LEASE, 3, seed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: many random seeds; run with --ignored"]
async fn random_seeds_loop() {
    let rounds: u64 = std::env::var("LOCK_RACE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    for _ in 0..rounds {
        let seed = fastrand::u64(..);
        for backend in [Backend::DAEMONSET, Backend::DAEMONSET_PATCH, Backend::LEASE] {
            for c in [1, 3] {
                eprintln!("seed {seed}");
                check(race(backend, c, seed)).await;
            }
        }
    }
}
