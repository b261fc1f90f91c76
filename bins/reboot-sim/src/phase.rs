//! A node's phases as the simulator sees them, and what the observer recorded.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Where a node is in its reboot cycle, as the simulator sees the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Reboot required, not cordoned yet (waiting for the lock).
    Pending,
    /// Cordoned, being drained.
    Draining,
    /// Rebooted: down, or up but not yet uncordoned.
    Rebooting,
    /// Back: Ready and uncordoned after its reboot.
    Done,
    /// Its agent crashed (killed for good by `--faults crash`).
    Crashed,
    /// Deleted from the cluster.
    Gone,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Draining => "draining",
            Self::Rebooting => "rebooting",
            Self::Done => "done",
            Self::Crashed => "crashed",
            Self::Gone => "gone",
        })
    }
}

/// A node changed phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Time since the agents started.
    pub at: Duration,
    /// The node.
    pub node: String,
    /// Its previous phase.
    pub from: Phase,
    /// Its new phase.
    pub to: Phase,
    /// How many nodes are in each phase after this change.
    pub counts: BTreeMap<Phase, usize>,
}

/// What the observer saw of one node: when it first was in each phase.
pub(crate) type PhaseTimes = BTreeMap<String, BTreeMap<Phase, Duration>>;

/// The result of observing the run.
pub(crate) struct ObserveResult {
    pub(crate) times: PhaseTimes,
    pub(crate) completed: bool,
    /// `(resourceVersion, time)` at every sample: when each write of the history happened
    /// (to the sample interval).
    pub(crate) rv_times: Vec<(u64, Duration)>,
    /// When the observer first saw the rollout halted.
    pub(crate) halted_at: Option<Duration>,
    pub(crate) wall: Duration,
    pub(crate) sample_interval: Duration,
}
