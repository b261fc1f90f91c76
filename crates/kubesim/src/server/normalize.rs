//! The normalisation applied to every object before it is stored: the empty/false values the
//! real server omits on output, pod conditions' `lastProbeTime: null`, the defaults its decoding
//! applies to every write (a Node's `status.allocatable` copied from `capacity`), the key order.

use serde_json::{Map, Value};

use crate::resources::ResourceType;

/// Removes `null`s recursively (Go decodes them to zero values, which are then omitted),
/// except where the real server keeps them (pod condition `lastProbeTime`).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                drop_nulls(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Removes the field at `path` when `pred` holds for its value.
fn remove_if(obj: &mut Value, path: &[&str], pred: impl Fn(&Value) -> bool) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut()
        && m.get(*last).is_some_and(&pred)
    {
        m.remove(*last);
    }
}

/// Whether a value is Go's zero value (what `omitempty` omits).
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Null => true,
        Value::Number(_) => false,
    }
}

/// `SetDefaults_NodeStatus`: a Node status with `capacity` and without `allocatable` gets
/// `allocatable` = `capacity` (on every write: create, update, patch, `/status`).
fn default_allocatable(node: &mut Value) {
    let Some(status) = node.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    if status.contains_key("allocatable") {
        return;
    }
    if let Some(capacity) = status
        .get("capacity")
        .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}

/// The values the real server omits on output (Go `omitempty`), for the fields the fixtures
/// show, plus the explicit `lastProbeTime: null` of pod conditions and the kind/apiVersion/
/// metadata-first key order. Applied to every object before it is stored.
pub(crate) fn normalize(rt: &ResourceType, obj: &mut Value) {
    drop_nulls(obj);
    for field in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "generateName",
    ] {
        remove_if(obj, &["metadata", field], is_empty_value);
    }
    match (rt.group, rt.plural) {
        ("", "nodes") => {
            for field in [
                "unschedulable",
                "taints",
                "podCIDR",
                "podCIDRs",
                "providerID",
            ] {
                remove_if(obj, &["spec", field], is_empty_value);
            }
            default_allocatable(obj);
        }
        ("", "pods") => {
            for field in [
                "nodeName",
                "tolerations",
                "volumes",
                "initContainers",
                "nodeSelector",
                "hostNetwork",
                "hostPID",
                "hostIPC",
                "imagePullSecrets",
            ] {
                remove_if(obj, &["spec", field], is_empty_value);
            }
            if let Some(conds) = obj
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in conds {
                    if let Some(m) = c.as_object_mut() {
                        m.entry("lastProbeTime").or_insert(Value::Null);
                    }
                }
            }
        }
        // Events: the Go struct's zero values and key order (what both Event APIs print).
        ("", "events") => *obj = crate::event_conversion::canonical_core(obj),
        _ => {}
    }
    if let Value::Object(m) = obj
        && m.keys()
            .take(3)
            .map(String::as_str)
            .ne(["kind", "apiVersion", "metadata"])
    {
        let mut ordered = Map::new();
        for k in ["kind", "apiVersion", "metadata"] {
            if let Some(v) = m.remove(k) {
                ordered.insert(k.to_string(), v);
            }
        }
        ordered.append(m);
        *m = ordered;
    }
}
