//! The simulated cluster with a fleetlock-rs server in Kubernetes mode around it, and what
//! the scenarios ask it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{TestServer, config, post, start_app};
use fleetlock::kube_nodes::{DrainProgress, KubeNodeHandler, NodeCache, NodeHandler};
use fleetlock::rollout::Rollout;
use fleetlock::server::GroupStatus;
use fleetlock::store::MemoryStore;
use fleetlock::{FleetLock, LockStore, RolloutConfig, Status};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kubesim::cluster::{ClusterBuilder, RunningCluster};
use kubesim::resources::well_known::NODES;

pub(crate) const ADMIN: &str = "admin-t0ken";

/// Events kept for the assertions and published to the cluster as fleetlock-rs does (so the
/// real kubectl can show them).
#[derive(Debug)]
struct Tee {
    recorded: Arc<events::RecordedEvents>,
    cluster: events::KubeNodeEvents,
}

#[async_trait::async_trait]
impl events::NodeEvents for Tee {
    async fn publish(&self, node: &str, event: events::NodeEvent) {
        self.recorded.publish(node, event.clone()).await;
        self.cluster.publish(node, event).await;
    }
}

pub(crate) struct Env {
    pub(crate) cluster: RunningCluster,
    pub(crate) client: kube::Client,
    pub(crate) server: TestServer,
    /// The Node Events the server published.
    pub(crate) events: Arc<events::RecordedEvents>,
}

/// A gate (or not-back check) polling every 100 ms; `slots` in group `default`.
pub(crate) fn rollout(gate_timeout: Option<Duration>, not_back: Duration) -> RolloutConfig {
    RolloutConfig {
        health_gate: gate_timeout.is_some(),
        health_gate_timeout: gate_timeout.unwrap_or(Duration::from_secs(60)),
        reboot_not_back_timeout: not_back,
        poll: Duration::from_millis(100),
        ..RolloutConfig::default()
    }
}

pub(crate) async fn env(builder: ClusterBuilder, rollout: RolloutConfig, slots: u32) -> Env {
    kubesim::cluster::install_crypto_provider();
    let cluster = builder.record_history(true).start().await.unwrap();
    let client = cluster.client().unwrap();
    let cache = NodeCache::start(client.clone()).await.unwrap();
    let progress = DrainProgress::new();
    let drainer =
        drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
            .unwrap()
            .on_event(progress.sink());
    let mut config = config(&[("default", slots)]);
    config.kubernetes_nodes = true;
    config.admin_token = Some(ADMIN.into());
    config.rollout = rollout;
    let store: Arc<dyn LockStore> = Arc::new(MemoryStore::new());
    let app = FleetLock::new(config.clone(), Arc::clone(&store)).unwrap();
    let handler: Arc<dyn NodeHandler> = Arc::new(
        KubeNodeHandler::new(client.clone(), cache, Arc::new(drainer)).with_progress(progress),
    );
    let events = Arc::new(events::RecordedEvents::new());
    let sink: Arc<dyn events::NodeEvents> = Arc::new(Tee {
        recorded: Arc::clone(&events),
        cluster: events::KubeNodeEvents::new(client.clone(), "fleetlock-rs", "fleetlock-rs-test"),
    });
    let rollout = Rollout::start(
        client.clone(),
        store,
        Arc::clone(&handler),
        &config.rollout,
        app.metrics().gate_failures.clone(),
        app.metrics().gate_waits.clone(),
        Arc::clone(&sink),
    )
    .unwrap();
    let app = app
        .with_node_handler(handler)
        .with_rollout(rollout)
        .with_events(Arc::clone(&sink));
    let server = start_app(app).await;
    Env {
        cluster,
        client,
        server,
        events,
    }
}

/// POSTs like Zincati (ids are node names); returns (status, kind, value).
pub(crate) async fn ask(env: &Env, path: &str, id: &str) -> (u16, String, String) {
    let c = env.server.client(id, "default");
    let result = if path == "pre-reboot" {
        c.pre_reboot().await
    } else {
        c.steady_state().await
    };
    match result {
        Ok(()) => (200, String::new(), String::new()),
        Err(fleetlock::ClientError::Rejected { status, body, .. }) => {
            (status.as_u16(), body.kind, body.value)
        }
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Asks pre-reboot until 200 (the node drained).
pub(crate) async fn until_granted(env: &Env, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, kind) = post(&env.server, "pre-reboot", id, "default").await;
        if status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never granted: {kind:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn status(env: &Env) -> GroupStatus {
    let url = env.server.base().join("v1/status").unwrap();
    let s: Status = env
        .server
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s.groups.into_iter().find(|g| g.group == "default").unwrap()
}

pub(crate) async fn wait_status(
    env: &Env,
    what: &str,
    within: Duration,
    ok: impl Fn(&GroupStatus) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let s = status(env).await;
        if ok(&s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn metrics(env: &Env) -> String {
    let url = env.server.base().join("metrics").unwrap();
    env.server
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) async fn admin(env: &Env, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let url = env.server.base().join(path).unwrap();
    let mut request = env.server.http.post(url).body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Reboots `node` for `down` and, unless `wait` is false, waits until it is Ready again with
/// a new boot ID.
pub(crate) async fn reboot(env: &Env, node: &str, down: Duration, wait: bool) {
    let before = gate::node_boot(&env.client, node).await.unwrap();
    env.cluster.reboot_node(node, down).unwrap();
    if !wait {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = gate::node_boot(&env.client, node).await.unwrap();
        if now.ready && now.boot_id != before.boot_id {
            return;
        }
        assert!(Instant::now() < deadline, "{node} never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn set_min_available(env: &Env, ns: &str, pdb: &str, n: i32) {
    Api::<PodDisruptionBudget>::namespaced(env.client.clone(), ns)
        .patch(
            pdb,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"minAvailable": n}})),
        )
        .await
        .unwrap();
}

pub(crate) async fn unschedulable(env: &Env, node: &str) -> bool {
    let n: Node = Api::all(env.client.clone()).get(node).await.unwrap();
    n.spec.and_then(|s| s.unschedulable).unwrap_or(false)
}

/// Whether every `DaemonSet` pod on `node` is Ready.
pub(crate) async fn daemon_pods_ready(env: &Env, node: &str) -> bool {
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "kube-system");
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap();
    assert!(
        !list.items.is_empty(),
        "test needs a DaemonSet pod on {node}"
    );
    list.items.iter().all(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

/// Node writes after `rv` that change annotations or spec (kubelet status updates aside).
pub(crate) fn node_writes_after(cluster: &RunningCluster, rv: u64) -> Vec<String> {
    cluster
        .history()
        .iter()
        .filter(|e| e.rv > rv && std::ptr::eq(e.resource, NODES))
        .filter(|e| {
            let previous = e.previous.as_deref().cloned().unwrap_or_default();
            e.object["metadata"]["annotations"] != previous["metadata"]["annotations"]
                || e.object["spec"] != previous["spec"]
        })
        .map(|e| format!("{} at rv {}", e.object["metadata"]["name"], e.rv))
        .collect()
}

pub(crate) fn last_rv(cluster: &RunningCluster) -> u64 {
    cluster.history().last().map_or(0, |e| e.rv)
}

/// get + list requests served so far.
pub(crate) fn reads(cluster: &RunningCluster) -> u64 {
    let counts = cluster.requests_by_verb();
    counts.get("get").copied().unwrap_or(0) + counts.get("list").copied().unwrap_or(0)
}

/// `kubectl describe node NODE` (the real kubectl, from the PATH) against the cluster.
pub(crate) async fn kubectl_describe_node(env: &Env, node: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.json");
    env.cluster.kubeconfig(&kubeconfig).unwrap();
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["describe", "node", node])
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .env("KUBECACHEDIR", dir.path().join("cache"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("kubectl on the PATH");
    assert!(
        out.status.success(),
        "kubectl describe node {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
