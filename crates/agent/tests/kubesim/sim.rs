//! The simulation harness of the agent's kubesim tests: a cluster, one agent per node built
//! with `Deps::for_client` (as kured-rs builds it), simulated hosts and recorded notifications.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::{
    Agent, CancellationToken, Clock, Config, Deps, LockWaitMode, Metrics, Parts, SystemClock,
};
use async_trait::async_trait;
use blockers::BlockerSpec;
use kubesim::cluster::{Cluster, ClusterBuilder, RunningCluster};
use kubesim::resources::well_known::NODES;
use notify::{Message, Notifications, Notifier, NotifyError};
use serde_json::json;
use testkit::SimHosts;

pub(crate) const DOWN_FOR: Duration = Duration::from_millis(100);

/// The notifications sent, in order.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) messages: Mutex<Vec<String>>,
}

impl Shared {
    pub(crate) fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

#[derive(Debug)]
pub(crate) struct RecordingNotifier(Arc<Shared>);

#[async_trait]
impl Notifier for RecordingNotifier {
    fn service(&self) -> &'static str {
        "test"
    }
    fn target(&self) -> String {
        "memory".into()
    }
    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        self.0.messages.lock().unwrap().push(message.text.clone());
        Ok(())
    }
}

/// How each agent is built.
#[derive(Clone)]
#[allow(clippy::struct_excessive_bools)] // one switch per agent option a scenario turns
pub(crate) struct Setup {
    pub(crate) concurrency: u32,
    pub(crate) lock_ttl: Duration,
    pub(crate) force_reboot: bool,
    pub(crate) drain_timeout: Duration,
    pub(crate) blocking_selectors: Vec<String>,
    pub(crate) opt_out_key: Option<String>,
    pub(crate) prometheus_url: Option<String>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) window: schedule::TimeWindow,
    pub(crate) period: Duration,
    pub(crate) lock_wait: LockWaitMode,
    pub(crate) taint: Option<String>,
    pub(crate) annotate: bool,
    pub(crate) lease: bool,
    pub(crate) guard: bool,
    /// The health gate (`None`: off).
    pub(crate) gate: Option<gate::GateConfig>,
    pub(crate) not_back_timeout: Duration,
    pub(crate) max_failed_nodes: u32,
    /// Publish Events (reporting instance = the node).
    pub(crate) events: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            concurrency: 1,
            lock_ttl: Duration::ZERO,
            force_reboot: false,
            drain_timeout: Duration::from_secs(20),
            blocking_selectors: Vec::new(),
            opt_out_key: None,
            prometheus_url: None,
            clock: Arc::new(SystemClock),
            window: schedule::TimeWindow::default(),
            period: Duration::from_millis(100),
            lock_wait: LockWaitMode::Wait,
            taint: Some("weave.works/kured-node-reboot".into()),
            annotate: true,
            lease: false,
            guard: false,
            gate: None,
            not_back_timeout: Duration::ZERO,
            max_failed_nodes: 1,
            events: false,
        }
    }
}

pub(crate) struct Sim {
    pub(crate) cluster: Arc<RunningCluster>,
    pub(crate) client: kube::Client,
    pub(crate) hosts: Arc<SimHosts>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) setup: Setup,
    pub(crate) metrics: Mutex<BTreeMap<String, Metrics>>,
    pub(crate) stops: Mutex<BTreeMap<String, CancellationToken>>,
    pub(crate) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

pub(crate) fn builder() -> ClusterBuilder {
    Cluster::builder()
        .nodes(3)
        .daemonset("kube-system", "kured")
        .pods_per_node(1)
        .kubelet_start_delay(Duration::from_millis(20))
        .shutdown_time(Duration::from_millis(20))
        .reschedule_delay(Duration::from_millis(20))
        .record_history(true)
}

impl Sim {
    pub(crate) async fn start(builder: ClusterBuilder, setup: Setup) -> Arc<Sim> {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("info")
            .try_init();
        let cluster = Arc::new(builder.start().await.expect("kubesim"));
        let client = cluster.client().expect("client");
        Arc::new(Sim {
            cluster,
            client,
            hosts: SimHosts::new(),
            shared: Arc::default(),
            setup,
            metrics: Mutex::default(),
            stops: Mutex::default(),
            tasks: Mutex::default(),
        })
    }

    pub(crate) fn deps(&self, node: &str, stop_agent: CancellationToken) -> Deps {
        let lock = lock::LockConfig::default()
            .backend(if self.setup.lease {
                lock::Backend::Lease
            } else {
                lock::Backend::Annotation
            })
            .concurrency(self.setup.concurrency)
            .ttl(self.setup.lock_ttl)
            .node_cache(Duration::ZERO);
        let blockers = BlockerSpec {
            prometheus: self.setup.prometheus_url.as_ref().map(|url| {
                blockers::PrometheusBlocker::new(url)
                    .unwrap()
                    .firing_only(true)
            }),
            pod_selectors: self.setup.blocking_selectors.clone(),
            opt_out_key: self.setup.opt_out_key.clone(),
        };
        let parts = Parts {
            lock,
            drain: drain::DrainOptions {
                timeout: self.setup.drain_timeout,
                ..drain::DrainOptions::default()
            },
            blockers,
            sentinel: Arc::new(self.hosts.sentinel(node)),
            rebooter: Arc::new(self.hosts.rebooter(
                node,
                self.cluster.clone(),
                DOWN_FOR,
                stop_agent,
            )),
            notifications: Some(Notifications::new(
                Arc::new(RecordingNotifier(self.shared.clone())),
                notify::MessageTemplates::default(),
            )),
            gate: self.setup.gate.clone(),
            events: self.setup.events.then(|| node.to_string()),
        };
        let metrics = self
            .metrics
            .lock()
            .unwrap()
            .entry(node.to_string())
            .or_default()
            .clone();
        let mut deps = Deps::for_client(&self.client, parts, metrics).expect("valid parts");
        deps.clock = self.setup.clock.clone();
        deps
    }

    pub(crate) fn config(&self, node: &str) -> Config {
        let mut c = Config::new(node);
        c.period = self.setup.period;
        c.window = self.setup.window.clone();
        c.force_reboot = self.setup.force_reboot;
        c.lock_wait = self.setup.lock_wait;
        c.retry_interval = Duration::from_millis(50);
        c.metrics_interval = Duration::from_millis(200);
        c.prefer_no_schedule_taint.clone_from(&self.setup.taint);
        c.annotate_nodes = self.setup.annotate;
        c.autoscaler_guard = self.setup.guard;
        c.health_gate = self.setup.gate.is_some();
        c.not_back_timeout = self.setup.not_back_timeout;
        c.max_failed_nodes = self.setup.max_failed_nodes;
        c.fingerprint = "test-config".into();
        c
    }

    /// Runs agents for `node` like a `DaemonSet`: a fresh one after each reboot, until stopped.
    pub(crate) fn spawn_node(self: &Arc<Self>, node: &str) {
        let stop = CancellationToken::new();
        self.stops
            .lock()
            .unwrap()
            .insert(node.to_string(), stop.clone());
        let sim = self.clone();
        let node = node.to_string();
        let task = tokio::spawn(async move {
            loop {
                let token = stop.child_token();
                let agent = Agent::new(sim.config(&node), sim.deps(&node, token.clone()));
                agent.run(token).await;
                if stop.is_cancelled() || sim.hosts.is_lost(&node) {
                    return;
                }
                // The node is down; the DaemonSet pod comes back after the boot.
                tokio::time::sleep(DOWN_FOR + Duration::from_millis(20)).await;
            }
        });
        self.tasks.lock().unwrap().push(task);
    }

    pub(crate) fn spawn_all(self: &Arc<Self>) {
        for node in self.nodes() {
            self.spawn_node(&node);
        }
    }

    /// Kills `node`'s agent (a crash: no clean-up).
    pub(crate) fn kill(&self, node: &str) {
        if let Some(stop) = self.stops.lock().unwrap().get(node) {
            stop.cancel();
        }
    }

    pub(crate) fn nodes(&self) -> Vec<String> {
        let (nodes, _) = self.cluster.store().list(NODES, None, |_| true);
        nodes
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn unschedulable(&self, node: &str) -> bool {
        self.cluster
            .store()
            .get(NODES, "", node)
            .is_some_and(|n| n["spec"]["unschedulable"] == json!(true))
    }

    pub(crate) fn node_json(&self, node: &str) -> serde_json::Value {
        (*self.cluster.store().get(NODES, "", node).unwrap()).clone()
    }

    pub(crate) fn lock_value(&self) -> Option<String> {
        let ds = self.cluster.store().get(
            kubesim::resources::well_known::DAEMONSETS,
            "kube-system",
            "kured",
        )?;
        ds["metadata"]["annotations"][lock::DEFAULT_ANNOTATION]
            .as_str()
            .map(str::to_string)
    }

    pub(crate) fn max_cordoned(&self) -> usize {
        let history = self.cluster.history();
        kubesim::cluster::matching_over_time(&history, NODES, |v| {
            v["spec"]["unschedulable"] == json!(true)
        })
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
    }

    pub(crate) fn metrics(&self, node: &str) -> String {
        self.metrics
            .lock()
            .unwrap()
            .get(node)
            .map(Metrics::encode)
            .unwrap_or_default()
    }

    pub(crate) async fn stop(&self) {
        for stop in self.stops.lock().unwrap().values() {
            stop.cancel();
        }
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("agent stops on cancellation")
                .unwrap();
        }
    }
}
