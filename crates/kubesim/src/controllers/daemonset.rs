//! The DaemonSet controller: one pod per eligible node.
//!
//! A node is eligible when the template's `nodeSelector` matches it and the pod (with the
//! DaemonSet tolerations the real controller adds: not-ready, unreachable, disk/memory/pid
//! pressure, unschedulable) tolerates its `NoSchedule`/`NoExecute` taints — so cordoned nodes
//! keep their DaemonSet pods, as in a real cluster. Pods are pinned with
//! `spec.affinity.nodeAffinity` (`matchFields metadata.name In [node]`, compare the fixture
//! `pod-owned-by-daemonset.json`) and bound at once. A node whose pod is terminating gets a new
//! one when the old one is gone. Status: desired/current/ready/available/updated counts and
//! `observedGeneration`.

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::config::ControllerConfig;
use super::objects::{
    ObjKey, controller_ref, generation, is_active, is_controlled_by, key_of, meta_str, pod_ready,
};
use super::reconciler::{Queue, Reconciler};
use super::replicaset::{pod_skeleton, set_binding};
use super::sched::{node_selector_matches, tolerates_node_taints};
use crate::admission::admit_create;
use crate::deletion::{DeleteOptions, delete_object};
use crate::resources::well_known::{DAEMONSETS, NODES, PODS};
use crate::store::{Event, EventType, Store};

/// The tolerations the DaemonSet controller adds to every pod (fixture order).
fn daemonset_tolerations() -> Vec<Value> {
    let mut v = Vec::new();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        v.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    v
}

/// The template's pod spec with the DaemonSet tolerations added.
fn spec_with_tolerations(template_spec: &Value) -> Value {
    let mut spec = template_spec.clone();
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    for t in daemonset_tolerations() {
        if !tolerations
            .iter()
            .any(|x| x["key"] == t["key"] && x["effect"] == t["effect"])
        {
            tolerations.push(t);
        }
    }
    spec["tolerations"] = Value::Array(tolerations);
    spec
}

/// Whether the DaemonSet wants a pod on `node`.
pub fn node_eligible(ds: &Value, node: &Value) -> bool {
    let spec = spec_with_tolerations(&ds["spec"]["template"]["spec"]);
    eligible_for(&spec, node)
}

/// [`node_eligible`] for a pod spec already carrying the DaemonSet tolerations (computed once
/// per reconcile, not once per node).
fn eligible_for(pod_spec: &Value, node: &Value) -> bool {
    node_selector_matches(pod_spec, node) && tolerates_node_taints(pod_spec, node)
}

/// The taints that can change which nodes a DaemonSet pod may run on (`PreferNoSchedule` is
/// only a preference of the scheduler).
fn placement_taints(node: &Value) -> Vec<&Value> {
    node["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| t["effect"] != "PreferNoSchedule")
                .collect()
        })
        .unwrap_or_default()
}

/// The DaemonSet's pod for `node`: template labels plus `controller-revision-hash` and
/// `pod-template-generation`, DaemonSet tolerations, node affinity to `node`, admission
/// defaults, bound to `node`.
pub fn daemonset_pod(ds: &Value, node: &str) -> Value {
    let mut pod = pod_skeleton(ds);
    pod["spec"] = spec_with_tolerations(&ds["spec"]["template"]["spec"]);
    let labels = &mut pod["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["controller-revision-hash"] =
        json!(super::objects::template_hash(&ds["spec"]["template"]));
    labels["pod-template-generation"] = json!(generation(ds).max(1).to_string());
    let mut affinity = pod["spec"]["affinity"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut node_affinity = affinity
        .get("nodeAffinity")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    node_affinity.insert(
        "requiredDuringSchedulingIgnoredDuringExecution".into(),
        json!({"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}
        ]}]}),
    );
    affinity.insert("nodeAffinity".into(), Value::Object(node_affinity));
    pod["spec"]["affinity"] = Value::Object(affinity);
    admit_create(PODS, &mut pod);
    set_binding(&mut pod, Some(node), 1);
    pod
}

/// DaemonSet status (field order as the real controller writes it).
pub fn daemonset_status(
    ds: &Value,
    desired: usize,
    current: usize,
    ready: usize,
    misscheduled: usize,
) -> Value {
    let mut s = Map::new();
    s.insert("currentNumberScheduled".into(), json!(current));
    s.insert("numberMisscheduled".into(), json!(misscheduled));
    s.insert("desiredNumberScheduled".into(), json!(desired));
    s.insert("numberReady".into(), json!(ready));
    s.insert("observedGeneration".into(), json!(generation(ds)));
    // `omitempty` in the real type: absent while no pod is scheduled.
    if current > 0 {
        s.insert("updatedNumberScheduled".into(), json!(current));
    }
    if ready > 0 {
        s.insert("numberAvailable".into(), json!(ready));
    }
    if desired > ready {
        s.insert("numberUnavailable".into(), json!(desired - ready));
    }
    Value::Object(s)
}

/// The DaemonSet controller.
pub(crate) struct DaemonSetController;

impl DaemonSetController {
    pub(crate) fn new(_config: &ControllerConfig) -> Self {
        Self
    }
}

impl Reconciler for DaemonSetController {
    type Key = ObjKey;

    fn resync(&mut self, store: &Store, queue: &mut Queue<ObjKey>) {
        for ds in &store.list(DAEMONSETS, None, |_| true).0 {
            queue.dirty(key_of(ds));
        }
    }

    fn on_event(&mut self, store: &Store, event: &Event, queue: &mut Queue<ObjKey>) {
        let obj = &event.object;
        if super::objects::same(event.resource, DAEMONSETS) {
            // Its own status writes and annotation changes (e.g. kured's lock) change nothing
            // it decides; reconciling them would cost a pass over every node per lock write.
            let relevant = match (&event.previous, event.kind) {
                (Some(prev), EventType::Modified) => {
                    prev["spec"] != obj["spec"]
                        || prev["metadata"]["deletionTimestamp"]
                            != obj["metadata"]["deletionTimestamp"]
                }
                _ => true,
            };
            if relevant {
                queue.dirty(key_of(obj));
            }
        } else if super::objects::same(event.resource, PODS) {
            if let Some((kind, name, _)) = controller_ref(obj)
                && kind == "DaemonSet"
            {
                queue.dirty((meta_str(obj, "namespace").to_string(), name.to_string()));
            }
        } else if super::objects::same(event.resource, NODES) {
            let relevant = match (&event.previous, event.kind) {
                (Some(prev), EventType::Modified) => {
                    prev["metadata"]["labels"] != obj["metadata"]["labels"]
                        || placement_taints(prev) != placement_taints(obj)
                }
                _ => true,
            };
            if relevant {
                self.resync(store, queue);
            }
        }
    }

    fn reconcile(&mut self, store: &Store, key: &ObjKey, _queue: &mut Queue<ObjKey>) {
        let (ns, name) = key;
        let Some(ds) = store.get(DAEMONSETS, ns, name) else {
            let (orphans, _) = store.list(PODS, Some(ns), |p| {
                controller_ref(p).is_some_and(|(k, n, _)| k == "DaemonSet" && n == name)
                    && !super::objects::is_terminating(p)
            });
            for p in &orphans {
                let (pns, pname) = key_of(p);
                let _ = delete_object(store, PODS, &pns, &pname, &DeleteOptions::default());
            }
            return;
        };
        let uid = meta_str(&ds, "uid").to_string();
        let (nodes, _) = store.list(NODES, None, |_| true);
        let mut changed = false;
        let (pods, _) = store.list(PODS, Some(ns), |p| is_controlled_by(p, &uid));
        let mut by_node: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
        for p in &pods {
            by_node
                .entry(p["spec"]["nodeName"].as_str().unwrap_or_default())
                .or_default()
                .push(p);
        }
        let mut eligible = std::collections::HashSet::new();
        let pod_spec = spec_with_tolerations(&ds["spec"]["template"]["spec"]);
        for node in &nodes {
            if !eligible_for(&pod_spec, node) {
                continue;
            }
            let node_name = meta_str(node, "name");
            eligible.insert(node_name);
            match by_node.get(node_name) {
                None => {
                    changed |= store.create(PODS, daemonset_pod(&ds, node_name)).is_ok();
                }
                Some(ps) => {
                    for extra in ps.iter().filter(|p| is_active(p)).skip(1) {
                        let (pns, pname) = key_of(extra);
                        changed |=
                            delete_object(store, PODS, &pns, &pname, &DeleteOptions::default())
                                .is_ok();
                    }
                }
            }
        }
        let mut misscheduled = 0;
        for (node_name, ps) in &by_node {
            if eligible.contains(node_name) {
                continue;
            }
            misscheduled += 1;
            for p in ps.iter().filter(|p| is_active(p)) {
                let (pns, pname) = key_of(p);
                changed |=
                    delete_object(store, PODS, &pns, &pname, &DeleteOptions::default()).is_ok();
            }
        }
        let pods = if changed {
            store.list(PODS, Some(ns), |p| is_controlled_by(p, &uid)).0
        } else {
            pods
        };
        let mut current = 0;
        let mut ready = 0;
        let mut seen = std::collections::HashSet::new();
        for p in pods.iter().filter(|p| is_active(p)) {
            let n = p["spec"]["nodeName"].as_str().unwrap_or_default();
            if eligible.contains(n) && seen.insert(n.to_string()) {
                current += 1;
                if pod_ready(p) {
                    ready += 1;
                }
            }
        }
        let status = daemonset_status(&ds, eligible.len(), current, ready, misscheduled);
        let _ = store.update(DAEMONSETS, ns, name, |cur| {
            let mut o = cur.clone();
            o["status"] = status;
            Ok(o)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_pod_matches_the_fixture_shape() {
        let ds = json!({"apiVersion":"apps/v1","kind":"DaemonSet",
            "metadata":{"name":"kured","namespace":"kube-system","uid":"u","generation":1},
            "spec":{"selector":{"matchLabels":{"name":"kured"}},
                "template":{"metadata":{"labels":{"name":"kured"}},"spec":{"containers":[{"name":"kured","image":"k:1"}]}}}});
        let pod = daemonset_pod(&ds, "node-a");
        assert_eq!(pod["spec"]["nodeName"], "node-a");
        assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
        assert_eq!(
            pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
            "node-a"
        );
        let tols = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tols.len(), 6);
        assert!(tols.iter().all(|t| t.get("tolerationSeconds").is_none()));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        let cordoned = json!({"metadata":{"name":"n"},"spec":{"unschedulable":true,
            "taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]}});
        assert!(node_eligible(&ds, &cordoned));
        let tainted =
            json!({"metadata":{"name":"n"},"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]}});
        assert!(!node_eligible(&ds, &tainted));
    }

    #[test]
    fn status_omits_updated_number_scheduled_while_it_is_zero() {
        let ds = json!({"metadata":{"generation":1}});
        let fresh = daemonset_status(&ds, 2, 0, 0, 0);
        assert!(fresh.get("updatedNumberScheduled").is_none());
        assert_eq!(fresh["numberUnavailable"], 2);
        assert_eq!(
            daemonset_status(&ds, 2, 2, 2, 0)["updatedNumberScheduled"],
            2
        );
    }
}
