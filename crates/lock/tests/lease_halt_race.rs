//! The Lease backend's halt window: a grant of slot 1 races a halt written on Lease 0 (two
//! objects, so no single `resourceVersion` orders them). Every grant that stands must have
//! been written before the halt; a grant that lost the race is given back.

mod common;

use std::time::Duration;

use common::{Backend, NAMESPACE, acquired, client, faulty_cluster};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kubesim::faults::FaultConfig;
use lock::{AcquireOutcome, RolloutFailure};

/// The Lease's resourceVersion (0 when it does not exist).
async fn rv(api: &Api<Lease>, name: &str) -> u64 {
    let Some(lease) = api.get_opt(name).await.expect("get lease") else {
        return 0;
    };
    lease
        .metadata
        .resource_version
        .expect("has a resourceVersion")
        .parse()
        .expect("kubesim's versions are integers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_of_another_slot_never_outlives_a_later_halt() {
    // Random latency so that the grant's read, its write and the halt write interleave.
    let faults = FaultConfig {
        jitter: Duration::from_millis(3),
        seed: 18,
        ..FaultConfig::default()
    };
    let cluster = faulty_cluster(3, faults).await;
    let api: Api<Lease> = Api::namespaced(client(&cluster), NAMESPACE);
    let backend = Backend::LEASE;
    let holder = backend.lock(client(&cluster), 2, Duration::ZERO);
    acquired(holder.as_ref(), "node-0").await;
    let (mut granted, mut refused, mut given_back) = (0, 0, 0);
    for round in 0..40 {
        let failing = backend.lock(client(&cluster), 2, Duration::ZERO);
        let taker = backend.lock(client(&cluster), 2, Duration::ZERO);
        // Half the rounds decide from the watch cache (as waiters do), half from a LIST.
        if round % 2 == 0 {
            let _ = tokio::time::timeout(Duration::from_millis(1), taker.wait_for_change()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let slot1_before = rv(&api, "kured-1").await;
        let failure = RolloutFailure {
            node: "node-0".into(),
            reason: format!("round {round}"),
            since: Timestamp::now(),
        };
        let halt = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(fastrand::u64(0..6000))).await;
            failing.record_failure(failure, 1).await
        });
        let grant = {
            let taker = taker.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(fastrand::u64(0..6000))).await;
                taker.acquire("node-1", common::meta(false)).await
            })
        };
        assert!(halt.await.unwrap().unwrap().is_halted());
        let outcome = grant.await.unwrap().expect("acquire");
        let halt_rv = rv(&api, "kured-0").await;
        match outcome {
            AcquireOutcome::Acquired(_) => {
                granted += 1;
                let grant_rv = rv(&api, "kured-1").await;
                assert!(
                    grant_rv < halt_rv,
                    "round {round}: a grant (rv {grant_rv}) stands after the halt (rv {halt_rv})"
                );
                taker.release("node-1").await.unwrap();
            }
            AcquireOutcome::Halted(_) => {
                refused += 1;
                if rv(&api, "kured-1").await != slot1_before {
                    // Written after the halt, then given back: the window this test is about.
                    given_back += 1;
                }
                assert_eq!(
                    taker.holding("node-1").await.unwrap(),
                    None,
                    "round {round}: a refused grant is given back"
                );
            }
            AcquireOutcome::HeldBy(h) => panic!("round {round}: slot 1 was free: {h:?}"),
        }
        holder.resume().await.unwrap();
    }
    eprintln!("{granted} grants before the halt, {refused} refused ({given_back} given back)");
    cluster.shutdown().await;
}
