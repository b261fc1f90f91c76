//! The write path shared by update and patch: the change computed on the current object
//! (main resource / status split, server-owned fields, normalisation, validation), stored or
//! dry-run, and the removal of an object whose last finalizer went.

use std::sync::Arc;

use serde_json::{Value, json};

use super::body::check_string_maps;
use super::normalize::normalize;
use super::request::ApiRequest;
use super::state::ServerState;
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::{deletion, validation};

/// A write through `store.update`, or under `dryRun` the same change computed on the current
/// object and not stored (the response keeps the current resourceVersion).
pub(crate) fn write_or_dry_run(
    state: &ServerState,
    req: &ApiRequest<'_>,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Arc<Value>, ApiError> {
    let (rt, name) = (req.rt, req.name());
    if req.is_dry_run() {
        let cur = state
            .store
            .get(rt, req.ns(), name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let mut out = change(&cur)?;
        out["metadata"]["resourceVersion"] = json!(current_rv(&cur));
        return Ok(Arc::new(out));
    }
    let (stored, _) = state.store.update(rt, req.ns(), name, change)?;
    after_write(state, req, stored)
}

/// Whether `rt` has a status subresource (then the main resource ignores `.status`).
fn has_status_subresource(rt: &ResourceType) -> bool {
    rt.subresources.contains(&"status")
}

/// Applies the main-resource / status-subresource split to a desired object: the main
/// resource keeps the current `.status`; `/status` keeps everything but `metadata` and
/// `.status` from the current object. Server-managed deletion fields always come from the
/// current object.
fn apply_write_scope(rt: &ResourceType, sub: Option<&str>, cur: &Value, desired: &mut Value) {
    let Some(d) = desired.as_object_mut() else {
        return;
    };
    match sub {
        Some("status") => {
            let keep: Vec<String> = d
                .keys()
                .filter(|k| !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion"))
                .cloned()
                .collect();
            for k in keep {
                d.remove(&k);
            }
            if let Some(c) = cur.as_object() {
                for (k, v) in c {
                    if !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion") {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ if has_status_subresource(rt) => match cur.get("status") {
            Some(s) => {
                d.insert("status".into(), s.clone());
            }
            None => {
                d.remove("status");
            }
        },
        _ => {}
    }
    if !d.get("metadata").is_some_and(Value::is_object) {
        d.insert("metadata".into(), json!({}));
    }
    for f in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        match cur["metadata"].get(f) {
            Some(v) => desired["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = desired["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
}

/// The write after the caller's change function: scope, normalisation, validation. `cur` and
/// `desired` have the storage type's shape (see [`ResourceType::storage`]); `rt` is the API
/// type of the request.
pub(crate) fn finish_write(
    rt: &ResourceType,
    sub: Option<&str>,
    cur: &Value,
    mut desired: Value,
) -> Result<Value, ApiError> {
    if !desired.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    let storage = rt.storage();
    apply_write_scope(storage, sub, cur, &mut desired);
    validation::normalize_micro_times(storage, &mut desired)?;
    check_string_maps(storage, &desired)?;
    desired["kind"] = json!(storage.kind);
    desired["apiVersion"] = json!(storage.api_version());
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        match cur["metadata"].get(f) {
            Some(v) => desired["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = desired["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    normalize(storage, &mut desired);
    // Validation knows the API the write came through (events.k8s.io is stricter).
    validation::validate(rt, &desired)?;
    validation::validate_update(rt, cur, &desired)?;
    Ok(desired)
}

/// The `metadata.resourceVersion` of a stored object.
pub(crate) fn current_rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
}

/// After a write that removed the last finalizer of an object being deleted, the object goes.
fn after_write(
    state: &ServerState,
    req: &ApiRequest<'_>,
    obj: Arc<Value>,
) -> Result<Arc<Value>, ApiError> {
    if deletion::should_delete_after_update(&obj)
        && let Some(last) =
            deletion::remove_if_finalized(&state.store, req.rt, req.ns(), req.name())?
    {
        return Ok(last);
    }
    Ok(obj)
}
