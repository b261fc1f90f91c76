//! What to simulate: the cluster, the agents' lock and timing, the faults.

use std::time::Duration;

use agent::LockWaitMode;
use kubesim::faults::FaultConfig;

/// How the cluster recovers from a crashed agent (`--faults crash`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrashRecovery {
    /// The dead node is deleted (as a cloud node-lifecycle controller would); the lock
    /// entry of a node that no longer exists is free.
    #[default]
    Delete,
    /// Nothing is deleted: the lock entry expires after the lock TTL.
    Ttl,
}

/// Faults: kubesim's API fault injection and an agent crash.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(clippy::struct_excessive_bools)] // independent faults, any combination allowed
pub struct FaultSpec {
    /// Latency and error rates of the API server (`None`: none).
    pub api: Option<FaultConfig>,
    /// Kill one agent mid-drain for good (its node stays cordoned, its lock entry held).
    pub crash: bool,
    /// How the others get past the crashed holder.
    pub recovery: CrashRecovery,
    /// One node never comes back from its reboot (`--faults never-back`): the waiting agents
    /// notice it after the not-back timeout and record a failure.
    pub never_back: bool,
    /// The applications start slowly (`--faults slow-apps`): the pod start delay is raised to
    /// [`SimOptions::effective_pod_start`], so the health gate visibly waits.
    pub slow_apps: bool,
    /// One node's reboot command fails (`--faults reboot-fails`).
    pub reboot_fails: bool,
}

impl FaultSpec {
    /// Whether a node-level fault (`never-back`, `reboot-fails`) picks a victim node.
    pub fn has_node_fault(&self) -> bool {
        self.never_back || self.reboot_fails
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// Nodes rebooting at once (the lock's concurrency).
    pub concurrency: u32,
    /// Application pods per node (one Deployment per pod, one replica per node).
    pub pods_per_node: usize,
    /// A `PodDisruptionBudget` (`maxUnavailable: 1`) per Deployment.
    pub pdb: bool,
    /// How long a node is down.
    pub reboot_time: Duration,
    /// How long an evicted pod takes to stop.
    pub drain_grace: Duration,
    /// Pod start time of the simulated kubelet.
    pub pod_start: Duration,
    /// Delay before a `ReplicaSet` replaces an evicted pod.
    pub reschedule_delay: Duration,
    /// Event-driven handoff or kured's polling.
    pub lock_wait: LockWaitMode,
    /// The agents' check period.
    pub period: Duration,
    /// Which lock object.
    pub lock_backend: lock::Backend,
    /// Lock TTL (zero: none; with a crash and TTL recovery a default is chosen).
    pub lock_ttl: Duration,
    /// How long a lock holder's node is presumed to exist after its agent wrote its record or
    /// a lookup found it (the locks' `node_cache`): waiters look holders up at most this
    /// often, and a crashed holder's deleted node is noticed this long after it took the lock.
    pub node_cache: Duration,
    /// Seed of kubesim's generator and of the agents' jitter (`None`: random).
    pub seed: Option<u64>,
    /// Faults to inject.
    pub faults: FaultSpec,
    /// After its reboot a node keeps the lock until the health gate passes (kured-rs
    /// `--health-gate`).
    pub health_gate: bool,
    /// The gate fails (a failure for the budget) when not passed this long after it started.
    pub gate_timeout: Duration,
    /// How often the gate re-checks.
    pub gate_poll: Duration,
    /// Failed nodes before the rollout halts (kured-rs `--max-failed-nodes`, at least 1).
    pub max_failed_nodes: u32,
    /// A node not back this long after its reboot command is a failure (kured-rs
    /// `--reboot-not-back-timeout`; zero: never, unless `never-back` picks a default).
    pub not_back_timeout: Duration,
    /// Give up after this long.
    pub deadline: Duration,
    /// How often the observer samples node phases (zero: chosen from the cluster size).
    pub sample_interval: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            nodes: 12,
            concurrency: 2,
            pods_per_node: 4,
            pdb: true,
            reboot_time: Duration::from_secs(1),
            drain_grace: Duration::from_millis(500),
            pod_start: Duration::from_millis(200),
            reschedule_delay: Duration::from_millis(100),
            lock_wait: LockWaitMode::Wait,
            period: Duration::from_secs(1),
            lock_backend: lock::Backend::Annotation,
            lock_ttl: Duration::ZERO,
            node_cache: lock::nodes::DEFAULT_NODE_CACHE,
            seed: None,
            faults: FaultSpec::default(),
            health_gate: false,
            gate_timeout: Duration::from_secs(60),
            gate_poll: Duration::from_millis(100),
            max_failed_nodes: 1,
            not_back_timeout: Duration::ZERO,
            deadline: Duration::from_secs(600),
            sample_interval: Duration::ZERO,
        }
    }
}

impl SimOptions {
    /// The lock TTL the agents use.
    pub fn effective_lock_ttl(&self) -> Duration {
        if self.faults.crash
            && self.faults.recovery == CrashRecovery::Ttl
            && self.lock_ttl.is_zero()
        {
            // Long enough that no healthy node's entry expires while it reboots.
            (4 * (self.drain_grace + self.reboot_time + self.effective_pod_start()))
                .max(Duration::from_secs(3))
        } else {
            self.lock_ttl
        }
    }

    /// The pod start delay of the simulated kubelet: [`Self::pod_start`], raised with
    /// `slow-apps` to at least 2 × (reboot time + drain grace) and 1 s, so that evicted and
    /// restarted pods are still starting when the node is back.
    pub fn effective_pod_start(&self) -> Duration {
        if self.faults.slow_apps {
            self.pod_start
                .max(2 * (self.reboot_time + self.drain_grace))
                .max(Duration::from_secs(1))
        } else {
            self.pod_start
        }
    }

    /// The agents' not-back timeout: [`Self::not_back_timeout`], or with `never-back` and no
    /// timeout set, 3 × (reboot time + pod start) and at least 2 s (else the lost node would
    /// hold its slot for ever).
    pub fn effective_not_back_timeout(&self) -> Duration {
        if self.faults.never_back && self.not_back_timeout.is_zero() {
            (3 * (self.reboot_time + self.effective_pod_start())).max(Duration::from_secs(2))
        } else {
            self.not_back_timeout
        }
    }

    pub(crate) fn effective_sample_interval(&self) -> Duration {
        if !self.sample_interval.is_zero() {
            self.sample_interval
        } else if self.nodes <= 200 {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(50)
        }
    }
}
