//! The ReplicaSet controller, the Deployment controller (one ReplicaSet per pod template, the
//! current one scaled to the Deployment's replicas, older ones to 0) and the minimal scheduler
//! (binds unbound pods to the emptiest fitting node, see [`super::sched`]).
//!
//! A ReplicaSet keeps `spec.replicas` active pods (neither terminating nor finished). Pods it
//! creates carry the template's labels, `generateName: <rs>-`, a controller ownerReference and
//! the apiserver's admission defaults, and are bound at once when a node fits. A missing pod of
//! a ReplicaSet whose current generation was already observed (a pod that went away or started
//! terminating) is replaced after [`ControllerConfig::reschedule_delay`]; a new or resized
//! ReplicaSet acts at once. Pods of a deleted ReplicaSet and ReplicaSets of a deleted Deployment
//! are deleted (garbage collection, background propagation).

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::config::ControllerConfig;
use super::objects::{
    ObjKey, controller_ref, generation, is_active, is_controlled_by, key_of, meta_str,
    observed_generation, pod_ready, template_hash,
};
use super::reconciler::{Queue, Reconciler};
use super::sched::Placement;
use crate::admission::admit_create;
use crate::deletion::{DeleteOptions, delete_object};
use crate::resources::ResourceType;
use crate::resources::well_known::{DEPLOYMENTS, NODES, PODS, REPLICASETS};
use crate::store::{Event, EventType, Store, now_rfc3339};

/// Work items of this controller, in reconcile order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RsKey {
    Deployment(ObjKey),
    ReplicaSet(ObjKey),
    Schedule,
}

/// The `ownerReferences` entry naming `owner` as controller.
pub fn controller_reference(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"].as_str().unwrap_or("apps/v1"),
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A new pod for `owner` (a ReplicaSet or DaemonSet with `spec.template`), with admission
/// defaults, unbound (`status.phase: Pending`).
pub fn pod_from_template(owner: &Value) -> Value {
    let mut pod = pod_skeleton(owner);
    admit_create(PODS, &mut pod);
    pod
}

/// The pod an owner's template describes, before admission defaults.
pub(crate) fn pod_skeleton(owner: &Value) -> Value {
    let tmpl = &owner["spec"]["template"];
    let name = meta_str(owner, "name");
    let mut meta = Map::new();
    meta.insert("generateName".into(), json!(format!("{name}-")));
    meta.insert("namespace".into(), json!(meta_str(owner, "namespace")));
    if let Some(l) = tmpl["metadata"].get("labels") {
        meta.insert("labels".into(), l.clone());
    }
    if let Some(a) = tmpl["metadata"].get("annotations") {
        meta.insert("annotations".into(), a.clone());
    }
    meta.insert(
        "ownerReferences".into(),
        json!([controller_reference(owner)]),
    );
    json!({"metadata": meta, "spec": tmpl["spec"].clone()})
}

/// Sets the scheduling result on a new or unbound pod: `spec.nodeName` and the `PodScheduled`
/// condition (True when bound, False/Unschedulable otherwise).
pub fn set_binding(pod: &mut Value, node: Option<&str>, node_count: usize) {
    let now = now_rfc3339();
    let cond = match node {
        Some(n) => {
            pod["spec"]["nodeName"] = json!(n);
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now})
        }
        None => json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
            "lastTransitionTime": now, "reason": "Unschedulable",
            "message": format!("0/{node_count} nodes are available: no node fits the pod (kubesim).")}),
    };
    let old = pod["status"].take();
    let mut s = Map::new();
    s.insert(
        "phase".into(),
        old.get("phase")
            .cloned()
            .unwrap_or_else(|| json!("Pending")),
    );
    s.insert("conditions".into(), json!([cond]));
    if let Some(q) = old.get("qosClass") {
        s.insert("qosClass".into(), q.clone());
    }
    pod["status"] = Value::Object(s);
}

/// The ReplicaSet a Deployment runs for its current pod template: `<deployment>-<hash>`, the
/// template's labels plus `pod-template-hash`, owned by the Deployment.
pub fn replicaset_for(deployment: &Value) -> Value {
    let spec = &deployment["spec"];
    let hash = template_hash(&spec["template"]);
    let name = format!("{}-{hash}", meta_str(deployment, "name"));
    let mut template = spec["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = spec["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(meta_str(deployment, "namespace")));
    meta.insert("labels".into(), template["metadata"]["labels"].clone());
    meta.insert(
        "annotations".into(),
        json!({
            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
            "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
            "deployment.kubernetes.io/revision": "1",
        }),
    );
    meta.insert(
        "ownerReferences".into(),
        json!([controller_reference(deployment)]),
    );
    let mut rs_spec = Map::new();
    rs_spec.insert("replicas".into(), json!(replicas));
    if let Some(m) = spec.get("minReadySeconds") {
        rs_spec.insert("minReadySeconds".into(), m.clone());
    }
    rs_spec.insert("selector".into(), selector);
    rs_spec.insert("template".into(), template);
    let mut rs =
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": rs_spec});
    admit_create(REPLICASETS, &mut rs);
    rs
}

/// ReplicaSet status from its pods (field order as the real controller writes it).
pub fn replicaset_status(rs: &Value, pods: &[&Value]) -> Value {
    let active: Vec<&&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let ready = active.iter().filter(|p| pod_ready(p)).count();
    let terminating = pods
        .iter()
        .filter(|p| super::objects::is_terminating(p))
        .count();
    let mut s = Map::new();
    s.insert("replicas".into(), json!(active.len()));
    if !active.is_empty() {
        s.insert("fullyLabeledReplicas".into(), json!(active.len()));
    }
    if ready > 0 {
        s.insert("readyReplicas".into(), json!(ready));
        s.insert("availableReplicas".into(), json!(ready));
    }
    s.insert("terminatingReplicas".into(), json!(terminating));
    s.insert("observedGeneration".into(), json!(generation(rs)));
    Value::Object(s)
}

fn cond_since(current: &Value, kind: &str, status: &str, now: &str) -> Value {
    current["status"]["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == kind && c["status"] == status)
        })
        .map_or_else(|| json!(now), |c| c["lastTransitionTime"].clone())
}

/// Deployment status from its ReplicaSets (`new_rs` is the current template's one).
pub fn deployment_status(dep: &Value, rses: &[&Value], new_rs: Option<&str>) -> Value {
    let now = now_rfc3339();
    let sum = |f: &str| -> i64 {
        rses.iter()
            .map(|r| r["status"][f].as_i64().unwrap_or(0))
            .sum()
    };
    let desired = dep["spec"]["replicas"].as_i64().unwrap_or(1);
    let available = sum("availableReplicas");
    let updated = rses
        .iter()
        .find(|r| Some(meta_str(r, "name")) == new_rs)
        .map_or(0, |r| r["status"]["replicas"].as_i64().unwrap_or(0));
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(generation(dep)));
    for (k, v) in [
        ("replicas", sum("replicas")),
        ("updatedReplicas", updated),
        ("readyReplicas", sum("readyReplicas")),
        ("availableReplicas", available),
        ("unavailableReplicas", (desired - available).max(0)),
    ] {
        if v != 0 {
            s.insert(k.into(), json!(v));
        }
    }
    s.insert(
        "terminatingReplicas".into(),
        json!(sum("terminatingReplicas")),
    );
    let (avail_status, avail_reason, avail_msg) = if available >= desired {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let avail_since = cond_since(dep, "Available", avail_status, &now);
    let prog_since = cond_since(dep, "Progressing", "True", &now);
    let rs_name = new_rs.unwrap_or_default();
    s.insert(
        "conditions".into(),
        json!([
            {"type": "Available", "status": avail_status, "lastUpdateTime": avail_since,
             "lastTransitionTime": avail_since, "reason": avail_reason, "message": avail_msg},
            {"type": "Progressing", "status": "True", "lastUpdateTime": prog_since,
             "lastTransitionTime": prog_since, "reason": "NewReplicaSetAvailable",
             "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed.")},
        ]),
    );
    Value::Object(s)
}

fn write_status(store: &Store, rt: &'static ResourceType, ns: &str, name: &str, status: Value) {
    // Gone meanwhile: the delete event reconciles again.
    let _ = store.update(rt, ns, name, |cur| {
        let mut o = cur.clone();
        o["status"] = status;
        Ok(o)
    });
}

/// The ReplicaSet + Deployment controller and scheduler.
pub(crate) struct ReplicaSetController {
    reschedule_delay: Duration,
    /// ReplicaSet → when its missing pods get replaced.
    deficit_due: HashMap<ObjKey, Instant>,
    /// Node/pod-count snapshot of the current batch.
    placement: Option<Placement>,
    /// Whether unbound pods may exist (node changes then trigger a scheduling pass).
    maybe_unbound: bool,
}

impl ReplicaSetController {
    pub(crate) fn new(config: &ControllerConfig) -> Self {
        Self {
            reschedule_delay: config.reschedule_delay,
            deficit_due: HashMap::new(),
            placement: None,
            maybe_unbound: true,
        }
    }

    fn placement(&mut self, store: &Store) -> &mut Placement {
        self.placement
            .get_or_insert_with(|| Placement::snapshot(store))
    }

    fn reconcile_rs(&mut self, store: &Store, key: &ObjKey, queue: &mut Queue<RsKey>) {
        let (ns, name) = key;
        let Some(rs) = store.get(REPLICASETS, ns, name) else {
            self.deficit_due.remove(key);
            collect_orphans(store, ns, "ReplicaSet", name);
            return;
        };
        let uid = meta_str(&rs, "uid").to_string();
        let (pods, _) = store.list(PODS, Some(ns), |p| is_controlled_by(p, &uid));
        let active: Vec<_> = pods.iter().filter(|p| is_active(p)).collect();
        let desired = usize::try_from(rs["spec"]["replicas"].as_i64().unwrap_or(1)).unwrap_or(0);
        let now = Instant::now();
        let mut changed = false;
        if active.len() < desired {
            let due = if observed_generation(&rs) < generation(&rs) {
                now
            } else {
                *self
                    .deficit_due
                    .entry(key.clone())
                    .or_insert(now + self.reschedule_delay)
            };
            if due <= now {
                self.deficit_due.remove(key);
                let node_count = self.placement(store).node_count();
                for _ in active.len()..desired {
                    let mut pod = pod_from_template(&rs);
                    let node = self.placement(store).pick_current(store, &pod["spec"]);
                    if node.is_none() {
                        self.maybe_unbound = true;
                    }
                    set_binding(&mut pod, node.as_deref(), node_count);
                    changed |= store.create(PODS, pod).is_ok();
                }
            } else {
                queue.at(due, RsKey::ReplicaSet(key.clone()));
            }
        } else {
            self.deficit_due.remove(key);
            if active.len() > desired {
                let mut victims = active.clone();
                // Unbound first, then not ready, then the newest.
                victims.sort_by_key(|p| {
                    (
                        p["spec"]["nodeName"]
                            .as_str()
                            .is_some_and(|n| !n.is_empty()),
                        pod_ready(p),
                        std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()),
                    )
                });
                for p in victims.iter().take(active.len() - desired) {
                    let (pns, pname) = key_of(p);
                    changed |=
                        delete_object(store, PODS, &pns, &pname, &DeleteOptions::default()).is_ok();
                }
            }
        }
        let pods = if changed {
            store.list(PODS, Some(ns), |p| is_controlled_by(p, &uid)).0
        } else {
            pods
        };
        let refs: Vec<&Value> = pods.iter().map(AsRef::as_ref).collect();
        write_status(store, REPLICASETS, ns, name, replicaset_status(&rs, &refs));
    }

    fn reconcile_deployment(store: &Store, key: &ObjKey) {
        let (ns, name) = key;
        let Some(dep) = store.get(DEPLOYMENTS, ns, name) else {
            collect_orphans(store, ns, "Deployment", name);
            return;
        };
        let uid = meta_str(&dep, "uid").to_string();
        let wanted = replicaset_for(&dep);
        let wanted_name = meta_str(&wanted, "name").to_string();
        let desired = dep["spec"]["replicas"].as_i64().unwrap_or(1);
        let (rses, _) = store.list(REPLICASETS, Some(ns), |r| is_controlled_by(r, &uid));
        if !rses.iter().any(|r| meta_str(r, "name") == wanted_name) {
            let _ = store.create(REPLICASETS, wanted);
        }
        for r in &rses {
            let target = if meta_str(r, "name") == wanted_name {
                desired
            } else {
                0
            };
            if r["spec"]["replicas"].as_i64() != Some(target) {
                let _ = store.update(REPLICASETS, ns, meta_str(r, "name"), |cur| {
                    let mut o = cur.clone();
                    o["spec"]["replicas"] = json!(target);
                    Ok(o)
                });
            }
        }
        let (rses, _) = store.list(REPLICASETS, Some(ns), |r| is_controlled_by(r, &uid));
        let refs: Vec<&Value> = rses.iter().map(AsRef::as_ref).collect();
        write_status(
            store,
            DEPLOYMENTS,
            ns,
            name,
            deployment_status(&dep, &refs, Some(&wanted_name)),
        );
    }

    fn schedule(&mut self, store: &Store) {
        let (unbound, _) = store.list(PODS, None, |p| {
            p["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
                && is_active(p)
                && p["spec"]["schedulerName"]
                    .as_str()
                    .is_none_or(|s| s == "default-scheduler")
        });
        let mut left = false;
        for p in &unbound {
            let Some(node) = self.placement(store).pick_current(store, &p["spec"]) else {
                left = true;
                continue;
            };
            let (ns, name) = key_of(p);
            let res = store.update(PODS, &ns, &name, |cur| {
                let mut o = cur.clone();
                if o["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
                    set_binding(&mut o, Some(&node), 0);
                }
                Ok(o)
            });
            if res.is_err() {
                self.placement(store).release(&node);
            }
        }
        self.maybe_unbound = left;
    }
}

/// Deletes the dependents whose controller (`kind`/`name`) is gone: pods of a ReplicaSet, or
/// ReplicaSets of a Deployment.
fn collect_orphans(store: &Store, ns: &str, kind: &str, name: &str) {
    let rt = if kind == "Deployment" {
        REPLICASETS
    } else {
        PODS
    };
    let (orphans, _) = store.list(rt, Some(ns), |o| {
        controller_ref(o).is_some_and(|(k, n, _)| k == kind && n == name)
            && !super::objects::is_terminating(o)
    });
    for o in &orphans {
        let (ons, oname) = key_of(o);
        let _ = delete_object(store, rt, &ons, &oname, &DeleteOptions::default());
    }
}

impl Reconciler for ReplicaSetController {
    type Key = RsKey;

    fn resync(&mut self, store: &Store, queue: &mut Queue<RsKey>) {
        for d in &store.list(DEPLOYMENTS, None, |_| true).0 {
            queue.dirty(RsKey::Deployment(key_of(d)));
        }
        for r in &store.list(REPLICASETS, None, |_| true).0 {
            queue.dirty(RsKey::ReplicaSet(key_of(r)));
        }
        self.maybe_unbound = true;
        queue.dirty(RsKey::Schedule);
    }

    fn on_event(&mut self, _store: &Store, event: &Event, queue: &mut Queue<RsKey>) {
        let obj = &event.object;
        let ns = meta_str(obj, "namespace");
        let owner = |o: &Value, kind: &str| {
            controller_ref(o)
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, n, _)| (ns.to_string(), n.to_string()))
        };
        if super::objects::same(event.resource, PODS) {
            if let Some(k) = owner(obj, "ReplicaSet") {
                queue.dirty(RsKey::ReplicaSet(k));
            }
            if event.kind != EventType::Deleted
                && obj["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
                && is_active(obj)
            {
                self.maybe_unbound = true;
                queue.dirty(RsKey::Schedule);
            }
        } else if super::objects::same(event.resource, REPLICASETS) {
            queue.dirty(RsKey::ReplicaSet(key_of(obj)));
            if let Some(k) = owner(obj, "Deployment") {
                queue.dirty(RsKey::Deployment(k));
            }
        } else if super::objects::same(event.resource, DEPLOYMENTS) {
            queue.dirty(RsKey::Deployment(key_of(obj)));
        } else if super::objects::same(event.resource, NODES) && self.maybe_unbound {
            queue.dirty(RsKey::Schedule);
        }
    }

    fn begin_batch(&mut self) {
        self.placement = None;
    }

    fn reconcile(&mut self, store: &Store, key: &RsKey, queue: &mut Queue<RsKey>) {
        match key {
            RsKey::Deployment(k) => Self::reconcile_deployment(store, k),
            RsKey::ReplicaSet(k) => self.reconcile_rs(store, k, queue),
            RsKey::Schedule => {
                if self.maybe_unbound {
                    self.schedule(store);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicaset_for_a_deployment_carries_the_hash_and_owner() {
        let dep = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"d","uid":"u1"},
            "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i:1"}]}}}});
        let rs = replicaset_for(&dep);
        let hash = rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            hash
        );
        assert_eq!(rs["spec"]["replicas"], 3);
        assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert_eq!(
            replicaset_for(&dep)["metadata"]["name"],
            rs["metadata"]["name"]
        );
    }

    #[test]
    fn pods_from_a_template_are_owned_and_admitted() {
        let rs = json!({"apiVersion":"apps/v1","kind":"ReplicaSet",
            "metadata":{"name":"web","namespace":"d","uid":"u2"},
            "spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i:1"}]}}}});
        let mut pod = pod_from_template(&rs);
        assert_eq!(pod["metadata"]["generateName"], "web-");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        set_binding(&mut pod, Some("n1"), 1);
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(pod["status"]["conditions"][0]["status"], "True");
        assert_eq!(pod["status"]["phase"], "Pending");
    }

    #[test]
    fn replicaset_status_counts_ready_and_terminating() {
        let rs = json!({"metadata":{"generation":2}});
        let ready =
            json!({"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}});
        let pending = json!({"status":{"phase":"Pending"}});
        let term = json!({"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"phase":"Running"}});
        let s = replicaset_status(&rs, &[&ready, &pending, &term]);
        assert_eq!(
            s,
            json!({"replicas":2,"fullyLabeledReplicas":2,"readyReplicas":1,"availableReplicas":1,
                "terminatingReplicas":1,"observedGeneration":2})
        );
    }
}
