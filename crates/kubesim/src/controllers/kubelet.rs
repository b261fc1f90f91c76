//! The simulated kubelet (one task standing in for the kubelet of every node).
//!
//! - A pod bound to a Ready node that is not yet Running + Ready becomes so after
//!   [`ControllerConfig::kubelet_start_delay`]: phase `Running`, conditions
//!   `PodReadyToStartContainers`/`Initialized`/`Ready`/`ContainersReady`/`PodScheduled` True,
//!   `hostIP`, `podIP` (from the node's `spec.podCIDR`), `startTime`, `containerStatuses`.
//! - A terminating pod (`metadata.deletionTimestamp`) is removed
//!   ([`crate::deletion::finalize_pod_deletion`]) after `min(its grace, shutdown_time)`; pods on a
//!   NotReady node wait for it to come back (their kubelet is down).
//! - Pod garbage collection: a pod bound to a node that does not exist is force-deleted after
//!   40 s (terminating ones after their shutdown time).
//! - A reboot ([`begin_reboot`], then [`finish_reboot`]): Ready → False, the node's pods lose `Ready`; after the downtime the pods'
//!   containers restart (`restartCount + 1`, not Ready), the node gets a new
//!   `status.nodeInfo.bootID` and Ready = True, and the pods become Ready after the start delay.
//!
//! No node heartbeats are simulated.

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::config::ControllerConfig;
use super::objects::{ObjKey, is_finished, is_terminating, node_ready, phase, pod_ready, secs};
use super::reconciler::{Queue, Reconciler};
use crate::deletion::{DeleteOptions, delete_object};
use crate::errors::ApiError;
use crate::resources::well_known::{NODES, PODS};
use crate::store::{Event, EventType, Store, new_uid, now_rfc3339};

/// The kubelet version nodes report.
pub const KUBELET_VERSION: &str = "v1.36.2";

/// A Ready node as a kubelet registers it (compare the fixture `node-after-fake-kubelet.json`):
/// hostname/os/arch labels, capacity, addresses, `nodeInfo` with a fresh `bootID`, and a
/// `spec.podCIDR` derived from `index` from which pod IPs are drawn.
pub fn new_node(name: &str, index: usize) -> Value {
    let now = now_rfc3339();
    let (a, b) = ((index >> 8) & 0x7f, index & 0xff);
    let host = index + 1;
    let host_ip = format!(
        "10.{}.{}.{}",
        (host >> 16) & 0xff,
        (host >> 8) & 0xff,
        host & 0xff
    );
    json!({
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "podCIDR": format!("10.{}.{b}.0/24", 128 + a),
            "podCIDRs": [format!("10.{}.{b}.0/24", 128 + a)],
        },
        "status": {
            "capacity": {"cpu": "4", "ephemeral-storage": "100Gi", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "ephemeral-storage": "100Gi", "memory": "8Gi", "pods": "110"},
            "conditions": [ready_condition(true, &now, &now)],
            "addresses": [
                {"type": "InternalIP", "address": host_ip},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": new_uid().replace('-', ""),
                "systemUUID": new_uid(),
                "bootID": new_uid(),
                "kernelVersion": "6.12.0-kubesim",
                "osImage": "kubesim simulated node",
                "containerRuntimeVersion": "containerd://2.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    })
}

/// The node `Ready` condition as a kubelet reports it.
fn ready_condition(ready: bool, heartbeat: &str, transition: &str) -> Value {
    if ready {
        json!({"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat,
               "lastTransitionTime": transition, "reason": "KubeletReady",
               "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "False", "lastHeartbeatTime": heartbeat,
               "lastTransitionTime": transition, "reason": "KubeletNotReady",
               "message": "node is rebooting (kubesim)"})
    }
}

fn node_internal_ip(node: &Value) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or("10.0.0.1")
        .to_string()
}

/// A pod IP inside the node's `spec.podCIDR` (a /24), or from 10.250.0.0/16 without one.
fn pod_ip(node: &Value) -> String {
    let host = fastrand::u8(2..=254);
    match node["spec"]["podCIDR"]
        .as_str()
        .and_then(|c| c.strip_suffix(".0/24"))
    {
        Some(prefix) => format!("{prefix}.{host}"),
        None => format!("10.250.{}.{host}", fastrand::u8(..)),
    }
}

/// `(type, status, lastTransitionTime)` kept from the current conditions when unchanged.
fn pod_condition(current: &Value, kind: &str, status: bool, now: &str) -> Value {
    let status = if status { "True" } else { "False" };
    let prev = current["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"].as_str() == Some(kind)));
    let since = match prev {
        Some(c) if c["status"].as_str() == Some(status) => c["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    m.insert("status".into(), json!(status));
    m.insert("lastProbeTime".into(), Value::Null);
    m.insert("lastTransitionTime".into(), since);
    if status == "False" && matches!(kind, "Ready" | "ContainersReady") {
        m.insert("reason".into(), json!("ContainersNotReady"));
    }
    Value::Object(m)
}

fn container_id() -> String {
    format!(
        "containerd://{:032x}{:032x}",
        fastrand::u128(..),
        fastrand::u128(..)
    )
}

/// The pod with the status a kubelet reports once all containers run and are ready.
pub fn running_pod(pod: &Value, node: &Value) -> Value {
    let mut out = pod.clone();
    out["status"] = running_status(pod, node);
    out
}

/// The `status` a kubelet reports for `pod` on `node` once all containers run and are ready.
pub fn running_status(pod: &Value, node: &Value) -> Value {
    let now = now_rfc3339();
    let cur = &pod["status"];
    let empty = Vec::new();
    let old_statuses = cur["containerStatuses"].as_array().unwrap_or(&empty);
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default();
            let old = old_statuses.iter().find(|s| s["name"].as_str() == Some(name));
            let image = c["image"].as_str().unwrap_or_default();
            json!({
                "name": name,
                "state": {"running": {"startedAt": now}},
                "lastState": old.map_or(json!({}), |o| o["lastState"].clone()),
                "ready": true,
                "restartCount": old.and_then(|o| o["restartCount"].as_i64()).unwrap_or(0),
                "image": image,
                "imageID": format!("{image}@sha256:{:032x}{:032x}", fastrand::u128(..), fastrand::u128(..)),
                "containerID": container_id(),
                "started": true,
            })
        })
        .collect();
    let host_ip = node_internal_ip(node);
    let ip = cur["podIP"]
        .as_str()
        .map_or_else(|| pod_ip(node), str::to_string);
    let mut s = Map::new();
    if let Some(g) = pod["metadata"]["generation"].as_i64() {
        s.insert("observedGeneration".into(), json!(g));
    }
    s.insert("phase".into(), json!("Running"));
    s.insert(
        "conditions".into(),
        json!([
            pod_condition(pod, "PodReadyToStartContainers", true, &now),
            pod_condition(pod, "Initialized", true, &now),
            pod_condition(pod, "Ready", true, &now),
            pod_condition(pod, "ContainersReady", true, &now),
            pod_condition(pod, "PodScheduled", true, &now),
        ]),
    );
    s.insert("hostIP".into(), json!(host_ip));
    s.insert("hostIPs".into(), json!([{"ip": host_ip}]));
    s.insert("podIP".into(), json!(ip));
    s.insert("podIPs".into(), json!([{"ip": ip}]));
    s.insert(
        "startTime".into(),
        cur.get("startTime").cloned().unwrap_or_else(|| json!(now)),
    );
    s.insert("containerStatuses".into(), Value::Array(statuses));
    s.insert(
        "qosClass".into(),
        cur.get("qosClass")
            .cloned()
            .unwrap_or_else(|| json!("BestEffort")),
    );
    Value::Object(s)
}

/// The pod after its node went down: `Ready` False (as the node lifecycle controller marks it).
fn not_ready_pod(pod: &Value) -> Value {
    let now = now_rfc3339();
    let mut out = pod.clone();
    if let Some(cs) = out["status"]["conditions"].as_array_mut() {
        for c in cs.iter_mut() {
            if c["type"] == "Ready" && c["status"] != "False" {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    out
}

/// The pod after its node rebooted: every container restarted (`restartCount + 1`, last state
/// terminated), not ready until the kubelet's start delay has passed.
fn restarted_pod(pod: &Value) -> Value {
    let now = now_rfc3339();
    let mut out = pod.clone();
    let ready = pod_condition(pod, "Ready", false, &now);
    let containers_ready = pod_condition(pod, "ContainersReady", false, &now);
    if let Some(cs) = out["status"]["conditions"].as_array_mut() {
        for c in cs.iter_mut() {
            match c["type"].as_str() {
                Some("Ready") => *c = ready.clone(),
                Some("ContainersReady") => *c = containers_ready.clone(),
                _ => {}
            }
        }
    }
    if let Some(ss) = out["status"]["containerStatuses"].as_array_mut() {
        for s in ss.iter_mut() {
            let started = s["state"]["running"]["startedAt"].clone();
            let restarts = s["restartCount"].as_i64().unwrap_or(0) + 1;
            s["lastState"] = json!({"terminated": {"exitCode": 255, "reason": "Unknown",
                "startedAt": started, "finishedAt": now, "containerID": s["containerID"].clone()}});
            s["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
            s["ready"] = json!(false);
            s["started"] = json!(false);
            s["restartCount"] = json!(restarts);
        }
    }
    out
}

fn pods_on_node(store: &Store, node: &str) -> Vec<ObjKey> {
    let (pods, _) = store.list(PODS, None, |p| p["spec"]["nodeName"].as_str() == Some(node));
    pods.iter().map(|p| super::objects::key_of(p)).collect()
}

fn set_node_ready(store: &Store, name: &str, ready: bool, new_boot: bool) -> Result<(), ApiError> {
    store.update(NODES, "", name, |cur| {
        let now = now_rfc3339();
        let mut n = cur.clone();
        let was = node_ready(cur);
        let since = if was == ready {
            cur["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .and_then(|c| c["lastTransitionTime"].as_str())
                .unwrap_or(&now)
                .to_string()
        } else {
            now.clone()
        };
        let cond = ready_condition(ready, &now, &since);
        match n["status"]["conditions"].as_array_mut() {
            Some(cs) => match cs.iter_mut().find(|c| c["type"] == "Ready") {
                Some(c) => *c = cond,
                None => cs.push(cond),
            },
            None => n["status"]["conditions"] = json!([cond]),
        }
        if new_boot {
            n["status"]["nodeInfo"]["bootID"] = json!(new_uid());
        }
        Ok(n)
    })?;
    Ok(())
}

/// Starts a simulated reboot of `node`: its `Ready` condition becomes False and its pods lose
/// `Ready`. [`finish_reboot`] brings it back.
pub fn begin_reboot(store: &Store, node: &str) -> Result<(), ApiError> {
    set_node_ready(store, node, false, false)?;
    for (ns, name) in pods_on_node(store, node) {
        // A pod deleted meanwhile is simply skipped.
        let _ = store.update(PODS, &ns, &name, |p| {
            Ok(if is_terminating(p) || is_finished(p) {
                p.clone()
            } else {
                not_ready_pod(p)
            })
        });
    }
    Ok(())
}

/// Ends a simulated reboot: the node's pods restart (not Ready until the kubelet's start
/// delay), then the node reports Ready with a new `bootID`.
pub fn finish_reboot(store: &Store, node: &str) -> Result<(), ApiError> {
    for (ns, name) in pods_on_node(store, node) {
        let _ = store.update(PODS, &ns, &name, |p| {
            Ok(if is_terminating(p) || is_finished(p) {
                p.clone()
            } else {
                restarted_pod(p)
            })
        });
    }
    set_node_ready(store, node, true, true)
}

/// The kubelet reconciler (see the module docs).
pub(crate) struct Kubelet {
    start_delay: Duration,
    shutdown_time: Duration,
    /// Pod → (when it becomes ready, boot id of its node when the countdown started).
    starting: HashMap<ObjKey, (Instant, String)>,
    /// Pod → when its containers have stopped.
    stopping: HashMap<ObjKey, Instant>,
    /// Pod bound to a missing node → when pod garbage collection deletes it.
    orphaned: HashMap<ObjKey, Instant>,
}

/// How long a pod may be bound to a node that does not exist (kube-controller-manager PodGC).
const ORPHAN_QUARANTINE: Duration = Duration::from_secs(40);

impl Kubelet {
    pub(crate) fn new(config: &ControllerConfig) -> Self {
        Self {
            start_delay: config.kubelet_start_delay,
            shutdown_time: config.shutdown_time,
            starting: HashMap::new(),
            stopping: HashMap::new(),
            orphaned: HashMap::new(),
        }
    }
}

/// Whether the kubelet has something to do with this pod.
fn needs_kubelet(pod: &Value) -> bool {
    let bound = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let running_ready = phase(pod) == "Running" && pod_ready(pod);
    bound && (is_terminating(pod) || !(is_finished(pod) || running_ready))
}

fn boot_id(node: &Value) -> String {
    node["status"]["nodeInfo"]["bootID"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Reconciler for Kubelet {
    type Key = ObjKey;

    fn resync(&mut self, store: &Store, queue: &mut Queue<ObjKey>) {
        let (pods, _) = store.list(PODS, None, needs_kubelet);
        for p in &pods {
            queue.dirty(super::objects::key_of(p));
        }
    }

    fn on_event(&mut self, store: &Store, event: &Event, queue: &mut Queue<ObjKey>) {
        if super::objects::same(event.resource, PODS) {
            let key = super::objects::key_of(&event.object);
            if event.kind == EventType::Deleted {
                self.starting.remove(&key);
                self.stopping.remove(&key);
                self.orphaned.remove(&key);
            } else if needs_kubelet(&event.object) {
                queue.dirty(key);
            }
        } else if super::objects::same(event.resource, NODES) {
            let changed = match (&event.previous, event.kind) {
                (Some(prev), EventType::Modified) => {
                    node_ready(prev) != node_ready(&event.object)
                        || boot_id(prev) != boot_id(&event.object)
                }
                _ => true,
            };
            if changed {
                let name = event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default();
                for key in pods_on_node(store, name) {
                    queue.dirty(key);
                }
            }
        }
    }

    fn reconcile(&mut self, store: &Store, key: &ObjKey, queue: &mut Queue<ObjKey>) {
        let (ns, name) = key;
        let Some(pod) = store.get(PODS, ns, name) else {
            self.starting.remove(key);
            self.stopping.remove(key);
            self.orphaned.remove(key);
            return;
        };
        let node_name = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        if node_name.is_empty() {
            return;
        }
        let node = store.get(NODES, "", node_name);
        let now = Instant::now();
        if is_terminating(&pod) {
            self.starting.remove(key);
            match &node {
                Some(n) if !node_ready(n) => {
                    // The kubelet is down; the pod stops when the node is back.
                    self.stopping.remove(key);
                    return;
                }
                _ => {}
            }
            let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(0);
            let delay = secs(grace).min(self.shutdown_time);
            let due = *self.stopping.entry(key.clone()).or_insert(now + delay);
            if due <= now {
                self.stopping.remove(key);
                // Already gone (a grace-0 delete raced us) is fine.
                let _ = crate::deletion::finalize_pod_deletion(store, ns, name);
            } else {
                queue.at(due, key.clone());
            }
            return;
        }
        self.stopping.remove(key);
        let Some(node) = node else {
            // Pod garbage collection: a pod bound to a node that does not exist is force-deleted
            // after the real PodGC's 40 s quarantine.
            self.starting.remove(key);
            let due = *self
                .orphaned
                .entry(key.clone())
                .or_insert(now + ORPHAN_QUARANTINE);
            if due <= now {
                self.orphaned.remove(key);
                let opts = DeleteOptions {
                    grace_period_seconds: Some(0),
                    ..DeleteOptions::default()
                };
                let _ = delete_object(store, PODS, ns, name, &opts);
            } else {
                queue.at(due, key.clone());
            }
            return;
        };
        self.orphaned.remove(key);
        if !needs_kubelet(&pod) || !node_ready(&node) {
            self.starting.remove(key);
            return;
        }
        let boot = boot_id(&node);
        let entry = self
            .starting
            .entry(key.clone())
            .or_insert_with(|| (now + self.start_delay, boot.clone()));
        if entry.1 != boot {
            *entry = (now + self.start_delay, boot);
        }
        let due = entry.0;
        if due <= now {
            self.starting.remove(key);
            let _ = store.update(PODS, ns, name, |cur| {
                if needs_kubelet(cur) && !is_terminating(cur) {
                    Ok(running_pod(cur, &node))
                } else {
                    Ok(cur.clone())
                }
            });
        } else {
            queue.at(due, key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_pod_has_the_kubelet_fields() {
        let node = new_node("n1", 3);
        let pod = json!({"metadata":{"name":"p","namespace":"d","generation":1},
            "spec":{"nodeName":"n1","containers":[{"name":"c","image":"img:1"}]},
            "status":{"phase":"Pending","qosClass":"BestEffort",
                "conditions":[{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2020-01-01T00:00:00Z"}]}});
        let r = running_pod(&pod, &node);
        let s = &r["status"];
        assert_eq!(s["phase"], "Running");
        assert!(pod_ready(&r));
        assert_eq!(s["conditions"].as_array().unwrap().len(), 5);
        let scheduled = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .unwrap();
        assert_eq!(scheduled["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert!(s["podIP"].as_str().unwrap().starts_with("10.128.3."));
        assert_eq!(s["hostIP"], "10.0.0.4");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert_eq!(s["containerStatuses"][0]["restartCount"], 0);
        let restarted = restarted_pod(&r);
        assert!(!pod_ready(&restarted));
        assert_eq!(
            restarted["status"]["containerStatuses"][0]["restartCount"],
            1
        );
        let again = running_pod(&restarted, &node);
        assert!(pod_ready(&again));
        assert_eq!(again["status"]["containerStatuses"][0]["restartCount"], 1);
        assert_eq!(again["status"]["podIP"], s["podIP"]);
    }
}
