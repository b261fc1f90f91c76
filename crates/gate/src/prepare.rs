//! [`prepare_attempt`]: what a reboot of a node is about to disturb, read before the drain.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};

use crate::attempt::{boot_id, get_node};
use crate::{Attempt, GateError, ObjectRef, WorkloadRef};

/// The workload kinds whose replicas the gate can count.
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "ReplicaSet"];

/// Reads the Node and the pods on it and builds the attempt: the node's boot ID, the owners of
/// the pods a drain will evict, and the PodDisruptionBudgets covering those pods. Called right
/// after the lock is taken, before the drain; `now` becomes [`Attempt::started`].
///
/// The pods counted are those a drain evicts: not managed by a DaemonSet, not mirror pods, not
/// finished (`Succeeded`/`Failed`). Their controller is recorded when it is a `Deployment`,
/// `StatefulSet` or `ReplicaSet` (a ReplicaSet owned by a Deployment as the Deployment; one
/// that no longer exists is left out); pods of other controllers (Jobs, operators' custom
/// resources) and bare pods add only the PDBs covering them. A PDB covers a pod when it is in
/// the pod's namespace and its selector matches the pod's labels (a PDB without a selector
/// matches nothing, as in `policy/v1`).
///
/// A node that reports no boot ID is a [`GateError::NoBootId`]: its reboot could not be
/// verified.
pub async fn prepare_attempt(
    client: &kube::Client,
    node: &str,
    now: Timestamp,
) -> Result<Attempt, GateError> {
    let n = get_node(client, node).await?;
    let boot_id = boot_id(&n).ok_or_else(|| GateError::NoBootId {
        node: node.to_string(),
    })?;
    let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods: Vec<Pod> = Api::<Pod>::all(client.clone())
        .list(&on_node)
        .await
        .map_err(|e| GateError::kube(format!("listing the pods on node {node}"), e))?
        .items
        .into_iter()
        .filter(|p| {
            !drain::select::is_finished(p)
                && !drain::select::is_mirror(p)
                && drain::select::daemonset_owner(p).is_none()
        })
        .collect();

    let mut owners = Owners::new(client);
    let mut workloads = BTreeSet::new();
    for pod in &pods {
        if let Some(w) = owners.workload_of(pod).await? {
            workloads.insert(w);
        }
    }

    let pdbs = covering_pdbs(client, &pods).await?;
    Ok(Attempt {
        boot_id,
        started: now,
        workloads: workloads.into_iter().collect(),
        pdbs,
        rebooting_since: None,
    })
}

/// Resolves pods to their workloads, looking each ReplicaSet up once.
struct Owners<'a> {
    client: &'a kube::Client,
    /// `(namespace, replicaset)` → the workload it stands for (`None`: it is gone).
    replicasets: BTreeMap<(String, String), Option<WorkloadRef>>,
}

impl<'a> Owners<'a> {
    fn new(client: &'a kube::Client) -> Self {
        Self {
            client,
            replicasets: BTreeMap::new(),
        }
    }

    /// The workload controlling `pod`, if it is one the gate can count.
    async fn workload_of(&mut self, pod: &Pod) -> Result<Option<WorkloadRef>, GateError> {
        let Some(owner) = drain::select::controller_of(pod) else {
            return Ok(None);
        };
        if !WORKLOAD_KINDS.contains(&owner.kind.as_str()) {
            return Ok(None);
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        if owner.kind != "ReplicaSet" {
            return Ok(Some(WorkloadRef {
                namespace,
                kind: owner.kind.clone(),
                name: owner.name.clone(),
            }));
        }
        let key = (namespace, owner.name.clone());
        if let Some(known) = self.replicasets.get(&key) {
            return Ok(known.clone());
        }
        let resolved = self.resolve_replicaset(&key.0, &key.1).await?;
        self.replicasets.insert(key, resolved.clone());
        Ok(resolved)
    }

    /// A ReplicaSet's Deployment (when a Deployment controls it), else the ReplicaSet itself;
    /// `None` when the ReplicaSet is gone.
    async fn resolve_replicaset(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<WorkloadRef>, GateError> {
        let rs = Api::<ReplicaSet>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| GateError::kube(format!("reading replicaset {namespace}/{name}"), e))?;
        let Some(rs) = rs else {
            return Ok(None);
        };
        let deployment = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true) && o.kind == "Deployment");
        Ok(Some(match deployment {
            Some(d) => WorkloadRef {
                namespace: namespace.to_string(),
                kind: "Deployment".into(),
                name: d.name.clone(),
            },
            None => WorkloadRef {
                namespace: namespace.to_string(),
                kind: "ReplicaSet".into(),
                name: name.to_string(),
            },
        }))
    }
}

/// The PDBs (in the pods' namespaces) whose selector matches one of `pods`, sorted.
async fn covering_pdbs(client: &kube::Client, pods: &[Pod]) -> Result<Vec<ObjectRef>, GateError> {
    let mut by_namespace: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        by_namespace.entry(ns).or_default().push(pod);
    }
    let mut found = BTreeSet::new();
    let no_labels = BTreeMap::new();
    for (namespace, pods) in by_namespace {
        let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), &namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                GateError::kube(
                    format!("listing the poddisruptionbudgets in namespace {namespace}"),
                    e,
                )
            })?;
        for pdb in pdbs.items {
            // policy/v1: a missing selector selects no pods.
            let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                continue;
            };
            let covers = pods.iter().any(|p| {
                let labels = p.metadata.labels.as_ref().unwrap_or(&no_labels);
                drain::select::selector_matches(Some(selector), labels)
            });
            if covers {
                found.insert(ObjectRef {
                    namespace: namespace.clone(),
                    name: pdb.metadata.name.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(found.into_iter().collect())
}
