//! What the gate reads from objects: readiness of Nodes and pods, which pods count.

use k8s_openapi::api::core::v1::{Node, Pod};

/// Whether the Node's `Ready` condition is `True`.
pub(crate) fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Whether the pod's `Ready` condition is `True`.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Whether a pod should be Ready for the gate to pass: not finished (`Succeeded`/`Failed`)
/// and not terminating (a terminating pod is on its way out; its replacement is what counts).
pub(crate) fn expected_ready(pod: &Pod) -> bool {
    !drain::select::is_finished(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// `namespace` and `name` of an object's metadata (empty when absent).
pub(crate) fn ns_name(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn readiness_comes_from_the_ready_condition() {
        let ready = pod(json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}}));
        let unready = pod(json!({"status": {"phase": "Running",
            "conditions": [{"type": "ContainersReady", "status": "True"},
                           {"type": "Ready", "status": "False"}]}}));
        assert!(pod_ready(&ready));
        assert!(!pod_ready(&unready));
        assert!(!pod_ready(&pod(json!({}))));
        let node: Node = serde_json::from_value(
            json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        )
        .unwrap();
        assert!(!node_ready(&node));
    }

    #[test]
    fn finished_and_terminating_pods_are_not_expected_ready() {
        assert!(expected_ready(&pod(
            json!({"status": {"phase": "Pending"}})
        )));
        assert!(!expected_ready(&pod(
            json!({"status": {"phase": "Succeeded"}})
        )));
        assert!(!expected_ready(&pod(
            json!({"status": {"phase": "Failed"}})
        )));
        assert!(!expected_ready(&pod(json!({
            "metadata": {"deletionTimestamp": "2026-05-01T10:00:00Z"},
            "status": {"phase": "Running"}}))));
    }
}
