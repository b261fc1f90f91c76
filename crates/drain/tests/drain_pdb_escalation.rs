//! PodDisruptionBudgets that keep a drain stuck, on kubesim over HTTP (real 429s from its
//! Eviction API): the stuck report names each budget and the pods it blocks, the escalation
//! deletes only the pods matching its selector — with their own grace period — and never
//! touches the others (checked on the store's recorded history), and the drain then times out
//! naming the budget of what is left.

// Kubernetes kind names read better unquoted in prose; scenario tests read best top to bottom.
#![allow(clippy::doc_markdown, clippy::too_many_lines)]

use std::collections::BTreeSet;
use std::time::Duration;

use drain::{
    Backoff, DrainEngine, DrainError, DrainEvent, DrainOptions, Drainer, Jitter, KubeNodeOps,
    NodeOps, PdbEscalation, PendingState, PodRef,
};
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::resources::well_known::PODS;
use kubesim::store::EventType;
use serde_json::Value;
use testkit::eventually;

const NODE: &str = "node-0";

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn on_node(cluster: &RunningCluster, app: &str) -> BTreeSet<String> {
    cluster
        .store()
        .list(PODS, None, |p| {
            p["spec"]["nodeName"] == NODE && p["metadata"]["labels"]["app"] == app
        })
        .0
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Two nodes; in namespace `shop`, Deployments `web` and `db` (3 pods each) under budgets that
/// never allow a disruption (minAvailable 3), and `api` (4 pods) without one. node-0 cordoned.
async fn stuck_cluster() -> RunningCluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let never = || Some(PdbSpec::MinAvailable(IntOrPercent::Int(3)));
    let cluster = Cluster::builder()
        .nodes(2)
        .deployment("shop", "web", 3, never())
        .deployment("shop", "db", 3, never())
        .deployment("shop", "api", 4, None)
        .kubelet_start_delay(Duration::from_millis(100))
        .shutdown_time(Duration::from_millis(100))
        .reschedule_delay(Duration::from_millis(100))
        .record_history(true)
        .start()
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "every pod to be Ready", || {
        cluster
            .store()
            .list(PODS, None, |_| true)
            .0
            .iter()
            .all(|p| is_ready(p))
    })
    .await;
    KubeNodeOps::new(cluster.client().unwrap())
        .cordon(NODE)
        .await
        .unwrap();
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_deletes_only_matching_pods_and_the_rest_times_out_naming_the_budget() {
    let cluster = stuck_cluster().await;
    let web = on_node(&cluster, "web");
    let db = on_node(&cluster, "db");
    assert!(!web.is_empty() && !db.is_empty(), "{web:?} {db:?}");
    let start_rv = cluster.store().current_rv();
    kubesim::cluster::install_crypto_provider();
    let stuck_after = Duration::from_millis(300);
    let escalate_after = Duration::from_millis(900);
    let (drainer, mut events) = DrainEngine::for_config(
        cluster.kube_config(),
        DrainOptions {
            timeout: Duration::from_secs(4),
            retry: Backoff::new(Duration::from_millis(50), Duration::from_millis(500))
                .jitter(Jitter::Equal),
            pdb_stuck_after: Some(stuck_after),
            pdb_escalation: Some(PdbEscalation::new(escalate_after, "app=web").unwrap()),
            ..DrainOptions::default()
        },
    )
    .unwrap()
    .with_event_channel();
    let err = drainer.drain(NODE).await.unwrap_err();

    // The timeout names the db pods and their budget; nothing else is left.
    let DrainError::Timeout { pending, .. } = &err else {
        panic!("{err:?}");
    };
    let left: BTreeSet<String> = pending.iter().map(|p| p.pod.name.clone()).collect();
    assert_eq!(left, db, "{err}");
    for p in pending {
        assert!(
            matches!(&p.state, PendingState::BlockedByPdb { pdbs, .. } if pdbs == &["shop/db-pdb"]),
            "{p:?}"
        );
    }
    assert_eq!(err.pdbs(), ["shop/db-pdb"]);
    assert!(
        err.to_string()
            .contains("(blocked by PodDisruptionBudget shop/db-pdb: Cannot evict pod"),
        "{err}"
    );

    // One stuck report per budget, with the pods it blocks; the escalation deleted the web pods.
    let mut stuck: Vec<(Vec<String>, BTreeSet<String>, Duration)> = Vec::new();
    let mut escalated = BTreeSet::new();
    while let Ok(e) = events.try_recv() {
        match e {
            DrainEvent::PdbStuck {
                pdbs,
                pods,
                blocked_for,
            } => stuck.push((
                pdbs,
                pods.iter().map(|p: &PodRef| p.name.clone()).collect(),
                blocked_for,
            )),
            DrainEvent::DeletedDespitePdb { pod, blocked_for } => {
                assert!(blocked_for >= escalate_after, "{blocked_for:?}");
                escalated.insert(pod.name);
            }
            _ => {}
        }
    }
    stuck.sort();
    assert_eq!(stuck.len(), 2, "{stuck:?}");
    assert_eq!(
        (&stuck[0].0, &stuck[0].1),
        (&vec!["shop/db-pdb".to_string()], &db)
    );
    assert_eq!(
        (&stuck[1].0, &stuck[1].1),
        (&vec!["shop/web-pdb".to_string()], &web)
    );
    assert!(stuck.iter().all(|s| s.2 >= stuck_after), "{stuck:?}");
    assert_eq!(escalated, web);

    // The store's history: the web pods' deletion used their own grace period (30 s); no db
    // pod was ever deleted or marked for deletion.
    let history = cluster.history();
    let pod_writes = history
        .iter()
        .filter(|e| e.rv > start_rv && e.resource.plural == PODS.plural);
    let mut deletion_started = BTreeSet::new();
    for e in pod_writes {
        let name = e.object["metadata"]["name"].as_str().unwrap().to_string();
        let marked = !e.object["metadata"]["deletionTimestamp"].is_null();
        if db.contains(&name) {
            assert!(
                e.kind != EventType::Deleted && !marked,
                "db pod {name} touched: {:?}",
                e.object
            );
        }
        let first_mark = marked
            && e.previous
                .as_ref()
                .is_some_and(|p| p["metadata"]["deletionTimestamp"].is_null());
        if web.contains(&name) && first_mark {
            assert_eq!(e.object["metadata"]["deletionGracePeriodSeconds"], 30);
            deletion_started.insert(name);
        }
    }
    assert_eq!(deletion_started, web);
    assert_eq!(on_node(&cluster, "db"), db, "the db pods are still there");
    cluster.shutdown().await;
}
