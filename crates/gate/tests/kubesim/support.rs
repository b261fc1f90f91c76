//! Seeding and small builders shared by the scenarios.

use std::time::Duration;

use gate::{Attempt, GateConfig, HealthGate, ObjectRef, WorkloadRef};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesim::cluster::RunningCluster;
use kubesim::resources::well_known::PODS;
use serde_json::json;

/// A pod straight into the store, bound to `node`, with this metadata.
pub(crate) fn seed_pod(
    cluster: &RunningCluster,
    node: &str,
    metadata: &serde_json::Value,
    phase: &str,
) {
    cluster
        .store()
        .create(
            PODS,
            json!({
                "metadata": metadata,
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/c:1"}]},
                "status": {"phase": phase},
            }),
        )
        .unwrap();
}

/// `ownerReferences` naming a controller.
pub(crate) fn controller(api_version: &str, kind: &str, name: &str) -> serde_json::Value {
    json!([{
        "apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"),
        "controller": true, "blockOwnerDeletion": true,
    }])
}

pub(crate) async fn create_pdb(
    client: &kube::Client,
    ns: &str,
    name: &str,
    selector: Option<serde_json::Value>,
) {
    let mut spec = json!({"minAvailable": 1});
    if let Some(s) = selector {
        spec["selector"] = s;
    }
    let pdb: PodDisruptionBudget =
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
            .unwrap();
    Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pdb)
        .await
        .unwrap();
}

pub(crate) async fn annotate(
    client: &kube::Client,
    node: &str,
    key: &str,
    value: serde_json::Value,
) {
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .unwrap();
}

pub(crate) async fn annotations(
    client: &kube::Client,
    node: &str,
) -> std::collections::BTreeMap<String, String> {
    Api::<Node>::all(client.clone())
        .get(node)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
}

pub(crate) fn gate(cluster: &RunningCluster, timeout: Duration, poll: Duration) -> HealthGate {
    HealthGate::for_client(
        cluster.client().unwrap(),
        GateConfig {
            timeout,
            poll,
            ..GateConfig::default()
        },
    )
    .unwrap()
}

/// An attempt whose boot ID the node no longer reports: as if it had rebooted since.
pub(crate) fn rebooted(mut attempt: Attempt) -> Attempt {
    attempt.boot_id = "a-boot-before-the-reboot".into();
    attempt
}

pub(crate) fn workload(ns: &str, kind: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: ns.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

pub(crate) fn object(ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        namespace: ns.into(),
        name: name.into(),
    }
}
