//! The controllers together over a seeded store (no HTTP).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::config::ControllerConfig;
use super::objects::pod_ready;
use super::running::Controllers;
use crate::cluster::{Cluster, IntOrPercent, PdbSpec};
use crate::deletion::{DeleteOptions, delete_object};
use crate::resources::ResourceType;
use crate::resources::well_known::{DEPLOYMENTS, NODES, PDBS, PODS, REPLICASETS};
use crate::store::Store;
use testkit::eventually;

/// How long a condition may take to hold.
const WAIT: Duration = Duration::from_secs(10);

fn fast() -> ControllerConfig {
    ControllerConfig {
        kubelet_start_delay: Duration::from_millis(20),
        shutdown_time: Duration::from_millis(20),
        reschedule_delay: Duration::from_millis(20),
        disrupted_pod_timeout: Duration::from_secs(2),
        ..ControllerConfig::default()
    }
}

fn patch(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    f: impl FnOnce(&mut Value),
) {
    store
        .update(rt, ns, name, |cur| {
            let mut o = cur.clone();
            f(&mut o);
            Ok(o)
        })
        .unwrap();
}

fn web_pods(store: &Store) -> Vec<Arc<Value>> {
    store.list(PODS, Some("web"), |_| true).0
}

fn force_delete(store: &Store, ns: &str, name: &str) {
    let opts = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    delete_object(store, PODS, ns, name, &opts).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacements_go_only_where_they_fit_and_wait_for_a_node() {
    let store = Cluster::builder()
        .nodes(3)
        .deployment("web", "web", 3, None)
        .build_store()
        .unwrap();
    let controllers = Controllers::start(&store, &fast());
    patch(&store, NODES, "", "node-1", |n| {
        n["spec"]["unschedulable"] = json!(true);
    });
    patch(&store, NODES, "", "node-2", |n| {
        n["spec"]["taints"] = json!([{"key": "example.com/x", "effect": "NoSchedule"}]);
    });
    let on = |node: &str| {
        web_pods(&store)
            .into_iter()
            .find(|p| p["spec"]["nodeName"] == node)
            .unwrap()
    };
    let victim = on("node-2");
    force_delete(&store, "web", victim["metadata"]["name"].as_str().unwrap());
    eventually(
        WAIT,
        "a Ready replacement on node-0, the only fitting node",
        || {
            let pods = web_pods(&store);
            pods.len() == 3
                && pods
                    .iter()
                    .filter(|p| p["spec"]["nodeName"] == "node-0")
                    .count()
                    == 2
                && pods.iter().all(|p| pod_ready(p))
        },
    )
    .await;

    // No node fits: the replacement stays Pending and unscheduled until one does.
    patch(&store, NODES, "", "node-0", |n| {
        n["spec"]["unschedulable"] = json!(true);
    });
    let victim = on("node-1");
    force_delete(&store, "web", victim["metadata"]["name"].as_str().unwrap());
    eventually(WAIT, "an unschedulable replacement", || {
        web_pods(&store).iter().any(|p| {
            p["spec"].get("nodeName").is_none()
                && p["status"]["conditions"][0]["reason"] == "Unschedulable"
                && p["status"]["phase"] == "Pending"
        })
    })
    .await;
    patch(&store, NODES, "", "node-1", |n| {
        n["spec"].as_object_mut().unwrap().remove("unschedulable");
    });
    eventually(WAIT, "the pending pod bound to node-1 and Ready", || {
        let pods = web_pods(&store);
        pods.len() == 3
            && pods.iter().all(|p| pod_ready(p))
            && pods.iter().any(|p| p["spec"]["nodeName"] == "node-1")
    })
    .await;
    eventually(WAIT, "the ReplicaSet status to catch up", || {
        store.list(REPLICASETS, Some("web"), |_| true).0[0]["status"]["readyReplicas"] == 3
    })
    .await;
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_change_rolls_to_a_new_replicaset_and_deletion_collects_garbage() {
    let store = Cluster::builder()
        .nodes(2)
        .deployment("web", "web", 2, None)
        .build_store()
        .unwrap();
    let controllers = Controllers::start(&store, &fast());
    let old_rs = store.list(REPLICASETS, Some("web"), |_| true).0[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    patch(&store, DEPLOYMENTS, "web", "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("registry.example/web:2");
    });
    eventually(
        WAIT,
        "2 Ready pods of the new template, old ReplicaSet at 0",
        || {
            let pods = web_pods(&store);
            let old = store.get(REPLICASETS, "web", &old_rs).unwrap();
            pods.len() == 2
                && pods.iter().all(|p| {
                    pod_ready(p) && p["spec"]["containers"][0]["image"] == "registry.example/web:2"
                })
                && old["spec"]["replicas"] == 0
        },
    )
    .await;
    eventually(WAIT, "the Deployment status to catch up", || {
        let dep = store.get(DEPLOYMENTS, "web", "web").unwrap();
        dep["status"]["updatedReplicas"] == 2
            && dep["status"]["readyReplicas"] == 2
            && dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    })
    .await;

    store.delete(DEPLOYMENTS, "web", "web", |_| Ok(())).unwrap();
    eventually(WAIT, "ReplicaSets and pods garbage-collected", || {
        web_pods(&store).is_empty() && store.list(REPLICASETS, Some("web"), |_| true).0.is_empty()
    })
    .await;
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disrupted_pods_count_as_unhealthy_until_they_expire() {
    let store = Cluster::builder()
        .nodes(3)
        .deployment(
            "web",
            "web",
            3,
            Some(PdbSpec::MinAvailable(IntOrPercent::Percent(50))),
        )
        .build_store()
        .unwrap();
    let pdb = store.get(PDBS, "web", "web-pdb").unwrap();
    // 50% of 3, rounded up: 2 must stay healthy.
    assert_eq!(pdb["status"]["desiredHealthy"], 2);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 1);
    let controllers = Controllers::start(&store, &fast());
    let pod = web_pods(&store)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // What an eviction in flight writes.
    patch(&store, PDBS, "web", "web-pdb", |p| {
        p["status"]["disruptedPods"] = json!({ pod.clone(): crate::store::now_rfc3339() });
        p["status"]["disruptionsAllowed"] = json!(0);
    });
    eventually(WAIT, "the disrupted pod not counted healthy", || {
        let s = &store.get(PDBS, "web", "web-pdb").unwrap()["status"];
        s["currentHealthy"] == 2 && s["disruptionsAllowed"] == 0 && s["disruptedPods"].is_object()
    })
    .await;
    eventually(
        WAIT,
        "the entry to expire and the budget to recover",
        || {
            let s = &store.get(PDBS, "web", "web-pdb").unwrap()["status"];
            s["currentHealthy"] == 3
                && s["disruptionsAllowed"] == 1
                && s.get("disruptedPods").is_none()
        },
    )
    .await;
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_pods_wait_for_a_rebooting_node() {
    let store = Cluster::builder()
        .nodes(1)
        .deployment("web", "web", 1, None)
        .build_store()
        .unwrap();
    let controllers = Controllers::start(&store, &fast());
    let pod = web_pods(&store)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    super::kubelet::begin_reboot(&store, "node-0").unwrap();
    delete_object(&store, PODS, "web", &pod, &DeleteOptions::default()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        store.get(PODS, "web", &pod).is_some(),
        "the kubelet is down: the pod stays terminating"
    );
    super::kubelet::finish_reboot(&store, "node-0").unwrap();
    eventually(
        WAIT,
        "the pod finalized and replaced after the node came back",
        || {
            let pods = web_pods(&store);
            store.get(PODS, "web", &pod).is_none() && pods.len() == 1 && pod_ready(&pods[0])
        },
    )
    .await;
    controllers.stop().await;
}

/// Node taint changes re-place DaemonSet pods only when they matter: a `PreferNoSchedule` taint
/// (kured's) and a lock annotation on the DaemonSet change nothing; an untolerated
/// `NoExecute` taint removes the node's pod and its removal brings one back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_pods_follow_placement_taints_only() {
    use crate::resources::well_known::DAEMONSETS;
    let store = Cluster::builder()
        .nodes(3)
        .daemonset("kube-system", "kured")
        .build_store()
        .unwrap();
    let _controllers = Controllers::start(&store, &fast());
    let on_node = |node: &str| {
        store
            .list(PODS, Some("kube-system"), |p| {
                p["spec"]["nodeName"] == node && p["metadata"]["deletionTimestamp"].is_null()
            })
            .0
            .len()
    };
    eventually(WAIT, "a kured pod per node", || {
        (0..3).all(|i| on_node(&format!("node-{i}")) == 1)
    })
    .await;
    patch(&store, NODES, "", "node-1", |n| {
        n["spec"]["taints"] =
            json!([{"key": "weave.works/kured-node-reboot", "effect": "PreferNoSchedule"}]);
    });
    patch(&store, DAEMONSETS, "kube-system", "kured", |ds| {
        ds["metadata"]["annotations"] =
            json!({"weave.works/kured-node-lock": "{\"nodeID\":\"node-1\"}"});
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(on_node("node-1"), 1, "a preference keeps the pod");
    patch(&store, NODES, "", "node-1", |n| {
        n["spec"]["taints"] = json!([{"key": "example.com/x", "effect": "NoExecute"}]);
    });
    eventually(WAIT, "the pod leaves the tainted node", || {
        on_node("node-1") == 0
    })
    .await;
    patch(&store, NODES, "", "node-1", |n| {
        n["spec"]["taints"] = json!([]);
    });
    eventually(WAIT, "a pod is back on node-1", || on_node("node-1") == 1).await;
}
