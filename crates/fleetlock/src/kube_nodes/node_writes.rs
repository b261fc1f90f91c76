//! Reads and compare-and-swap writes of a Node: every write of our marks, the cordon and the
//! drain record is one JSON merge patch carrying the resourceVersion it was computed from, so
//! the API server refuses it (409) when the node changed since.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams};

use super::node_handler::{NodeError, api_message};

/// Annotation changes: `Some(value)` sets, `None` removes.
pub(super) type AnnotationPatch = BTreeMap<String, Option<String>>;

/// The node, or `None` if it does not exist.
pub(super) async fn read(nodes: &Api<Node>, node: &str) -> Result<Option<Node>, NodeError> {
    nodes
        .get_opt(node)
        .await
        .map_err(|e| NodeError::Api(api_message(&e)))
}

/// The node's metadata only (what the marks and the drain record need; a much smaller
/// answer), or `None` if it does not exist.
pub(super) async fn read_meta(
    nodes: &Api<Node>,
    node: &str,
) -> Result<Option<ObjectMeta>, NodeError> {
    nodes
        .get_metadata_opt(node)
        .await
        .map(|m| m.map(|m| m.metadata))
        .map_err(|e| NodeError::Api(api_message(&e)))
}

/// Applies `annotations` (and `spec.unschedulable` when given) if the node is still at the
/// resourceVersion of `read`. `Ok(false)`: someone wrote the node since (or deleted it); read
/// it again and decide again.
pub(super) async fn patch_if_unchanged(
    nodes: &Api<Node>,
    read: &ObjectMeta,
    annotations: &AnnotationPatch,
    unschedulable: Option<bool>,
) -> Result<bool, NodeError> {
    let name = read.name.as_deref().unwrap_or_default();
    let mut body = serde_json::json!({
        "metadata": {
            "resourceVersion": read.resource_version,
            "annotations": annotations,
        }
    });
    if let Some(unschedulable) = unschedulable {
        body["spec"] = serde_json::json!({ "unschedulable": unschedulable });
    }
    match nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(body))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if matches!(s.code, 409 | 404) => Ok(false),
        Err(e) => Err(NodeError::Api(api_message(&e))),
    }
}

/// The value of annotation `key` in `meta`.
pub(super) fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}
