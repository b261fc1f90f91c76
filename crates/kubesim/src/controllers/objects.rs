//! Predicates and accessors on objects that the controllers share (owner references, pod and
//! node conditions, generations, keys, template hashes).

use std::time::Duration;

use serde_json::Value;

use crate::resources::ResourceType;

/// Whether two resource types are the same (by group and plural: the `well_known` statics are
/// equal to, but not at the same address as, the `RESOURCES` entries the server looks up).
pub(crate) fn same(a: &ResourceType, b: &ResourceType) -> bool {
    a.group == b.group && a.plural == b.plural
}

/// `(namespace, name)` of an object.
pub(crate) type ObjKey = (String, String);

/// The controller owner reference of an object (`controller: true`), if any.
pub(crate) fn controller_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// `(kind, name, uid)` of the controller owner of an object.
pub(crate) fn controller_ref(obj: &Value) -> Option<(&str, &str, &str)> {
    let r = controller_of(obj)?;
    Some((
        r["kind"].as_str()?,
        r["name"].as_str()?,
        r["uid"].as_str().unwrap_or_default(),
    ))
}

/// Whether an object is controlled by the object with this uid.
pub(crate) fn is_controlled_by(obj: &Value, uid: &str) -> bool {
    controller_ref(obj).is_some_and(|(_, _, u)| u == uid)
}

/// Whether an object has `metadata.deletionTimestamp`.
pub(crate) fn is_terminating(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// A pod's `status.phase`.
pub(crate) fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

/// Whether a pod has finished (Succeeded or Failed).
pub(crate) fn is_finished(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether a pod counts for its controller: neither terminating nor finished.
pub(crate) fn is_active(pod: &Value) -> bool {
    !is_terminating(pod) && !is_finished(pod)
}

/// Whether an object's condition of `type` has status `True`.
pub(crate) fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"].as_str() == Some(kind) && c["status"].as_str() == Some("True"))
    })
}

/// Whether a pod is Ready (its `Ready` condition is True).
pub(crate) fn pod_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Whether a node is Ready (its `Ready` condition is True).
pub(crate) fn node_ready(node: &Value) -> bool {
    condition_true(node, "Ready")
}

/// `metadata.generation` (0 when absent).
pub(crate) fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// `obj.status.observedGeneration` (0 when absent).
pub(crate) fn observed_generation(obj: &Value) -> i64 {
    obj["status"]["observedGeneration"].as_i64().unwrap_or(0)
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// The object's `(namespace, name)`.
pub(crate) fn key_of(obj: &Value) -> ObjKey {
    crate::store::object_key(obj)
}

/// A short, stable hash of a JSON value in the apiserver's name alphabet (for
/// `pod-template-hash` and `controller-revision-hash`).
pub fn template_hash(v: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(10);
    for _ in 0..10 {
        let i = usize::try_from(h % 27).unwrap_or(0);
        out.push(char::from(ALPHABET[i]));
        h /= 27;
    }
    out
}

/// Converts a [`Duration`] of whole seconds (as the grace periods are) from an `i64`.
pub(crate) fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}
