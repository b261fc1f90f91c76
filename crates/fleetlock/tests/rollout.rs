//! Stop-the-line on kubesim (simulated kubelets): the health gate at steady-state keeps the
//! slot while the node's pods come back (steady-state answered at once), a gate failure and a
//! node not back in time halt the group (`rollout_halted` for others, holders keep their 200,
//! `/v1/status` and `/metrics` show it), the admin clear resumes, and a gate task ends when the
//! slot is released by an admin or the server stops (nothing read or written after, from
//! kubesim's history and request counts).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, config, post, start_app};
use fleetlock::kube_nodes::{DrainProgress, KubeNodeHandler, NodeCache, NodeHandler};
use fleetlock::rollout::Rollout;
use fleetlock::server::{GroupStatus, HaltCleared};
use fleetlock::store::MemoryStore;
use fleetlock::{FleetLock, LockStore, RolloutConfig, Status};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kubesim::cluster::{Cluster, ClusterBuilder, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::resources::well_known::NODES;

const ADMIN: &str = "admin-t0ken";

struct Env {
    cluster: RunningCluster,
    client: kube::Client,
    server: TestServer,
}

/// A gate (or not-back check) polling every 100 ms; `slots` in group `default`.
fn rollout(gate_timeout: Option<Duration>, not_back: Duration) -> RolloutConfig {
    RolloutConfig {
        health_gate: gate_timeout.is_some(),
        health_gate_timeout: gate_timeout.unwrap_or(Duration::from_secs(60)),
        reboot_not_back_timeout: not_back,
        poll: Duration::from_millis(100),
        ..RolloutConfig::default()
    }
}

async fn env(builder: ClusterBuilder, rollout: RolloutConfig, slots: u32) -> Env {
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
    let rollout = Rollout::start(
        client.clone(),
        store,
        Arc::clone(&handler),
        &config.rollout,
        app.metrics().gate_failures.clone(),
        app.metrics().gate_waits.clone(),
    )
    .unwrap();
    let app = app.with_node_handler(handler).with_rollout(rollout);
    let server = start_app(app).await;
    Env {
        cluster,
        client,
        server,
    }
}

/// POSTs like Zincati (ids are node names); returns (status, kind, value).
async fn ask(env: &Env, path: &str, id: &str) -> (u16, String, String) {
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
async fn until_granted(env: &Env, id: &str) {
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

async fn status(env: &Env) -> GroupStatus {
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

async fn wait_status(env: &Env, what: &str, within: Duration, ok: impl Fn(&GroupStatus) -> bool) {
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

async fn metrics(env: &Env) -> String {
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

async fn admin(env: &Env, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
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
async fn reboot(env: &Env, node: &str, down: Duration, wait: bool) {
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

async fn set_min_available(env: &Env, ns: &str, pdb: &str, n: i32) {
    Api::<PodDisruptionBudget>::namespaced(env.client.clone(), ns)
        .patch(
            pdb,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"minAvailable": n}})),
        )
        .await
        .unwrap();
}

async fn unschedulable(env: &Env, node: &str) -> bool {
    let n: Node = Api::all(env.client.clone()).get(node).await.unwrap();
    n.spec.and_then(|s| s.unschedulable).unwrap_or(false)
}

/// Whether every `DaemonSet` pod on `node` is Ready.
async fn daemon_pods_ready(env: &Env, node: &str) -> bool {
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
fn node_writes_after(cluster: &RunningCluster, rv: u64) -> Vec<String> {
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

fn last_rv(cluster: &RunningCluster) -> u64 {
    cluster.history().last().map_or(0, |e| e.rv)
}

/// get + list requests served so far.
fn reads(cluster: &RunningCluster) -> u64 {
    let counts = cluster.requests_by_verb();
    counts.get("get").copied().unwrap_or(0) + counts.get("list").copied().unwrap_or(0)
}

#[tokio::test]
async fn steady_state_answers_at_once_and_the_slot_waits_for_the_pods() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("shop", "web", 4, None)
            .daemonset("kube-system", "proxy")
            .kubelet_start_delay(Duration::from_millis(1500)),
        rollout(Some(Duration::from_secs(30)), Duration::ZERO),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    // The attempt was recorded before the drain, and stamped at the 200.
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .expect("attempt recorded at the grant");
    assert_eq!(
        attempt
            .workloads
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["deployment shop/web"]
    );
    assert!(attempt.rebooting_since.is_some(), "{attempt:?}");
    assert!(unschedulable(&env, "node-0").await);

    reboot(&env, "node-0", Duration::from_millis(300), true).await;
    let asked = Instant::now();
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "steady-state waited: {:?}",
        asked.elapsed()
    );
    // Uncordoned at once, slot kept for the gate.
    assert!(!unschedulable(&env, "node-0").await);
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-0"]
    );
    assert_eq!(s.gating.len(), 1, "{s:?}");
    assert!(
        !daemon_pods_ready(&env, "node-0").await,
        "pods restarted too fast for the test"
    );

    // The next machine waits while node-0's pods are not Ready, and goes once they are.
    let mut refused = 0;
    loop {
        let (code, kind, _) = ask(&env, "pre-reboot", "node-1").await;
        if kind != "failed_lock_semaphore_full" {
            assert!(
                daemon_pods_ready(&env, "node-0").await,
                "node-1 got the slot ({code} {kind}) before node-0's pods were Ready"
            );
            break;
        }
        refused += 1;
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "the gate never passed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the slot was not kept while the gate ran");
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-1"]
    );
    assert!(s.gating.is_empty() && s.halt.is_none(), "{s:?}");
    assert_eq!(
        gate::read_attempt(&env.client, "node-0").await.unwrap(),
        None
    );
    let text = metrics(&env).await;
    assert!(
        text.contains("fleetlock_health_gate_wait_seconds_count{result=\"passed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fleetlock_rollout_halted{group=\"default\"} 0"),
        "{text}"
    );
    env.cluster.shutdown().await;
}

/// Unauthorized and malformed clear-halt calls are refused with a clear error and leave the
/// halt as it is.
async fn bad_clear_calls_change_nothing(env: &Env, halt: &fleetlock::store::Halt) {
    let path = "v1/admin/clear-halt";
    for (token, body, code, says) in [
        (None, r#"{"group":"default"}"#, 401, "failed_unauthorized"),
        (Some(ADMIN), "{}", 400, "failed_parse_body"),
        (
            Some(ADMIN),
            r#"{"group":"default","x":1}"#,
            400,
            "failed_parse_body",
        ),
        (
            Some(ADMIN),
            r#"{"group":"a b"}"#,
            400,
            "failed_invalid_group",
        ),
        (
            Some(ADMIN),
            r#"{"group":"nope"}"#,
            404,
            "failed_unknown_group",
        ),
    ] {
        let (got, text) = admin(env, path, token, body).await;
        assert_eq!(got, code, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
        assert_eq!(
            status(env).await.halt.as_ref(),
            Some(halt),
            "{body} changed the halt"
        );
    }
}

#[tokio::test]
async fn a_failed_gate_halts_and_the_admin_clear_resumes() {
    let env = env(
        Cluster::builder().nodes(3).deployment(
            "shop",
            "web",
            6,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        ),
        rollout(Some(Duration::from_secs(1)), Duration::ZERO),
        2,
    )
    .await;
    until_granted(&env, "node-0").await;
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        attempt
            .pdbs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["shop/web-pdb"]
    );
    until_granted(&env, "node-1").await;
    // The budget can never be met again: node-0's gate will fail.
    set_min_available(&env, "shop", "web-pdb", 10).await;
    reboot(&env, "node-0", Duration::from_millis(200), true).await;
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);

    wait_status(&env, "the halt", Duration::from_secs(15), |s| {
        s.halt.is_some()
    })
    .await;
    let s = status(&env).await;
    let halt = s.halt.clone().unwrap();
    assert_eq!(
        (halt.id.as_str(), halt.node.as_deref()),
        ("node-0", Some("node-0"))
    );
    assert!(halt.reason.contains("health gate failed"), "{halt:?}");
    assert!(halt.reason.contains("pdb shop/web-pdb"), "{halt:?}");
    assert_eq!(s.failures.len(), 1);
    let mut holders: Vec<&str> = s.holders.iter().map(|h| h.id.as_str()).collect();
    holders.sort_unstable();
    assert_eq!(
        holders,
        ["node-0", "node-1"],
        "the failed machine keeps its slot"
    );

    // A holder keeps its 200; a machine without a slot gets the halt's own answer.
    assert_eq!(ask(&env, "pre-reboot", "node-1").await.0, 200);
    let (code, kind, value) = ask(&env, "pre-reboot", "node-2").await;
    assert_eq!((code, kind.as_str()), (423, "rollout_halted"), "{value}");
    assert!(
        value.contains("node-0") && value.contains("clear-halt"),
        "{value}"
    );
    let text = metrics(&env).await;
    assert!(
        text.contains("fleetlock_rollout_halted{group=\"default\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "fleetlock_reboot_failures_total{group=\"default\",reason=\"gate_failed\"} 1"
        ),
        "{text}"
    );

    bad_clear_calls_change_nothing(&env, &halt).await;
    assert_eq!(ask(&env, "pre-reboot", "node-2").await.1, "rollout_halted");

    let (code, text) = admin(
        &env,
        "v1/admin/clear-halt",
        Some(ADMIN),
        r#"{"group":"default"}"#,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let cleared: HaltCleared = serde_json::from_str(&text).unwrap();
    assert_eq!(cleared.halt, Some(halt));
    assert_eq!(cleared.released, ["node-0"]);
    let s = status(&env).await;
    assert!(s.halt.is_none() && s.failures.is_empty(), "{s:?}");
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-1"]
    );
    let (_, kind, _) = ask(&env, "pre-reboot", "node-2").await;
    assert!(
        !["rollout_halted", "failed_lock_semaphore_full"].contains(&kind.as_str()),
        "{kind}"
    );
    assert!(status(&env).await.holders.iter().any(|h| h.id == "node-2"));
    assert!(
        metrics(&env)
            .await
            .contains("fleetlock_rollout_halted{group=\"default\"} 0")
    );
    env.cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_not_back_in_time_halts() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 2, None),
        rollout(None, Duration::from_secs(1)),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    // Kept down far beyond the limit.
    reboot(&env, "node-0", Duration::from_secs(3600), false).await;
    wait_status(&env, "the halt", Duration::from_secs(15), |s| {
        s.halt.is_some()
    })
    .await;
    let halt = status(&env).await.halt.unwrap();
    assert_eq!(halt.id, "node-0");
    assert!(
        halt.reason
            .contains("node node-0 is not rebooted (boot ID unchanged)"),
        "{halt:?}"
    );
    assert_eq!(ask(&env, "pre-reboot", "node-1").await.1, "rollout_halted");
    assert!(
        metrics(&env)
            .await
            .contains("fleetlock_reboot_failures_total{group=\"default\",reason=\"not_back\"} 1")
    );
}

#[tokio::test]
async fn the_gate_task_ends_with_an_admin_release_and_with_the_server() {
    let env = env(
        Cluster::builder().nodes(2).deployment(
            "shop",
            "web",
            4,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(1))),
        ),
        rollout(Some(Duration::from_millis(1500)), Duration::ZERO),
        1,
    )
    .await;
    // A gate that would fail 1.5 s after the steady-state (and then write: halt, node marks).
    let gating = |node: &'static str| {
        let env = &env;
        async move {
            set_min_available(env, "shop", "web-pdb", 1).await;
            until_granted(env, node).await;
            set_min_available(env, "shop", "web-pdb", 10).await;
            reboot(env, node, Duration::from_millis(200), true).await;
            assert_eq!(ask(env, "steady-state", node).await.0, 200);
            assert_eq!(status(env).await.gating.len(), 1);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };

    gating("node-0").await;
    let (code, text) = admin(
        &env,
        "v1/admin/release",
        Some(ADMIN),
        r#"{"group":"default","id":"node-0"}"#,
    )
    .await;
    assert_eq!((code, text.as_str()), (200, r#"{"released":true}"#));
    let (rv, before) = (last_rv(&env.cluster), reads(&env.cluster));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status(&env).await;
    assert!(
        s.halt.is_none() && s.failures.is_empty() && s.holders.is_empty(),
        "{s:?}"
    );
    assert_eq!(node_writes_after(&env.cluster, rv), Vec::<String>::new());
    assert_eq!(
        reads(&env.cluster),
        before,
        "the gate kept reading after the release"
    );

    gating("node-1").await;
    env.server.app.stop_background();
    let (rv, before) = (last_rv(&env.cluster), reads(&env.cluster));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status(&env).await;
    assert!(s.halt.is_none() && s.failures.is_empty(), "{s:?}");
    assert_eq!(
        s.gating.len(),
        1,
        "the stopped server left the kept slot as it was"
    );
    assert_eq!(node_writes_after(&env.cluster, rv), Vec::<String>::new());
    assert_eq!(
        reads(&env.cluster),
        before,
        "the gate kept reading after the stop"
    );
    env.cluster.shutdown().await;
}

#[tokio::test]
async fn a_holder_asking_again_while_its_gate_runs_starts_a_new_attempt() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("shop", "web", 2, None)
            .daemonset("kube-system", "proxy")
            .kubelet_start_delay(Duration::from_millis(1500)),
        rollout(Some(Duration::from_secs(30)), Duration::ZERO),
        1,
    )
    .await;
    until_granted(&env, "node-0").await;
    reboot(&env, "node-0", Duration::from_millis(200), true).await;
    assert_eq!(ask(&env, "steady-state", "node-0").await.0, 200);
    assert_eq!(status(&env).await.gating.len(), 1);
    let rebooted = gate::node_boot(&env.client, "node-0").await.unwrap();

    // Another update: the same machine asks to reboot again before its gate passed.
    until_granted(&env, "node-0").await;
    let s = status(&env).await;
    assert!(s.gating.is_empty(), "the gate still runs: {s:?}");
    assert!(
        unschedulable(&env, "node-0").await,
        "not cordoned for the new reboot"
    );
    let attempt = gate::read_attempt(&env.client, "node-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(attempt.boot_id),
        rebooted.boot_id,
        "the attempt is not new"
    );
    // The ended gate does not release the slot once the pods are Ready.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(daemon_pods_ready(&env, "node-0").await);
    let s = status(&env).await;
    assert_eq!(
        s.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["node-0"]
    );
    assert_eq!(
        ask(&env, "pre-reboot", "node-1").await.1,
        "failed_lock_semaphore_full"
    );
    env.cluster.shutdown().await;
}
