//! [`SimHosts`]: the host side of simulated nodes over kubesim.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kubesim::cluster::RunningCluster;
use sentinel::{RebootError, RebootSentinel, Rebooter, SentinelError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Which simulated hosts need a reboot, which sentinels are broken, and the reboots done.
/// Shared by every node's [`HostSentinel`] and [`HostRebooter`].
#[derive(Debug, Default)]
pub struct SimHosts {
    required: Mutex<BTreeSet<String>>,
    broken: Mutex<BTreeSet<String>>,
    failing: Mutex<BTreeSet<String>>,
    lost: Mutex<BTreeSet<String>>,
    reboots: Mutex<Vec<(String, Instant)>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimHosts {
    /// No host needs a reboot yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// `node`'s host needs a reboot (its sentinel answers yes until it reboots).
    pub fn require(&self, node: &str) {
        guard(&self.required).insert(node.to_string());
    }

    /// `node`'s host no longer needs a reboot (without rebooting).
    pub fn clear(&self, node: &str) {
        guard(&self.required).remove(node);
    }

    /// Whether `node`'s host still needs a reboot.
    pub fn is_required(&self, node: &str) -> bool {
        guard(&self.required).contains(node)
    }

    /// The nodes whose hosts still need a reboot.
    pub fn required(&self) -> BTreeSet<String> {
        guard(&self.required).clone()
    }

    /// `node`'s sentinel cannot tell (an I/O error) until [`Self::repair`].
    pub fn break_sentinel(&self, node: &str) {
        guard(&self.broken).insert(node.to_string());
    }

    /// `node`'s sentinel answers again and its reboot command works again.
    pub fn repair(&self, node: &str) {
        guard(&self.broken).remove(node);
        guard(&self.failing).remove(node);
    }

    /// `node`'s reboot command fails (exits non-zero, nothing happens) until [`Self::repair`].
    pub fn fail_reboots(&self, node: &str) {
        guard(&self.failing).insert(node.to_string());
    }

    /// `node` never comes back from its next reboot: kubesim keeps it down (`NotReady`) for
    /// an hour, and [`Self::is_lost`] tells the harness not to start its agent again.
    pub fn lose_on_reboot(&self, node: &str) {
        guard(&self.lost).insert(node.to_string());
    }

    /// Whether `node` went down for good ([`Self::lose_on_reboot`] and it rebooted).
    pub fn is_lost(&self, node: &str) -> bool {
        guard(&self.lost).contains(node) && self.reboots().iter().any(|n| n == node)
    }

    /// The nodes rebooted so far, in order.
    pub fn reboots(&self) -> Vec<String> {
        guard(&self.reboots)
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The reboots so far with the time each was triggered.
    pub fn reboot_times(&self) -> Vec<(String, Instant)> {
        guard(&self.reboots).clone()
    }

    /// `node`'s sentinel.
    pub fn sentinel(self: &Arc<Self>, node: &str) -> HostSentinel {
        HostSentinel {
            node: node.to_string(),
            hosts: self.clone(),
        }
    }

    /// `node`'s rebooter: reboots the node in `cluster` (down for `down_for`) and cancels
    /// `stop` (the agent's process dies with the host).
    pub fn rebooter(
        self: &Arc<Self>,
        node: &str,
        cluster: Arc<RunningCluster>,
        down_for: Duration,
        stop: CancellationToken,
    ) -> HostRebooter {
        HostRebooter {
            node: node.to_string(),
            hosts: self.clone(),
            cluster,
            down_for,
            stop,
            on_reboot: None,
        }
    }
}

/// "Is a reboot required?" for one simulated host: what [`SimHosts`] says.
#[derive(Debug)]
pub struct HostSentinel {
    node: String,
    hosts: Arc<SimHosts>,
}

#[async_trait]
impl RebootSentinel for HostSentinel {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        if guard(&self.hosts.broken).contains(&self.node) {
            return Err(SentinelError::File {
                path: "/sentinel/reboot-required".into(),
                source: std::io::Error::other("input/output error"),
            });
        }
        Ok(self.hosts.is_required(&self.node))
    }
}

/// Reboots one simulated host: records the reboot, clears its "reboot required", reboots the
/// node in kubesim (`NotReady` for a while, a new boot ID, pods restarted) and ends its agent.
pub struct HostRebooter {
    node: String,
    hosts: Arc<SimHosts>,
    cluster: Arc<RunningCluster>,
    down_for: Duration,
    stop: CancellationToken,
    on_reboot: Option<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for HostRebooter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRebooter")
            .field("node", &self.node)
            .field("down_for", &self.down_for)
            .finish_non_exhaustive()
    }
}

impl HostRebooter {
    /// Also runs `hook` on each reboot, after kubesim's reboot and before the agent is ended.
    pub fn on_reboot(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_reboot = Some(Box::new(hook));
        self
    }
}

#[async_trait]
impl Rebooter for HostRebooter {
    async fn reboot(&self) -> Result<(), RebootError> {
        if guard(&self.hosts.failing).contains(&self.node) {
            return Err(RebootError::CommandFailed {
                command: "systemctl reboot".into(),
                termination: sentinel::Termination::Exited(1),
                stderr: "Failed to reboot: simulated".into(),
            });
        }
        guard(&self.hosts.reboots).push((self.node.clone(), Instant::now()));
        guard(&self.hosts.required).remove(&self.node);
        let down_for = if guard(&self.hosts.lost).contains(&self.node) {
            Duration::from_secs(3600)
        } else {
            self.down_for
        };
        if let Err(e) = self.cluster.reboot_node(&self.node, down_for) {
            tracing::warn!(node = %self.node, "kubesim reboot failed: {e}");
        }
        if let Some(hook) = &self.on_reboot {
            hook();
        }
        self.stop.cancel();
        Ok(())
    }
}
