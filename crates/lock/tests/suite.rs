//! The lock's behaviour against kubesim over HTTP, written once and run for both backends
//! (`daemonset::*` and `lease::*`), plus checks specific to each backend's storage.

mod common;

use std::time::Duration;

use common::{
    Backend, acquired, client, cluster, delete_node, held_by, holder_names, meta, names,
    not_held_holders, record,
};
use jiff::{SignedDuration, Timestamp};
use lock::AcquireOutcome;

const NO_TTL: Duration = Duration::ZERO;

async fn acquire_release_holders(backend: Backend) {
    let cluster = cluster(4).await;
    let lock = backend.lock(client(&cluster), 1, NO_TTL);
    let other = backend.lock(client(&cluster), 1, NO_TTL);

    assert!(lock.holders().await.unwrap().is_empty());
    let AcquireOutcome::Acquired(first) = lock.acquire("node-0", meta(true)).await.unwrap() else {
        panic!("free lock must be acquired");
    };
    assert_eq!(first.node_id, "node-0");
    assert!(first.metadata.unschedulable);
    assert_eq!(names(&lock.holders().await.unwrap()), ["node-0"]);
    assert_eq!(other.holding("node-0").await.unwrap(), Some(first.clone()));
    assert_eq!(other.holding("node-1").await.unwrap(), None);

    assert_eq!(held_by(other.as_ref(), "node-1").await, ["node-0"]);
    // Re-acquire is idempotent and keeps the original record (metadata from before cordon).
    let again = lock.acquire("node-0", meta(false)).await.unwrap();
    assert_eq!(again, AcquireOutcome::Acquired(first));

    let err = other.release("node-1").await.unwrap_err();
    assert_eq!(not_held_holders(&err), ["node-0"]);
    assert!(err.to_string().contains("node-0"), "{err}");
    assert!(!err.is_retryable());

    lock.release("node-0").await.unwrap();
    assert!(lock.holders().await.unwrap().is_empty());
    assert!(not_held_holders(&lock.release("node-0").await.unwrap_err()).is_empty());
    acquired(other.as_ref(), "node-1").await;
    cluster.shutdown().await;
}

async fn multi_owner(backend: Backend) {
    let cluster = cluster(5).await;
    let lock = backend.lock(client(&cluster), 3, NO_TTL);
    for n in ["node-0", "node-1", "node-2"] {
        acquired(lock.as_ref(), n).await;
    }
    let mut blocking = held_by(lock.as_ref(), "node-3").await;
    blocking.sort();
    assert_eq!(blocking, ["node-0", "node-1", "node-2"]);
    lock.release("node-1").await.unwrap();
    acquired(lock.as_ref(), "node-3").await;
    let now = holder_names(lock.as_ref()).await;
    assert_eq!(now, ["node-0", "node-2", "node-3"]);
    cluster.shutdown().await;
}

async fn manual_lock_blocks(backend: Backend, concurrency: u32) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    backend.plant_manual(&c, concurrency).await;
    // Even with a TTL configured: a manual lock has no creation time and never expires.
    let lock = backend.lock(c.clone(), concurrency, Duration::from_secs(1));
    let holders = held_by(lock.as_ref(), "node-0").await;
    assert!(holders.iter().all(|h| h == "manual"), "{holders:?}");
    assert_eq!(names(&lock.holders().await.unwrap())[0], "manual");
    let err = lock.release("node-0").await.unwrap_err();
    assert!(not_held_holders(&err).contains(&"manual".to_string()));
    cluster.shutdown().await;
}

async fn ttl_expiry(backend: Backend) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let old = Timestamp::now() - SignedDuration::from_mins(10);
    backend
        .plant(
            &c,
            1,
            &[record("node-1", old, SignedDuration::from_secs(60))],
        )
        .await;
    let lock = backend.lock(c, 1, NO_TTL);
    assert!(
        lock.holders().await.unwrap().is_empty(),
        "expired record holds nothing"
    );
    assert_eq!(lock.holding("node-1").await.unwrap(), None);
    acquired(lock.as_ref(), "node-0").await;
    assert_eq!(names(&lock.holders().await.unwrap()), ["node-0"]);
    cluster.shutdown().await;
}

async fn configured_ttl_applies_to_old_locks(backend: Backend) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let old = Timestamp::now() - SignedDuration::from_mins(10);
    // Taken without a TTL (kured's default), by a node that never came back.
    backend
        .plant(&c, 1, &[record("node-1", old, SignedDuration::ZERO)])
        .await;
    let unset = backend.lock(c.clone(), 1, NO_TTL);
    assert_eq!(held_by(unset.as_ref(), "node-0").await, ["node-1"]);
    // The operator sets --lock-ttl=5m: the old lock is now judged by it (kured #822).
    let set = backend.lock(c.clone(), 1, Duration::from_secs(300));
    let mine = acquired(set.as_ref(), "node-0").await;
    assert_eq!(mine.ttl, SignedDuration::from_secs(300));
    // And a shorter configured TTL overrides a longer stored one.
    set.release("node-0").await.unwrap();
    let recent = Timestamp::now() - SignedDuration::from_secs(120);
    backend
        .plant(
            &c,
            1,
            &[record("node-1", recent, SignedDuration::from_hours(1))],
        )
        .await;
    assert_eq!(held_by(unset.as_ref(), "node-0").await, ["node-1"]);
    acquired(
        backend.lock(c, 1, Duration::from_secs(60)).as_ref(),
        "node-0",
    )
    .await;
    cluster.shutdown().await;
}

async fn deleted_node_frees_its_slot(backend: Backend) {
    let cluster = cluster(4).await;
    let c = client(&cluster);
    let lock = backend.lock(c.clone(), 2, NO_TTL);
    acquired(lock.as_ref(), "node-1").await;
    acquired(lock.as_ref(), "node-2").await;
    assert_eq!(held_by(lock.as_ref(), "node-0").await.len(), 2);
    delete_node(&c, "node-1").await;
    // "Exists" answers are cached for NODE_CACHE: the deletion is seen after that at most.
    tokio::time::sleep(common::NODE_CACHE + Duration::from_millis(50)).await;
    assert_eq!(names(&lock.holders().await.unwrap()), ["node-2"]);
    acquired(lock.as_ref(), "node-0").await;
    let now = holder_names(lock.as_ref()).await;
    assert_eq!(now, ["node-0", "node-2"]);
    cluster.shutdown().await;
}

/// `wait_for_slot` looks for gone holders on entry: it returns at once when the only holder's
/// node was deleted (and keeps waiting while it exists), and the acquire then takes over.
async fn wait_for_slot_returns_for_a_gone_holder(backend: Backend) {
    let cluster = cluster(3).await;
    let c = client(&cluster);
    let holder = backend.lock(c.clone(), 1, NO_TTL);
    let waiter = backend.lock(c.clone(), 1, NO_TTL);
    acquired(holder.as_ref(), "node-1").await;
    assert_eq!(held_by(waiter.as_ref(), "node-0").await, ["node-1"]);
    // Older than the node cache: the holder is looked up, and exists.
    tokio::time::sleep(common::NODE_CACHE + Duration::from_millis(50)).await;
    let alive = tokio::time::timeout(Duration::from_millis(400), waiter.wait_for_slot("node-0"));
    assert!(
        alive.await.is_err(),
        "the holder's node exists: keep waiting"
    );
    delete_node(&c, "node-1").await;
    // The positive answer above is reused for NODE_CACHE.
    tokio::time::sleep(common::NODE_CACHE + Duration::from_millis(50)).await;
    tokio::time::timeout(Duration::from_secs(2), waiter.wait_for_slot("node-0"))
        .await
        .expect("returns at once: the holder's node is gone")
        .unwrap();
    acquired(waiter.as_ref(), "node-0").await;
    cluster.shutdown().await;
}

async fn wait_for_change_wakes_on_release(backend: Backend) {
    let cluster = cluster(3).await;
    let holder = backend.lock(client(&cluster), 1, NO_TTL);
    let waiter = backend.lock(client(&cluster), 1, NO_TTL);
    acquired(holder.as_ref(), "node-0").await;
    assert_eq!(held_by(waiter.as_ref(), "node-1").await, ["node-0"]);
    let task = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.wait_for_change().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "nothing changed yet");
    holder.release("node-0").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("woken by the release")
        .unwrap()
        .unwrap();
    acquired(waiter.as_ref(), "node-1").await;

    // A change between the waiter's last read and its wait is not lost.
    assert_eq!(held_by(holder.as_ref(), "node-0").await, ["node-1"]);
    waiter.release("node-1").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), holder.wait_for_change())
        .await
        .expect("change before the wait is seen")
        .unwrap();
    cluster.shutdown().await;
}

async fn own_expired_lock_is_renewed(backend: Backend) {
    let cluster = cluster(2).await;
    let c = client(&cluster);
    let old = Timestamp::now() - SignedDuration::from_mins(10);
    backend
        .plant(
            &c,
            1,
            &[record("node-0", old, SignedDuration::from_secs(60))],
        )
        .await;
    let lock = backend.lock(c, 1, NO_TTL);
    assert_eq!(lock.holding("node-0").await.unwrap(), None);
    let fresh = acquired(lock.as_ref(), "node-0").await;
    assert!(fresh.created.is_some_and(|t| t > old));
    cluster.shutdown().await;
}

macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn acquire_release_and_holders() {
                acquire_release_holders($backend).await;
            }

            #[tokio::test]
            async fn three_owners() {
                multi_owner($backend).await;
            }

            #[tokio::test]
            async fn manual_lock_blocks_single_mode() {
                manual_lock_blocks($backend, 1).await;
            }

            #[tokio::test]
            async fn manual_lock_blocks_multi_mode() {
                manual_lock_blocks($backend, 3).await;
            }

            #[tokio::test]
            async fn expired_lock_is_free() {
                ttl_expiry($backend).await;
            }

            #[tokio::test]
            async fn changed_ttl_applies() {
                configured_ttl_applies_to_old_locks($backend).await;
            }

            #[tokio::test]
            async fn deleted_node_frees_slot() {
                deleted_node_frees_its_slot($backend).await;
            }

            #[tokio::test]
            async fn wait_for_slot_notices_a_gone_holder() {
                wait_for_slot_returns_for_a_gone_holder($backend).await;
            }

            #[tokio::test]
            async fn wait_for_change_is_event_driven() {
                wait_for_change_wakes_on_release($backend).await;
            }

            #[tokio::test]
            async fn own_expired_record_is_taken_afresh() {
                own_expired_lock_is_renewed($backend).await;
            }
        }
    };
}

suite!(daemonset, Backend::DAEMONSET);
suite!(daemonset_merge_patch, Backend::DAEMONSET_PATCH);
suite!(lease, Backend::LEASE);
