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
pub struct FaultSpec {
    /// Latency and error rates of the API server (`None`: none).
    pub api: Option<FaultConfig>,
    /// Kill one agent mid-drain for good (its node stays cordoned, its lock entry held).
    pub crash: bool,
    /// How the others get past the crashed holder.
    pub recovery: CrashRecovery,
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
            (4 * (self.drain_grace + self.reboot_time + self.pod_start)).max(Duration::from_secs(3))
        } else {
            self.lock_ttl
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
