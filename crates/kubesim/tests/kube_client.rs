//! kube-rs against kubesim over HTTP: typed CRUD, optimistic concurrency, watcher + reflector
//! (including recovery from an expired resourceVersion and from cut watch streams), the
//! simulated controllers as seen through the API, and token authentication.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kubesim::auth::AuthConfig;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster};
use kubesim::faults::FaultConfig;
use kubesim::resources::well_known::{NODES, PODS};
use serde_json::json;
use testkit::eventually;

const WAIT: Duration = Duration::from_secs(20);

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

async fn small_cluster() -> RunningCluster {
    Cluster::builder()
        .nodes(3)
        .deployment(
            "web",
            "web",
            3,
            Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))),
        )
        .daemonset("kube-system", "kured")
        .kubelet_start_delay(Duration::from_millis(50))
        .shutdown_time(Duration::from_millis(50))
        .reschedule_delay(Duration::from_millis(50))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_get_list_patch_replace_delete() {
    let cluster = small_cluster().await;
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert_eq!(names, ["node-0", "node-1", "node-2"]);
    let n0 = nodes.get("node-0").await.unwrap();
    let ready = n0.status.as_ref().unwrap().conditions.as_ref().unwrap();
    assert!(
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    // Merge patch (as kubectl label) and strategic merge patch (as kubectl cordon).
    let patched = nodes
        .patch(
            "node-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"example.com/x": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["example.com/x"], "1");
    let cordoned = nodes
        .patch(
            "node-1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert_eq!(cordoned.spec.unwrap().unschedulable, Some(true));
    assert_eq!(
        cluster.store().get(NODES, "", "node-1").unwrap()["spec"]["unschedulable"],
        true
    );

    // Field-selected pod list (what drains use).
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=node-2"))
        .await
        .unwrap();
    assert!(on_node.items.len() >= 2, "a web pod and the kured pod");
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("node-2"))
    );

    // Leases: create, replace (PUT) with the current and a stale resourceVersion, delete.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "kured-lock", "namespace": "kube-system"},
        "spec": {"holderIdentity": "node-0", "leaseDurationSeconds": 60}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut next = created.clone();
    next.spec.as_mut().unwrap().holder_identity = Some("node-1".into());
    let replaced = leases
        .replace("kured-lock", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.unwrap().holder_identity.as_deref(),
        Some("node-1")
    );
    // `next` still carries the old resourceVersion: optimistic concurrency says 409.
    let err = leases
        .replace("kured-lock", &PostParams::default(), &next)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(409), "{err:?}");
    let err = leases
        .create(&PostParams::default(), &lease)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(409), "{err:?}");
    leases
        .delete("kured-lock", &DeleteParams::default())
        .await
        .unwrap();
    let err = leases.get("kured-lock").await.unwrap_err();
    assert_eq!(api_code(&err), Some(404), "{err:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_keep_replicas_and_budgets_through_the_api() {
    let cluster = small_cluster().await;
    let client = cluster.client().unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "web");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "web");
    let pdb = pdbs.get("web-pdb").await.unwrap();
    assert_eq!(pdb.status.as_ref().unwrap().disruptions_allowed, 1);

    // Delete one pod: it terminates (grace capped by the shutdown time) and is replaced.
    let before = pods.list(&ListParams::default()).await.unwrap();
    let victim = before.items[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    let store = cluster.store().clone();
    eventually(
        WAIT,
        "the deleted pod to be gone and replaced by a Ready one",
        || {
            let (pods, _) = store.list(PODS, Some("web"), |_| true);
            pods.len() == 3
                && pods
                    .iter()
                    .all(|p| p["metadata"]["name"] != victim.as_str())
                && pods.iter().all(|p| {
                    p["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
        },
    )
    .await;
    let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), "web");
    let rs = rs.list(&ListParams::default()).await.unwrap();
    assert_eq!(rs.items.len(), 1);
    eventually(WAIT, "the budget to recover", || {
        store
            .get(kubesim::resources::well_known::PDBS, "web", "web-pdb")
            .unwrap()["status"]["disruptionsAllowed"]
            == 1
    })
    .await;

    // Scale the Deployment up through the API: the ReplicaSet follows and new pods start.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "web");
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    eventually(WAIT, "5 ready replicas", || {
        store
            .get(kubesim::resources::well_known::DEPLOYMENTS, "web", "web")
            .unwrap()["status"]["readyReplicas"]
            == 5
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_recovers_from_an_expired_resource_version() {
    let cluster = Cluster::builder()
        .nodes(3)
        .controllers(false)
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client);
    let (reader, writer) = reflector::store::<Node>();
    let cfg = watcher::Config::default().timeout(1).disable_bookmarks();
    let task = tokio::spawn(
        reflector(writer, watcher(nodes.clone(), cfg))
            .applied_objects()
            .for_each(|_| async {}),
    );
    eventually(WAIT, "the reflector to see 3 nodes", || {
        reader.state().len() == 3
    })
    .await;
    let lists_before = cluster.requests_by_verb().get("list").copied().unwrap_or(0);

    // Writes the watch does not select move the resourceVersion on; then the log is compacted.
    // The watcher has seen no node event since its list, so its next watch (its 1 s timeout
    // ends each stream) starts from that list's resourceVersion, which has expired: it gets
    // the 410 ERROR event and must re-list.
    let store = cluster.store().clone();
    for i in 0..5 {
        store
            .create(
                PODS,
                json!({"metadata": {"name": format!("p{i}"), "namespace": "default"}, "spec": {}}),
            )
            .unwrap();
    }
    store.compact();
    eventually(WAIT, "a re-list after the 410", || {
        cluster.requests_by_verb().get("list").copied().unwrap_or(0) > lists_before
    })
    .await;
    nodes
        .patch(
            "node-2",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"seen": "yes"}}})),
        )
        .await
        .unwrap();
    eventually(WAIT, "the reflector to see the label", || {
        reader.state().iter().any(|n| {
            n.metadata.name.as_deref() == Some("node-2")
                && n.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.get("seen").map(String::as_str) == Some("yes"))
        })
    })
    .await;
    task.abort();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_survives_cut_streams() {
    let cluster = Cluster::builder()
        .nodes(3)
        .controllers(false)
        .faults(FaultConfig {
            cut_watch_after: Some(2),
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client);
    let (reader, writer) = reflector::store::<Node>();
    let task = tokio::spawn(
        reflector(writer, watcher(nodes.clone(), watcher::Config::default()))
            .applied_objects()
            .for_each(|_| async {}),
    );
    eventually(WAIT, "the reflector to see 3 nodes", || {
        reader.state().len() == 3
    })
    .await;
    for i in 0..10 {
        nodes
            .patch(
                &format!("node-{}", i % 3),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"step": i.to_string()}}})),
            )
            .await
            .unwrap();
    }
    eventually(WAIT, "the reflector to catch up with every change", || {
        let state = reader.state();
        let step = |name: &str| {
            state
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(name))
                .and_then(|n| n.metadata.annotations.as_ref()?.get("step").cloned())
        };
        step("node-0").as_deref() == Some("9")
            && step("node-1").as_deref() == Some("7")
            && step("node-2").as_deref() == Some("8")
    })
    .await;
    assert!(
        cluster.fault_stats().watches_cut >= 2,
        "{:?}",
        cluster.fault_stats()
    );
    assert!(
        cluster
            .requests_by_verb()
            .get("watch")
            .copied()
            .unwrap_or(0)
            >= 3
    );
    task.abort();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_reach_the_client_as_api_errors() {
    let cluster = Cluster::builder()
        .nodes(1)
        .controllers(false)
        .faults(FaultConfig {
            error_500_fraction: 0.5,
            seed: 3,
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(cluster.client().unwrap());
    let mut ok = 0;
    let mut failed = 0;
    for _ in 0..40 {
        match nodes.get("node-0").await {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(api_code(&e), Some(500), "{e:?}");
                failed += 1;
            }
        }
    }
    assert!(ok > 5 && failed > 5, "ok {ok} failed {failed}");
    assert_eq!(cluster.fault_stats().errors_500, failed);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_rules_are_enforced() {
    let auth = AuthConfig::new().admin("admin-token", "admin").user(
        "limited-token",
        "limited",
        &[
            ("get", "nodes"),
            ("list", "nodes"),
            ("create", "pods/eviction"),
        ],
    );
    let cluster = Cluster::builder()
        .nodes(2)
        .controllers(false)
        .auth(auth)
        .start()
        .await
        .unwrap();
    let admin: Api<Node> = Api::all(cluster.client().unwrap());
    assert_eq!(
        admin
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let limited_client = cluster.client_with_token("limited-token").unwrap();
    let limited: Api<Node> = Api::all(limited_client.clone());
    limited.get("node-0").await.unwrap();
    let err = limited
        .patch(
            "node-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(403), "{err:?}");
    let pods: Api<Pod> = Api::namespaced(limited_client, "default");
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "pods is forbidden: User \"limited\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
            );
        }
        other => panic!("{other:?}"),
    }
    let bad: Api<Node> = Api::all(cluster.client_with_token("wrong").unwrap());
    let err = bad.get("node-0").await.unwrap_err();
    assert_eq!(api_code(&err), Some(401), "{err:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reboot_cycles_readiness_and_restarts_pods() {
    let cluster = small_cluster().await;
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let boot_id = |n: &Node| {
        n.status
            .as_ref()
            .unwrap()
            .node_info
            .as_ref()
            .unwrap()
            .boot_id
            .clone()
    };
    let ready = |n: &Node| {
        n.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    };
    let before = nodes.get("node-1").await.unwrap();
    assert!(ready(&before));
    cluster
        .reboot_node("node-1", Duration::from_millis(300))
        .unwrap();
    let down = nodes.get("node-1").await.unwrap();
    assert!(!ready(&down), "NotReady right after reboot_node");
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert!(!on_node.items.is_empty());
    let pod_ready = |p: &Pod| {
        p.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    };
    assert!(
        on_node.items.iter().all(|p| !pod_ready(p)),
        "pods lose Ready while the node is down"
    );
    let store = cluster.store().clone();
    eventually(WAIT, "node-1 back Ready", || {
        store.get(NODES, "", "node-1").unwrap()["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    })
    .await;
    let after = nodes.get("node-1").await.unwrap();
    assert_ne!(
        boot_id(&after),
        boot_id(&before),
        "a reboot changes the bootID"
    );
    eventually(WAIT, "node-1's pods Ready again", || {
        let (pods, _) = store.list(PODS, None, |p| p["spec"]["nodeName"] == "node-1");
        pods.iter().all(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    })
    .await;
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    for p in &on_node.items {
        let restarts = p
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .restart_count;
        assert_eq!(restarts, 1, "{:?}", p.metadata.name);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429_and_409_carry_their_shapes() {
    let cluster = Cluster::builder()
        .nodes(1)
        .controllers(false)
        .faults(FaultConfig {
            error_429_fraction: 0.3,
            conflict_409_fraction: 0.5,
            retry_after_seconds: 2,
            seed: 11,
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    // kube-rs retries 429s by itself (honouring Retry-After); switch that off to see them.
    let mut config = cluster.kube_config();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let mut codes = std::collections::BTreeMap::<u16, u32>::new();
    for i in 0..60 {
        let req = if i % 2 == 0 {
            axum::http::Request::get("/api/v1/nodes/node-0")
                .body(Vec::new())
                .unwrap()
        } else {
            axum::http::Request::patch("/api/v1/nodes/node-0")
                .header("content-type", "application/merge-patch+json")
                .body(br#"{"metadata":{"labels":{"x":"y"}}}"#.to_vec())
                .unwrap()
        };
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        let code = resp.status().as_u16();
        *codes.entry(code).or_default() += 1;
        if code == 429 {
            assert_eq!(resp.headers()["retry-after"], "2");
        }
        if code == 409 {
            assert_eq!(i % 2, 1, "409s only on writes");
        }
    }
    assert!(codes.get(&429).copied().unwrap_or(0) > 3, "{codes:?}");
    assert!(codes.get(&409).copied().unwrap_or(0) > 3, "{codes:?}");
    assert!(codes.get(&200).copied().unwrap_or(0) > 3, "{codes:?}");
    // Discovery is never faulted.
    for _ in 0..20 {
        let req = axum::http::Request::get("/api/v1")
            .body(Vec::new())
            .unwrap();
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let stats = cluster.fault_stats();
    assert_eq!(u64::from(codes[&429]), stats.errors_429);
    assert_eq!(u64::from(codes[&409]), stats.conflicts_409);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_follows_nodes_and_requests_are_counted() {
    let cluster = small_cluster().await;
    let client = cluster.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let new_node: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-9", "labels": {"kubernetes.io/hostname": "node-9"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    nodes
        .create(&PostParams::default(), &new_node)
        .await
        .unwrap();
    let store = cluster.store().clone();
    eventually(WAIT, "a Ready kured pod on node-9", || {
        let (pods, _) = store.list(PODS, Some("kube-system"), |p| {
            p["spec"]["nodeName"] == "node-9"
        });
        pods.len() == 1
            && pods[0]["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
    })
    .await;
    eventually(WAIT, "the DaemonSet status to count 4 nodes", || {
        store
            .get(
                kubesim::resources::well_known::DAEMONSETS,
                "kube-system",
                "kured",
            )
            .unwrap()["status"]["numberReady"]
            == 4
    })
    .await;
    let counts = cluster.requests_by_verb();
    assert_eq!(counts.get("create").copied(), Some(1), "{counts:?}");
    cluster.shutdown().await;
}
