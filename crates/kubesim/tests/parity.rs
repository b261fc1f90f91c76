//! kubesim answers as a real kube-apiserver v1.36 with its controller-manager (issue 17,
//! item 7), through kube-rs: the validation the real server does, and the controllers' writes
//! right after a create that make the creation resourceVersion stale (409 on an update that
//! carries it).

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{Api, PostParams};
use kubesim::cluster::Cluster;
use serde_json::json;

fn status_of(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason, s.message),
        other => panic!("expected an API error, got {other}"),
    }
}

fn daemonset(selector_name: &str, label_name: &str) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": "kured", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"name": selector_name}},
            "template": {"metadata": {"labels": {"name": label_name}},
                "spec": {"containers": [{"name": "kured", "image": "example.invalid/kured:1"}]}}}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_the_real_server_rejects_are_422() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let client = cluster.client().unwrap();
    let pp = PostParams::default();

    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let (code, reason, message) = status_of(
        dss.create(&pp, &daemonset("kured", "other"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        "DaemonSet.apps \"kured\" is invalid: spec.template.metadata.labels: Invalid value: {\"name\":\"other\"}: `selector` does not match template `labels`"
    );

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(
        json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": -5}}),
    )
    .unwrap();
    let (code, _, message) = status_of(leases.create(&pp, &lease).await.unwrap_err());
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Lease.coordination.k8s.io \"l\" is invalid: spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0"
    );

    let events: Api<Event> = Api::namespaced(client.clone(), "evfx");
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "node-0.reboot"},
        "involvedObject": {"kind": "Node", "name": "node-0", "uid": "node-0"},
        "reason": "Rebooting", "message": "m", "type": "Normal"
    }))
    .unwrap();
    let (code, _, message) = status_of(events.create(&pp, &event).await.unwrap_err());
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Event \"node-0.reboot\" is invalid: involvedObject.namespace: Invalid value: \"\": does not match event.namespace"
    );
    let in_default: Api<Event> = Api::namespaced(client, "default");
    in_default.create(&pp, &event).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_the_creation_resource_version_conflicts() {
    let cluster = Cluster::builder().nodes(1).start().await.unwrap();
    let client = cluster.client().unwrap();
    let pp = PostParams::default();

    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "new-node"}})).unwrap();
    let created = nodes.create(&pp, &node).await.unwrap();
    let (code, reason, _) = status_of(nodes.replace("new-node", &pp, &created).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let current = nodes.get("new-node").await.unwrap();
    assert_eq!(
        current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("node.alpha.kubernetes.io/ttl"))
            .map(String::as_str),
        Some("0")
    );
    nodes.replace("new-node", &pp, &current).await.unwrap();

    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let created = dss.create(&pp, &daemonset("kured", "kured")).await.unwrap();
    let (code, _, _) = status_of(dss.replace("kured", &pp, &created).await.unwrap_err());
    assert_eq!(code, 409);
    let status = dss.get("kured").await.unwrap().status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_after_create_writes_can_be_switched_off_per_cluster() {
    let cluster = Cluster::builder()
        .nodes(1)
        .controller_writes_after_create(false)
        .controllers(false)
        .start()
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(cluster.client().unwrap());
    let pp = PostParams::default();
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "quiet"}})).unwrap();
    let created = nodes.create(&pp, &node).await.unwrap();
    nodes.replace("quiet", &pp, &created).await.unwrap();
    cluster.shutdown().await;
}
