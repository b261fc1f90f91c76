//! The disruption controller: PodDisruptionBudget status from the pods it selects, computed as
//! kube-controller-manager's `pkg/controller/disruption` does.
//!
//! - Pods: every pod in the PDB's namespace matched by `spec.selector` (an empty selector
//!   matches all of them, a missing one none).
//! - `currentHealthy`: pods that are Ready, not terminating and not listed in
//!   `status.disruptedPods` (an eviction in flight).
//! - `minAvailable` as an integer: `desiredHealthy = minAvailable`, `expectedPods` = the number
//!   of selected pods. `minAvailable` as a percentage and `maxUnavailable` (integer or
//!   percentage): `expectedPods` = the summed scale of the pods' controllers (a Deployment's
//!   replicas for its ReplicaSets' pods, a ReplicaSet's replicas; pods without a controller are
//!   not counted, as the "unmanaged pods" rule of Kubernetes ≥ 1.27 has it — see the fixture
//!   `pdb-maxunavailable-standalone-pods-status.json`; a controller that is gone, or a
//!   DaemonSet, which has no scale subresource, makes the controller "fail safe":
//!   `disruptionsAllowed: 0`, condition `SyncFailed`), and percentages are scaled with
//!   **rounding up for both fields** (`intstr.GetScaledValueFromIntOrPercent(…, true)`; the
//!   Kubernetes docs: "When you specify the value maxUnavailable as a percentage, Kubernetes
//!   rounds up the number of Pods that may be disrupted").
//! - `disruptionsAllowed = currentHealthy - desiredHealthy`, forced to 0 when negative or when
//!   `expectedPods` is 0.
//! - Condition `DisruptionAllowed` True/`SufficientPods` or False/`InsufficientPods`.
//! - `disruptedPods` entries are dropped once the pod is gone or terminating, or after
//!   [`ControllerConfig::disrupted_pod_timeout`].

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::config::ControllerConfig;
use super::objects::{
    ObjKey, controller_ref, generation, is_terminating, key_of, meta_str, pod_ready,
};
use super::reconciler::{Queue, Reconciler};
use crate::resources::well_known::{DAEMONSETS, DEPLOYMENTS, PDBS, PODS, REPLICASETS};
use crate::selector::LabelSelector;
use crate::store::{Event, Store, now_rfc3339};

/// An `IntOrString` budget value scaled against `total`, rounding up (as the real controller).
pub fn scaled_value(v: &Value, total: i64) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let pct: i64 = v.as_str()?.strip_suffix('%')?.trim().parse().ok()?;
    Some((pct * total + 99).div_euclid(100))
}

/// The scale of a pod's controller: `Ok(Some((controller uid, replicas)))`, `Ok(None)` for a pod
/// without a controller (not counted), `Err(message)` when the controller cannot be found or
/// has no scale subresource (DaemonSets, as in the real controller, which then fails safe).
fn controller_scale(store: &Store, ns: &str, pod: &Value) -> Result<Option<(String, i64)>, String> {
    let Some((kind, name, uid)) = controller_ref(pod) else {
        return Ok(None);
    };
    let no_controller = || format!("found no controllers for pod {:?}", meta_str(pod, "name"));
    let replicas = |o: &Value| o["spec"]["replicas"].as_i64().unwrap_or(1);
    match kind {
        "ReplicaSet" => {
            let rs = store.get(REPLICASETS, ns, name).ok_or_else(no_controller)?;
            if let Some((dkind, dname, duid)) = controller_ref(&rs)
                && dkind == "Deployment"
            {
                let dep = store
                    .get(DEPLOYMENTS, ns, dname)
                    .ok_or_else(no_controller)?;
                return Ok(Some((duid.to_string(), replicas(&dep))));
            }
            Ok(Some((uid.to_string(), replicas(&rs))))
        }
        "Deployment" => {
            let dep = store.get(DEPLOYMENTS, ns, name).ok_or_else(no_controller)?;
            Ok(Some((uid.to_string(), replicas(&dep))))
        }
        "DaemonSet" => Err("daemonsets.apps does not implement the scale subresource".into()),
        _ => Err(no_controller()),
    }
}

/// The summed scale of the pods' controllers.
fn expected_scale(store: &Store, ns: &str, pods: &[&Value]) -> Result<i64, String> {
    let mut seen = std::collections::BTreeMap::new();
    for p in pods {
        if let Some((uid, scale)) = controller_scale(store, ns, p)? {
            seen.insert(uid, scale);
        }
    }
    Ok(seen.values().sum())
}

/// `(expectedPods, desiredHealthy)` for the PDB's budget.
fn budget(store: &Store, pdb: &Value, pods: &[&Value]) -> Result<(i64, i64), String> {
    let ns = meta_str(pdb, "namespace");
    let spec = &pdb["spec"];
    if let Some(max_unavailable) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        let expected = expected_scale(store, ns, pods)?;
        let max = scaled_value(max_unavailable, expected).unwrap_or(0);
        Ok((expected, (expected - max).max(0)))
    } else if let Some(min_available) = spec.get("minAvailable").filter(|v| !v.is_null()) {
        if let Some(i) = min_available.as_i64() {
            Ok((i64::try_from(pods.len()).unwrap_or(i64::MAX), i))
        } else {
            let expected = expected_scale(store, ns, pods)?;
            Ok((expected, scaled_value(min_available, expected).unwrap_or(0)))
        }
    } else {
        Ok((0, 0))
    }
}

/// The real controller's `failSafe`: the status as it was, `disruptionsAllowed: 0` and the
/// condition `DisruptionAllowed` False / `SyncFailed` with the error.
fn fail_safe(pdb: &Value, message: &str) -> Value {
    let mut status = pdb["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    status["disruptionsAllowed"] = json!(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    let since = status["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "DisruptionAllowed" && c["status"] == "False")
        })
        .map_or_else(|| json!(now_rfc3339()), |c| c["lastTransitionTime"].clone());
    let cond = json!({"type": "DisruptionAllowed", "status": "False", "observedGeneration": observed,
        "lastTransitionTime": since, "reason": "SyncFailed", "message": message});
    let conds = status["conditions"].as_array().cloned().unwrap_or_default();
    let mut conds: Vec<Value> = conds
        .into_iter()
        .filter(|c| c["type"] != "DisruptionAllowed")
        .collect();
    conds.push(cond);
    status["conditions"] = Value::Array(conds);
    status
}

/// The status a PDB should have, given its pods, and when the next `disruptedPods` entry
/// expires.
pub(crate) fn compute_status(
    store: &Store,
    pdb: &Value,
    pods: &[&Value],
    disrupted_timeout: Duration,
) -> (Value, Option<Duration>) {
    let now_ts = jiff::Timestamp::now();
    // disruptedPods: keep entries for live, non-terminating pods that have not expired.
    let mut disrupted = Map::new();
    let mut next_expiry: Option<Duration> = None;
    if let Some(d) = pdb["status"]["disruptedPods"].as_object() {
        for (pod_name, t) in d {
            let Some(pod) = pods.iter().find(|p| meta_str(p, "name") == pod_name) else {
                continue;
            };
            if is_terminating(pod) {
                continue;
            }
            let Some(at) = t.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
                continue;
            };
            let age = now_ts.duration_since(at);
            let age = Duration::try_from(age).unwrap_or_default();
            if age >= disrupted_timeout {
                continue;
            }
            let left = disrupted_timeout.saturating_sub(age);
            next_expiry = Some(next_expiry.map_or(left, |n| n.min(left)));
            disrupted.insert(pod_name.clone(), t.clone());
        }
    }
    let current_healthy = pods
        .iter()
        .filter(|p| {
            !is_terminating(p) && !disrupted.contains_key(meta_str(p, "name")) && pod_ready(p)
        })
        .count();
    let current_healthy = i64::try_from(current_healthy).unwrap_or(i64::MAX);
    let (expected, desired) = match budget(store, pdb, pods) {
        Ok(b) => b,
        Err(message) => return (fail_safe(pdb, &message), next_expiry),
    };
    let mut allowed = current_healthy - desired;
    if expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let (cond_status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let generation = generation(pdb);
    let since = pdb["status"]["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter().find(|c| {
                c["type"] == "DisruptionAllowed"
                    && c["status"] == cond_status
                    && c["reason"] == reason
            })
        })
        .map_or_else(|| json!(now_rfc3339()), |c| c["lastTransitionTime"].clone());
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(generation));
    if !disrupted.is_empty() {
        s.insert("disruptedPods".into(), Value::Object(disrupted));
    }
    s.insert("disruptionsAllowed".into(), json!(allowed));
    s.insert("currentHealthy".into(), json!(current_healthy));
    s.insert("desiredHealthy".into(), json!(desired));
    s.insert("expectedPods".into(), json!(expected));
    s.insert(
        "conditions".into(),
        json!([{"type": "DisruptionAllowed", "status": cond_status, "observedGeneration": generation,
                "lastTransitionTime": since, "reason": reason, "message": ""}]),
    );
    (Value::Object(s), next_expiry)
}

/// The disruption controller.
pub(crate) struct DisruptionController {
    disrupted_timeout: Duration,
}

impl DisruptionController {
    pub(crate) fn new(config: &ControllerConfig) -> Self {
        Self {
            disrupted_timeout: config.disrupted_pod_timeout,
        }
    }
}

fn dirty_namespace(store: &Store, ns: &str, queue: &mut Queue<ObjKey>) {
    for pdb in &store.list(PDBS, Some(ns), |_| true).0 {
        queue.dirty(key_of(pdb));
    }
}

impl Reconciler for DisruptionController {
    type Key = ObjKey;

    fn resync(&mut self, store: &Store, queue: &mut Queue<ObjKey>) {
        for pdb in &store.list(PDBS, None, |_| true).0 {
            queue.dirty(key_of(pdb));
        }
    }

    fn on_event(&mut self, store: &Store, event: &Event, queue: &mut Queue<ObjKey>) {
        let r = event.resource;
        if super::objects::same(r, PDBS) {
            queue.dirty(key_of(&event.object));
        } else if super::objects::same(r, PODS)
            || super::objects::same(r, REPLICASETS)
            || super::objects::same(r, DEPLOYMENTS)
            || super::objects::same(r, DAEMONSETS)
        {
            dirty_namespace(store, meta_str(&event.object, "namespace"), queue);
        }
    }

    fn reconcile(&mut self, store: &Store, key: &ObjKey, queue: &mut Queue<ObjKey>) {
        let (ns, name) = key;
        let Some(pdb) = store.get(PDBS, ns, name) else {
            return;
        };
        let selector = match pdb["spec"].get("selector") {
            Some(sel) if !sel.is_null() => LabelSelector::from_object(sel).ok(),
            _ => None,
        };
        let (pods, _) = match &selector {
            Some(sel) => store.list(PODS, Some(ns), |p| sel.matches(p)),
            None => (Vec::new(), 0),
        };
        let refs: Vec<&Value> = pods.iter().map(AsRef::as_ref).collect();
        let (status, next) = compute_status(store, &pdb, &refs, self.disrupted_timeout);
        if let Some(d) = next {
            queue.at(Instant::now() + d + Duration::from_millis(10), key.clone());
        }
        // Write only over the version the status was computed from, as the real controller
        // does (an update carrying the read resourceVersion). An eviction may have used up a
        // disruption in between (decremented `disruptionsAllowed`, added a `disruptedPods`
        // entry); overwriting that with the older computation handed out the same
        // disruption twice — a real over-disruption (reboot-sim's PDB violations at C=10).
        // Then compute again from the new version.
        let read_rv = pdb["metadata"]["resourceVersion"].clone();
        let mut stale = false;
        // Deleted meanwhile: nothing to do.
        let _ = store.update(PDBS, ns, name, |cur| {
            if cur["metadata"]["resourceVersion"] != read_rv {
                stale = true;
                return Ok(cur.clone());
            }
            let mut o = cur.clone();
            o["status"] = status;
            Ok(o)
        });
        if stale {
            queue.dirty(key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    fn ready_pod(name: &str) -> Value {
        json!({"metadata":{"name":name,"namespace":"d","labels":{"app":"web"}},
            "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}})
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_value(&json!("50%"), 7), Some(4));
        assert_eq!(scaled_value(&json!("30%"), 10), Some(3));
        assert_eq!(scaled_value(&json!("1%"), 10), Some(1));
        assert_eq!(scaled_value(&json!(2), 10), Some(2));
        assert_eq!(scaled_value(&json!("x"), 10), None);
    }

    #[test]
    fn min_available_int_matches_the_fixture() {
        let store = Store::new(StoreConfig::default());
        let pdb = json!({"metadata":{"name":"web-pdb","namespace":"d","generation":1},
            "spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}});
        let (a, b) = (ready_pod("a"), ready_pod("b"));
        let (s, _) = compute_status(&store, &pdb, &[&a, &b], Duration::from_secs(120));
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["currentHealthy"], 2);
        assert_eq!(s["desiredHealthy"], 1);
        assert_eq!(s["expectedPods"], 2);
        assert_eq!(s["conditions"][0]["reason"], "SufficientPods");
        let keys: Vec<_> = s.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "observedGeneration",
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
                "conditions"
            ]
        );
        // An eviction in flight (disruptedPods) is not healthy.
        let mut pdb2 = pdb.clone();
        pdb2["status"]["disruptedPods"] = json!({"a": now_rfc3339()});
        let (s, next) = compute_status(&store, &pdb2, &[&a, &b], Duration::from_secs(120));
        assert_eq!(s["currentHealthy"], 1);
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
        assert!(next.is_some());
        assert!(s["disruptedPods"]["a"].is_string());
    }

    #[test]
    fn max_unavailable_over_unmanaged_pods_allows_nothing() {
        let store = Store::new(StoreConfig::default());
        let pdb = json!({"metadata":{"name":"solo-pdb","namespace":"d","generation":1},
            "spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}}});
        let a = ready_pod("a");
        let (s, _) = compute_status(&store, &pdb, &[&a], Duration::from_secs(120));
        assert_eq!(s["expectedPods"], 0);
        assert_eq!(s["desiredHealthy"], 0);
        assert_eq!(s["currentHealthy"], 1);
        assert_eq!(s["disruptionsAllowed"], 0);
    }

    #[test]
    fn max_unavailable_percent_uses_the_controller_scale() {
        let store = Store::new(StoreConfig::default());
        let rs = store
            .create(
                REPLICASETS,
                json!({"metadata":{"name":"web","namespace":"d"},"spec":{"replicas":4}}),
            )
            .unwrap();
        let owner = json!([{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web",
            "uid": rs["metadata"]["uid"], "controller": true}]);
        let pods: Vec<Value> = (0..4)
            .map(|i| {
                let mut p = ready_pod(&format!("p{i}"));
                p["metadata"]["ownerReferences"] = owner.clone();
                p
            })
            .collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let pdb = json!({"metadata":{"name":"x","namespace":"d","generation":1},
            "spec":{"maxUnavailable":"30%","selector":{}}});
        let (s, _) = compute_status(&store, &pdb, &refs, Duration::from_secs(120));
        // 30% of 4 = 1.2, rounded up to 2 → desired 2 of 4, 2 disruptions allowed.
        assert_eq!(s["expectedPods"], 4);
        assert_eq!(s["desiredHealthy"], 2);
        assert_eq!(s["disruptionsAllowed"], 2);
    }

    #[test]
    fn daemonset_pods_under_max_unavailable_fail_safe() {
        let store = Store::new(StoreConfig::default());
        let mut pod = ready_pod("kured-x");
        pod["metadata"]["ownerReferences"] = json!([{"apiVersion":"apps/v1","kind":"DaemonSet",
            "name":"kured","uid":"u","controller":true}]);
        let pdb = json!({"metadata":{"name":"k","namespace":"d","generation":1},
            "spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}},
            "status":{"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":1,
                "desiredHealthy":0,"expectedPods":1}});
        let (s, _) = compute_status(&store, &pdb, &[&pod], Duration::from_secs(120));
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["currentHealthy"], 1, "other fields are left as they were");
        assert_eq!(s["conditions"][0]["reason"], "SyncFailed");
        assert_eq!(
            s["conditions"][0]["message"],
            "daemonsets.apps does not implement the scale subresource"
        );
        // minAvailable as an integer needs no scale: DaemonSet pods are fine.
        let mut pdb2 = pdb.clone();
        pdb2["spec"] = json!({"minAvailable":0,"selector":{"matchLabels":{"app":"web"}}});
        let (s, _) = compute_status(&store, &pdb2, &[&pod], Duration::from_secs(120));
        assert_eq!(s["disruptionsAllowed"], 1);
    }
}
