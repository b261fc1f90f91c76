//! [`Attempt`]: the record of one reboot attempt, kept in a Node annotation
//! ([`ATTEMPT_ANNOTATION`]); and [`node_boot`], the Node's current boot ID and readiness.

use std::fmt;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::GateError;
use crate::status::node_ready;

/// Node annotation holding the attempt (JSON). Deliberately **not** inside kured's lock JSON:
/// Go kured rewrites its whole lock annotation in multi-owner mode and drops fields it does
/// not know, so mixed fleets would lose it there.
pub const ATTEMPT_ANNOTATION: &str = "kured-rs.dev/reboot-attempt";

/// The field manager of the attempt patches.
const FIELD_MANAGER: &str = "kured-rs-gate";

/// What the gate needs to know about one reboot attempt, recorded on the Node when the lock is
/// taken (before the drain) and read back after the reboot (also by a restarted agent).
///
/// The JSON form (`bootID`, `started` in RFC 3339, `workloads`, `pdbs`) ignores unknown
/// fields and defaults missing lists, so later versions may add fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `status.nodeInfo.bootID` when the lock was taken: the node has rebooted once it differs.
    #[serde(rename = "bootID")]
    pub boot_id: String,
    /// When the attempt started (the lock was taken).
    pub started: Timestamp,
    /// Owners of the pods the drain will evict (a ReplicaSet owned by a Deployment is recorded
    /// as the Deployment), sorted, without duplicates.
    #[serde(default)]
    pub workloads: Vec<WorkloadRef>,
    /// PodDisruptionBudgets whose selector matched one of those pods, sorted, without
    /// duplicates.
    #[serde(default)]
    pub pdbs: Vec<ObjectRef>,
    /// When the reboot command ran (the agent records it just before running it): how
    /// others tell a node that is not back. `None` until then.
    #[serde(
        default,
        rename = "rebootingSince",
        skip_serializing_if = "Option::is_none"
    )]
    pub rebooting_since: Option<Timestamp>,
}

impl Attempt {
    /// An attempt with only its boot ID and start (no workloads or budgets to wait for: what
    /// is recorded without a health gate, so a restarted agent can still tell whether the node
    /// rebooted).
    pub fn new(boot_id: impl Into<String>, started: Timestamp) -> Self {
        Self {
            boot_id: boot_id.into(),
            started,
            workloads: Vec::new(),
            pdbs: Vec::new(),
            rebooting_since: None,
        }
    }
}

/// A workload whose replicas the gate waits for: `Deployment`, `StatefulSet` or `ReplicaSet`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// Its namespace.
    pub namespace: String,
    /// Its kind (`Deployment`, `StatefulSet`, `ReplicaSet`).
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// `deployment shop/web` (kind in lower case, as kubectl writes resources).
impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.kind.to_lowercase(),
            self.namespace,
            self.name
        )
    }
}

/// A namespaced object by name (here: a PodDisruptionBudget).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// `namespace/name`.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The Node's current boot ID and `Ready` condition: "did it reboot?" and "is it back?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBoot {
    /// `status.nodeInfo.bootID` (`None` when absent or empty).
    pub boot_id: Option<String>,
    /// Whether the `Ready` condition is `True`.
    pub ready: bool,
}

impl NodeBoot {
    /// What a Node object says.
    pub fn of(node: &Node) -> Self {
        Self {
            boot_id: boot_id(node),
            ready: node_ready(node),
        }
    }

    /// Whether the node booted since `attempt` was recorded (it reports a boot ID, and not the
    /// recorded one).
    pub fn rebooted_since(&self, attempt: &Attempt) -> bool {
        self.boot_id
            .as_deref()
            .is_some_and(|id| id != attempt.boot_id)
    }
}

/// `status.nodeInfo.bootID`, `None` when absent or empty.
pub(crate) fn boot_id(node: &Node) -> Option<String> {
    node.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.boot_id.clone())
        .filter(|id| !id.is_empty())
}

/// Reads `node` for its boot ID and readiness.
pub async fn node_boot(client: &kube::Client, node: &str) -> Result<NodeBoot, GateError> {
    let n = get_node(client, node).await?;
    Ok(NodeBoot::of(&n))
}

pub(crate) async fn get_node(client: &kube::Client, node: &str) -> Result<Node, GateError> {
    Api::<Node>::all(client.clone())
        .get(node)
        .await
        .map_err(|e| GateError::kube(format!("reading node {node}"), e))
}

/// Writes `attempt` into the node's [`ATTEMPT_ANNOTATION`] (a JSON merge patch: other
/// annotations are left alone).
pub async fn record_attempt(
    client: &kube::Client,
    node: &str,
    attempt: &Attempt,
) -> Result<(), GateError> {
    let value = serde_json::to_string(attempt).map_err(|e| GateError::BadAnnotation {
        node: node.to_string(),
        annotation: ATTEMPT_ANNOTATION,
        source: e,
    })?;
    patch_annotation(client, node, json!(value), "recording").await
}

/// Reads the node's [`ATTEMPT_ANNOTATION`]: `None` when absent; an annotation that does not
/// parse is a [`GateError::BadAnnotation`] naming it.
pub async fn read_attempt(client: &kube::Client, node: &str) -> Result<Option<Attempt>, GateError> {
    let n = get_node(client, node).await?;
    let Some(text) = n
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ATTEMPT_ANNOTATION))
    else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| GateError::BadAnnotation {
            node: node.to_string(),
            annotation: ATTEMPT_ANNOTATION,
            source: e,
        })
}

/// Removes the node's [`ATTEMPT_ANNOTATION`] (a no-op when absent).
pub async fn clear_attempt(client: &kube::Client, node: &str) -> Result<(), GateError> {
    patch_annotation(client, node, serde_json::Value::Null, "clearing").await
}

async fn patch_annotation(
    client: &kube::Client,
    node: &str,
    value: serde_json::Value,
    doing: &str,
) -> Result<(), GateError> {
    let patch = json!({"metadata": {"annotations": {ATTEMPT_ANNOTATION: value}}});
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .map(drop)
        .map_err(|e| {
            GateError::kube(
                format!("{doing} annotation {ATTEMPT_ANNOTATION} on node {node}"),
                e,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> Attempt {
        Attempt {
            boot_id: "b-1".into(),
            started: "2026-05-01T10:00:00Z".parse().unwrap(),
            workloads: vec![WorkloadRef {
                namespace: "shop".into(),
                kind: "Deployment".into(),
                name: "web".into(),
            }],
            pdbs: vec![ObjectRef {
                namespace: "shop".into(),
                name: "web-pdb".into(),
            }],
            rebooting_since: None,
        }
    }

    #[test]
    fn json_form_is_stable_and_tolerant() {
        let text = serde_json::to_string(&attempt()).unwrap();
        assert_eq!(
            text,
            r#"{"bootID":"b-1","started":"2026-05-01T10:00:00Z","workloads":[{"namespace":"shop","kind":"Deployment","name":"web"}],"pdbs":[{"namespace":"shop","name":"web-pdb"}]}"#
        );
        // Unknown fields (a later version) are ignored; missing lists default to empty.
        let later: Attempt = serde_json::from_str(
            r#"{"bootID":"b-2","started":"2026-05-01T10:00:00Z","failures":3}"#,
        )
        .unwrap();
        assert_eq!(later.boot_id, "b-2");
        assert_eq!(
            later,
            Attempt::new("b-2", "2026-05-01T10:00:00Z".parse().unwrap())
        );
        let mut rebooting = attempt();
        rebooting.rebooting_since = Some("2026-05-01T10:05:00Z".parse().unwrap());
        let text = serde_json::to_string(&rebooting).unwrap();
        assert!(
            text.ends_with(r#","rebootingSince":"2026-05-01T10:05:00Z"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Attempt>(&text).unwrap(), rebooting);
        // Without a boot ID it is not an attempt.
        assert!(serde_json::from_str::<Attempt>(r#"{"started":"2026-05-01T10:00:00Z"}"#).is_err());
    }

    #[test]
    fn rebooted_since_needs_a_different_boot_id() {
        let a = attempt();
        let boot = |id: Option<&str>| NodeBoot {
            boot_id: id.map(str::to_string),
            ready: true,
        };
        assert!(!boot(Some("b-1")).rebooted_since(&a));
        assert!(!boot(None).rebooted_since(&a));
        assert!(boot(Some("b-2")).rebooted_since(&a));
    }

    #[test]
    fn refs_display_as_kubectl_names() {
        let a = attempt();
        assert_eq!(a.workloads[0].to_string(), "deployment shop/web");
        assert_eq!(a.pdbs[0].to_string(), "shop/web-pdb");
    }
}
