//! The real `kubectl` (from the PATH; `.ci/run` installs Debian's `kubernetes-client`) against
//! kubesim with a generated kubeconfig: get, annotate, label, cordon/uncordon, taint,
//! field-selected pod lists, and `kubectl drain` — clean, and waiting on a `PodDisruptionBudget`
//! until the `ReplicaSet` controller's replacement pod is Ready. Every test checks the resulting
//! cluster state in the store.
//!
//! Each test gets its own `HOME` and `KUBECACHEDIR` in a temporary directory (`kubectl_cli`).
//! Events (`kubectl describe node`, `kubectl get events`) are in `kubectl_events.rs`.

use std::time::Duration;

use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec, RunningCluster, matching_over_time};
use kubesim::resources::well_known::{DAEMONSETS, NODES, PDBS, PODS};
use serde_json::{Value, json};
use testkit::eventually;

mod kubectl_cli;
use kubectl_cli::Kubectl;

/// How long a condition may take to hold.
const WAIT: Duration = Duration::from_secs(30);

fn node(cluster: &RunningCluster, name: &str) -> Value {
    (*cluster.store().get(NODES, "", name).unwrap()).clone()
}

fn pods_on(cluster: &RunningCluster, node: &str) -> Vec<Value> {
    cluster
        .store()
        .list(PODS, None, |p| p["spec"]["nodeName"] == node)
        .0
        .iter()
        .map(|p| (**p).clone())
        .collect()
}

fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_nodes_and_field_selected_pods() {
    let cluster = Cluster::builder()
        .nodes(3)
        .pods_per_node(2)
        .daemonset("kube-system", "kured")
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&cluster);
    let out = k.ok(&["get", "nodes", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-0", "node-1", "node-2"]);
    // The table view (server-side printing) shows every node Ready.
    let table = k.ok(&["get", "nodes"]).await;
    assert_eq!(
        table.lines().filter(|l| l.contains(" Ready ")).count(),
        3,
        "{table}"
    );

    let out = k
        .ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=node-1",
            "-o",
            "json",
        ])
        .await;
    let pods: Value = serde_json::from_str(&out).unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), pods_on(&cluster, "node-1").len());
    assert_eq!(items.len(), 3, "two app pods and the kured pod");
    assert!(items.iter().all(|p| p["spec"]["nodeName"] == "node-1"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotate_label_cordon_taint() {
    let cluster = Cluster::builder().nodes(2).start().await.unwrap();
    let k = Kubectl::new(&cluster);

    k.ok(&[
        "annotate",
        "node",
        "node-1",
        "example.com/reboot-needed=true",
    ])
    .await;
    assert_eq!(
        node(&cluster, "node-1")["metadata"]["annotations"]["example.com/reboot-needed"],
        "true"
    );
    k.ok(&[
        "annotate",
        "--overwrite",
        "node",
        "node-1",
        "example.com/reboot-needed=false",
    ])
    .await;
    assert_eq!(
        node(&cluster, "node-1")["metadata"]["annotations"]["example.com/reboot-needed"],
        "false"
    );
    k.ok(&["annotate", "node", "node-1", "example.com/reboot-needed-"])
        .await;
    assert!(
        node(&cluster, "node-1")["metadata"]["annotations"]
            .get("example.com/reboot-needed")
            .is_none()
    );

    k.ok(&["label", "node", "node-1", "example.com/rebooting=true"])
        .await;
    assert_eq!(
        node(&cluster, "node-1")["metadata"]["labels"]["example.com/rebooting"],
        "true"
    );
    let out = k
        .ok(&[
            "get",
            "nodes",
            "-l",
            "example.com/rebooting=true",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.trim(), "node/node-1");
    k.ok(&["label", "node", "node-1", "example.com/rebooting-"])
        .await;
    assert!(
        node(&cluster, "node-1")["metadata"]["labels"]
            .get("example.com/rebooting")
            .is_none()
    );

    let out = k.ok(&["cordon", "node-1"]).await;
    assert!(out.contains("node/node-1 cordoned"), "{out}");
    assert_eq!(node(&cluster, "node-1")["spec"]["unschedulable"], true);
    let out = k.ok(&["cordon", "node-1"]).await;
    assert!(out.contains("already cordoned"), "{out}");
    let out = k.ok(&["uncordon", "node-1"]).await;
    assert!(out.contains("node/node-1 uncordoned"), "{out}");
    assert!(
        node(&cluster, "node-1")["spec"]
            .get("unschedulable")
            .is_none()
    );

    k.ok(&[
        "taint",
        "nodes",
        "node-1",
        "example.com/reboot=pending:NoSchedule",
    ])
    .await;
    k.ok(&[
        "taint",
        "nodes",
        "node-1",
        "example.com/second=x:PreferNoSchedule",
    ])
    .await;
    let taints = node(&cluster, "node-1")["spec"]["taints"].clone();
    assert_eq!(taints.as_array().unwrap().len(), 2, "{taints}");
    assert!(taints.as_array().unwrap().contains(&json!(
        {"key": "example.com/reboot", "value": "pending", "effect": "NoSchedule"}
    )));
    k.ok(&["taint", "nodes", "node-1", "example.com/reboot-"])
        .await;
    assert_eq!(
        node(&cluster, "node-1")["spec"]["taints"],
        json!([{"key": "example.com/second", "value": "x", "effect": "PreferNoSchedule"}])
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_everything_but_daemonset_pods() {
    let cluster = Cluster::builder()
        .nodes(3)
        .deployment(
            "web",
            "web",
            3,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        )
        .daemonset("kube-system", "kured")
        .kubelet_start_delay(Duration::from_millis(100))
        .shutdown_time(Duration::from_millis(200))
        .reschedule_delay(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    // A controller-less pod with an emptyDir on node-0 (needs --force and --delete-emptydir-data).
    cluster
        .store()
        .create(
            PODS,
            json!({"metadata": {"name": "solo", "namespace": "default"},
                   "spec": {"nodeName": "node-0", "terminationGracePeriodSeconds": 0,
                            "volumes": [{"name": "scratch", "emptyDir": {}}],
                            "containers": [{"name": "c", "image": "registry.example/solo:1"}]},
                   "status": {"phase": "Pending"}}),
        )
        .unwrap();
    let store = cluster.store().clone();
    eventually(WAIT, "the solo pod to run", || {
        store
            .get(PODS, "default", "solo")
            .is_some_and(|p| is_ready(&p))
    })
    .await;

    let k = Kubectl::new(&cluster);
    let out = k
        .run(&[
            "drain",
            "node-0",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=60s",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "drain failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("node/node-0 drained"), "{stdout}");
    assert!(
        stderr.contains("deleting Pods that declare no controller: default/solo"),
        "{stderr}"
    );

    assert_eq!(node(&cluster, "node-0")["spec"]["unschedulable"], true);
    let left = pods_on(&cluster, "node-0");
    assert_eq!(left.len(), 1, "only the DaemonSet pod stays: {left:?}");
    assert_eq!(
        left[0]["metadata"]["ownerReferences"][0]["kind"],
        "DaemonSet"
    );
    assert!(store.get(PODS, "default", "solo").is_none());
    eventually(
        WAIT,
        "web to be back at 3 Ready replicas off node-0",
        || {
            let (web, _) = store.list(PODS, Some("web"), |_| true);
            web.len() == 3
                && web
                    .iter()
                    .all(|p| is_ready(p) && p["spec"]["nodeName"] != "node-0")
        },
    )
    .await;
    assert_eq!(
        store.get(DAEMONSETS, "kube-system", "kured").unwrap()["status"]["numberReady"],
        3
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_the_budget_until_the_replacement_is_ready() {
    // Two nodes, four replicas: two web pods on node-0. maxUnavailable 1 lets only one of
    // them go at a time, so kubectl's second eviction gets 429 and retries every 5 s until the
    // ReplicaSet's replacement (on node-1, as node-0 is cordoned) is Ready.
    let cluster = Cluster::builder()
        .nodes(2)
        .deployment(
            "web",
            "web",
            4,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        )
        .kubelet_start_delay(Duration::from_millis(500))
        .shutdown_time(Duration::from_millis(300))
        .reschedule_delay(Duration::from_millis(300))
        .record_history(true)
        .start()
        .await
        .unwrap();
    let store = cluster.store().clone();
    assert_eq!(pods_on(&cluster, "node-0").len(), 2);
    assert_eq!(
        store.get(PDBS, "web", "web-pdb").unwrap()["status"]["disruptionsAllowed"],
        1
    );
    let start_rv = store.current_rv();

    let k = Kubectl::new(&cluster);
    let out = k
        .run(&[
            "drain",
            "node-0",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=60s",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "drain failed:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "the drain should have waited on the budget:\n{stderr}"
    );
    assert!(stdout.contains("node/node-0 drained"), "{stdout}");

    assert!(pods_on(&cluster, "node-0").is_empty());
    eventually(WAIT, "4 Ready web pods on node-1", || {
        let (web, _) = store.list(PODS, Some("web"), |_| true);
        web.len() == 4
            && web
                .iter()
                .all(|p| is_ready(p) && p["spec"]["nodeName"] == "node-1")
    })
    .await;
    // The budget held throughout: never fewer than 3 Ready, non-terminating web pods.
    let healthy_web = |p: &Value| {
        p["metadata"]["namespace"] == "web"
            && is_ready(p)
            && p["metadata"]["deletionTimestamp"].is_null()
    };
    let min_ready = matching_over_time(&cluster.history(), PODS, healthy_web)
        .into_iter()
        .filter(|(rv, _)| *rv > start_rv)
        .map(|(_, n)| n)
        .min()
        .unwrap();
    assert_eq!(
        min_ready, 3,
        "the PDB (maxUnavailable 1 of 4) must hold during the drain"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubesim_binary_serves_kubectl_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args([
            "--nodes",
            "2",
            "--pods-per-node",
            "3",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "1",
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("kubesim prints its URL")
        .unwrap()
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let k = Kubectl::with_kubeconfig(dir, kubeconfig.clone());
    let out = k.ok(&["get", "nodes", "-o", "name"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["node/node-0", "node/node-1"]
    );
    let out = k
        .ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=node-0",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.lines().count(), 3, "{out}");

    let pid = child.id().unwrap().to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("kubesim stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
