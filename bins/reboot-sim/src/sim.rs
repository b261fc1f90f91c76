//! The simulation: kubesim, one agent per node, the reboot double and the phase observer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent::{Agent, CancellationToken, Config, Deps, LockWaitMode, Metrics, SystemClock};
use anyhow::Context as _;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::faults::FaultConfig;
use kubesim::resources::well_known::NODES;
use sentinel::{RebootError, RebootSentinel, Rebooter, SentinelError};
use serde_json::Value;
use tokio::time::Instant;

use crate::report::{self, Observed, Report};

/// Which lock object the agents share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockBackend {
    /// kured's annotation on the `kube-system/kured` `DaemonSet`.
    #[default]
    Annotation,
    /// A `coordination.k8s.io` Lease.
    Lease,
}

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
    pub lock_backend: LockBackend,
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
            lock_backend: LockBackend::Annotation,
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

    fn effective_sample_interval(&self) -> Duration {
        if !self.sample_interval.is_zero() {
            self.sample_interval
        } else if self.nodes <= 200 {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(50)
        }
    }
}

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

/// State shared by the sentinels, rebooters and the observer.
#[derive(Debug, Default)]
struct Shared {
    required: Mutex<BTreeSet<String>>,
    /// Node → times its reboot was triggered.
    reboots: Mutex<BTreeMap<String, Vec<Instant>>>,
    crashed: Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sentinel: an in-memory "reboot required" flag the reboot clears.
struct SimSentinel {
    node: String,
    shared: Arc<Shared>,
}

#[async_trait]
impl RebootSentinel for SimSentinel {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        Ok(lock(&self.shared.required).contains(&self.node))
    }
}

/// The reboot: clears the flag, reboots the node in kubesim and stops the agent (its process
/// dies with the host).
struct SimRebooter {
    node: String,
    shared: Arc<Shared>,
    cluster: Arc<RunningCluster>,
    down_for: Duration,
    stop_agent: CancellationToken,
}

#[async_trait]
impl Rebooter for SimRebooter {
    async fn reboot(&self) -> Result<(), RebootError> {
        lock(&self.shared.reboots)
            .entry(self.node.clone())
            .or_default()
            .push(Instant::now());
        lock(&self.shared.required).remove(&self.node);
        if let Err(e) = self.cluster.reboot_node(&self.node, self.down_for) {
            tracing::warn!(node = %self.node, "kubesim reboot failed: {e}");
        }
        self.stop_agent.cancel();
        Ok(())
    }
}

/// Everything a node's supervisor needs to build agents.
struct World {
    options: SimOptions,
    cluster: Arc<RunningCluster>,
    client: kube::Client,
    shared: Arc<Shared>,
}

impl World {
    fn config(&self, node: &str) -> Config {
        let mut c = Config::new(node);
        c.period = self.options.period;
        c.lock_wait = self.options.lock_wait;
        c.retry_interval = Duration::from_millis(200);
        c.metrics_interval = Duration::from_secs(60);
        c.prefer_no_schedule_taint = Some("weave.works/kured-node-reboot".into());
        c
    }

    fn deps(&self, node: &str, stop_agent: CancellationToken) -> anyhow::Result<Deps> {
        let client = self.client.clone();
        let ttl = self.options.effective_lock_ttl();
        let lock: Arc<dyn lock::RebootLock> = match self.options.lock_backend {
            LockBackend::Annotation => Arc::new(lock::DaemonSetLock::new(
                client.clone(),
                lock::DaemonSetLockConfig::default()
                    .concurrency(self.options.concurrency)
                    .ttl(ttl)
                    .node_cache(self.options.node_cache),
            )?),
            LockBackend::Lease => Arc::new(lock::LeaseLock::new(
                client.clone(),
                lock::LeaseLockConfig::default()
                    .concurrency(self.options.concurrency)
                    .ttl(ttl)
                    .node_cache(self.options.node_cache),
            )?),
        };
        Ok(Deps {
            nodes: Arc::new(drain::KubeNodeOps::new(client.clone())),
            node_reader: Arc::new(agent::KubeNodeReader::new(client.clone())),
            drainer: Arc::new(drain::DrainEngine::for_client(
                client,
                drain::DrainOptions::default(),
            )),
            lock,
            sentinel: Arc::new(SimSentinel {
                node: node.to_string(),
                shared: self.shared.clone(),
            }),
            rebooter: Arc::new(SimRebooter {
                node: node.to_string(),
                shared: self.shared.clone(),
                cluster: self.cluster.clone(),
                down_for: self.options.reboot_time,
                stop_agent,
            }),
            blockers: Arc::new(blockers::CompositeBlocker::new()),
            notifications: None,
            clock: Arc::new(SystemClock),
            metrics: Metrics::new(),
        })
    }

    fn node_ready(&self, node: &str) -> bool {
        self.cluster
            .store()
            .get(NODES, "", node)
            .is_some_and(|n| is_ready(&n))
    }

    /// Runs agents for `node` like the `DaemonSet`: a fresh one after each reboot, once the
    /// node is Ready again, until `stop` fires.
    async fn supervise(self: Arc<Self>, node: String, stop: CancellationToken) {
        loop {
            let token = stop.child_token();
            let deps = match self.deps(&node, token.clone()) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(%node, "cannot build the agent: {e:#}");
                    return;
                }
            };
            Agent::new(self.config(&node), deps).run(token).await;
            if stop.is_cancelled() {
                return;
            }
            // The host is down; the DaemonSet pod starts again after the boot.
            tokio::time::sleep(self.options.reboot_time).await;
            while !self.node_ready(&node) {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    }
}

/// Whether the node's `Ready` condition is `True`.
pub(crate) fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether the node is unschedulable (cordoned).
pub(crate) fn is_cordoned(node: &Value) -> bool {
    node["spec"]["unschedulable"] == Value::Bool(true)
}

/// The cluster kubesim seeds for `options`.
fn builder(options: &SimOptions) -> kubesim::cluster::ClusterBuilder {
    let mut b = Cluster::builder()
        .nodes(options.nodes)
        .daemonset("kube-system", "kured")
        .daemonset("kube-system", "kube-proxy")
        .kubelet_start_delay(options.pod_start)
        .shutdown_time(options.drain_grace)
        .reschedule_delay(options.reschedule_delay)
        .record_history(true);
    for i in 0..options.pods_per_node {
        let pdb = options
            .pdb
            .then_some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1)));
        b = b.deployment("default", format!("app-{i}"), options.nodes, pdb);
    }
    if let Some(seed) = options.seed {
        b = b.seed(seed);
    }
    if let Some(api) = &options.faults.api {
        b = b.faults(api.clone());
    }
    b
}

/// Runs the whole rolling reboot; `on_change` is called for every node phase change (from
/// the observer task; keep it quick).
pub async fn simulate(
    options: &SimOptions,
    on_change: Arc<dyn Fn(&Transition) + Send + Sync>,
) -> anyhow::Result<Report> {
    anyhow::ensure!(options.nodes > 0, "--nodes must be at least 1");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be at least 1");
    if let Some(seed) = options.seed {
        fastrand::seed(seed);
    }
    let cluster = Arc::new(
        builder(options)
            .start()
            .await
            .context("cannot start kubesim")?,
    );
    let client = cluster.client().context("kube client for kubesim")?;
    let (_, start_rv) = cluster.store().list(NODES, None, |_| true);
    let requests_before = cluster.requests_by_verb();
    let shared = Arc::new(Shared::default());
    let nodes: Vec<String> = builder(options).node_names();
    lock(&shared.required).extend(nodes.iter().cloned());
    let world = Arc::new(World {
        options: options.clone(),
        cluster: cluster.clone(),
        client: client.clone(),
        shared: shared.clone(),
    });

    let started = Instant::now();
    let mut stops = BTreeMap::new();
    let mut tasks = Vec::new();
    for node in &nodes {
        let stop = CancellationToken::new();
        stops.insert(node.clone(), stop.clone());
        tasks.push(tokio::spawn(world.clone().supervise(node.clone(), stop)));
    }
    let victim = options
        .faults
        .crash
        .then(|| nodes[fastrand::usize(..nodes.len())].clone());

    let observed = observe(
        &world,
        &nodes,
        victim.as_deref(),
        &stops,
        started,
        &on_change,
    )
    .await;

    for stop in stops.values() {
        stop.cancel();
    }
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let requests = diff_counts(&cluster.requests_by_verb(), &requests_before);
    let history = cluster.history();
    let final_nodes: BTreeMap<String, bool> = cluster
        .store()
        .list(NODES, None, |_| true)
        .0
        .iter()
        .filter_map(|n| Some((n["metadata"]["name"].as_str()?.to_string(), is_cordoned(n))))
        .collect();
    let reboots: BTreeMap<String, usize> = lock(&shared.reboots)
        .iter()
        .map(|(n, v)| (n.clone(), v.len()))
        .collect();
    let crashed: Vec<String> = lock(&shared.crashed).iter().cloned().collect();
    let report = report::build(
        options,
        &Observed {
            nodes,
            run: observed,
            reboots,
            crashed,
            final_nodes,
            history: &history,
            start_rv,
            requests,
        },
    );
    if let Ok(c) = Arc::try_unwrap(cluster) {
        c.shutdown().await;
    }
    Ok(report)
}

fn diff_counts(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0).min(*v)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// What the observer saw of one node: when it first was in each phase.
pub(crate) type PhaseTimes = BTreeMap<String, BTreeMap<Phase, Duration>>;

/// The result of observing the run.
pub(crate) struct ObserveResult {
    pub(crate) times: PhaseTimes,
    pub(crate) completed: bool,
    pub(crate) wall: Duration,
    pub(crate) sample_interval: Duration,
}

/// Samples node phases until every node is done (or crashed/gone) or the deadline passes;
/// kills the crash victim mid-drain.
#[allow(clippy::too_many_lines)] // one sampling loop: phases, the crash, the end
async fn observe(
    world: &Arc<World>,
    nodes: &[String],
    victim: Option<&str>,
    stops: &BTreeMap<String, CancellationToken>,
    started: Instant,
    on_change: &Arc<dyn Fn(&Transition) + Send + Sync>,
) -> ObserveResult {
    let interval = world.options.effective_sample_interval();
    let mut phases: BTreeMap<String, Phase> =
        nodes.iter().map(|n| (n.clone(), Phase::Pending)).collect();
    let mut times: PhaseTimes = nodes
        .iter()
        .map(|n| {
            (
                n.clone(),
                BTreeMap::from([(Phase::Pending, Duration::ZERO)]),
            )
        })
        .collect();
    let mut counts: BTreeMap<Phase, usize> = BTreeMap::from([(Phase::Pending, nodes.len())]);
    let mut crash_at: Option<Instant> = None;
    let mut deleted = false;
    let deadline = started + world.options.deadline;
    let completed = loop {
        let now = Instant::now();
        let at = now - started;
        let (objects, _) = world.cluster.store().list(NODES, None, |_| true);
        let by_name: BTreeMap<&str, &Value> = objects
            .iter()
            .filter_map(|n| Some((n["metadata"]["name"].as_str()?, &**n)))
            .collect();
        let rebooted: BTreeSet<String> = lock(&world.shared.reboots).keys().cloned().collect();
        let crashed = lock(&world.shared.crashed).clone();
        let mut changes = Vec::new();
        for node in nodes {
            let new = match by_name.get(node.as_str()) {
                None => Phase::Gone,
                Some(_) if crashed.contains(node) => Phase::Crashed,
                Some(n) if rebooted.contains(node) => {
                    if is_ready(n) && !is_cordoned(n) {
                        Phase::Done
                    } else {
                        Phase::Rebooting
                    }
                }
                Some(n) if is_cordoned(n) => Phase::Draining,
                Some(_) => Phase::Pending,
            };
            let old = phases.get(node).copied().unwrap_or(Phase::Pending);
            if new != old {
                changes.push((node, old, new));
            }
        }
        // Nodes leaving the cordoned phases first, so that the counts of one sample never
        // show a handoff as an extra cordoned node.
        changes.sort_by_key(|(_, _, new)| std::cmp::Reverse(*new));
        for (node, old, new) in changes {
            {
                phases.insert(node.clone(), new);
                times
                    .entry(node.clone())
                    .or_default()
                    .entry(new)
                    .or_insert(at);
                if let Some(c) = counts.get_mut(&old) {
                    *c = c.saturating_sub(1);
                }
                *counts.entry(new).or_default() += 1;
                on_change(&Transition {
                    at,
                    node: node.clone(),
                    from: old,
                    to: new,
                    counts: counts.clone(),
                });
            }
        }
        // The crash: the victim's agent dies a moment into its drain.
        if let Some(v) = victim {
            if phases.get(v) == Some(&Phase::Draining) && crash_at.is_none() {
                crash_at = Some(now + world.options.drain_grace / 4);
            }
            if crash_at.is_some_and(|t| now >= t) && !lock(&world.shared.crashed).contains(v) {
                if let Some(stop) = stops.get(v) {
                    stop.cancel();
                }
                lock(&world.shared.crashed).insert(v.to_string());
                tracing::info!(node = v, "agent crashed (killed for good)");
            }
            if world.options.faults.recovery == CrashRecovery::Delete
                && !deleted
                && crash_at.is_some_and(|t| now >= t + world.options.reboot_time)
            {
                deleted = true;
                let nodes: Api<Node> = Api::all(world.client.clone());
                if let Err(e) = nodes.delete(v, &DeleteParams::default()).await {
                    tracing::warn!(node = v, "cannot delete the crashed node: {e}");
                }
            }
        }
        if phases
            .values()
            .all(|p| matches!(p, Phase::Done | Phase::Gone))
            || (phases
                .values()
                .all(|p| matches!(p, Phase::Done | Phase::Gone | Phase::Crashed))
                && world.options.faults.recovery == CrashRecovery::Ttl)
        {
            break true;
        }
        if now >= deadline {
            break false;
        }
        tokio::time::sleep(interval).await;
    };
    ObserveResult {
        times,
        completed,
        wall: started.elapsed(),
        sample_interval: interval,
    }
}
