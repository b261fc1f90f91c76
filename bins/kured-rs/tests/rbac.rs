//! Proves the RBAC rules shipped in `deploy/kured-rs` are sufficient: a full rolling reboot
//! of two nodes on kubesim, every agent authenticating with a token allowed exactly the
//! `(verb, resource)` pairs of the rendered `ClusterRole` and `Role` (kubesim does not model
//! `resourceNames` or namespaces of rules, so those restrictions are checked by the deploy
//! test instead).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use agent::{Agent, CancellationToken, Config, Deps, LockWaitMode, Metrics, Parts};
use kubesim::auth::AuthConfig;
use kubesim::cluster::Cluster;
use serde_json::Value;
use testkit::SimHosts;

fn deploy_rules() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join("deploy/kured-rs"))
        .output()
        .expect("kubectl");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rules = BTreeSet::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).unwrap();
        let v = serde_json::to_value(v).unwrap();
        if v["kind"] != "ClusterRole" && v["kind"] != "Role" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            // events.k8s.io Events are named with their group: kubesim then grants them in
            // that API group only (core/v1 Events stay forbidden).
            let group = list("apiGroups").join(",");
            for r in list("resources") {
                let r = if group == "events.k8s.io" {
                    format!("{r}.{group}")
                } else {
                    r
                };
                for verb in list("verbs") {
                    rules.insert((verb, r.clone()));
                }
            }
        }
    }
    rules.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn deploy_rules_suffice_for_a_full_reboot_cycle() {
    let rules = deploy_rules();
    let pairs: Vec<(&str, &str)> = rules
        .iter()
        .map(|(v, r)| (v.as_str(), r.as_str()))
        .collect();
    let cluster = Arc::new(
        Cluster::builder()
            .nodes(2)
            .daemonset("kube-system", "kured")
            .pods_per_node(1)
            .kubelet_start_delay(Duration::from_millis(20))
            .shutdown_time(Duration::from_millis(20))
            .reschedule_delay(Duration::from_millis(20))
            .auth(AuthConfig::new().admin("admin", "admin").user(
                "kured",
                "system:serviceaccount:kube-system:kured",
                &pairs,
            ))
            .start()
            .await
            .unwrap(),
    );
    let client = cluster.client_with_token("kured").unwrap();
    let hosts = SimHosts::new();
    let nodes = ["node-0", "node-1"];
    for n in nodes {
        hosts.require(n);
    }
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for node in nodes {
        let (client, hosts, cluster, stop) =
            (client.clone(), hosts.clone(), cluster.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let token = stop.child_token();
                let parts = Parts {
                    lock: lock::LockConfig::default().node_cache(Duration::ZERO),
                    drain: drain::DrainOptions {
                        timeout: Duration::from_secs(20),
                        ..drain::DrainOptions::default()
                    },
                    blockers: blockers::BlockerSpec {
                        prometheus: None,
                        pod_selectors: vec!["kured/blocking=true".into()],
                        opt_out_key: Some(blockers::DEFAULT_OPT_OUT_KEY.into()),
                    },
                    sentinel: Arc::new(hosts.sentinel(node)),
                    rebooter: Arc::new(hosts.rebooter(
                        node,
                        cluster.clone(),
                        Duration::from_millis(50),
                        token.clone(),
                    )),
                    notifications: None,
                    // The health gate and Events as the deploy base runs them: their reads
                    // and writes must be allowed too (a forbidden gate read never passes).
                    gate: Some(gate::GateConfig {
                        timeout: Duration::from_secs(20),
                        poll: Duration::from_millis(50),
                        ..gate::GateConfig::default()
                    }),
                    events: Some(node.to_string()),
                };
                let deps = Deps::for_client(&client, parts, Metrics::new()).unwrap();
                let mut config = Config::new(node);
                config.period = Duration::from_millis(100);
                config.lock_wait = LockWaitMode::Wait;
                config.retry_interval = Duration::from_millis(50);
                config.prefer_no_schedule_taint = Some("weave.works/kured-node-reboot".into());
                config.annotate_nodes = true;
                config.health_gate = true;
                config.post_reboot_node_labels = [("kured".to_string(), "done".to_string())].into();
                Agent::new(config, deps).run(token).await;
                tokio::time::sleep(Duration::from_millis(80)).await;
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = hosts.reboots().len() == 2
            && nodes.iter().all(|n| {
                let node = cluster
                    .store()
                    .get(kubesim::resources::well_known::NODES, "", n)
                    .unwrap();
                node["spec"]["unschedulable"] != Value::Bool(true)
                    && node["metadata"]["labels"]["kured"] == "done"
            });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout with the deploy RBAC did not finish: reboots {:?}",
            hosts.reboots()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .unwrap()
            .unwrap();
    }
    let reboots = hosts.reboots().clone();
    assert_eq!(reboots.len(), 2, "{reboots:?}");
    // The Events were allowed (publishing is best effort: a 403 would only be logged).
    let (events, _) = cluster.store().list(
        kubesim::resources::well_known::EVENTS,
        Some("default"),
        |e| e["reportingComponent"] == "kured-rs" || e["source"]["component"] == "kured-rs",
    );
    let reasons: BTreeSet<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    for reason in [
        "LockAcquired",
        "Draining",
        "Rebooting",
        "HealthGatePassed",
        "LockReleased",
    ] {
        assert!(
            reasons.contains(reason),
            "{reason} missing from {reasons:?}"
        );
    }
}
