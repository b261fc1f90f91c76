//! Issue 17 on kubesim, from its recorded history: a drain never outlives its holder's claim
//! (steady-state, admin release, the slot gone from the store: zero evictions for the node
//! afterwards), and one replica drains a node at a time (the other answers from the node's
//! drain record, and takes the drain over when the owner is killed).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, config, start_app};
use fleetlock::kube_nodes::{DrainProgress, KubeNodeHandler, NodeCache};
use fleetlock::{FleetLock, LockStore};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::store::EventType;

const ADMIN: &str = "admin-token-for-drain-claims-0123456789";
const HEARTBEAT: Duration = Duration::from_millis(200);
const TAKEOVER: Duration = Duration::from_secs(1);

/// Two nodes and a `db` Deployment of 2 whose budget allows no disruption: a drain of a node
/// with a db pod is blocked until the budget is deleted.
async fn blocked_cluster() -> (RunningCluster, String) {
    kubesim::cluster::install_crypto_provider();
    let cluster = Cluster::builder()
        .nodes(2)
        .deployment(
            "default",
            "db",
            2,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))),
        )
        .record_history(true)
        .start()
        .await
        .unwrap();
    let pods: Api<Pod> = Api::all(cluster.client().unwrap());
    let list = pods.list(&ListParams::default()).await.unwrap();
    let node = list
        .items
        .iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("db"))
        })
        .and_then(|p| p.spec.as_ref()?.node_name.clone())
        .expect("a node with a db pod");
    (cluster, node)
}

/// One replica: its own client, node cache, drain engine and progress, on `store`.
async fn replica(
    cluster: &RunningCluster,
    store: Arc<dyn LockStore>,
) -> (TestServer, DrainProgress) {
    let client = cluster.client().unwrap();
    let progress = DrainProgress::new();
    let drainer =
        drain::DrainEngine::for_config(cluster.kube_config(), drain::DrainOptions::default())
            .unwrap()
            .on_event(progress.sink());
    let handler = KubeNodeHandler::new(
        client.clone(),
        NodeCache::start(client).await.unwrap(),
        Arc::new(drainer),
    )
    .with_progress(progress.clone())
    .with_drain_heartbeat(HEARTBEAT, TAKEOVER);
    let mut c = config(&[("default", 1)]);
    c.admin_token = Some(ADMIN.to_owned());
    let app = FleetLock::new(c, store)
        .unwrap()
        .with_node_handler(Arc::new(handler));
    (start_app(app).await, progress)
}

fn lease_store(cluster: &RunningCluster) -> Arc<dyn LockStore> {
    Arc::new(fleetlock::store::KubernetesStore::new(
        cluster.client().unwrap(),
        "default",
    ))
}

/// Asks pre-reboot for `node` (the node name is an id) until the budget's refusal.
async fn until_pdb_blocked(server: &TestServer, node: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match server.client(node, "default").pre_reboot().await {
            Err(fleetlock::ClientError::Rejected { body, .. })
                if body.kind == "failed_pdb_blocked" =>
            {
                return;
            }
            Err(fleetlock::ClientError::Rejected { body, .. }) => {
                assert_eq!(body.kind, "drain_in_progress", "{}", body.value);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the budget never blocked the drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes that evicted a pod of `node` (deleted it, or marked it terminating) after `rv`.
fn evictions_after(cluster: &RunningCluster, node: &str, rv: u64) -> Vec<String> {
    let on_node = |v: &serde_json::Value| v["spec"]["nodeName"].as_str() == Some(node);
    let terminating = |v: &serde_json::Value| !v["metadata"]["deletionTimestamp"].is_null();
    cluster
        .history()
        .iter()
        .filter(|e| e.rv > rv && e.resource.plural == "pods" && on_node(&e.object))
        .filter(|e| match e.kind {
            EventType::Deleted => true,
            EventType::Modified => {
                terminating(&e.object) && !e.previous.as_deref().is_some_and(terminating)
            }
            EventType::Added => false,
        })
        .map(|e| {
            format!(
                "{:?} {} at rv {}",
                e.kind, e.object["metadata"]["name"], e.rv
            )
        })
        .collect()
}

/// Deletes the budget, so that a drain still running would now evict, and gives it time to:
/// the drain engine's retry backoff is capped at 5 s. Returns the evictions of `node` after
/// `rv` (as soon as there is one).
async fn lift_budget_and_watch(cluster: &RunningCluster, node: &str, rv: u64) -> Vec<String> {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client().unwrap(), "default");
    pdbs.delete("db-pdb", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(7);
    loop {
        let evictions = evictions_after(cluster, node, rv);
        if !evictions.is_empty() || Instant::now() > deadline {
            return evictions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Clone, Copy, Debug)]
enum ClaimEnd {
    SteadyState,
    AdminRelease,
    SlotRemovedFromTheStore,
}

async fn no_eviction_after_the_claim_ends(end: ClaimEnd) {
    let (cluster, node) = blocked_cluster().await;
    let store = lease_store(&cluster);
    let (server, _) = replica(&cluster, Arc::clone(&store)).await;
    until_pdb_blocked(&server, &node).await;
    match end {
        ClaimEnd::SteadyState => server
            .client(&node, "default")
            .steady_state()
            .await
            .unwrap(),
        ClaimEnd::AdminRelease => {
            let r = common::http()
                .post(server.base().join("v1/admin/release").unwrap())
                .bearer_auth(ADMIN)
                .body(format!(r#"{{"group":"default","id":"{node}"}}"#))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
        ClaimEnd::SlotRemovedFromTheStore => {
            // Someone edits the Lease by hand: the holder's slot is gone. The drain notices
            // on its next heartbeat.
            fleetlock::semaphore::release(store.as_ref(), "default", &node)
                .await
                .unwrap();
            tokio::time::sleep(HEARTBEAT * 3).await;
        }
    }
    let released = cluster.store().current_rv();
    let evictions = lift_budget_and_watch(&cluster, &node, released).await;
    assert!(
        evictions.is_empty(),
        "{end:?}: the drain outlived the claim and evicted from {node}: {evictions:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn steady_state_stops_the_drain_before_answering() {
    no_eviction_after_the_claim_ends(ClaimEnd::SteadyState).await;
}

#[tokio::test]
async fn admin_release_stops_the_drain_before_answering() {
    no_eviction_after_the_claim_ends(ClaimEnd::AdminRelease).await;
}

#[tokio::test]
async fn a_slot_gone_from_the_store_stops_the_drain() {
    no_eviction_after_the_claim_ends(ClaimEnd::SlotRemovedFromTheStore).await;
}

/// A steady-state sent to the replica that does not drain the node stops the other one's
/// drain before it answers.
#[tokio::test]
async fn steady_state_on_another_replica_stops_the_drain_there_first() {
    let (cluster, node) = blocked_cluster().await;
    let (a, _) = replica(&cluster, lease_store(&cluster)).await;
    let (b, b_progress) = replica(&cluster, lease_store(&cluster)).await;
    until_pdb_blocked(&a, &node).await;
    b.client(&node, "default").steady_state().await.unwrap();
    assert_eq!(b_progress.get(&node), None, "replica B never drained");
    let released = cluster.store().current_rv();
    let evictions = lift_budget_and_watch(&cluster, &node, released).await;
    assert!(
        evictions.is_empty(),
        "replica A's drain went on: {evictions:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// Zincati's retries alternate between two replicas: one drain (the other answers from the
/// node's record, PDB refusal included); the draining replica is killed, the other takes the
/// drain over and finishes it.
#[tokio::test]
async fn one_drain_per_node_across_replicas_and_takeover_after_a_kill() {
    let (cluster, node) = blocked_cluster().await;
    let (a, a_progress) = replica(&cluster, lease_store(&cluster)).await;
    let (b, b_progress) = replica(&cluster, lease_store(&cluster)).await;
    let start = cluster.store().current_rv();
    let mut kinds = Vec::new();
    for i in 0..16 {
        let server = if i % 2 == 0 { &a } else { &b };
        match server.client(&node, "default").pre_reboot().await {
            Err(fleetlock::ClientError::Rejected { body, .. }) => kinds.push((i % 2, body.kind)),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a_progress.get(&node).is_some(), "replica A drains");
    assert_eq!(
        b_progress.get(&node),
        None,
        "replica B started a second drain: {kinds:?}"
    );
    assert!(
        kinds.contains(&(1, "failed_pdb_blocked".to_owned())),
        "replica B answers the budget's refusal from the record: {kinds:?}"
    );
    assert!(evictions_after(&cluster, &node, start).is_empty());

    // Kill A: its drain dies with it. B takes over once A's heartbeat is stale.
    drop(a);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client().unwrap(), "default");
    pdbs.delete("db-pdb", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answers = Vec::new();
    loop {
        match b.client(&node, "default").pre_reboot().await {
            Ok(()) => break,
            Err(fleetlock::ClientError::Rejected { body, .. }) => answers.push(body.value),
            Err(e) => panic!("{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "B never finished the drain: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b_progress.get(&node).is_some(), "B resumed the drain");
    assert!(
        answers
            .iter()
            .any(|v| v.contains("stopped draining it; drain resumed")),
        "{answers:?}"
    );
    let evictions = evictions_after(&cluster, &node, start);
    assert!(!evictions.is_empty(), "the node was drained");
    let pods: Api<Pod> = Api::all(cluster.client().unwrap());
    let left = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap()
        .items;
    assert!(
        left.iter()
            .all(|p| !p.metadata.name.as_deref().unwrap_or("").starts_with("db")),
        "granted with the db pod left"
    );
    b.client(&node, "default").steady_state().await.unwrap();
    b.stop().await;
}
