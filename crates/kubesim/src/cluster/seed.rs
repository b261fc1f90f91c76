//! Seeding: the builder's nodes, namespaces, deployments (with their ReplicaSets, pods and
//! PDBs) and DaemonSets written straight into the store, pods built on all cores.

use std::sync::Arc;

use serde_json::{Value, json};

use super::spec::{DeploymentSeed, PdbSpec};
use crate::admission::admit_create;
use crate::controllers::daemonset::{daemonset_pod, daemonset_status, node_eligible};
use crate::controllers::kubelet::{new_node, running_status};
use crate::controllers::replicaset::{
    deployment_status, pod_from_template, replicaset_for, replicaset_status, set_binding,
};
use crate::controllers::{ControllerConfig, pdb};
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::resources::well_known::{
    DAEMONSETS, DEPLOYMENTS, NAMESPACES, NODES, PDBS, PODS, REPLICASETS,
};
use crate::store::Store;

/// Writes seeded objects straight into the store.
pub(crate) struct Seeder<'a> {
    store: &'a Store,
    nodes: Vec<Arc<Value>>,
    cursor: usize,
    namespaces: std::collections::BTreeSet<String>,
}

impl<'a> Seeder<'a> {
    /// A seeder writing into `store`.
    pub(crate) fn new(store: &'a Store) -> Self {
        Self {
            store,
            nodes: Vec::new(),
            cursor: 0,
            namespaces: std::collections::BTreeSet::new(),
        }
    }

    fn create(&self, rt: &'static ResourceType, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        admit_create(rt, &mut obj);
        self.store.create(rt, obj)
    }

    fn set_status(
        &self,
        rt: &'static ResourceType,
        obj: &Value,
        status: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let (ns, name) = crate::store::object_key(obj);
        let (o, _) = self.store.update(rt, &ns, &name, |cur| {
            let mut o = cur.clone();
            o["status"] = status;
            Ok(o)
        })?;
        Ok(o)
    }

    fn namespace(&mut self, name: &str) -> Result<(), ApiError> {
        if self.namespaces.insert(name.to_string()) {
            self.create(
                NAMESPACES,
                json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                       "spec": {"finalizers": ["kubernetes"]}}),
            )?;
        }
        Ok(())
    }

    /// Seeds the namespaces, the nodes, the deployments (plus `pods_per_node` one-replica-per-node
    /// `app-N` deployments) and the DaemonSets.
    pub(crate) fn seed(
        &mut self,
        node_names: &[String],
        deployments: &[DeploymentSeed],
        pods_per_node: usize,
        daemonsets: &[(String, String)],
    ) -> Result<(), ApiError> {
        for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
            self.namespace(ns)?;
        }
        for (i, name) in node_names.iter().enumerate() {
            let node = self.create(NODES, new_node(name, i))?;
            self.nodes.push(node);
        }
        let mut deployments = deployments.to_vec();
        for j in 0..pods_per_node {
            deployments.push(DeploymentSeed {
                namespace: "default".into(),
                name: format!("app-{j}"),
                replicas: node_names.len(),
                pdb: None,
            });
        }
        for d in &deployments {
            self.deployment(d)?;
        }
        for (ns, name) in daemonsets {
            self.daemonset(ns, name)?;
        }
        Ok(())
    }

    fn next_node(&mut self) -> Option<Arc<Value>> {
        if self.nodes.is_empty() {
            return None;
        }
        let n = self.nodes[self.cursor % self.nodes.len()].clone();
        self.cursor += 1;
        Some(n)
    }

    fn deployment(&mut self, d: &DeploymentSeed) -> Result<(), ApiError> {
        self.namespace(&d.namespace)?;
        let labels = json!({"app": d.name});
        let dep = self.create(
            DEPLOYMENTS,
            json!({
                "metadata": {"name": d.name, "namespace": d.namespace, "labels": labels},
                "spec": {
                    "replicas": d.replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": format!("registry.example/{}:1", d.name)}]},
                    },
                },
            }),
        )?;
        let rs = self.create(REPLICASETS, replicaset_for(&dep))?;
        let template = pod_from_template(&rs);
        let node_count = self.nodes.len();
        let placement: Vec<Option<Arc<Value>>> =
            (0..d.replicas).map(|_| self.next_node()).collect();
        let built = build_parallel(&placement, |node| {
            let mut pod = template.clone();
            if let Some(node) = node {
                set_binding(&mut pod, node["metadata"]["name"].as_str(), node_count);
                pod["status"] = running_status(&pod, node);
            } else {
                set_binding(&mut pod, None, 0);
            }
            pod
        });
        let mut pods = Vec::with_capacity(d.replicas);
        for pod in built {
            pods.push(self.store.create(PODS, pod)?);
        }
        let refs: Vec<&Value> = pods.iter().map(AsRef::as_ref).collect();
        let rs = self.set_status(REPLICASETS, &rs, replicaset_status(&rs, &refs))?;
        let rs_name = rs["metadata"]["name"].as_str().map(str::to_string);
        self.set_status(
            DEPLOYMENTS,
            &dep,
            deployment_status(&dep, &[&rs], rs_name.as_deref()),
        )?;
        if let Some(budget) = d.pdb {
            let mut spec = json!({"selector": {"matchLabels": labels}});
            match budget {
                PdbSpec::MinAvailable(v) => spec["minAvailable"] = v.to_json(),
                PdbSpec::MaxUnavailable(v) => spec["maxUnavailable"] = v.to_json(),
            }
            let pdb = self.create(
                PDBS,
                json!({"metadata": {"name": format!("{}-pdb", d.name), "namespace": d.namespace}, "spec": spec}),
            )?;
            let (status, _) = pdb::compute_status(
                self.store,
                &pdb,
                &refs,
                ControllerConfig::default().disrupted_pod_timeout,
            );
            self.set_status(PDBS, &pdb, status)?;
        }
        Ok(())
    }

    fn daemonset(&mut self, ns: &str, name: &str) -> Result<(), ApiError> {
        self.namespace(ns)?;
        let labels = json!({"name": name});
        let ds = self.create(
            DAEMONSETS,
            json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": name, "image": format!("registry.example/{name}:1")}]},
                    },
                },
            }),
        )?;
        let mut desired = 0;
        for node in &self.nodes {
            if !node_eligible(&ds, node) {
                continue;
            }
            desired += 1;
            let mut pod = daemonset_pod(&ds, node["metadata"]["name"].as_str().unwrap_or_default());
            pod["status"] = running_status(&pod, node);
            self.store.create(PODS, pod)?;
        }
        self.set_status(
            DAEMONSETS,
            &ds,
            daemonset_status(&ds, desired, desired, desired, 0),
        )?;
        Ok(())
    }
}

/// Maps `f` over `items` on all cores (seeding 50,000 pods is mostly building their JSON),
/// keeping the order.
fn build_parallel<T: Sync, F: Fn(&T) -> Value + Sync>(items: &[T], f: F) -> Vec<Value> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < 1_000 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(|| c.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
