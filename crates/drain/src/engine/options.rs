//! [`DrainOptions`]: what a drain evicts, how long it waits, how hard it pushes.

use std::time::Duration;

use super::escalation::PdbEscalation;
use crate::select::SelectionOptions;
use backoff::Backoff;

/// Drain options; the defaults are kured's (`--drain-grace-period=-1`, `--drain-timeout=0`,
/// `--skip-wait-for-delete-timeout=0`, no pod selector, and kured's fixed `--force`,
/// `--ignore-daemonsets`, `--delete-emptydir-data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainOptions {
    /// Grace period for evicted pods in seconds; negative = each pod's own.
    pub grace_period_seconds: i64,
    /// Give up after this long, listing what is left; zero = never.
    pub timeout: Duration,
    /// Stop waiting for (and do not select) pods whose `deletionTimestamp` is more than this
    /// far in the past; zero = always wait.
    pub skip_wait_for_delete_timeout: Duration,
    /// Only drain pods matching this label selector (empty = all).
    pub pod_selector: String,
    /// Evict pods with `emptyDir` volumes (their data is lost).
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods on the node instead of refusing to drain.
    pub ignore_daemonsets: bool,
    /// Evict pods that have no controller (they will not come back).
    pub force: bool,
    /// At most this many eviction/delete requests in flight at once (at least 1).
    pub max_in_flight: usize,
    /// Backoff for 429 (PDB or throttling), 5xx and transport errors.
    pub retry: Backoff,
    /// Beyond kured: once PodDisruptionBudgets have refused a pod's eviction for this long,
    /// report them ([`crate::DrainEvent::PdbStuck`], [`crate::DrainReport::pdb_stuck`]) — once
    /// per set of budgets. `None` (the default) = no report.
    pub pdb_stuck_after: Option<Duration>,
    /// Beyond kured (#303), opt-in: delete (not evict) the blocked pods that match a selector
    /// once PodDisruptionBudgets have refused them for a while; pods that do not match are
    /// never deleted. `None` (the default) = never bypass a PDB.
    pub pdb_escalation: Option<PdbEscalation>,
}

/// The default number of requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

impl Default for DrainOptions {
    fn default() -> Self {
        Self {
            grace_period_seconds: -1,
            timeout: Duration::ZERO,
            skip_wait_for_delete_timeout: Duration::ZERO,
            pod_selector: String::new(),
            delete_emptydir_data: true,
            ignore_daemonsets: true,
            force: true,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry: crate::retry::DEFAULT_RETRY,
            pdb_stuck_after: None,
            pdb_escalation: None,
        }
    }
}

impl DrainOptions {
    /// The part of the options that pod selection reads.
    pub(super) fn selection(&self) -> SelectionOptions {
        SelectionOptions {
            ignore_daemonsets: self.ignore_daemonsets,
            delete_emptydir_data: self.delete_emptydir_data,
            force: self.force,
            skip_wait_for_delete_timeout_secs: self.skip_wait_for_delete_timeout.as_secs(),
        }
    }

    /// The grace period to send with an eviction (`None` = each pod's own).
    pub(super) fn grace(&self) -> Option<i64> {
        (self.grace_period_seconds >= 0).then_some(self.grace_period_seconds)
    }

    /// Requests in flight at once, at least 1.
    pub(super) fn in_flight(&self) -> usize {
        self.max_in_flight.max(1)
    }
}
