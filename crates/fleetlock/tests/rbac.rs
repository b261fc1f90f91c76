//! Least privilege (issue 10): fleetlock-rs in Kubernetes mode (Lease store + node handling +
//! health gate) completes a full cycle — `/readyz`, pre-reboot until the node is cordoned and
//! drained (the reboot attempt recorded), 200, the reboot, steady-state (uncordoned), the
//! health gate passed (slot released), `/v1/status` — on kubesim with a token allowed
//! exactly the `(verb, resource)` pairs of `deploy/fleetlock-rs/rbac.yaml`; and with each pair
//! removed, the cycle fails clearly: an answer (or the start-up error) naming the forbidden
//! verb and resource, never a hang. kubesim does not model rule namespaces or
//! `resourceNames`, so those are not checked here.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config, start_app};
use fleetlock::FleetLock;
use fleetlock::kube_nodes::{DrainProgress, KubeNodeHandler, NodeCache};
use fleetlock::node_id::zincati_id;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kubesim::auth::AuthConfig;
use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};

/// Pairs whose removal only degrades, with the reason (asserted: the cycle still completes).
const OPTIONAL: &[(&str, &str, &str)] = &[
    (
        "watch",
        "pods",
        "the drain waits on a pod watch; without it, it relists the node's pods on a backoff timer",
    ),
    (
        "create",
        "events",
        "Events are best effort: without them the rollout goes on (a warning is logged)",
    ),
    (
        "patch",
        "events",
        "Events are best effort: without them the rollout goes on (a warning is logged)",
    ),
    (
        "get",
        "statefulsets",
        "the gate reads a StatefulSet only when its pods were on the node; this cluster has none",
    ),
    (
        "watch",
        "poddisruptionbudgets",
        "the drain engine's PDB watch only speeds up retries after a refusal",
    ),
];

/// Every `(verb, resource)` pair of the `ClusterRole` and `Role` objects in rbac.yaml.
fn deploy_rules() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/fleetlock-rs/rbac.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rules = BTreeSet::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"] != "ClusterRole" && v["kind"] != "Role" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect()
            };
            for resource in list("resources") {
                for verb in list("verbs") {
                    rules.insert((verb, resource.clone()));
                }
            }
        }
    }
    assert!(rules.len() >= 10, "parsed too few rules: {rules:?}");
    rules.into_iter().collect()
}

async fn get(base: &url::Url, path: &str) -> (u16, String) {
    let r = common::http()
        .get(base.join(path).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    match serde_json::from_str::<fleetlock::ErrorBody>(&text) {
        Ok(body) => (status, format!("{}: {}", body.kind, body.value)),
        Err(_) => (status, text),
    }
}

fn boot_id(n: &Node) -> Option<String> {
    n.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.boot_id.clone())
}

fn unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// One full cycle with a token allowed `rules`; `Err` is what the operator would see.
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
/// Runs the cycle; `Ok` carries the reasons of the Events about node-0 found afterwards.
async fn cycle(rules: &[(String, String)]) -> Result<Vec<String>, String> {
    kubesim::cluster::install_crypto_provider();
    let pairs: Vec<(&str, &str)> = rules
        .iter()
        .map(|(v, r)| (v.as_str(), r.as_str()))
        .collect();
    let cluster = Cluster::builder()
        .nodes(2)
        .daemonset("kube-system", "node-agent")
        .deployment(
            "default",
            "web",
            4,
            Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))),
        )
        .auth(AuthConfig::new().admin("admin", "admin").user(
            "fleetlock",
            "system:serviceaccount:fleetlock:fleetlock-rs",
            &pairs,
        ))
        .start()
        .await
        .unwrap();
    let admin = cluster.client_with_token("admin").unwrap();
    let nodes: Api<Node> = Api::all(admin);
    let mid = nodes
        .get("node-0")
        .await
        .unwrap()
        .status
        .and_then(|s| s.node_info)
        .map(|i| i.machine_id)
        .unwrap();
    let id = zincati_id(&mid).unwrap();

    let client = cluster.client_with_token("fleetlock").unwrap();
    let cache = NodeCache::start(client.clone())
        .await
        .map_err(|e| format!("start-up: {e}"))?;
    let progress = DrainProgress::new();
    let drainer = drain::DrainEngine::for_config(
        cluster.kube_config_with_token(Some("fleetlock")),
        drain::DrainOptions::default(),
    )
    .unwrap()
    .on_event(progress.sink());
    let handler =
        KubeNodeHandler::new(client.clone(), cache, Arc::new(drainer)).with_progress(progress);
    let store: Arc<dyn fleetlock::LockStore> = Arc::new(fleetlock::store::KubernetesStore::new(
        client.clone(),
        "default",
    ));
    let mut config = config(&[("default", 1)]);
    config.kubernetes_nodes = true;
    config.rollout = fleetlock::RolloutConfig {
        health_gate: true,
        health_gate_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(100),
        ..fleetlock::RolloutConfig::default()
    };
    let app = FleetLock::new(config.clone(), Arc::clone(&store)).unwrap();
    let handler: Arc<dyn fleetlock::kube_nodes::NodeHandler> = Arc::new(handler);
    let events = Arc::new(events::KubeNodeEvents::new(
        client.clone(),
        "fleetlock-rs",
        "fleetlock-rs-test",
    ));
    let rollout = fleetlock::rollout::Rollout::start(
        client,
        store,
        Arc::clone(&handler),
        &config.rollout,
        app.metrics().gate_failures.clone(),
        app.metrics().gate_waits.clone(),
        Arc::clone(&events) as Arc<dyn events::NodeEvents>,
    )
    .unwrap();
    let app = app
        .with_node_handler(handler)
        .with_rollout(rollout)
        .with_events(events);
    let server = start_app(app).await;
    let base = server.base();
    let result = async {
        let (status, body) = get(&base, "readyz").await;
        if status != 200 {
            return Err(format!("/readyz {status}: {body}"));
        }
        let c = server.client(&id, "default");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match c.pre_reboot().await {
                Ok(()) => break,
                Err(fleetlock::ClientError::Rejected { body, .. })
                    if body.kind == "drain_in_progress" || body.kind == "failed_pdb_blocked" =>
                {
                    if Instant::now() > deadline {
                        return Err(format!("pre-reboot never granted: {}", body.value));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(fleetlock::ClientError::Rejected { status, body, .. }) => {
                    return Err(format!("pre-reboot {status} {}: {}", body.kind, body.value));
                }
                Err(e) => return Err(format!("pre-reboot transport: {e}")),
            }
        }
        assert!(unschedulable(&nodes.get("node-0").await.unwrap()));
        let before = boot_id(&nodes.get("node-0").await.unwrap());
        cluster
            .reboot_node("node-0", Duration::from_millis(200))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while boot_id(&nodes.get("node-0").await.unwrap()) == before {
            assert!(Instant::now() < deadline, "node-0 never came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match c.steady_state().await {
            Ok(()) => {}
            Err(fleetlock::ClientError::Rejected { status, body, .. }) => {
                return Err(format!(
                    "steady-state {status} {}: {}",
                    body.kind, body.value
                ));
            }
            Err(e) => return Err(format!("steady-state transport: {e}")),
        }
        assert!(!unschedulable(&nodes.get("node-0").await.unwrap()));
        // The slot is kept until the gate passes; a gate that cannot read fails at its timeout
        // and halts the group with the reason.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = get(&base, "v1/status").await;
            if status != 200 {
                return Err(format!("/v1/status {status}: {body}"));
            }
            let s: fleetlock::Status = serde_json::from_str(&body).unwrap();
            let group = &s.groups[0];
            if let Some(halt) = &group.halt {
                return Err(format!("halted: {}", halt.reason));
            }
            if group.holders.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the gate never decided: {body}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The last Event (lock released) follows the release: give it a moment.
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(cluster.client_with_token("admin").unwrap(), "default");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let reasons: Vec<String> = events
                .list(&kube::api::ListParams::default())
                .await
                .map_err(|e| format!("listing events as admin: {e}"))?
                .items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("node-0"))
                .filter_map(|e| e.reason)
                .collect();
            if reasons.iter().any(|r| r == "LockReleased") || Instant::now() > deadline {
                return Ok(reasons);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    .await;
    server.stop().await;
    cluster.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_rules_suffice_for_a_full_cycle() {
    let rules = deploy_rules();
    let reasons = match cycle(&rules).await {
        Ok(reasons) => reasons,
        Err(e) => panic!("the cycle failed with exactly the rules of rbac.yaml: {e}"),
    };
    // The Events RBAC suffices: every phase of the cycle is on the Node.
    for reason in [
        "LockAcquired",
        "Draining",
        "Rebooting",
        "NodeBack",
        "Uncordoned",
        "HealthGatePassed",
        "LockReleased",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} missing: {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_is_needed_and_its_absence_is_named() {
    let rules = deploy_rules();
    let mut report = Vec::new();
    // A few clusters at a time: each cycle is short, and a missing rule must fail fast.
    for chunk in rules.chunks(4) {
        let mut runs = Vec::new();
        for removed in chunk {
            let without: Vec<(String, String)> =
                rules.iter().filter(|r| *r != removed).cloned().collect();
            let removed = removed.clone();
            runs.push(tokio::spawn(async move {
                let started = Instant::now();
                let outcome = tokio::time::timeout(Duration::from_secs(40), cycle(&without))
                    .await
                    .unwrap_or_else(|_| Err("HANG: no answer within 40 s".into()));
                (removed, outcome, started.elapsed())
            }));
        }
        for run in runs {
            let ((verb, resource), outcome, took) = run.await.unwrap();
            let optional = OPTIONAL
                .iter()
                .find(|(v, r, _)| *v == verb && *r == resource);
            match (optional, outcome) {
                (Some(_), Ok(_)) => report.push(format!("{verb} {resource}: optional, ok")),
                (Some((_, _, why)), Err(e)) => {
                    panic!("without {verb} {resource} ({why}) the cycle should still work: {e}")
                }
                (None, Ok(_)) => panic!(
                    "the cycle works without {verb} {resource}: drop it from rbac.yaml (least privilege)"
                ),
                (None, Err(e)) => {
                    let named = format!("cannot {verb} resource \"{resource}\"");
                    assert!(
                        e.contains(&named),
                        "without {verb} {resource} the failure must name it ({named}): {e}"
                    );
                    assert!(
                        took < Duration::from_secs(30),
                        "{verb} {resource}: took {took:?}"
                    );
                    report.push(format!("{verb} {resource}: {took:.1?}: {e}"));
                }
            }
        }
    }
    for line in &report {
        eprintln!("{line}");
    }
    assert_eq!(report.len(), rules.len());
}
