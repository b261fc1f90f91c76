//! API requests per handoff with many waiters: every waiter watches the lock, so a release
//! reaches all of them, but the requests that follow (the winner's write, the releases)
//! must not grow with the number of waiters. Before the watch cache and the paced wake-up,
//! every change made every waiter re-read the lock: O(N) requests per handoff.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Backend, client, cluster};
use kubesim::cluster::Cluster;
use lock::{LockMetadata, acquire_waiting};

/// Requests that are not part of a watch (`list` + `watch` are made once per waiter when it
/// starts waiting, and re-made only if a stream breaks).
fn point_requests(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(verb, _)| !matches!(verb.as_str(), "watch" | "list"))
        .map(|(_, n)| n)
        .sum()
}

/// `waiters` nodes queue behind one holder (concurrency `c`) and take the lock in turn; the
/// mean number of point requests per handoff, counted from when every waiter is watching.
async fn requests_per_handoff(backend: Backend, waiters: usize, c: u32) -> f64 {
    let cluster = cluster(waiters + c as usize).await;
    let names = Cluster::builder().nodes(waiters + c as usize).node_names();
    let holder_lock = backend.lock(client(&cluster), c, Duration::ZERO);
    let meta = LockMetadata::default();
    // Fill every slot so that all waiters block.
    // (Real node names: a holder whose Node does not exist does not count.)
    let holders: Vec<String> = names[waiters..].to_vec();
    for h in &holders {
        acquire_waiting(holder_lock.as_ref(), h, meta, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for name in names.iter().take(waiters) {
        let lock = backend.lock(client(&cluster), c, Duration::ZERO);
        let me = name.clone();
        tasks.push(tokio::spawn(async move {
            acquire_waiting(lock.as_ref(), &me, meta, Duration::from_secs(60))
                .await
                .unwrap();
            // Cordon, drain, reboot…
            tokio::time::sleep(Duration::from_millis(50)).await;
            lock.release(&me).await.unwrap();
        }));
    }
    // Wait until every waiter has made its first (blocked) acquire and started its watch.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let watches = cluster
            .requests_by_verb()
            .get("watch")
            .copied()
            .unwrap_or(0);
        if watches >= waiters as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiters never watched: {:?}",
            cluster.requests_by_verb()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = point_requests(&cluster.requests_by_verb());
    for h in &holders {
        holder_lock.release(h).await.unwrap();
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("every waiter got its turn")
            .unwrap();
    }
    let after = point_requests(&cluster.requests_by_verb());
    let handoffs = waiters;
    #[allow(clippy::cast_precision_loss)] // small counts
    let per = (after - before) as f64 / handoffs as f64;
    eprintln!(
        "{backend:?} c={c} waiters={waiters}: {} point requests over {handoffs} handoffs = {per:.2} per handoff ({:?})",
        after - before,
        cluster.requests_by_verb()
    );
    per
}

async fn check(backend: Backend, c: u32) {
    let small = requests_per_handoff(backend, 8, c).await;
    let large = requests_per_handoff(backend, 40, c).await;
    // A handoff is: the holder's release (read + write), the winner's write, (Lease: reads
    // of the slots), and now and then a write that lost a race. O(N) would be ≥ 40 here.
    let bound = 6.0 + 2.0 * f64::from(c);
    assert!(
        small <= bound && large <= bound,
        "requests per handoff: {small:.2} with 8 waiters, {large:.2} with 40 (bound {bound})"
    );
    assert!(
        large <= small * 1.5 + 1.5,
        "requests per handoff grow with the number of waiters: {small:.2} with 8, {large:.2} with 40"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_requests_per_handoff_do_not_grow_with_waiters() {
    check(Backend::DAEMONSET, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_requests_per_handoff_concurrency_3() {
    check(Backend::DAEMONSET, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_patch_requests_per_handoff_do_not_grow_with_waiters() {
    check(Backend::DAEMONSET_PATCH, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_requests_per_handoff_do_not_grow_with_waiters() {
    check(Backend::LEASE, 2).await;
}
