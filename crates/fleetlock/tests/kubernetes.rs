//! Kubernetes node handling on kubesim: id → node mapping (vectors cross-checked with openssl's
//! HMAC and systemd's own `systemd-id128`), cordon + drain before the grant with progress, PDB
//! blocking with its own answer, node not ready, admin cordon preserved, unknown and ambiguous
//! ids, seed annotations, the index following node changes, the Lease store with two replicas.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, config, holders, post, start_app};
use fleetlock::FleetLock;
use fleetlock::kube_nodes::{
    ANNOTATION_HOLDER, ANNOTATION_SEED_STATUS, ANNOTATION_WAS_UNSCHEDULABLE, DrainProgress,
    KubeNodeHandler, NodeCache, NodeHandler,
};
use fleetlock::node_id::zincati_id;
use fleetlock::store::MemoryStore;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kubesim::cluster::{Cluster, ClusterBuilder, IntOrPercent, PdbSpec, RunningCluster};

const MID0: &str = "c988d2509fdf4cdcbed39037c56406fb";

struct Env {
    cluster: RunningCluster,
    client: kube::Client,
    handler: Arc<KubeNodeHandler>,
    server: TestServer,
}

async fn env(builder: ClusterBuilder, machine_ids: &[(&str, &str)]) -> Env {
    env_with(builder, machine_ids, false).await
}

async fn env_with(builder: ClusterBuilder, machine_ids: &[(&str, &str)], seed: bool) -> Env {
    kubesim::cluster::install_crypto_provider();
    let cluster = builder.start().await.unwrap();
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    for (node, mid) in machine_ids {
        nodes
            .patch_status(
                node,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": {"nodeInfo": {"machineID": mid}}})),
            )
            .await
            .unwrap();
    }
    let cache = NodeCache::start(client.clone()).await.unwrap();
    let progress = DrainProgress::new();
    let drainer =
        drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
            .unwrap()
            .on_event(progress.sink());
    let app = FleetLock::new(config(&[("default", 1)]), Arc::new(MemoryStore::new())).unwrap();
    let handler = Arc::new(
        KubeNodeHandler::new(client.clone(), cache, Arc::new(drainer))
            .with_drain_metrics(app.metrics().drains.clone())
            .with_progress(progress)
            .with_seed_annotations(seed),
    );
    // Wait until the watch has delivered the machine ids.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (_, mid) in machine_ids {
        let id = zincati_id(mid).unwrap();
        while handler.lookup(&id).is_ok_and(|n| n.is_none()) {
            assert!(
                Instant::now() < deadline,
                "node cache never saw machine id {mid}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let app = app.with_node_handler(handler.clone());
    let server = start_app(app).await;
    Env {
        cluster,
        client,
        handler,
        server,
    }
}

async fn node(env: &Env, name: &str) -> Node {
    Api::<Node>::all(env.client.clone())
        .get(name)
        .await
        .unwrap()
}

fn unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn annotation(n: &Node, key: &str) -> Option<String> {
    n.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key).cloned())
}

/// Pods on `node` that a drain must move (not `DaemonSet` pods, not finished ones).
async fn movable_pods(env: &Env, node: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::all(env.client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|p| {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("");
            let ds = p
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet"));
            !ds && phase != "Succeeded" && phase != "Failed"
        })
        .map(|p| p.metadata.name.unwrap_or_default())
        .collect()
}

/// POSTs like Zincati; returns (status, kind, value).
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

/// Asks pre-reboot until 200; returns the kinds seen before.
async fn until_granted(env: &Env, id: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut kinds = Vec::new();
    loop {
        let started = Instant::now();
        let (status, kind) = post(&env.server, "pre-reboot", id, "default").await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pre-reboot answered slowly"
        );
        if status == 200 {
            return kinds;
        }
        kinds.push(kind.unwrap());
        assert!(Instant::now() < deadline, "never granted: {kinds:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn drains_before_grant_and_uncordons_after() {
    let env = env(
        Cluster::builder()
            .nodes(3)
            .deployment("default", "web", 6, None),
        &[("node-0", MID0)],
    )
    .await;
    let id = zincati_id(MID0).unwrap();
    assert!(
        !movable_pods(&env, "node-0").await.is_empty(),
        "test needs pods on node-0"
    );

    let (status, kind) = post(&env.server, "pre-reboot", &id, "default").await;
    assert_eq!((status, kind.as_deref()), (409, Some("drain_in_progress")));
    let n = node(&env, "node-0").await;
    assert!(unschedulable(&n));
    assert_eq!(
        annotation(&n, ANNOTATION_WAS_UNSCHEDULABLE).as_deref(),
        Some("false")
    );
    assert_eq!(
        annotation(&n, ANNOTATION_HOLDER).as_deref(),
        Some(id.as_str())
    );
    // Someone else cannot take the slot meanwhile.
    assert_eq!(
        post(&env.server, "pre-reboot", "node-1", "default").await.0,
        409
    );

    // While the drain runs, the answer reports its progress.
    let (status, kind, value) = ask(&env, "pre-reboot", &id).await;
    if status != 200 {
        assert_eq!(kind, "drain_in_progress");
        assert!(
            value.contains("pod(s) evicted") && value.contains("left"),
            "{value}"
        );
    }
    let kinds = until_granted(&env, &id).await;
    assert!(
        kinds
            .iter()
            .all(|k| k == "drain_in_progress" || k == "failed_pdb_blocked"),
        "{kinds:?}"
    );
    assert!(
        movable_pods(&env, "node-0").await.is_empty(),
        "granted before the node was empty"
    );
    assert_eq!(holders(&env.server, "default").await, vec![id.clone()]);
    let metrics = env.server.app.metrics().encode().unwrap();
    assert!(
        metrics.contains(r#"fleetlock_drain_duration_seconds_count{result="ok"} 1"#),
        "{metrics}"
    );

    assert_eq!(
        post(&env.server, "steady-state", &id, "default").await,
        (200, None)
    );
    let n = node(&env, "node-0").await;
    assert!(!unschedulable(&n), "we cordoned it, so we uncordon it");
    assert_eq!(annotation(&n, ANNOTATION_WAS_UNSCHEDULABLE), None);
    assert_eq!(annotation(&n, ANNOTATION_HOLDER), None);
    assert!(holders(&env.server, "default").await.is_empty());
    env.server.stop().await;
}

#[tokio::test]
async fn admin_cordon_is_preserved_and_node_name_is_an_id() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 2, None),
        &[],
    )
    .await;
    drain::NodeOps::cordon(&drain::KubeNodeOps::new(env.client.clone()), "node-1")
        .await
        .unwrap();
    until_granted(&env, "node-1").await;
    assert_eq!(
        annotation(&node(&env, "node-1").await, ANNOTATION_WAS_UNSCHEDULABLE).as_deref(),
        Some("true")
    );
    assert_eq!(
        post(&env.server, "steady-state", "node-1", "default").await,
        (200, None)
    );
    let n = node(&env, "node-1").await;
    assert!(unschedulable(&n), "an admin cordon must survive the reboot");
    assert_eq!(annotation(&n, ANNOTATION_WAS_UNSCHEDULABLE), None);
    env.server.stop().await;
}

#[tokio::test]
async fn pdb_blocking_has_its_own_answer_naming_budget_and_pod() {
    let env = env(
        Cluster::builder().nodes(2).deployment(
            "default",
            "db",
            2,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))),
        ),
        &[],
    )
    .await;
    let mut target = None;
    for n in ["node-0", "node-1"] {
        if !movable_pods(&env, n).await.is_empty() {
            target = Some(n);
        }
    }
    let target = target.expect("a node with a db pod");
    let pods = movable_pods(&env, target).await;
    let until = Instant::now() + Duration::from_secs(3);
    let mut blocked = None;
    while Instant::now() < until {
        let (status, kind, value) = ask(&env, "pre-reboot", target).await;
        assert_eq!(status, 409, "{kind}: {value}");
        // First "drain started" / progress, then the budget's own answer.
        if value.contains("PodDisruptionBudget") {
            assert_eq!(kind, fleetlock::kube_nodes::PDB_BLOCKED_KIND, "{value}");
            blocked = Some(value);
        } else {
            assert_eq!(kind, "drain_in_progress", "{value}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = blocked.expect("the answer names the PodDisruptionBudget refusal");
    assert!(value.contains("db-pdb"), "names the budget: {value}");
    assert!(
        pods.iter().any(|p| value.contains(p.as_str())),
        "names the pod {pods:?}: {value}"
    );
    assert!(value.contains("0 of 1 pod(s) evicted, 1 left"), "{value}");
    assert!(
        !movable_pods(&env, target).await.is_empty(),
        "the PDB must hold the pod"
    );
    env.server.stop().await;
}

#[tokio::test]
async fn a_node_that_is_not_ready_is_not_drained() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 4, None),
        &[("node-0", MID0)],
    )
    .await;
    let id = zincati_id(MID0).unwrap();
    env.cluster
        .reboot_node("node-0", Duration::from_secs(2))
        .unwrap();
    // Wait until the cache has seen the node go NotReady.
    let deadline = Instant::now() + Duration::from_secs(5);
    while env.handler.cache().not_ready("node-0").is_none() {
        assert!(Instant::now() < deadline, "cache never saw NotReady");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, kind, value) = ask(&env, "pre-reboot", &id).await;
    assert_eq!(
        (status, kind.as_str()),
        (409, fleetlock::kube_nodes::NODE_NOT_READY_KIND),
        "{value}"
    );
    assert!(
        value.contains("node-0 is not Ready") && value.contains("Ready=False"),
        "{value}"
    );
    let n = node(&env, "node-0").await;
    assert!(!unschedulable(&n), "a NotReady node is not cordoned");
    assert_eq!(annotation(&n, ANNOTATION_HOLDER), None);
    // The id keeps its slot meanwhile (the NotReady node is capacity already lost).
    assert_eq!(holders(&env.server, "default").await, vec![id.clone()]);
    assert_eq!(
        post(&env.server, "pre-reboot", "node-1", "default").await.0,
        409
    );
    // Once the kubelet is back, the node is cordoned, drained and granted.
    let kinds = until_granted(&env, &id).await;
    assert!(kinds.contains(&"drain_in_progress".to_owned()), "{kinds:?}");
    assert!(unschedulable(&node(&env, "node-0").await));
    assert_eq!(
        post(&env.server, "steady-state", &id, "default").await,
        (200, None)
    );
    assert!(!unschedulable(&node(&env, "node-0").await));
    env.server.stop().await;
}

#[tokio::test]
async fn seed_annotations_rebooting_then_ready() {
    let env = env_with(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 2, None),
        &[],
        true,
    )
    .await;
    assert_eq!(
        annotation(&node(&env, "node-0").await, ANNOTATION_SEED_STATUS),
        None
    );
    until_granted(&env, "node-0").await;
    assert_eq!(
        annotation(&node(&env, "node-0").await, ANNOTATION_SEED_STATUS).as_deref(),
        Some("Rebooting")
    );
    assert_eq!(
        post(&env.server, "steady-state", "node-0", "default").await,
        (200, None)
    );
    let n = node(&env, "node-0").await;
    assert_eq!(
        annotation(&n, ANNOTATION_SEED_STATUS).as_deref(),
        Some("Ready")
    );
    assert!(!unschedulable(&n));
    // As the original manager: a steady-state marks any node Ready, held or not.
    assert_eq!(
        post(&env.server, "steady-state", "node-1", "default").await,
        (200, None)
    );
    assert_eq!(
        annotation(&node(&env, "node-1").await, ANNOTATION_SEED_STATUS).as_deref(),
        Some("Ready")
    );
    // Without the option, nothing is written.
    let plain = env_with(Cluster::builder().nodes(1), &[], false).await;
    until_granted(&plain, "node-0").await;
    assert_eq!(
        annotation(&node(&plain, "node-0").await, ANNOTATION_SEED_STATUS),
        None
    );
    plain.server.stop().await;
    env.server.stop().await;
}

#[tokio::test]
async fn the_index_follows_node_changes() {
    let env = env(Cluster::builder().nodes(3), &[("node-2", MID0)]).await;
    let old = zincati_id(MID0).unwrap();
    assert_eq!(env.handler.lookup(&old).unwrap().as_deref(), Some("node-2"));
    let mid1 = "0123456789abcdef0123456789abcdef";
    Api::<Node>::all(env.client.clone())
        .patch_status(
            "node-2",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"nodeInfo": {"machineID": mid1}}})),
        )
        .await
        .unwrap();
    let new = zincati_id(mid1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while env.handler.lookup(&new).unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "index never saw the new machine id"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.handler.lookup(&new).unwrap().as_deref(), Some("node-2"));
    assert_eq!(env.handler.lookup(&old).unwrap(), None, "old id forgotten");
    Api::<Node>::all(env.client.clone())
        .delete("node-2", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    while env.handler.lookup("node-2").unwrap().is_some() {
        assert!(Instant::now() < deadline, "index never saw the deletion");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.handler.lookup(&new).unwrap(), None);
    assert_eq!(env.handler.cache().len(), 2);
    // A deleted node's machine is a plain fleet machine: semaphore only.
    assert_eq!(
        post(&env.server, "pre-reboot", &new, "default").await,
        (200, None)
    );
    env.server.stop().await;
}

/// Zincati's id from the machine id, cross-checked with two independent implementations:
/// openssl's HMAC-SHA256 (then systemd's documented truncation + UUID v4 bits) for fixed
/// vectors, and systemd's own `systemd-id128 machine-id --app-specific` for this host.
#[test]
fn id_vectors_match_openssl_and_systemd() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let app = "de35106b6ec24688b63afddaa156679b";
    for mid in [
        MID0,
        "00000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffff",
        "0123456789abcdef0123456789abcdef",
    ] {
        let mut child = Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{mid}"),
                "-hex",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl is installed (Debian package openssl)");
        let app_bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&app[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        child.stdin.take().unwrap().write_all(&app_bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mac = text.trim().rsplit(' ').next().unwrap();
        let mut id: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&mac[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let want = id.iter().fold(String::new(), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        });
        assert_eq!(zincati_id(mid).as_deref(), Some(want.as_str()), "{mid}");
    }
    // systemd itself, for this host's machine id (when the host has one and the tool).
    let host = std::fs::read_to_string("/etc/machine-id").ok();
    let systemd = Command::new("systemd-id128")
        .args(["machine-id", &format!("--app-specific={app}")])
        .output();
    match (host, systemd) {
        (Some(host), Ok(out)) if out.status.success() => {
            let theirs = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                zincati_id(host.trim()).as_deref(),
                Some(theirs.trim()),
                "systemd-id128 disagrees for machine id {}",
                host.trim()
            );
        }
        _ => eprintln!("systemd-id128 or /etc/machine-id not available: openssl check only"),
    }
}

#[tokio::test]
async fn unknown_id_is_a_plain_fleet_machine_and_ambiguous_is_refused() {
    let env = env(
        Cluster::builder().nodes(3),
        &[("node-0", MID0), ("node-1", MID0)],
    )
    .await;
    assert_eq!(
        post(&env.server, "pre-reboot", "plain-machine", "default").await,
        (200, None)
    );
    assert_eq!(
        post(&env.server, "steady-state", "plain-machine", "default").await,
        (200, None)
    );

    let id = zincati_id(MID0).unwrap();
    assert!(env.handler.lookup(&id).is_err());
    let (status, kind) = post(&env.server, "pre-reboot", &id, "default").await;
    assert_eq!(
        (status, kind.as_deref()),
        (409, Some("failed_node_ambiguous"))
    );
    assert!(
        holders(&env.server, "default").await.is_empty(),
        "no slot for an ambiguous id"
    );
    assert!(!unschedulable(&node(&env, "node-0").await));
    assert!(!unschedulable(&node(&env, "node-1").await));
    env.server.stop().await;
}

#[tokio::test]
async fn lease_store_protocol_suite_two_replicas_and_restart() {
    kubesim::cluster::install_crypto_provider();
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let store = || -> Arc<dyn fleetlock::LockStore> {
        Arc::new(fleetlock::store::KubernetesStore::new(
            cluster.client().unwrap(),
            "default",
        ))
    };
    let c = config(&[("one", 1), ("two", 2), ("Mixed.Case", 1)]);
    let a = common::start_with(c.clone(), store()).await;
    common::protocol_suite(&a).await;

    // Two replicas (separate clients) on the same Leases never exceed the slots.
    let b = common::start_with(c.clone(), store()).await;
    for (group, slots) in [("one", 1), ("two", 2)] {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 { &a } else { &b };
            let client = s.client(&format!("id-{i}"), group);
            tasks.push(tokio::spawn(
                async move { client.pre_reboot().await.is_ok() },
            ));
        }
        let mut granted = 0;
        for t in tasks {
            granted += usize::from(t.await.unwrap());
        }
        assert_eq!(granted, slots, "group {group}");
    }
    // Case-sensitive groups map to distinct Leases.
    assert_eq!(post(&a, "pre-reboot", "x", "Mixed.Case").await, (200, None));
    a.stop().await;
    b.stop().await;

    // A restarted server sees the holders.
    let r = common::start_with(c, store()).await;
    assert_eq!(holders(&r, "one").await.len(), 1);
    assert_eq!(holders(&r, "two").await.len(), 2);
    assert_eq!(holders(&r, "Mixed.Case").await, ["x"]);
    let mut groups = r.app.store().groups().await.unwrap();
    groups.sort();
    assert_eq!(groups, ["Mixed.Case", "one", "two"]);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client().unwrap(), "default");
    let lease = leases.get("fleetlock-one").await.unwrap();
    assert!(lease.spec.unwrap().holder_identity.is_some());
    r.stop().await;
}

#[tokio::test]
async fn a_cycle_finished_on_another_replica_is_not_reused() {
    let env = env(
        Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 2, None),
        &[],
    )
    .await;
    // Replica B: same store, its own node handler (its own drain memory).
    let cache = NodeCache::start(env.client.clone()).await.unwrap();
    let drainer =
        drain::DrainEngine::for_client(env.client.clone(), drain::DrainOptions::default());
    let b_handler = Arc::new(KubeNodeHandler::new(
        env.client.clone(),
        cache,
        Arc::new(drainer),
    ));
    let b = start_app(
        FleetLock::new(
            config(&[("default", 1)]),
            Arc::clone(env.server.app.store()),
        )
        .unwrap()
        .with_node_handler(b_handler),
    )
    .await;
    until_granted(&env, "node-0").await;
    assert_eq!(
        post(&b, "steady-state", "node-0", "default").await,
        (200, None)
    );
    assert!(!unschedulable(&node(&env, "node-0").await));
    // Wait until replica A's cache has seen the marks go away.
    let deadline = Instant::now() + Duration::from_secs(10);
    while annotation(&node(&env, "node-0").await, ANNOTATION_HOLDER).is_some() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Next cycle on replica A: it must cordon and drain again, not answer from memory.
    let (status, kind) = post(&env.server, "pre-reboot", "node-0", "default").await;
    assert_eq!((status, kind.as_deref()), (409, Some("drain_in_progress")));
    assert!(unschedulable(&node(&env, "node-0").await));
    until_granted(&env, "node-0").await;
    b.stop().await;
    env.server.stop().await;
}

/// Two replicas, each with its own client, Lease store, node cache and drain memory, on one
/// kubesim; Zincati's requests land on either (a load-balanced Service).
#[tokio::test]
async fn a_node_cycle_spread_over_two_replicas_on_the_lease_store() {
    kubesim::cluster::install_crypto_provider();
    let cluster = Cluster::builder()
        .nodes(3)
        .deployment("default", "web", 6, None)
        .start()
        .await
        .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let client = cluster.client().unwrap();
        let progress = DrainProgress::new();
        let drainer =
            drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
                .unwrap()
                .on_event(progress.sink());
        let handler = KubeNodeHandler::new(
            client.clone(),
            NodeCache::start(client.clone()).await.unwrap(),
            Arc::new(drainer),
        )
        .with_progress(progress);
        let store = Arc::new(fleetlock::store::KubernetesStore::new(client, "default"));
        let app = FleetLock::new(config(&[("default", 1)]), store)
            .unwrap()
            .with_node_handler(Arc::new(handler));
        replicas.push(start_app(app).await);
    }
    let nodes: Api<Node> = Api::all(cluster.client().unwrap());
    // Three nodes race through both replicas for the one slot: exactly one gets it (its drain
    // starts), the others are refused.
    let mut tasks = Vec::new();
    for (i, name) in ["node-0", "node-1", "node-2"].into_iter().enumerate() {
        let c = replicas[i % 2].client(name, "default");
        tasks.push(tokio::spawn(async move { (name, c.pre_reboot().await) }));
    }
    let mut draining = Vec::new();
    for t in tasks {
        let (name, result) = t.await.unwrap();
        match result {
            Err(fleetlock::ClientError::Rejected { body, .. })
                if body.kind == "drain_in_progress" =>
            {
                draining.push(name);
            }
            Err(fleetlock::ClientError::Rejected { body, .. }) => {
                assert_eq!(body.kind, "failed_lock_semaphore_full", "{}", body.value);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(draining.len(), 1, "one slot, one drain: {draining:?}");
    let winner = draining[0];
    // The holder's polls alternate between the replicas until one answers 200.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    loop {
        match replicas[i % 2].client(winner, "default").pre_reboot().await {
            Ok(()) => break,
            Err(fleetlock::ClientError::Rejected { body, .. }) => {
                assert!(
                    ["drain_in_progress", "failed_pdb_blocked"].contains(&body.kind.as_str()),
                    "{}: {}",
                    body.kind,
                    body.value
                );
            }
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "never granted");
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pods: Api<Pod> = Api::all(cluster.client().unwrap());
    let left = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={winner}")))
        .await
        .unwrap()
        .items;
    assert!(left.is_empty(), "granted with pods left: {}", left.len());
    // The others are still refused while it holds the slot, on both replicas.
    for r in &replicas {
        for other in ["node-0", "node-1", "node-2"]
            .into_iter()
            .filter(|n| *n != winner)
        {
            let err = r.client(other, "default").pre_reboot().await.unwrap_err();
            assert!(matches!(err, fleetlock::ClientError::Rejected { .. }));
        }
    }
    // Steady-state on the other replica than the last grant: uncordoned, slot free.
    replicas[(i + 1) % 2]
        .client(winner, "default")
        .steady_state()
        .await
        .unwrap();
    let n = nodes.get(winner).await.unwrap();
    assert!(!unschedulable(&n));
    assert_eq!(annotation(&n, ANNOTATION_HOLDER), None);
    for r in &replicas {
        assert!(holders(r, "default").await.is_empty());
    }
    for r in replicas {
        r.stop().await;
    }
}
