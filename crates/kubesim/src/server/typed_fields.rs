//! Unknown fields at any depth, found as the real server's typed decoding finds them: the
//! object is decoded into its k8s-openapi type and encoded again; a key of the request that did
//! not survive the round trip is a field the type does not have (`spec.bogus`,
//! `spec.template.spec.containers[0].bogus`).
//!
//! The types are k8s-openapi's `v1_33` ones, so a field added to the API after v1.33 would count
//! as unknown here. `null` values are skipped (Go decodes them to the zero value, they are not
//! unknown). When the object does not decode at all (a value of the wrong JSON type), `None`
//! is returned and the caller falls back to its shallow check.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// `obj` decoded as `T` and encoded again, or `None` when it does not decode.
fn round_trip<T: DeserializeOwned + Serialize>(obj: Value) -> Option<Value> {
    let typed: T = serde_json::from_value(obj).ok()?;
    serde_json::to_value(typed).ok()
}

/// The typed round trip of an object of `rt` (kind and apiVersion set to the type's own).
fn typed_copy(rt: &ResourceType, obj: &Value) -> Option<Value> {
    let mut input = obj.clone();
    input["kind"] = json!(rt.kind);
    input["apiVersion"] = json!(rt.api_version());
    match (rt.group, rt.plural) {
        ("", "namespaces") => round_trip::<Namespace>(input),
        ("", "nodes") => round_trip::<Node>(input),
        ("", "pods") => round_trip::<Pod>(input),
        ("", "events") => round_trip::<Event>(input),
        ("events.k8s.io", "events") => round_trip::<EventV1>(input),
        ("apps", "daemonsets") => round_trip::<DaemonSet>(input),
        ("apps", "deployments") => round_trip::<Deployment>(input),
        ("apps", "replicasets") => round_trip::<ReplicaSet>(input),
        ("coordination.k8s.io", "leases") => round_trip::<Lease>(input),
        ("policy", "poddisruptionbudgets") => round_trip::<PodDisruptionBudget>(input),
        _ => None,
    }
}

/// Removes from `given` every non-null key that `typed` lacks, recursively, and collects the
/// removed paths (`spec.bogus`, `spec.containers[0].bogus`) in document order.
fn prune(given: &mut Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => {
            g.retain(|k, v| {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    Some(tv) => {
                        prune(v, tv, &child, out);
                        true
                    }
                    None if v.is_null() => true,
                    None => {
                        out.push(child);
                        false
                    }
                }
            });
        }
        (Value::Array(g), Value::Array(t)) if g.len() == t.len() => {
            for (i, (gv, tv)) in g.iter_mut().zip(t).enumerate() {
                prune(gv, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Drops the fields an object of `rt` does not have, at any depth, and returns their paths;
/// `None` when the object does not decode as its type (nothing is changed then).
pub(crate) fn drop_unknown_typed_fields(rt: &ResourceType, obj: &mut Value) -> Option<Vec<String>> {
    let typed = typed_copy(rt, obj)?;
    let mut unknown = Vec::new();
    prune(obj, &typed, "", &mut unknown);
    // Shallower fields first, as kubesim has always listed top-level before `metadata.` ones
    // (the real server's order across depths was not recorded); document order within a depth.
    unknown.sort_by_key(|p| p.matches(['.', '[']).count());
    Some(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{DAEMONSETS, LEASES, NODES};

    #[test]
    fn unknown_fields_are_found_at_any_depth_and_dropped() {
        let mut ds = json!({"metadata":{"name":"d","bogusMeta":1},
            "spec":{"bogus":true,"selector":{"matchLabels":{"a":"b"}},
                "template":{"metadata":{"labels":{"a":"b"}},
                    "spec":{"containers":[{"name":"c","image":"i","extra":"x"}]}}}});
        let unknown = drop_unknown_typed_fields(DAEMONSETS, &mut ds).unwrap();
        assert_eq!(
            unknown,
            [
                "metadata.bogusMeta",
                "spec.bogus",
                "spec.template.spec.containers[0].extra"
            ]
        );
        assert!(ds["spec"].get("bogus").is_none());
        assert_eq!(ds["spec"]["template"]["spec"]["containers"][0]["name"], "c");
    }

    #[test]
    fn nulls_and_known_fields_are_kept_and_bad_types_fall_back() {
        let mut node = json!({"metadata":{"name":"n","labels":{"x":"y"}},
            "spec":{"unschedulable":null,"taints":[{"key":"k","effect":"NoSchedule"}]},
            "status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}}}});
        let before = node.clone();
        assert_eq!(drop_unknown_typed_fields(NODES, &mut node), Some(vec![]));
        assert_eq!(node, before);
        let mut lease = json!({"metadata":{"name":"l"},"spec":{"leaseDurationSeconds":"ten"}});
        assert_eq!(drop_unknown_typed_fields(LEASES, &mut lease), None);
    }
}
