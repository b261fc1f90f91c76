//! One chaos run: kubesim, a fault proxy in front of it, one supervised real agent per node,
//! the planned kills, crash, manual lock and rollout; then the invariants on the history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::{Agent, CancellationToken, Config, Deps, LockWaitMode, Metrics, Parts};
use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::errors::ApiError;
use kubesim::faults::{FaultStats, Faults, fault_layer};
use kubesim::resources::well_known::{DAEMONSETS, LEASES, NODES};
use kubesim::server::{ServerState, router};
use serde_json::Value;
use tokio::time::Instant;

use crate::sim::{is_cordoned, is_ready, join_or_abort};

use super::RunOutcome;
use super::hooks::{Exit, HookedDrainer, HookedLock, HookedNodes, NodeCtl, PlannedKill, guard};
use super::invariants::{self, Budget, Expectations, LockObject};
use super::plan::{Plan, Recovery};
use lock::Backend;
use testkit::SimHosts;

const MANUAL_LOCK: &str = r#"{"nodeID":"manual"}"#;

/// The API fault windows, applied by a middleware in front of kubesim's router.
struct Schedule {
    started: Instant,
    windows: Vec<(Duration, Duration, Arc<Faults>)>,
}

impl Schedule {
    fn stats(&self) -> FaultStats {
        let mut total = FaultStats::default();
        for (_, _, f) in &self.windows {
            let s = f.stats();
            total.errors_500 += s.errors_500;
            total.errors_429 += s.errors_429;
            total.conflicts_409 += s.conflicts_409;
            total.watches_cut += s.watches_cut;
        }
        total
    }
}

async fn scheduled_faults(State(s): State<Arc<Schedule>>, req: Request, next: Next) -> Response {
    let at = s.started.elapsed();
    match s
        .windows
        .iter()
        .find(|(start, len, _)| at >= *start && at < *start + *len)
    {
        Some((_, _, faults)) => fault_layer(State(faults.clone()), req, next).await,
        None => next.run(req).await,
    }
}

/// Everything the supervisors and admin tasks share.
struct World {
    plan: Plan,
    cluster: Arc<RunningCluster>,
    /// The agents' client (through the fault proxy).
    client: kube::Client,
    /// The operator's client (straight to kubesim).
    admin: kube::Client,
    /// The hosts: which need a reboot.
    hosts: Arc<SimHosts>,
    concurrency: AtomicU32,
    /// Nodes whose agent died for good, and when.
    dead: Mutex<BTreeMap<String, Instant>>,
}

impl World {
    fn config(&self, node: &str) -> Config {
        let mut c = Config::new(node);
        c.period = self.plan.period;
        c.lock_wait = if self.plan.lock_wait {
            LockWaitMode::Wait
        } else {
            LockWaitMode::Poll
        };
        c.retry_interval = Duration::from_millis(100);
        c.metrics_interval = Duration::from_secs(60);
        c.lock_release_delay = self.plan.release_delay;
        c.prefer_no_schedule_taint = Some("weave.works/kured-node-reboot".into());
        c
    }

    /// The agent's dependencies as kured-rs builds them (`agent::Deps::for_client`), the
    /// Kubernetes-facing parts wrapped in the chaos hooks that kill the agent at planned points.
    fn deps(&self, ctl: &Arc<NodeCtl>, token: &CancellationToken) -> anyhow::Result<Deps> {
        let hook = ctl.clone();
        let rebooter = self
            .hosts
            .rebooter(
                &ctl.name,
                self.cluster.clone(),
                self.plan.reboot_time,
                token.clone(),
            )
            .on_reboot(move || hook.on_reboot());
        let parts = Parts {
            lock: lock::LockConfig::default()
                .backend(self.plan.backend)
                .concurrency(self.concurrency.load(Ordering::SeqCst))
                .ttl(self.plan.lock_ttl)
                .node_cache(self.plan.period),
            drain: drain::DrainOptions::default(),
            blockers: blockers::BlockerSpec::default(),
            sentinel: Arc::new(self.hosts.sentinel(&ctl.name)),
            rebooter: Arc::new(rebooter),
            notifications: None,
            gate: None,
            events: None,
        };
        let mut deps = Deps::for_client(&self.client, parts, Metrics::new())?;
        deps.nodes = Arc::new(HookedNodes {
            inner: deps.nodes,
            ctl: ctl.clone(),
            token: token.clone(),
        });
        deps.drainer = Arc::new(HookedDrainer {
            inner: deps.drainer,
            ctl: ctl.clone(),
            token: token.clone(),
        });
        deps.lock = Arc::new(HookedLock {
            inner: deps.lock,
            ctl: ctl.clone(),
            token: token.clone(),
        });
        Ok(deps)
    }

    fn node(&self, name: &str) -> Option<Arc<Value>> {
        self.cluster.store().get(NODES, "", name)
    }

    /// The `DaemonSet`'s pod: a fresh agent after each reboot or kill, until `stop`.
    async fn supervise(self: Arc<Self>, ctl: Arc<NodeCtl>, stop: CancellationToken) {
        loop {
            let token = stop.child_token();
            let deps = match self.deps(&ctl, &token) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(node = %ctl.name, "cannot build the agent: {e:#}");
                    return;
                }
            };
            ctl.begin(token.clone());
            Agent::new(self.config(&ctl.name), deps).run(token).await;
            let exit = ctl.take_exit();
            if stop.is_cancelled() {
                return;
            }
            match exit {
                Some(Exit::Rebooted) => {
                    tokio::time::sleep(self.plan.reboot_time).await;
                    while !self.node(&ctl.name).is_some_and(|n| is_ready(&n)) {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_millis(20)) => {}
                        }
                    }
                }
                Some(Exit::Restart(after)) => tokio::time::sleep(after).await,
                Some(Exit::Dead(delete_after)) => {
                    guard(&self.dead).insert(ctl.name.clone(), Instant::now());
                    if let Some(after) = delete_after {
                        tokio::time::sleep(after).await;
                        let nodes: Api<Node> = Api::all(self.admin.clone());
                        if let Err(e) = nodes.delete(&ctl.name, &DeleteParams::default()).await {
                            tracing::warn!(node = %ctl.name, "cannot delete the node: {e}");
                        }
                    }
                    return;
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Lock holders now, read from the store.
    fn holders(&self) -> Vec<String> {
        let store = self.cluster.store();
        match self.plan.backend {
            Backend::Annotation => store
                .get(DAEMONSETS, "kube-system", "kured")
                .and_then(|ds| {
                    let text = ds["metadata"]["annotations"][lock::DEFAULT_ANNOTATION].as_str()?;
                    lock::LockValue::parse(text).ok()
                })
                .map(|v| v.records().iter().map(|r| r.node_id.clone()).collect())
                .unwrap_or_default(),
            Backend::Lease => store
                .list(LEASES, Some("kube-system"), |_| true)
                .0
                .iter()
                .filter_map(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// The operator's manual lock: set when the lock is free, removed after `hold`.
    #[allow(clippy::result_large_err)] // kubesim's store API returns its ApiError by value
    async fn manual_lock(self: Arc<Self>, at: Duration, hold: Duration, done: Arc<AtomicBool>) {
        tokio::time::sleep(at).await;
        let store = self.cluster.store().clone();
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            // Free: no record, or only records the agents no longer count either: of a
            // deleted node, or expired (the node died more than a TTL ago).
            let ttl = self.plan.lock_ttl;
            let stale: BTreeSet<String> = guard(&self.dead)
                .iter()
                .filter(|(n, died)| {
                    self.node(n).is_none() || (!ttl.is_zero() && died.elapsed() > ttl)
                })
                .map(|(n, _)| n.clone())
                .collect();
            let set = store.update(DAEMONSETS, "kube-system", "kured", |ds| {
                let cur = ds["metadata"]["annotations"][lock::DEFAULT_ANNOTATION].as_str();
                let free = cur.is_none_or(|t| {
                    lock::LockValue::parse(t)
                        .is_ok_and(|v| v.records().iter().all(|r| stale.contains(&r.node_id)))
                });
                if !free {
                    return Err(ApiError::new(409, Some("Conflict"), "lock held"));
                }
                let mut ds = ds.clone();
                ds["metadata"]["annotations"][lock::DEFAULT_ANNOTATION] =
                    Value::String(MANUAL_LOCK.into());
                Ok(ds)
            });
            if set.is_ok() {
                break;
            }
            if Instant::now() >= give_up {
                tracing::info!("chaos: the lock never was free; no manual lock");
                done.store(true, Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tracing::info!("chaos: manual lock set");
        tokio::time::sleep(hold).await;
        let _ = store.update(DAEMONSETS, "kube-system", "kured", |ds| {
            let mut ds = ds.clone();
            if ds["metadata"]["annotations"][lock::DEFAULT_ANNOTATION] == MANUAL_LOCK
                && let Some(a) = ds["metadata"]["annotations"].as_object_mut()
            {
                a.remove(lock::DEFAULT_ANNOTATION);
            }
            Ok(ds)
        });
        tracing::info!("chaos: manual lock removed");
        done.store(true, Ordering::SeqCst);
    }

    /// The `DaemonSet` rolled to a new concurrency: every live agent restarted in turn.
    async fn rollout(
        self: Arc<Self>,
        at: Duration,
        concurrency: u32,
        ctls: Vec<Arc<NodeCtl>>,
        done: Arc<AtomicBool>,
    ) {
        tokio::time::sleep(at).await;
        self.concurrency.store(concurrency, Ordering::SeqCst);
        tracing::info!(concurrency, "chaos: rolling the agents");
        for ctl in ctls {
            if ctl.stop_current(Exit::Restart(Duration::from_millis(50))) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        done.store(true, Ordering::SeqCst);
    }

    /// Every live node rebooted, uncordoned and released the lock.
    fn finished(&self, ctls: &[Arc<NodeCtl>]) -> bool {
        let dead: BTreeSet<String> = guard(&self.dead).keys().cloned().collect();
        let holders = self.holders();
        ctls.iter().all(|ctl| {
            dead.contains(&ctl.name)
                || (ctl.rebooted()
                    && !holders.contains(&ctl.name)
                    && self
                        .node(&ctl.name)
                        .is_some_and(|n| is_ready(&n) && !is_cordoned(&n)))
        })
    }
}

fn cluster_for(plan: &Plan) -> kubesim::cluster::ClusterBuilder {
    let mut b = Cluster::builder()
        .nodes(plan.nodes)
        .daemonset("kube-system", "kured")
        .daemonset("kube-system", "kube-proxy")
        .kubelet_start_delay(Duration::from_millis(50))
        .shutdown_time(plan.drain_grace)
        .reschedule_delay(Duration::from_millis(30))
        .record_history(true)
        .seed(plan.seed);
    for i in 0..plan.pods_per_node {
        b = b.deployment(
            "default",
            format!("app-{i}"),
            plan.nodes,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        );
    }
    b
}

/// Runs the plan of `seed`; gives up (a timeout violation) after `timeout`.
#[allow(clippy::too_many_lines)] // set up, run, tear down, check: one sequence
pub(crate) async fn run_seed(
    seed: u64,
    timeout: Duration,
    dump_dir: Option<&std::path::Path>,
) -> anyhow::Result<RunOutcome> {
    let plan = Plan::from_seed(seed);
    let cluster = Arc::new(
        cluster_for(&plan)
            .start()
            .await
            .context("cannot start kubesim")?,
    );
    let (_, start_rv) = cluster.store().list(NODES, None, |_| true);
    let names = plan.node_names();

    // The agents talk to kubesim through a second server with the scheduled faults.
    let started = Instant::now();
    let schedule = Arc::new(Schedule {
        started,
        windows: plan
            .faults
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let f = Faults::new(w.config(seed.wrapping_mul(31).wrapping_add(i as u64)));
                (w.start, w.duration, f)
            })
            .collect(),
    });
    let app = router(ServerState::new(cluster.store().clone()))
        .layer(from_fn_with_state(schedule.clone(), scheduled_faults));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let proxy_stop = CancellationToken::new();
    let proxy = tokio::spawn({
        let stop = proxy_stop.clone();
        async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        }
    });
    let uri: axum::http::Uri = format!("http://{addr}").parse()?;
    let client = kube::Client::try_from(kube::Config::new(uri))?;

    let kill_of = |i: usize| {
        if let Some(k) = plan.kills.iter().find(|k| k.node == i) {
            return Some(PlannedKill {
                point: k.point,
                exit: Exit::Restart(k.restart_after),
            });
        }
        plan.crash
            .as_ref()
            .filter(|c| c.node == i)
            .map(|c| PlannedKill {
                point: c.point,
                exit: Exit::Dead(match c.recovery {
                    Recovery::DeleteNode(after) => Some(after),
                    Recovery::Ttl => None,
                }),
            })
    };
    let ctls: Vec<Arc<NodeCtl>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Arc::new(NodeCtl::new(n.clone(), kill_of(i), plan.drain_grace / 3)))
        .collect();
    let world = Arc::new(World {
        plan: plan.clone(),
        admin: cluster.client()?,
        cluster: cluster.clone(),
        client,
        hosts: {
            let hosts = SimHosts::new();
            for name in &names {
                hosts.require(name);
            }
            hosts
        },
        concurrency: AtomicU32::new(plan.concurrency),
        dead: Mutex::new(BTreeMap::new()),
    });
    let stop = CancellationToken::new();
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = ctls
        .iter()
        .map(|ctl| tokio::spawn(world.clone().supervise(ctl.clone(), stop.child_token())))
        .collect();
    let manual_done = Arc::new(AtomicBool::new(plan.manual_lock.is_none()));
    if let Some(m) = &plan.manual_lock {
        tasks.push(tokio::spawn(world.clone().manual_lock(
            m.at,
            m.hold,
            manual_done.clone(),
        )));
    }
    let rollout_done = Arc::new(AtomicBool::new(plan.rollout.is_none()));
    if let Some(r) = &plan.rollout {
        tasks.push(tokio::spawn(world.clone().rollout(
            r.at,
            r.concurrency,
            ctls.clone(),
            rollout_done.clone(),
        )));
    }

    let deadline = started + timeout;
    let completed = loop {
        if manual_done.load(Ordering::SeqCst)
            && rollout_done.load(Ordering::SeqCst)
            && world.finished(&ctls)
        {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let wall = started.elapsed();
    stop.cancel();
    join_or_abort(tasks).await;
    proxy_stop.cancel();
    let abort = proxy.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), proxy)
        .await
        .is_err()
    {
        abort.abort();
    }

    let dead: BTreeSet<String> = guard(&world.dead).keys().cloned().collect();
    let abandoned: BTreeSet<String> = plan
        .crash
        .iter()
        .filter(|c| c.recovery == Recovery::Ttl)
        .map(|c| names[c.node].clone())
        .filter(|n| dead.contains(n))
        .collect();
    let exp = Expectations {
        start_rv,
        nodes: names.clone(),
        max_concurrency: plan.max_concurrency() as usize,
        dead,
        abandoned,
        lock: match plan.backend {
            Backend::Annotation => LockObject::kured_annotation(),
            Backend::Lease => LockObject::kured_leases(),
        },
        budgets: (0..plan.pods_per_node)
            .map(|i| Budget {
                app: format!("app-{i}"),
                min_available: plan.nodes - 1,
                replicas: plan.nodes,
            })
            .collect(),
        completed,
    };
    let history = cluster.history();
    let violations = invariants::check(&history, &exp);
    if let Some(dir) = dump_dir
        && !violations.is_empty()
    {
        let mut text = format!("seed {seed}: {plan}\n");
        for v in &violations {
            let _ = writeln!(text, "violation {v}");
        }
        for line in invariants::timeline(&history, &exp) {
            text.push_str(&line);
            text.push('\n');
        }
        let path = dir.join(format!("seed-{seed}.txt"));
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }
    let mut kills_fired = BTreeMap::new();
    for ctl in &ctls {
        for p in guard(&ctl.fired).iter() {
            *kills_fired.entry(*p).or_insert(0) += 1;
        }
    }
    let faults = schedule.stats();
    drop(world);
    if let Ok(c) = Arc::try_unwrap(cluster) {
        c.shutdown().await;
    }
    Ok(RunOutcome {
        seed,
        summary: plan.to_string(),
        plan,
        completed,
        wall_s: wall.as_secs_f64(),
        kills_fired,
        dead_nodes: exp.dead.into_iter().collect(),
        errors_500: faults.errors_500,
        errors_429: faults.errors_429,
        conflicts_409: faults.conflicts_409,
        watches_cut: faults.watches_cut,
        violations,
    })
}
