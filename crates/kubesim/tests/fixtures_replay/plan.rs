//! Plans: the state each fixture needs before its request is replayed.

#![allow(clippy::result_large_err)]

use axum::http::{Method, Uri};
use kubesim::resources::{ResourceType, well_known};
use kubesim::server::request_info;
use kubesim::store::object_key;
use serde_json::{Value, json};

use super::library::{Fixture, Library, seedable};

/// Token of the user `limited` (no rights) in the auth-enabled replays.
pub(crate) const LIMITED_TOKEN: &str = "limited-token";

// Plans: the state a fixture needs

/// A write done through the store after seeding (for watches and special states).
pub(crate) enum Write {
    /// Replace the object's content (identity kept by the store).
    Set(&'static ResourceType, Value),
    /// Delete the object.
    Delete(&'static ResourceType, String, String),
}

/// An HTTP request sent before the fixture's own one (e.g. the eviction before a GET).
pub(crate) struct PreRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) expect_status: u16,
}

#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) seeds: Vec<(&'static ResourceType, Value)>,
    /// Advance the global resourceVersion to at least this value after seeding.
    pub(crate) advance_to: Option<u64>,
    /// Compact the event log after advancing.
    pub(crate) compact: bool,
    pub(crate) writes: Vec<Write>,
    pub(crate) pre_requests: Vec<PreRequest>,
    /// Replace a recorded resourceVersion (PUT body or JSON-patch `test`) by the current one
    /// of the target object.
    pub(crate) fresh_rv: bool,
    /// Cap `timeoutSeconds` of a watch at this value.
    pub(crate) watch_timeout_cap: Option<u64>,
    /// Serve with bearer-token auth ([`kubesim::auth`]) and send this token.
    pub(crate) bearer: Option<&'static str>,
}

impl Plan {
    pub(crate) fn seed(&mut self, rt: &'static ResourceType, obj: Value) {
        self.seeds.push((rt, obj));
    }
}

pub(crate) fn without(mut obj: Value, pointer_parent: &str, key: &str) -> Value {
    if let Some(m) = obj
        .pointer_mut(pointer_parent)
        .and_then(Value::as_object_mut)
    {
        m.remove(key);
    }
    obj
}

pub(crate) fn renamed(mut obj: Value, name: &str) -> Value {
    obj["metadata"]["name"] = json!(name);
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("uid");
    }
    obj
}

pub(crate) fn not_terminating(obj: Value) -> Value {
    let obj = without(obj, "/metadata", "deletionTimestamp");
    without(obj, "/metadata", "deletionGracePeriodSeconds")
}

pub(crate) fn without_condition(mut obj: Value, kind: &str) -> Value {
    if let Some(cs) = obj["status"]["conditions"].as_array_mut() {
        cs.retain(|c| c["type"] != kind);
    }
    obj
}

pub(crate) fn pre(method: &str, path: &str, body: Option<Value>, expect_status: u16) -> PreRequest {
    PreRequest {
        method: method.into(),
        path: path.into(),
        content_type: body.as_ref().map(|_| "application/json".to_string()),
        body: body.map(|b| b.to_string()),
        expect_status,
    }
}

/// The object state before a recorded write, derived from the recorded result.
#[allow(clippy::too_many_lines)] // one arm per fixture, a table
pub(crate) fn pre_state(fixture: &str, after: &Value) -> Value {
    let after = seedable(after);
    match fixture {
        "patch-node-json-patch-add-annotations-map-replaces-existing" => {
            let mut o = after;
            o["metadata"]["annotations"]["node.alpha.kubernetes.io/ttl"] = json!("0");
            o
        }
        "patch-node-merge-patch-autoscaler-karpenter-annotations" => {
            let o = without(
                after,
                "/metadata/annotations",
                "cluster-autoscaler.kubernetes.io/scale-down-disabled",
            );
            without(o, "/metadata/annotations", "karpenter.sh/do-not-disrupt")
        }
        "patch-node-json-patch-test-karpenter-remove-autoscaler-annotation" => {
            let mut o = after;
            o["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/scale-down-disabled"] =
                json!("true");
            o
        }
        "patch-node-json-patch-add-taints-array" | "patch-node-smp-add-taint-1" => {
            without(after, "/spec", "taints")
        }
        "patch-node-json-patch-annotation-slash-key" => without(
            after,
            "/metadata/annotations",
            "weave.works/kured-reboot-in-progress",
        ),
        "patch-node-json-patch-append-taint-existing" => {
            let mut o = after;
            if let Some(ts) = o["spec"]["taints"].as_array_mut() {
                ts.pop();
            }
            o
        }
        "patch-node-json-patch-remove-annotation" => {
            let mut o = after;
            o["metadata"]["annotations"] = json!({"weave.works/kured-reboot-in-progress": "x"});
            o
        }
        "patch-node-json-patch-test-and-replace-annotation" => {
            let mut o = after;
            o["metadata"]["annotations"]["weave.works/kured-reboot-in-progress"] =
                json!("2026-01-02T03:04:05Z");
            o
        }
        "patch-node-merge-patch-annotation-null-removes" => {
            let mut o = after;
            o["metadata"]["annotations"]["weave.works/kured-most-recent-reboot-needed"] =
                json!("2026-01-02T03:04:05Z");
            o
        }
        "patch-node-merge-patch-annotation-slash-key" => without(
            after,
            "/metadata/annotations",
            "weave.works/kured-most-recent-reboot-needed",
        ),
        "patch-node-merge-patch-taints-null-removes" => {
            let mut o = after;
            o["spec"]["taints"] = json!([{"key": "example.com/third", "effect": "NoSchedule"}]);
            o
        }
        "patch-node-merge-patch-taints-replaces-list"
        | "patch-node-smp-add-taint-2-replaces-list" => {
            let mut o = after;
            o["spec"]["taints"] =
                json!([{"key": "example.com/reboot", "value": "pending", "effect": "NoSchedule"}]);
            o
        }
        "patch-node-smp-taint-3-replaces-list" => {
            let mut o = after;
            o["spec"]["taints"] =
                json!([{"key": "example.com/second", "effect": "PreferNoSchedule"}]);
            o
        }
        "patch-node-merge-patch-unschedulable-false" => {
            let mut o = after;
            o["spec"]["unschedulable"] = json!(true);
            o
        }
        "patch-node-merge-patch-unschedulable-true" => without(after, "/spec", "unschedulable"),
        "patch-node-smp-label" => without(after, "/metadata/labels", "example.com/reboot-needed"),
        "patch-node-status-smp-conditions-merge" => {
            let mut o = after;
            if let Some(cs) = o["status"]["conditions"].as_array_mut() {
                cs.retain(|c| c["type"] != "MemoryPressure");
            }
            o
        }
        "patch-node-status-subresource-ignores-spec-applies-labels" => {
            without(after, "/metadata/labels", "via-status")
        }
        "patch-daemonset-json-patch-lock-annotation" => {
            let mut o = after;
            o["metadata"]["annotations"]["weave.works/kured-node-lock"] = json!("{}");
            o
        }
        // Events before a repeat: the legacy recorder's count and lastTimestamp one step back;
        // the events.k8s.io recorders' event before its (next) series.
        "patch-event-core-v1-legacy-count-strategic-merge-200" => {
            let mut o = after;
            o["count"] = json!(1);
            o["lastTimestamp"] = o["firstTimestamp"].clone();
            o
        }
        "patch-event-v1-kube-rs-recorder-series-merge-patch-200"
        | "patch-event-v1-series-strategic-merge-200" => without(after, "", "series"),
        "patch-event-v1-series-merge-patch-200" => {
            let mut o = after;
            o["series"]["count"] = json!(2);
            o
        }
        "delete-pod-default-grace-200"
        | "delete-pod-grace-0-body-200"
        | "delete-pod-propagation-background" => not_terminating(after),
        "delete-pod-grace-0-query-200" => {
            let mut o = after;
            o["metadata"]["deletionGracePeriodSeconds"] = json!(30);
            o
        }
        _ => after,
    }
}

pub(crate) fn is_object_of(body: &Value, rt: &ResourceType) -> bool {
    body["kind"] == json!(rt.kind)
}

/// What a fixture needs, or `Err(reason)` to skip it.
#[allow(clippy::too_many_lines)]
pub(crate) fn plan_for(f: &Fixture, lib: &Library) -> Result<Plan, String> {
    let name = f.name.as_str();
    if name.starts_with("quirk-etcd34-") {
        return Err("etcd 3.4 artifact of the recording (do not emulate)".into());
    }
    if name == "error-415-strategic-merge-patch-on-custom-resource" {
        return Err("kubesim serves no custom resources".into());
    }
    let mut plan = Plan::default();
    let method: Method = f.request["method"].as_str().unwrap().parse().unwrap();
    let uri: Uri = f.request["path"].as_str().unwrap().parse().unwrap();
    let info = request_info(&method, &uri);
    let status = f.response["status"].as_u64().unwrap();
    let body = &f.response["body"];
    let pods = well_known::PODS;
    let pdbs = well_known::PDBS;
    let nodes = well_known::NODES;

    // Generic part.
    if let Some(rt) = info.resource {
        let ns = if rt.namespaced {
            info.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        match (&info.name, info.subresource.as_deref()) {
            (Some(obj_name), None | Some("status")) => {
                if is_object_of(body, rt) && status < 300 {
                    plan.seed(rt, pre_state(name, body));
                } else if status != 404 {
                    let obj = lib.get(rt.kind, &ns, obj_name).unwrap_or_else(
                        || json!({"metadata": {"name": obj_name, "namespace": ns}}),
                    );
                    plan.seed(rt, obj);
                }
                plan.fresh_rv = status < 300;
            }
            (None, None) if method == Method::GET => {
                if let Some(items) = body["items"].as_array() {
                    for item in items {
                        plan.seed(rt, seedable(item));
                    }
                    let remaining = body["metadata"]["remainingItemCount"].as_u64().unwrap_or(0);
                    if remaining > 0 {
                        let last = items.last().map(object_key).unwrap_or_default();
                        let extra: Vec<Value> = lib
                            .objects
                            .iter()
                            .filter(|((k, n, nm), _)| {
                                k == rt.kind && (n.clone(), nm.clone()) > last
                            })
                            .take(usize::try_from(remaining).unwrap())
                            .map(|(_, v)| v.clone())
                            .collect();
                        for o in extra {
                            plan.seed(rt, o);
                        }
                    }
                } else if let Some(rows) = body["rows"].as_array() {
                    for row in rows {
                        // The full object from another fixture, with the metadata as of
                        // the Table's recording.
                        let m = &row["object"]["metadata"];
                        let mut obj = lib.must(
                            rt.kind,
                            m["namespace"].as_str().unwrap_or_default(),
                            m["name"].as_str().unwrap(),
                        );
                        obj["metadata"] = seedable(&row["object"])["metadata"].clone();
                        plan.seed(rt, obj);
                    }
                }
            }
            (None, None) if method == Method::POST && status == 409 => {
                let req = &f.request["body"];
                let obj_name = req["metadata"]["name"].as_str().unwrap();
                plan.seed(rt, lib.must(rt.kind, &ns, obj_name));
            }
            _ => {}
        }
    }

    // What the notes of individual fixtures describe.
    match name {
        n if n.starts_with("fieldselector-pods-") => {
            plan.seeds.clear();
            for p in lib.items_of("fieldselector-pods-spec-schedulername-supported") {
                plan.seed(pods, p);
            }
        }
        "fieldselector-nodes-spec-unschedulable" => {
            let mut cordoned = renamed(lib.must("Node", "", "node-a"), "node-cordoned");
            cordoned["spec"]["unschedulable"] = json!(true);
            plan.seed(nodes, cordoned);
        }
        "fieldselector-daemonsets-metadata-name" => {
            let other = renamed(lib.must("DaemonSet", "kube-system", "kured"), "other-ds");
            plan.seed(well_known::DAEMONSETS, other);
        }
        "list-pods-label-selector-limit-1" => {
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            plan.seed(pods, lib.must("Pod", "default", "solo-1"));
        }
        "list-namespaces-limit-2-page-2" => {
            plan.seeds.clear();
            for ((kind, _, _), v) in &lib.objects {
                if kind == "Namespace" {
                    plan.seed(well_known::NAMESPACES, v.clone());
                }
            }
        }
        "error-410-list-continue-token-expired" => {
            for ((kind, _, _), v) in &lib.objects {
                if kind == "Namespace" {
                    plan.seed(well_known::NAMESPACES, v.clone());
                }
            }
            plan.advance_to = Some(500);
            plan.compact = true;
        }
        "error-410-list-exact-resourceversion-compacted"
        | "list-notolderthan-after-compaction-200" => {
            plan.advance_to = Some(500);
            plan.compact = true;
        }
        "error-410-watch-too-old-resourceversion" => {
            plan.seed(nodes, lib.must("Node", "", "node-a"));
            plan.advance_to = Some(510);
            plan.compact = true;
        }
        "watch-nodes-modify-delete-bookmarks" => {
            let events = &f.response["events"];
            let step1 = seedable(&events[0]["object"]);
            let step2 = seedable(&events[1]["object"]);
            plan.seed(
                nodes,
                without(step1.clone(), "/metadata/labels", "example.com/step"),
            );
            plan.advance_to = Some(456);
            plan.writes = vec![
                Write::Set(nodes, step1),
                Write::Set(nodes, step2),
                Write::Delete(nodes, String::new(), "node-w".into()),
            ];
        }
        "watch-nodes-field-selector-metadata-name" => {
            let step1 = seedable(&f.response["events"][0]["object"]);
            let before = without(step1.clone(), "/metadata/labels", "example.com/step");
            let other = renamed(before.clone(), "node-x");
            let other_step = renamed(step1.clone(), "node-x");
            plan.seed(nodes, before);
            plan.seed(nodes, other);
            plan.advance_to = Some(463);
            plan.writes = vec![
                Write::Set(nodes, other_step),
                Write::Set(nodes, step1),
                Write::Delete(nodes, String::new(), "node-x".into()),
                Write::Delete(nodes, String::new(), "node-w2".into()),
            ];
        }
        "watch-nodes-label-selector-leave-enter" => {
            let events = &f.response["events"];
            let x1 = seedable(&events[0]["object"]);
            let x2 = seedable(&events[2]["object"]);
            let mut x1_b = x1.clone();
            x1_b["metadata"]["labels"]["pool"] = json!("b");
            let mut x2_b = x2.clone();
            x2_b["metadata"]["labels"]["pool"] = json!("b");
            plan.seed(
                nodes,
                without(x1.clone(), "/metadata/labels", "example.com/x"),
            );
            plan.advance_to = Some(481);
            plan.writes = vec![
                Write::Set(nodes, x1),
                Write::Set(nodes, x1_b),
                Write::Set(nodes, x2_b),
                Write::Set(nodes, x2),
                Write::Delete(nodes, String::new(), "node-l".into()),
            ];
        }
        "watch-events-v1-field-selector-regarding-name" => {
            // The recorder's POST and its series patch after the watch's resourceVersion.
            let events = &f.response["events"];
            let mut added = seedable(&events[0]["object"]);
            if let Some(m) = added["metadata"].as_object_mut() {
                m.remove("uid");
                m.remove("creationTimestamp");
                m.remove("resourceVersion");
            }
            let name = added["metadata"]["name"].as_str().unwrap().to_string();
            let series = events[1]["object"]["series"].clone();
            plan.advance_to = Some(34_726);
            plan.watch_timeout_cap = Some(1);
            plan.pre_requests.push(pre(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/default/events",
                Some(added),
                201,
            ));
            let mut patch = pre(
                "PATCH",
                &format!("/apis/events.k8s.io/v1/namespaces/default/events/{name}"),
                Some(json!({"series": series})),
                200,
            );
            patch.content_type = Some("application/strategic-merge-patch+json".into());
            plan.pre_requests.push(patch);
        }
        "watch-nodes-future-resourceversion-empty" => {
            plan.seed(nodes, lib.must("Node", "", "node-a"));
            plan.watch_timeout_cap = Some(2);
        }
        "get-pod-after-grace-0-delete-404" => {
            let del2 = not_terminating(lib.body_of("delete-pod-grace-0-body-200"));
            plan.seed(pods, del2);
            plan.pre_requests.push(pre(
                "DELETE",
                "/api/v1/namespaces/default/pods/del-2",
                Some(json!({"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":0})),
                200,
            ));
        }
        "lease-microtime-offset-normalised-to-utc" => {
            plan.seeds.clear();
            let mut lease = seedable(body);
            if let Some(m) = lease["metadata"].as_object_mut() {
                m.remove("uid");
                m.remove("creationTimestamp");
            }
            lease["spec"]["renewTime"] = json!("2026-01-02T03:04:05.123456+02:00");
            plan.pre_requests.push(pre(
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                Some(lease),
                201,
            ));
        }
        // Evictions: the pods and PDBs the notes describe.
        "eviction-201-grace-0" => {
            plan.seed(pods, lib.body_of("pod-owned-by-replicaset-running-ready"));
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            plan.seed(pdbs, lib.body_of("pdb-get-with-status"));
        }
        "eviction-evicted-pod-get-404" => {
            plan.seed(pods, lib.body_of("pod-owned-by-replicaset-running-ready"));
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            plan.seed(pdbs, lib.body_of("pdb-get-with-status"));
            plan.pre_requests.push(pre(
                "POST",
                "/api/v1/namespaces/default/pods/web-cp4wb/eviction",
                Some(json!({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-cp4wb","namespace":"default"},"deleteOptions":{"gracePeriodSeconds":0}})),
                201,
            ));
        }
        "eviction-201-no-delete-options" => {
            let mut p = renamed(lib.must("Pod", "default", "solo-evict-2"), "solo-evict-3");
            p["spec"]["terminationGracePeriodSeconds"] = json!(0);
            p["metadata"]["labels"] = json!({"app": "solo3"});
            plan.seed(pods, p);
        }
        "eviction-201-pending-pod-ignores-pdb" => {
            plan.seed(pods, lib.must("Pod", "default", "web-4sprq"));
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            plan.seed(pdbs, lib.body_of("pdb-after-eviction"));
        }
        "eviction-201-terminating-pod-grace-0" => {
            plan.seed(
                pods,
                lib.body_of("eviction-snake-case-delete-options-pod-after"),
            );
        }
        "eviction-201-v1beta1-body"
        | "error-400-eviction-name-mismatch"
        | "error-405-get-eviction-subresource"
        | "list-pods-in-missing-namespace-200" => {
            plan.seed(pods, lib.must("Pod", "default", "solo-1"));
        }
        "eviction-snake-case-delete-options-default-validation" => {
            plan.seed(
                pods,
                not_terminating(lib.body_of("eviction-snake-case-delete-options-pod-after")),
            );
        }
        "eviction-snake-case-delete-options-pod-after" => {
            plan.seeds.clear();
            // The pod before the eviction: not terminating, and without the DisruptionTarget
            // condition the eviction adds (issue 17: kubesim must add it itself).
            plan.seed(
                pods,
                without_condition(not_terminating(seedable(body)), "DisruptionTarget"),
            );
            plan.pre_requests.push(pre(
                "POST",
                "/api/v1/namespaces/default/pods/solo-evict-1/eviction",
                Some(json!({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"solo-evict-1","namespace":"default"},"delete_options":{"gracePeriodSeconds":0}})),
                201,
            ));
        }
        "eviction-snake-case-delete-options-strict-validation" => {
            plan.seed(pods, lib.must("Pod", "default", "solo-evict-2"));
        }
        "eviction-snake-case-delete-options-strict-pod-after" => {
            plan.pre_requests.push(pre(
                "POST",
                "/api/v1/namespaces/default/pods/solo-evict-2/eviction?fieldValidation=Strict",
                Some(json!({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"solo-evict-2","namespace":"default"},"delete_options":{"gracePeriodSeconds":0}})),
                400,
            ));
        }
        "error-429-eviction-blocked-by-pdb" => {
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            plan.seed(pods, lib.must("Pod", "default", "web-4sprq"));
            plan.seed(pdbs, lib.body_of("pdb-after-eviction"));
        }
        "error-429-eviction-pdb-does-not-allow" => {
            plan.seed(pods, lib.must("Pod", "default", "solo-evict-2"));
            plan.seed(
                pdbs,
                lib.body_of("pdb-maxunavailable-standalone-pods-status"),
            );
        }
        "error-429-eviction-pdb-still-being-processed" => {
            plan.seed(pods, lib.must("Pod", "default", "solo-evict-2"));
            let pdb = lib.body_of("pdb-maxunavailable-standalone-pods-status");
            let mut changed = pdb.clone();
            changed["spec"] =
                json!({"minAvailable": 0, "selector": pdb["spec"]["selector"].clone()});
            plan.seed(pdbs, pdb);
            plan.writes.push(Write::Set(pdbs, changed));
        }
        "error-500-eviction-multiple-pdbs" => {
            plan.seed(pods, lib.must("Pod", "default", "web-lwfk7"));
            let pdb = lib.body_of("pdb-get-with-status");
            plan.seed(pdbs, renamed(pdb.clone(), "web-pdb-2"));
            plan.seed(pdbs, pdb);
        }
        "put-daemonset-release-lock-200" => {
            plan.seeds.clear();
            plan.seed(
                well_known::DAEMONSETS,
                lib.body_of("daemonset-get-with-annotation-and-status"),
            );
        }
        "put-lease-200" | "error-409-delete-precondition-resourceversion" => {
            plan.seeds.clear();
            plan.seed(well_known::LEASES, lib.body_of("lease-get"));
        }
        "error-422-json-patch-test-op-failed-resourceversion" => plan.fresh_rv = false,
        // Recorded with a user that has no RBAC rights, and with an unknown token.
        n if n.starts_with("error-403-") || n == "discovery-allowed-for-limited-user" => {
            plan.bearer = Some(LIMITED_TOKEN);
        }
        "error-401-unauthorized-bad-token" => plan.bearer = Some("no-such-token"),
        _ => {}
    }
    Ok(plan)
}
