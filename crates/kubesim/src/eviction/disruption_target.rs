//! The `DisruptionTarget` condition an evicted pod gains before it is deleted
//! (`addConditionAndDeletePod` in kube-apiserver's eviction handler): one status update of the
//! pod (its delete preconditions checked against the latest pod), then the delete, whose
//! resourceVersion precondition moves to the updated pod's.

use serde_json::{Map, Value, json};

use crate::deletion::{DeleteOptions, DeleteOutcome, check_preconditions, delete_object};
use crate::errors::ApiError;
use crate::resources::well_known::PODS;
use crate::store::{Store, now_rfc3339};

/// `podutil.UpdatePodCondition` with the eviction's condition: added, or updated in place
/// (`lastTransitionTime` changes only when `status` does).
fn with_disruption_target(pod: &Value) -> Value {
    let mut out = pod.clone();
    if !out["status"].is_object() {
        out["status"] = json!({});
    }
    if !out["status"]["conditions"].is_array() {
        out["status"]["conditions"] = json!([]);
    }
    let Some(conds) = out["status"]["conditions"].as_array_mut() else {
        return out;
    };
    let now = now_rfc3339();
    let existing = conds
        .iter_mut()
        .find(|c| c["type"].as_str() == Some("DisruptionTarget"));
    if let Some(c) = existing {
        if c["status"].as_str() != Some("True") {
            c["status"] = json!("True");
            c["lastTransitionTime"] = json!(now);
        }
        c["reason"] = json!("EvictionByEvictionAPI");
        c["message"] = json!("Eviction API: evicting");
    } else {
        let mut c = Map::new();
        c.insert("type".into(), json!("DisruptionTarget"));
        c.insert("status".into(), json!("True"));
        c.insert("lastProbeTime".into(), Value::Null);
        c.insert("lastTransitionTime".into(), json!(now));
        c.insert("reason".into(), json!("EvictionByEvictionAPI"));
        c.insert("message".into(), json!("Eviction API: evicting"));
        conds.push(Value::Object(c));
    }
    out
}

/// Marks pod `ns/name` as a disruption target, then deletes it with `opts`. A failed
/// precondition is the delete's 409, before anything is written.
pub(super) fn mark_and_delete(
    store: &Store,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<DeleteOutcome, ApiError> {
    let (updated, _) = store.update(PODS, ns, name, |cur| {
        check_preconditions(PODS, cur, opts)?;
        Ok(with_disruption_target(cur))
    })?;
    let mut opts = opts.clone();
    if opts.precondition_resource_version.is_some() {
        // The eviction itself changed the pod: the precondition follows it.
        opts.precondition_resource_version = updated["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
    }
    delete_object(store, PODS, ns, name, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_is_added_once_and_keeps_its_transition_time() {
        let pod = json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
        let once = with_disruption_target(&pod);
        let c = &once["status"]["conditions"][1];
        assert_eq!(c["type"], "DisruptionTarget");
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "EvictionByEvictionAPI");
        assert_eq!(c["message"], "Eviction API: evicting");
        assert!(c["lastProbeTime"].is_null() && c.get("lastProbeTime").is_some());
        let twice = with_disruption_target(&once);
        assert_eq!(twice, once);
        let bare = with_disruption_target(&json!({"metadata":{"name":"p"}}));
        assert_eq!(bare["status"]["conditions"].as_array().unwrap().len(), 1);
    }
}
