//! The cluster reboot lock: which node(s) may reboot now.
//!
//! [`RebootLock`] is the seam the agent (and fleetlock in Kubernetes mode) uses. Two backends:
//!
//! - [`DaemonSetLock`] (default): an annotation on kured's own `DaemonSet`, in exactly Go
//!   kured's JSON format ([`format`](mod@format)), so kured and kured-rs can share a cluster
//!   during a migration;
//! - [`LeaseLock`]: `coordination.k8s.io/v1` Leases `<name>-0 … <name>-(c-1)`, one per slot,
//!   for users who do not want an annotation on a `DaemonSet`.
//!
//! Both never admit more than `concurrency` live holders: every write is a read-decide-write
//! carrying the read `resourceVersion`, and a 409 means "re-read and decide again", never
//! "overwrite". The rules (TTL, manual locks, holders whose Node was deleted) are pure
//! functions in [`decision`] and are documented there. [`RebootLock::wait_for_change`] is backed
//! by a watch on the lock object, so a waiter learns about a release within the watch latency
//! instead of at its next `--period`.
//!
//! **Stop the line.** Beside the lock, both backends keep the rollout state
//! ([`rollout`](mod@rollout)): failed reboot attempts ([`RebootLock::record_failure`]) and,
//! once they reach the budget, a halt under which no node takes a new slot
//! ([`AcquireOutcome::Halted`]) until an operator resumes with one line, `kubectl -n
//! kube-system annotate daemonset kured kured-rs.dev/rollout-` (Lease backend: `annotate lease
//! kured-0`), or [`RebootLock::resume`].
//!
//! Two nodes may reboot at once (`--concurrency=2`); a third waits and is woken by a release.
//! This runs against kubesim, the workspace's in-memory API server (a dev-dependency); with a
//! real cluster, pass a `kube::Client` from `kube::Client::try_default()` instead:
//!
//! ```
//! use std::time::Duration;
//! use k8s_openapi::api::apps::v1::DaemonSet;
//! use kube::Api;
//! use kubesim::cluster::Cluster;
//! use lock::{AcquireOutcome, DaemonSetLock, LockConfig, LockError, LockMetadata};
//! use lock::RebootLock as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Three nodes and kured's DaemonSet `kube-system/kured`, which carries the lock.
//! let cluster = Cluster::builder().nodes(3).daemonset("kube-system", "kured").start().await?;
//! let client = cluster.client()?;
//! let lock = DaemonSetLock::new(client.clone(), LockConfig::default().concurrency(2))?;
//! // What the holder found before touching its node (kured uncordons only if it was schedulable).
//! let meta = LockMetadata { unschedulable: false };
//!
//! assert!(matches!(lock.acquire("node-0", meta).await?, AcquireOutcome::Acquired(_)));
//! assert!(matches!(lock.acquire("node-1", meta).await?, AcquireOutcome::Acquired(_)));
//! // Acquiring again is idempotent; a third node is told who holds the lock.
//! assert!(matches!(lock.acquire("node-1", meta).await?, AcquireOutcome::Acquired(_)));
//! let AcquireOutcome::HeldBy(holders) = lock.acquire("node-2", meta).await? else {
//!     panic!("a third holder with --concurrency=2");
//! };
//! let mut names: Vec<_> = holders.iter().map(|r| r.node_id.as_str()).collect();
//! names.sort_unstable();
//! assert_eq!(names, ["node-0", "node-1"]);
//!
//! // The lock is kured's annotation on the DaemonSet, in kured's JSON format.
//! let ds = Api::<DaemonSet>::namespaced(client, "kube-system").get("kured").await?;
//! let value = ds.metadata.annotations.unwrap_or_default()[lock::DEFAULT_ANNOTATION].clone();
//! assert!(value.contains(r#""nodeID":"node-0""#), "{value}");
//!
//! // node-2 (its own process in a cluster, so its own lock value here) waits on a watch of
//! // the lock object, re-checking every 30 s at most, and gets the slot as soon as node-0
//! // gives it back.
//! let config = LockConfig::default().concurrency(2);
//! let node2 = DaemonSetLock::new(cluster.client()?, config)?;
//! let waiter = tokio::spawn(async move {
//!     lock::acquire_waiting(&node2, "node-2", meta, Duration::from_secs(30)).await
//! });
//! tokio::time::sleep(Duration::from_millis(300)).await;
//! assert!(!waiter.is_finished(), "node-2 must wait while the lock is full");
//! lock.release("node-0").await?;
//! let record = tokio::time::timeout(Duration::from_secs(10), waiter).await???;
//! assert_eq!(record.node_id, "node-2");
//!
//! // Releasing a lock one does not hold is an error naming the holders.
//! let err = lock.release("node-0").await.unwrap_err();
//! assert!(matches!(err, LockError::NotHeld { .. }), "{err}");
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
pub mod daemonset;
pub mod decision;
mod error;
pub mod format;
pub mod lease;
pub mod nodes;
mod retry;
pub mod rollout;
mod watch;

use async_trait::async_trait;

pub use backoff::{Backoff, Jitter};
pub use config::{
    Backend, DEFAULT_ANNOTATION, DEFAULT_NAME, DEFAULT_NAMESPACE, LockConfig, WriteMethod,
};
pub use daemonset::DaemonSetLock;
pub use decision::{LockPolicy, NodeDirectory};
pub use error::LockError;
pub use format::{LockMetadata, LockRecord, LockValue};
pub use lease::LeaseLock;
pub use nodes::{CachedNodeDirectory, KubeNodeDirectory};
pub use retry::DEFAULT_RETRY;
pub use rollout::{ROLLOUT_ANNOTATION, RolloutFailure, RolloutHalt, RolloutState};

/// The result of an acquire attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireOutcome {
    /// The caller holds the lock; this is its record (the existing one if it already held it,
    /// so `metadata` is the node state from before the first acquire).
    Acquired(LockRecord),
    /// The lock is full; these records hold it.
    HeldBy(Vec<LockRecord>),
    /// The rollout is halted ([`rollout`](mod@rollout)): no new slot is granted until an
    /// operator resumes. (A caller that already holds a slot gets [`Self::Acquired`].)
    Halted(RolloutHalt),
}

/// The cluster reboot lock.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RebootLock: Send + Sync {
    /// Takes a slot for `holder` (a node name), remembering `metadata`; idempotent.
    async fn acquire(
        &self,
        holder: &str,
        metadata: LockMetadata,
    ) -> Result<AcquireOutcome, LockError>;

    /// Gives back `holder`'s slot at once (a release delay is the caller's: the agent's
    /// `--lock-release-delay`). Releasing a lock the
    /// holder does not hold is [`LockError::NotHeld`], naming who holds it.
    async fn release(&self, holder: &str) -> Result<(), LockError>;

    /// The records that hold the lock now (not expired, node not gone).
    async fn holders(&self) -> Result<Vec<LockRecord>, LockError>;

    /// `holder`'s record if it holds the lock (not expired).
    async fn holding(&self, holder: &str) -> Result<Option<LockRecord>, LockError>;

    /// Resolves when the lock object changes after this lock last read it (or, if it never
    /// did, after the call). Backed by a watch started on first use and shared by clones.
    /// A TTL running out changes nothing on the server, so callers bound the wait with their
    /// period.
    async fn wait_for_change(&self) -> Result<(), LockError>;

    /// Resolves when, as far as the watch shows, `holder` could take a slot (or holds one):
    /// made for waiters, it costs no API request while the lock stays full, and when a slot
    /// frees it lets one waiter go first (a short adaptive random delay, re-checked against the
    /// watch) instead of all of them, so that a handoff costs O(1) requests however many nodes
    /// wait. Expired records count as free (the wait ends when the first one expires). A
    /// holder whose Node was deleted is looked for once, on entry: the call returns at once
    /// if one is gone (records younger than the node cache are presumed alive, so this costs
    /// no request while holders are young or known to exist); callers bound the wait with
    /// their period and call again. The caller then calls [`Self::acquire`], which may still
    /// find the lock full. The default waits for any change ([`Self::wait_for_change`]): an
    /// implementation relying on it notices gone holders only in `acquire`, i.e. after the
    /// next change.
    ///
    /// While the rollout is halted there is no free slot for a caller that holds none: the
    /// wait ends when the halt is cleared (or the caller's bound runs out).
    async fn wait_for_slot(&self, holder: &str) -> Result<(), LockError> {
        let _ = holder;
        self.wait_for_change().await
    }

    /// The rollout state (no halt, no failures when the annotation is absent; a halt when it
    /// cannot be read, see [`rollout`](mod@rollout)).
    async fn rollout(&self) -> Result<RolloutState, LockError>;

    /// Records `failure` (replacing an earlier failure of the same node); when the failures
    /// number `budget` or more (0 counts as 1) and no halt stands, halts with this failure's
    /// node, reason and time. A read-decide-write with the read `resourceVersion` as the
    /// precondition, retried on conflict like the lock's writes. Returns the new state.
    async fn record_failure(
        &self,
        failure: RolloutFailure,
        budget: u32,
    ) -> Result<RolloutState, LockError>;

    /// Forgets `node`'s failure (its attempt later succeeded); a halt stays.
    async fn clear_failure(&self, node: &str) -> Result<(), LockError>;

    /// The operator's resume: removes the halt and every failure (the annotation). Lock
    /// records stay as they are.
    async fn resume(&self) -> Result<(), LockError>;
}

/// Acquires the lock for `holder`, waiting while others hold it or the rollout is halted: each wait
/// ([`RebootLock::wait_for_slot`]) ends when the watch shows a free slot or after `recheck` (a TTL lapse or a holder's node being deleted
/// changes nothing on the lock object), whichever comes first. If the watch fails, it falls
/// back to sleeping `recheck`. Errors of `acquire` are returned as they are.
pub async fn acquire_waiting(
    lock: &dyn RebootLock,
    holder: &str,
    metadata: LockMetadata,
    recheck: std::time::Duration,
) -> Result<LockRecord, LockError> {
    loop {
        match lock.acquire(holder, metadata).await? {
            AcquireOutcome::Acquired(record) => return Ok(record),
            AcquireOutcome::HeldBy(holders) => tracing::debug!(
                holder,
                held_by = ?holders.iter().map(|r| r.node_id.as_str()).collect::<Vec<_>>(),
                "reboot lock held; waiting for a change"
            ),
            AcquireOutcome::Halted(halt) => tracing::debug!(
                holder,
                halted_by = %halt.node,
                reason = %halt.reason,
                "rollout halted; waiting for a resume"
            ),
        }
        match tokio::time::timeout(recheck, lock.wait_for_slot(holder)).await {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "lock watch failed; polling instead");
                tokio::time::sleep(recheck).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(node: &str) -> LockRecord {
        LockRecord::new(
            node,
            LockMetadata::default(),
            jiff::Timestamp::UNIX_EPOCH,
            jiff::SignedDuration::ZERO,
        )
    }

    #[tokio::test]
    async fn acquire_waiting_waits_for_changes_until_acquired() {
        let mut lock = MockRebootLock::new();
        let mut seq = mockall::Sequence::new();
        for _ in 0..2 {
            lock.expect_acquire()
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_, _| Ok(AcquireOutcome::HeldBy(vec![record("other")])));
            lock.expect_wait_for_slot()
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_| Ok(()));
        }
        lock.expect_acquire()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|holder, _| Ok(AcquireOutcome::Acquired(record(holder))));
        let got = acquire_waiting(
            &lock,
            "me",
            LockMetadata::default(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(got.node_id, "me");
    }

    #[tokio::test]
    async fn acquire_waiting_falls_back_to_polling_and_returns_errors() {
        let mut lock = MockRebootLock::new();
        let mut seq = mockall::Sequence::new();
        lock.expect_acquire()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(AcquireOutcome::HeldBy(vec![record("other")])));
        lock.expect_wait_for_slot()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(LockError::WatchEnded));
        lock.expect_acquire()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(LockError::Config("boom".into())));
        let start = std::time::Instant::now();
        let err = acquire_waiting(
            &lock,
            "me",
            LockMetadata::default(),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LockError::Config(_)));
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "slept instead of spinning"
        );
    }
}

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
