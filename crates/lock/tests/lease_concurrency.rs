//! The Lease backend after `--concurrency` is lowered: holders of slots at or above the new
//! concurrency (taken under the old, larger one) still hold the lock, can find and release it,
//! and count against the new concurrency; new grants go to slots below it.

mod common;

use std::time::Duration;

use common::{NAME, NAMESPACE, acquired, client, cluster, delete_node, held_by, holder_names};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use lock::{Backend, LeaseLock, LockConfig, LockError, RebootLock};

fn lease_lock(client: Client, concurrency: u32, ttl: Duration) -> LeaseLock {
    let config = LockConfig::default()
        .backend(Backend::Lease)
        .concurrency(concurrency)
        .ttl(ttl)
        .node_cache(common::NODE_CACHE);
    LeaseLock::new(client, config).expect("valid config")
}

/// The holder of each slot Lease `kured-0 … kured-(n-1)` (`-`: free or missing).
async fn lease_holders(client: &Client, n: u32) -> Vec<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let mut out = Vec::new();
    for i in 0..n {
        let lease = api
            .get_opt(&format!("{NAME}-{i}"))
            .await
            .expect("get lease");
        out.push(
            lease
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "-".into()),
        );
    }
    out
}

#[tokio::test]
async fn holders_of_dropped_slots_are_found_release_and_block_new_grants() {
    let cluster = cluster(4).await;
    let c = client(&cluster);
    // Three holders under --concurrency=3: slots 0, 1, 2.
    let old = lease_lock(c.clone(), 3, Duration::ZERO);
    for node in ["node-0", "node-1", "node-2"] {
        acquired(&old, node).await;
    }
    assert_eq!(lease_holders(&c, 3).await, ["node-0", "node-1", "node-2"]);

    // The DaemonSet is rolled to --concurrency=1: fresh agents with C=1.
    let new = lease_lock(c.clone(), 1, Duration::ZERO);
    for node in ["node-0", "node-1", "node-2"] {
        let record = new.holding(node).await.unwrap();
        assert_eq!(
            record.map(|r| r.node_id).as_deref(),
            Some(node),
            "{node} still holds its slot under the smaller concurrency"
        );
    }
    let all = holder_names(&new).await;
    assert_eq!(all, ["node-0", "node-1", "node-2"]);

    // No new grant while any of them holds (live holders ≥ 1), whatever order they release.
    let mut blocked = held_by(&new, "node-3").await;
    blocked.sort();
    assert_eq!(blocked, ["node-0", "node-1", "node-2"]);
    new.release("node-2")
        .await
        .expect("holder of slot 2 releases");
    assert_eq!(new.holding("node-2").await.unwrap(), None);
    assert_eq!(held_by(&new, "node-3").await.len(), 2);
    new.release("node-0")
        .await
        .expect("holder of slot 0 releases");
    assert_eq!(
        held_by(&new, "node-3").await,
        ["node-1"],
        "slot 0 is free but the holder of slot 1 still counts against C=1"
    );
    // A release of a lock not held names every holder, high slots included.
    match new.release("node-3").await {
        Err(LockError::NotHeld { holders, .. }) => assert_eq!(holders, ["node-1"]),
        other => panic!("expected NotHeld, got {other:?}"),
    }
    new.release("node-1")
        .await
        .expect("holder of slot 1 releases");
    acquired(&new, "node-3").await;
    assert_eq!(
        lease_holders(&c, 3).await,
        ["node-3", "-", "-"],
        "the new grant is in a slot below the new concurrency"
    );
    // And now the old-concurrency agents see it too.
    assert_eq!(
        old.holding("node-3")
            .await
            .unwrap()
            .map(|r| r.node_id)
            .as_deref(),
        Some("node-3")
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn lowered_concurrency_counts_high_slots_and_grants_below_the_new_c() {
    let cluster = cluster(5).await;
    let c = client(&cluster);
    let old = lease_lock(c.clone(), 3, Duration::ZERO);
    for node in ["node-0", "node-1", "node-2"] {
        acquired(&old, node).await;
    }
    old.release("node-0").await.unwrap();
    // C=2: slots 1 and 2 (the latter above C) hold → full.
    let new = lease_lock(c.clone(), 2, Duration::ZERO);
    let mut blocked = held_by(&new, "node-3").await;
    blocked.sort();
    assert_eq!(blocked, ["node-1", "node-2"]);
    new.release("node-1").await.unwrap();
    acquired(&new, "node-3").await;
    // node-2 (slot 2) + node-3 = 2 = C: node-4 waits, though slot 1 is free.
    let mut blocked = held_by(&new, "node-4").await;
    blocked.sort();
    assert_eq!(blocked, ["node-2", "node-3"]);
    assert_eq!(lease_holders(&c, 3).await, ["node-3", "-", "node-2"]);
    new.release("node-2").await.unwrap();
    acquired(&new, "node-4").await;
    assert_eq!(
        lease_holders(&c, 3).await,
        ["node-3", "node-4", "-"],
        "grants only in slots below C=2"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn dead_holders_of_high_slots_free_their_place_and_are_cleared() {
    let cluster = cluster(4).await;
    let c = client(&cluster);
    let old = lease_lock(c.clone(), 3, Duration::from_secs(1));
    for node in ["node-0", "node-1", "node-2"] {
        acquired(&old, node).await;
    }
    old.release("node-0").await.unwrap();
    old.release("node-1").await.unwrap();
    // node-2 (slot 2) still holds; its node is deleted: a stale holder under C=1.
    let new = lease_lock(c.clone(), 1, Duration::ZERO);
    assert_eq!(held_by(&new, "node-3").await, ["node-2"]);
    delete_node(&c, "node-2").await;
    tokio::time::sleep(common::NODE_CACHE * 2).await;
    acquired(&new, "node-3").await;
    assert_eq!(
        lease_holders(&c, 3).await,
        ["node-3", "-", "-"],
        "the stale high slot was cleared"
    );
    new.release("node-3").await.unwrap();

    // Expiry: a holder of slot 2 whose TTL has passed no longer counts, and is cleared.
    let old = lease_lock(c.clone(), 3, Duration::from_secs(1));
    for node in ["node-0", "node-1", "node-3"] {
        acquired(&old, node).await;
    }
    old.release("node-0").await.unwrap();
    old.release("node-1").await.unwrap();
    let new = lease_lock(c.clone(), 1, Duration::from_secs(1));
    assert_eq!(held_by(&new, "node-1").await, ["node-3"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(new.holding("node-3").await.unwrap(), None, "expired");
    acquired(&new, "node-1").await;
    assert_eq!(lease_holders(&c, 3).await, ["node-1", "-", "-"]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn wait_for_slot_waits_for_holders_of_high_slots() {
    let cluster = cluster(4).await;
    let c = client(&cluster);
    let old = lease_lock(c.clone(), 3, Duration::ZERO);
    acquired(&old, "node-0").await;
    acquired(&old, "node-1").await;
    acquired(&old, "node-2").await;
    old.release("node-0").await.unwrap();
    old.release("node-1").await.unwrap();
    let new = lease_lock(c.clone(), 1, Duration::ZERO);
    // Slot 0 is free, but node-2 holds slot 2: no slot for C=1.
    let waiting = tokio::time::timeout(Duration::from_millis(400), new.wait_for_slot("node-3"));
    assert!(waiting.await.is_err(), "the holder of slot 2 counts");
    assert_eq!(held_by(&new, "node-3").await, ["node-2"]);
    new.release("node-2").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), new.wait_for_slot("node-3"))
        .await
        .expect("a slot frees once slot 2 is released")
        .unwrap();
    acquired(&new, "node-3").await;
    cluster.shutdown().await;
}
