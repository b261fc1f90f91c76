//! The simulation: kubesim, one agent per node (built as kured-rs builds it), the simulated
//! hosts, and the phase observer.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent::{Agent, CancellationToken, Config, Deps, Metrics, Parts};
use anyhow::Context as _;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::resources::well_known::NODES;
use serde_json::Value;
use tokio::time::Instant;

use crate::options::{CrashRecovery, SimOptions};
use crate::phase::{ObserveResult, Phase, PhaseTimes, Transition};
use crate::report::{self, Observed, Report};
use crate::rollout;
use testkit::SimHosts;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything a node's supervisor needs to build agents.
struct World {
    options: SimOptions,
    cluster: Arc<RunningCluster>,
    client: kube::Client,
    /// The hosts: which need a reboot, the reboots done.
    hosts: Arc<SimHosts>,
    /// Nodes whose agent was killed for good (`--faults crash`).
    crashed: Mutex<BTreeSet<String>>,
    /// Each node's metrics, shared by its successive agents (the gate's wait is read from
    /// `kured_gate_wait_seconds` at the end).
    metrics: Mutex<BTreeMap<String, Metrics>>,
}

impl World {
    fn config(&self, node: &str) -> Config {
        let mut c = Config::new(node);
        c.period = self.options.period;
        c.lock_wait = self.options.lock_wait;
        c.retry_interval = Duration::from_millis(200);
        c.metrics_interval = Duration::from_secs(60);
        c.prefer_no_schedule_taint = Some("weave.works/kured-node-reboot".into());
        c.health_gate = self.options.health_gate;
        c.not_back_timeout = self.options.effective_not_back_timeout();
        c.max_failed_nodes = self.options.max_failed_nodes;
        c
    }

    /// The health gate's checks (`None`: no gate).
    fn gate(&self) -> Option<gate::GateConfig> {
        self.options.health_gate.then(|| gate::GateConfig {
            timeout: self.options.gate_timeout,
            poll: self.options.gate_poll,
            ..gate::GateConfig::default()
        })
    }

    /// The agent's dependencies, built as kured-rs builds them (`agent::Deps::for_client`), with
    /// the simulated host as sentinel and rebooter.
    fn deps(&self, node: &str, stop_agent: CancellationToken) -> anyhow::Result<Deps> {
        let parts = Parts {
            lock: lock::LockConfig::default()
                .backend(self.options.lock_backend)
                .concurrency(self.options.concurrency)
                .ttl(self.options.effective_lock_ttl())
                .node_cache(self.options.node_cache),
            drain: drain::DrainOptions::default(),
            blockers: blockers::BlockerSpec::default(),
            sentinel: Arc::new(self.hosts.sentinel(node)),
            rebooter: Arc::new(self.hosts.rebooter(
                node,
                self.cluster.clone(),
                self.options.reboot_time,
                stop_agent,
            )),
            notifications: None,
            gate: self.gate(),
            events: None,
        };
        let metrics = lock(&self.metrics)
            .entry(node.to_string())
            .or_default()
            .clone();
        Ok(Deps::for_client(&self.client, parts, metrics)?)
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
            // A host that never came back runs no agent again.
            if stop.is_cancelled() || self.hosts.is_lost(&node) {
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
        .kubelet_start_delay(options.effective_pod_start())
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
    let hosts = SimHosts::new();
    let nodes: Vec<String> = builder(options).node_names();
    for node in &nodes {
        hosts.require(node);
    }
    let faulty = inject_node_fault(options, &hosts, &nodes);
    if let Some(lost) = faulty.clone().filter(|_| options.faults.never_back) {
        hold_others_until_lost(options.deadline, &hosts, &nodes, lost);
    }
    let world = Arc::new(World {
        options: options.clone(),
        cluster: cluster.clone(),
        client: client.clone(),
        hosts,
        crashed: Mutex::default(),
        metrics: Mutex::default(),
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
    join_or_abort(tasks).await;
    let requests = diff_counts(&cluster.requests_by_verb(), &requests_before);
    let history = cluster.history();
    let final_nodes: BTreeMap<String, bool> = cluster
        .store()
        .list(NODES, None, |_| true)
        .0
        .iter()
        .filter_map(|n| Some((n["metadata"]["name"].as_str()?.to_string(), is_cordoned(n))))
        .collect();
    let mut reboots: BTreeMap<String, usize> = BTreeMap::new();
    for node in world.hosts.reboots() {
        *reboots.entry(node).or_default() += 1;
    }
    let crashed: Vec<String> = lock(&world.crashed).iter().cloned().collect();
    let gate_wait = lock(&world.metrics)
        .iter()
        .filter_map(|(node, m)| Some((node.clone(), rollout::gate_wait_seconds(&m.encode())?)))
        .collect();
    let rollout = rollout::state(cluster.store(), options.lock_backend);
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
            gate_wait,
            rollout,
            faulty,
        },
    );
    if let Ok(c) = Arc::try_unwrap(cluster) {
        c.shutdown().await;
    }
    Ok(report)
}

/// Picks the victim of a node-level fault (`never-back`, `reboot-fails`) and tells its host.
fn inject_node_fault(options: &SimOptions, hosts: &SimHosts, nodes: &[String]) -> Option<String> {
    if !options.faults.has_node_fault() {
        return None;
    }
    let node = nodes[fastrand::usize(..nodes.len())].clone();
    if options.faults.never_back {
        hosts.lose_on_reboot(&node);
    }
    if options.faults.reboot_fails {
        hosts.fail_reboots(&node);
    }
    Some(node)
}

/// `never-back`: only the lost node needs a reboot at first; the others need one once it went
/// down for good. Only waiting agents notice a holder that is not back (nobody else reads the
/// lock), so a lost node that happened to reboot last would halt nothing.
fn hold_others_until_lost(
    deadline: Duration,
    hosts: &Arc<SimHosts>,
    nodes: &[String],
    lost: String,
) {
    let others: Vec<String> = nodes.iter().filter(|n| **n != lost).cloned().collect();
    for n in &others {
        hosts.clear(n);
    }
    let hosts = hosts.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(deadline, async {
            while !hosts.is_lost(&lost) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        for n in &others {
            hosts.require(n);
        }
    });
}

/// Waits up to 5 s for each task to end (its agent was cancelled), then aborts it.
pub(crate) async fn join_or_abort(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
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
    let mut rv_times = Vec::new();
    let mut halted_at: Option<Duration> = None;
    // After the halt is seen the run goes on this long, so that a node draining despite
    // the halt would show in the history.
    let linger = (2 * world.options.period).max(Duration::from_millis(500));
    let completed = loop {
        let now = Instant::now();
        let at = now - started;
        let (objects, rv) = world.cluster.store().list(NODES, None, |_| true);
        rv_times.push((rv, at));
        let state = rollout::state(world.cluster.store(), world.options.lock_backend);
        if state.is_halted() && halted_at.is_none() {
            halted_at = Some(at);
            tracing::info!("the rollout halted: {:?}", state.halt);
        }
        let failed: BTreeSet<&str> = state.failures.iter().map(|f| f.node.as_str()).collect();
        let by_name: BTreeMap<&str, &Value> = objects
            .iter()
            .filter_map(|n| Some((n["metadata"]["name"].as_str()?, &**n)))
            .collect();
        let rebooted: BTreeSet<String> = world.hosts.reboots().into_iter().collect();
        let crashed = lock(&world.crashed).clone();
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
            if crash_at.is_some_and(|t| now >= t) && !lock(&world.crashed).contains(v) {
                if let Some(stop) = stops.get(v) {
                    stop.cancel();
                }
                lock(&world.crashed).insert(v.to_string());
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
        if halted_at.is_some_and(|h| at >= h + linger) {
            break false;
        }
        // Finished: every node back, gone, or failed (recorded in the rollout state).
        let finished = |(node, p): (&String, &Phase)| {
            matches!(p, Phase::Done | Phase::Gone) || failed.contains(node.as_str())
        };
        // With the gate a node back still holds the lock until its gate passes.
        let released = !world.options.health_gate
            || !rollout::lock_held(world.cluster.store(), world.options.lock_backend);
        if (phases.iter().all(finished) && released)
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
        rv_times,
        halted_at,
        wall: started.elapsed(),
        sample_interval: interval,
    }
}
