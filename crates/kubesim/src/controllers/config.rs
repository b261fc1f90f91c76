//! Which controllers run and how fast the simulated world moves.

use std::time::Duration;

/// Which controllers run and how fast the simulated world moves.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one independent on/off switch per controller"
)]
pub struct ControllerConfig {
    /// Run the simulated kubelet (pods start and stop, node reboots complete).
    pub kubelet: bool,
    /// Run the ReplicaSet + Deployment controllers and the scheduler.
    pub replicasets: bool,
    /// Run the DaemonSet controller.
    pub daemonsets: bool,
    /// Run the PodDisruptionBudget (disruption) controller.
    pub pdbs: bool,
    /// Time from a pod being bound to a Ready node (or its node coming back) until it is
    /// Running and Ready.
    pub kubelet_start_delay: Duration,
    /// How long a terminating pod really takes to stop: it is removed after
    /// `min(its grace period, shutdown_time)`.
    pub shutdown_time: Duration,
    /// Delay before a ReplicaSet replaces a pod that went away (or started terminating).
    pub reschedule_delay: Duration,
    /// How long an entry of a PDB's `status.disruptedPods` is honoured (the real controller's
    /// `DeletionTimeout` is 2 minutes).
    pub disrupted_pod_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            kubelet: true,
            replicasets: true,
            daemonsets: true,
            pdbs: true,
            kubelet_start_delay: Duration::from_millis(500),
            shutdown_time: Duration::from_secs(1),
            reschedule_delay: Duration::from_millis(500),
            disrupted_pod_timeout: Duration::from_secs(120),
        }
    }
}

impl ControllerConfig {
    /// Every controller switched off (fixture replay, hand-driven tests).
    pub fn none() -> Self {
        Self {
            kubelet: false,
            replicasets: false,
            daemonsets: false,
            pdbs: false,
            ..Self::default()
        }
    }
}
