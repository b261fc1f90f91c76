//! `DELETE` of an object or a collection: delete options, dry runs, and the answers (the HTTP
//! side of [`crate::deletion`]).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::body::go_json_error;
use super::list_item::Item;
use super::request::ApiRequest;
use super::response::json_response;
use super::selectors::Selectors;
use super::state::ServerState;
use crate::deletion::{self, DeleteOptions, DeleteOutcome};
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::store::object_key;

/// Delete options from the query (`gracePeriodSeconds`, `propagationPolicy`) over a
/// `DeleteOptions` body.
fn delete_options(req: &ApiRequest<'_>) -> Result<DeleteOptions, ApiError> {
    let mut opts = if req.body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        let v: Value = serde_json::from_slice(req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type DeleteOptions): {}",
                go_json_error(&e)
            ))
        })?;
        DeleteOptions::from_json(&v)
    };
    if let Some(g) = req.param("gracePeriodSeconds").filter(|g| !g.is_empty()) {
        opts.grace_period_seconds = Some(g.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("invalid value for gracePeriodSeconds: {g}"))
        })?);
    }
    if let Some(p) = req.param("propagationPolicy").filter(|p| !p.is_empty()) {
        opts.propagation_policy = Some(p.to_string());
    }
    Ok(opts)
}

/// Kinds whose DELETE answers with the object rather than a Success `Status`.
fn delete_returns_object(rt: &ResourceType) -> bool {
    rt.group.is_empty() && matches!(rt.plural, "pods" | "namespaces")
}

/// The Success `Status` of a delete, with the object's name, group, kind and uid.
fn delete_success_status(rt: &ResourceType, obj: &Value) -> Value {
    let mut details = Map::new();
    details.insert("name".into(), obj["metadata"]["name"].clone());
    if !rt.group.is_empty() {
        details.insert("group".into(), json!(rt.group));
    }
    details.insert("kind".into(), json!(rt.plural));
    details.insert("uid".into(), obj["metadata"]["uid"].clone());
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details
    })
}

/// `DELETE` of one object: a Success `Status` (pods and namespaces: the object), or the object
/// being terminated when it has finalizers or a grace period.
pub(crate) fn delete(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let (rt, name) = (req.rt, req.name());
    let opts = delete_options(req)?;
    let body_dry_run = serde_json::from_slice::<Value>(req.body)
        .ok()
        .and_then(|v| v["dryRun"].as_array().map(|a| !a.is_empty()))
        .unwrap_or(false);
    if req.is_dry_run() || body_dry_run {
        // Check what the delete would check, change nothing.
        let cur = state
            .store
            .get(rt, req.ns(), name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        deletion::check_preconditions(rt, &cur, &opts)?;
        return Ok(if delete_returns_object(rt) {
            json_response(StatusCode::OK, &cur)
        } else {
            json_response(StatusCode::OK, &delete_success_status(rt, &cur))
        });
    }
    let outcome = deletion::delete_object(&state.store, rt, req.ns(), name, &opts)?;
    Ok(match outcome {
        DeleteOutcome::Deleted(obj) if !delete_returns_object(rt) => {
            json_response(StatusCode::OK, &delete_success_status(rt, &obj))
        }
        DeleteOutcome::Deleted(obj) | DeleteOutcome::Terminating(obj) => {
            json_response(StatusCode::OK, &crate::event_conversion::for_api(rt, &obj))
        }
    })
}

/// `DELETE` of a collection: every object the selectors match, answered as a list of them.
pub(crate) fn delete_collection(
    state: &ServerState,
    req: &ApiRequest<'_>,
) -> Result<Response, ApiError> {
    let rt = req.rt;
    let q = req.list_query()?;
    let selectors = Selectors::parse(rt, &q)?;
    let opts = delete_options(req)?;
    let (items, _) = state
        .store
        .list(rt, req.ns.as_deref(), |o| selectors.matches(o));
    let mut deleted = Vec::new();
    for item in items {
        let (ns, name) = object_key(&item);
        match deletion::delete_object(&state.store, rt, &ns, &name, &opts) {
            Ok(outcome) => deleted.push(outcome.object().clone()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let deleted: Vec<Value> = deleted
        .iter()
        .map(|o| crate::event_conversion::for_api(rt, o).into_owned())
        .collect();
    let items: Vec<Item<'_>> = deleted.iter().map(Item).collect();
    let doc = json!({
        "kind": rt.list_kind(),
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()},
        "items": serde_json::to_value(&items).unwrap_or_default()
    });
    Ok(json_response(StatusCode::OK, &doc))
}
