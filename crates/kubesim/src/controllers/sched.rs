//! "Pick a schedulable node": the part of kube-scheduler the simulation needs (the issue puts
//! real scheduling out of scope).
//!
//! A node fits a pod when it is Ready, not cordoned (`spec.unschedulable`), every `NoSchedule` /
//! `NoExecute` taint is tolerated by the pod, and the pod's `spec.nodeSelector` matches the
//! node's labels. Among fitting nodes the one with the fewest (active) pods wins, ties broken by
//! name, which spreads replicas.

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::objects::{is_active, node_ready};
use crate::resources::well_known::{NODES, PODS};
use crate::store::Store;

/// Whether one toleration tolerates one taint (the core/v1 `Toleration.ToleratesTaint` rules).
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let t_effect = toleration["effect"].as_str().unwrap_or_default();
    if !t_effect.is_empty() && Some(t_effect) != taint["effect"].as_str() {
        return false;
    }
    let t_key = toleration["key"].as_str().unwrap_or_default();
    let op = toleration["operator"].as_str().unwrap_or("Equal");
    if t_key.is_empty() {
        return op == "Exists";
    }
    if Some(t_key) != taint["key"].as_str() {
        return false;
    }
    match op {
        "Exists" => true,
        _ => {
            toleration["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default()
        }
    }
}

/// Whether every scheduling-relevant (`NoSchedule`, `NoExecute`) taint of `node` is tolerated
/// by `pod_spec.tolerations`.
pub fn tolerates_node_taints(pod_spec: &Value, node: &Value) -> bool {
    let empty = Vec::new();
    let tolerations = pod_spec["tolerations"].as_array().unwrap_or(&empty);
    node["spec"]["taints"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .all(|taint| {
            !matches!(taint["effect"].as_str(), Some("NoSchedule" | "NoExecute"))
                || tolerations.iter().any(|t| tolerates(t, taint))
        })
}

/// Whether `pod_spec.nodeSelector` matches the node's labels.
pub fn node_selector_matches(pod_spec: &Value, node: &Value) -> bool {
    let Some(sel) = pod_spec["nodeSelector"].as_object() else {
        return true;
    };
    sel.iter()
        .all(|(k, v)| node["metadata"]["labels"].get(k).is_some_and(|l| l == v))
}

/// Whether a pod with this spec may be placed on `node` now.
pub fn fits(pod_spec: &Value, node: &Value) -> bool {
    node_ready(node)
        && node["spec"]["unschedulable"].as_bool() != Some(true)
        && tolerates_node_taints(pod_spec, node)
        && node_selector_matches(pod_spec, node)
}

/// Nodes and their active pod counts, for a batch of placements.
#[derive(Debug, Default)]
pub struct Placement {
    nodes: Vec<Arc<Value>>,
    counts: HashMap<String, usize>,
}

impl Placement {
    /// Snapshot of the nodes and of how many active pods each one runs.
    pub fn snapshot(store: &Store) -> Self {
        let (nodes, _) = store.list(NODES, None, |_| true);
        let mut counts: HashMap<String, usize> = HashMap::with_capacity(nodes.len());
        let (pods, _) = store.list(PODS, None, |p| {
            p["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
                && is_active(p)
        });
        for p in &pods {
            if let Some(n) = p["spec"]["nodeName"].as_str() {
                *counts.entry(n.to_string()).or_default() += 1;
            }
        }
        Self { nodes, counts }
    }

    /// The fitting node with the fewest pods (ties: first by name), counted as used.
    pub fn pick(&mut self, pod_spec: &Value) -> Option<String> {
        let best = self
            .nodes
            .iter()
            .filter(|n| fits(pod_spec, n))
            .map(|n| n["metadata"]["name"].as_str().unwrap_or_default())
            .min_by_key(|name| self.counts.get(*name).copied().unwrap_or(0))?
            .to_string();
        *self.counts.entry(best.clone()).or_default() += 1;
        Some(best)
    }

    /// As [`Self::pick`], but the chosen node is checked against its current state in `store`
    /// first (the snapshot is taken once per batch, and a node may have been cordoned by an
    /// API request since): a node that no longer fits is refreshed in the snapshot and another
    /// one is picked. Without this, a replacement pod could be bound to a node that a drain
    /// had just cordoned and listed, and went down with its reboot.
    pub fn pick_current(&mut self, store: &Store, pod_spec: &Value) -> Option<String> {
        loop {
            let name = self.pick(pod_spec)?;
            match store.get(NODES, "", &name) {
                Some(node) if fits(pod_spec, &node) => return Some(name),
                current => {
                    self.release(&name);
                    let pos = self
                        .nodes
                        .iter()
                        .position(|n| n["metadata"]["name"].as_str() == Some(name.as_str()));
                    match (pos, current) {
                        (Some(i), Some(node)) => self.nodes[i] = node,
                        (Some(i), None) => {
                            self.nodes.remove(i);
                        }
                        // Not in the snapshot: pick cannot have returned it.
                        (None, _) => return None,
                    }
                }
            }
        }
    }

    /// How many nodes exist.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Records that a pod left `node`.
    pub fn release(&mut self, node: &str) {
        if let Some(c) = self.counts.get_mut(node) {
            *c = c.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn toleration_rules() {
        let taint = json!({"key":"k","value":"v","effect":"NoSchedule"});
        assert!(tolerates(&json!({"operator":"Exists"}), &taint));
        assert!(tolerates(&json!({"key":"k","operator":"Exists"}), &taint));
        assert!(tolerates(&json!({"key":"k","value":"v"}), &taint));
        assert!(!tolerates(&json!({"key":"k","value":"w"}), &taint));
        assert!(!tolerates(
            &json!({"key":"k","operator":"Exists","effect":"NoExecute"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"key":"other","operator":"Exists"}),
            &taint
        ));
    }

    #[test]
    fn fits_checks_cordon_taints_readiness_and_selector() {
        let ready = json!([{"type":"Ready","status":"True"}]);
        let node = json!({"metadata":{"name":"n","labels":{"zone":"a"}},"spec":{},"status":{"conditions":ready}});
        let spec = json!({});
        assert!(fits(&spec, &node));
        let mut cordoned = node.clone();
        cordoned["spec"]["unschedulable"] = json!(true);
        assert!(!fits(&spec, &cordoned));
        let mut tainted = node.clone();
        tainted["spec"]["taints"] =
            json!([{"key":"x","effect":"NoSchedule"},{"key":"y","effect":"PreferNoSchedule"}]);
        assert!(!fits(&spec, &tainted));
        assert!(fits(
            &json!({"tolerations":[{"key":"x","operator":"Exists"}]}),
            &tainted
        ));
        let mut not_ready = node.clone();
        not_ready["status"]["conditions"][0]["status"] = json!("False");
        assert!(!fits(&spec, &not_ready));
        assert!(fits(&json!({"nodeSelector":{"zone":"a"}}), &node));
        assert!(!fits(&json!({"nodeSelector":{"zone":"b"}}), &node));
    }

    #[test]
    fn pick_current_skips_a_node_cordoned_since_the_snapshot() {
        let store = Store::new(crate::store::StoreConfig::default());
        let ready = json!([{"type":"Ready","status":"True"}]);
        for n in ["a", "b"] {
            store
                .create(
                    NODES,
                    json!({"metadata":{"name":n},"spec":{},"status":{"conditions":ready.clone()}}),
                )
                .unwrap();
        }
        let mut p = Placement::snapshot(&store);
        store
            .update(NODES, "", "a", |n| {
                let mut n = n.clone();
                n["spec"]["unschedulable"] = json!(true);
                Ok(n)
            })
            .unwrap();
        assert_eq!(p.pick_current(&store, &json!({})).as_deref(), Some("b"));
        assert_eq!(p.pick_current(&store, &json!({})).as_deref(), Some("b"));
    }

    #[test]
    fn pick_spreads_to_the_emptiest_node() {
        let ready = json!([{"type":"Ready","status":"True"}]);
        let mk = |n: &str| {
            Arc::new(json!({"metadata":{"name":n},"spec":{},"status":{"conditions":ready.clone()}}))
        };
        let mut p = Placement {
            nodes: vec![mk("a"), mk("b"), mk("c")],
            counts: HashMap::from([("a".to_string(), 2), ("b".to_string(), 1)]),
        };
        let spec = json!({});
        assert_eq!(p.pick(&spec).as_deref(), Some("c"));
        assert_eq!(p.pick(&spec).as_deref(), Some("b"));
        assert_eq!(p.pick(&spec).as_deref(), Some("c"));
        p.release("a");
        p.release("a");
        assert_eq!(p.pick(&spec).as_deref(), Some("a"));
    }
}
