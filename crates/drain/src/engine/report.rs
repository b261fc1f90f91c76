//! [`DrainReport`]: what a successful drain did.

use std::time::Duration;

use super::stuck::PdbStuck;
use crate::select::SkipReason;
use crate::types::PodRef;

/// What a successful drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods whose eviction was accepted, sorted.
    pub evicted: Vec<PodRef>,
    /// Pods deleted by the drain escalation ([`crate::PdbEscalation`]), sorted.
    pub deleted_despite_pdb: Vec<PodRef>,
    /// Pods that were gone before their eviction was accepted, sorted.
    pub already_gone: Vec<PodRef>,
    /// Pods left on the node by selection.
    pub skipped: Vec<(PodRef, SkipReason)>,
    /// Evicted pods not waited for (terminating past the skip-wait timeout), sorted.
    pub not_waited_for: Vec<PodRef>,
    /// PodDisruptionBudgets that refused evictions for at least
    /// [`crate::DrainOptions::pdb_stuck_after`] (as reported by [`crate::DrainEvent::PdbStuck`]).
    pub pdb_stuck: Vec<PdbStuck>,
    /// kubectl-style warning text (empty if none).
    pub warnings: String,
    /// Wall time of the drain.
    pub elapsed: Duration,
}

impl DrainReport {
    /// Sorts the pod lists that are documented as sorted.
    pub(super) fn sort(&mut self) {
        self.evicted.sort();
        self.deleted_despite_pdb.sort();
        self.already_gone.sort();
        self.not_waited_for.sort();
    }
}
