//! The agent's configuration (already validated; flag parsing lives in the binary).

use std::collections::BTreeMap;
use std::time::Duration;

use schedule::TimeWindow;

/// kured's annotation marking a node whose reboot is under way (`--annotate-nodes`).
pub const REBOOT_IN_PROGRESS_ANNOTATION: &str = "weave.works/kured-reboot-in-progress";
/// kured's annotation with the time a reboot was last found to be needed (`--annotate-nodes`).
pub const MOST_RECENT_REBOOT_NEEDED_ANNOTATION: &str =
    "weave.works/kured-most-recent-reboot-needed";

/// Set (to the time) by kured-rs when it cordons a node for a reboot and removed when it
/// uncordons it: a node carrying it, Ready, not holding the lock and not the halted node was
/// left cordoned by a lost attempt, and is uncordoned ([`crate::Agent`]'s reconciliation).
pub const CORDONED_BY_ANNOTATION: &str = "kured-rs.dev/cordoned";

/// kured's `--period`: how often the sentinel is checked.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(3600);

/// How the agent waits while another node holds the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockWaitMode {
    /// Wake when the lock object shows a free slot, re-check window and blockers, read the
    /// Node, then try again; each period meanwhile re-checks window, sentinel and blockers
    /// (kured-rs `--lock-wait=wait`).
    Wait,
    /// Try again at the next period only (kured's behaviour, the default).
    #[default]
    Poll,
}

/// What the reboot loop does and when.
#[allow(clippy::struct_excessive_bools)] // one switch per kured flag
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This node's name (`--node-id`).
    pub node_id: String,
    /// Sentinel check period (`--period`, default 1 h).
    pub period: Duration,
    /// When reboots may start (`--reboot-days`, `--start-time`, `--end-time`, `--time-zone`).
    pub window: TimeWindow,
    /// Reboot even if the drain fails (`--force-reboot`).
    pub force_reboot: bool,
    /// Wait this long after taking the lock before draining (`--drain-delay`).
    pub drain_delay: Duration,
    /// Wait this long after draining before rebooting (`--reboot-delay`).
    pub reboot_delay: Duration,
    /// Wait this long after the post-reboot uncordon before releasing the lock
    /// (`--lock-release-delay`).
    pub lock_release_delay: Duration,
    /// Key of the `PreferNoSchedule` taint added while waiting for the lock
    /// (`--prefer-no-schedule-taint`; `None`: no taint).
    pub prefer_no_schedule_taint: Option<String>,
    /// Write kured's reboot annotations on the node (`--annotate-nodes`).
    pub annotate_nodes: bool,
    /// Labels set before cordoning (`--pre-reboot-node-labels`).
    pub pre_reboot_node_labels: BTreeMap<String, String>,
    /// Labels set after uncordoning (`--post-reboot-node-labels`).
    pub post_reboot_node_labels: BTreeMap<String, String>,
    /// How to wait for a held lock.
    pub lock_wait: LockWaitMode,
    /// Pause before retrying a failed API call in the start-up and release paths.
    pub retry_interval: Duration,
    /// How often `kured_reboot_required` is refreshed (kured: every minute).
    pub metrics_interval: Duration,
    /// From taking the lock until it is released, keep the cluster autoscaler and Karpenter
    /// from removing the node (`--autoscaler-guard`; see [`crate::AUTOSCALER_GUARD_ANNOTATIONS`]).
    pub autoscaler_guard: bool,
    /// After the reboot, keep the lock until the health gate passes (`--health-gate`; the
    /// checks themselves are [`crate::Parts::gate`]). Off: release once uncordoned, as kured.
    pub health_gate: bool,
    /// A node that ran the reboot command and is not Ready with a new boot ID this long
    /// afterwards is a failure, noticed by the waiting agents (`--reboot-not-back-timeout`;
    /// zero: never).
    pub not_back_timeout: Duration,
    /// Failed nodes (gate failure, not back, reboot command failed) before the rollout halts
    /// (`--max-failed-nodes`, at least 1).
    pub max_failed_nodes: u32,
    /// Identifies the configuration: a node whose attempt failed tries again only once this
    /// changes, its sentinel clears, or an operator removes the failure (see
    /// [`crate::REBOOT_FAILURE_ANNOTATION`]).
    pub fingerprint: String,
}

impl Config {
    /// kured's defaults for `node_id`.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            period: DEFAULT_PERIOD,
            window: TimeWindow::default(),
            force_reboot: false,
            drain_delay: Duration::ZERO,
            reboot_delay: Duration::ZERO,
            lock_release_delay: Duration::ZERO,
            prefer_no_schedule_taint: None,
            annotate_nodes: false,
            pre_reboot_node_labels: BTreeMap::new(),
            post_reboot_node_labels: BTreeMap::new(),
            lock_wait: LockWaitMode::default(),
            retry_interval: Duration::from_secs(10),
            metrics_interval: Duration::from_secs(60),
            autoscaler_guard: false,
            health_gate: false,
            not_back_timeout: Duration::ZERO,
            max_failed_nodes: 1,
            fingerprint: String::new(),
        }
    }
}
