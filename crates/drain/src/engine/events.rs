//! [`DrainEvent`]s, the progress a drain reports while it runs, and where they go.

use std::sync::Arc;
use std::time::Duration;

use crate::error::EvictionFailure;
use crate::select::SkipReason;
use crate::types::PodRef;

/// Progress of a drain, for logs, metrics and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainEvent {
    /// Selection is done.
    Selected {
        /// The node.
        node: String,
        /// Pods to evict.
        evict: Vec<PodRef>,
        /// Pods left on the node.
        skipped: Vec<(PodRef, SkipReason)>,
        /// kubectl-style warning text (empty if none).
        warnings: String,
    },
    /// The eviction was accepted.
    Evicted(PodRef),
    /// The pod was gone before (or while) it was evicted.
    AlreadyGone(PodRef),
    /// A PodDisruptionBudget refused the eviction; it is retried after `retry_in`.
    BlockedByPdb {
        /// The pod.
        pod: PodRef,
        /// The server's message.
        message: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The eviction failed transiently (throttled, 5xx, transport); retried after `retry_in`.
    Retrying {
        /// The pod.
        pod: PodRef,
        /// The HTTP status, if any.
        code: Option<u16>,
        /// The message.
        message: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// PodDisruptionBudgets have refused evictions for at least
    /// [`crate::DrainOptions::pdb_stuck_after`]: once per set of budgets, with every pod they
    /// block (see [`crate::PdbStuck`]).
    PdbStuck {
        /// The budgets (`namespace/name`, sorted); empty when they could not be watched.
        pdbs: Vec<String>,
        /// The pods they block, sorted.
        pods: Vec<PodRef>,
        /// How long the longest-blocked of them had been refused.
        blocked_for: Duration,
    },
    /// The drain escalation ([`crate::PdbEscalation`]) deleted the pod, which matches its
    /// selector, after PodDisruptionBudgets blocked it for `blocked_for`.
    DeletedDespitePdb {
        /// The pod.
        pod: PodRef,
        /// How long the PDB had been blocking it.
        blocked_for: Duration,
    },
    /// The eviction was refused for good.
    Failed(EvictionFailure),
    /// The evicted pod is gone (deleted, or replaced by a pod with a new uid).
    Gone(PodRef),
    /// Stopped waiting for a pod terminating past the skip-wait timeout.
    StoppedWaiting(PodRef),
    /// Every pod is gone.
    Finished {
        /// The node.
        node: String,
        /// How long it took.
        elapsed: Duration,
    },
}

/// A receiver of [`DrainEvent`]s (called inline: keep it quick, e.g. send to a channel).
pub type EventSink = Arc<dyn Fn(&DrainEvent) + Send + Sync>;

/// Calls `sink`, if there is one, with `event`.
pub(super) fn emit(sink: Option<&EventSink>, event: &DrainEvent) {
    if let Some(sink) = sink {
        sink(event);
    }
}
