//! `PUT` of an object (or its `/status`), with the registry strategies' rules on unconditional
//! updates and create-on-update.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::body::{apply_namespace, decode_body};
use super::create::create;
use super::request::ApiRequest;
use super::response::{json_response, with_warnings};
use super::state::ServerState;
use super::unknown_fields::{FieldValidation, check_unknown_fields};
use super::write::{current_rv, finish_write, write_or_dry_run};
use crate::errors::ApiError;
use crate::event_conversion;
use crate::resources::ResourceType;

/// Whether a PUT without `metadata.resourceVersion` is allowed (the registry strategy's
/// `AllowUnconditionalUpdate`): not for `Leases` and `PodDisruptionBudgets`.
fn allows_unconditional_update(rt: &ResourceType) -> bool {
    !matches!(
        (rt.group, rt.plural),
        ("coordination.k8s.io", "leases") | ("policy", "poddisruptionbudgets")
    )
}

/// Whether a PUT to a missing name creates the object (`AllowCreateOnUpdate`): Leases and
/// Events.
fn allows_create_on_update(rt: &ResourceType) -> bool {
    matches!(
        (rt.group, rt.plural),
        ("coordination.k8s.io", "leases") | ("" | "events.k8s.io", "events")
    )
}

/// `PUT` of an object or its `/status`: a full replacement, conditional on a
/// `metadata.resourceVersion` in the body.
pub(crate) fn update(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let (rt, name, sub) = (req.rt, req.name(), req.subresource.as_deref());
    let mut obj = decode_body(req)?;
    let warnings = check_unknown_fields(rt, &mut obj, FieldValidation::from_query(&req.query))?;
    apply_namespace(req, &mut obj)?;
    match obj["metadata"]["name"].as_str() {
        None | Some("") => obj["metadata"]["name"] = json!(name),
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let precondition = obj["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if sub.is_none() && allows_create_on_update(rt) && state.store.get(rt, req.ns(), name).is_none()
    {
        // Leases and events are created by a PUT to a missing name (201), as on the real
        // server.
        let bytes = serde_json::to_vec(&obj).unwrap_or_default();
        let mut headers = HeaderMap::new();
        return create(state, &req.with_json_body(&mut headers, &bytes));
    }
    if precondition.is_none() && !allows_unconditional_update(rt) {
        return Err(ApiError::new(
            422,
            Some("Invalid"),
            format!(
                "{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                rt.qualified_plural()
            ),
        )
        .with_details({
            let mut d = Map::new();
            d.insert("name".into(), json!(name));
            if !rt.group.is_empty() {
                d.insert("group".into(), json!(rt.group));
            }
            d.insert("kind".into(), json!(rt.plural));
            d.insert(
                "causes".into(),
                json!([{"reason": "FieldValueInvalid", "message": "Invalid value: 0x0: must be specified for an update", "field": "metadata.resourceVersion"}]),
            );
            Value::Object(d)
        }));
    }
    let stored = write_or_dry_run(state, req, |cur| {
        if let Some(rv) = &precondition
            && rv != current_rv(cur)
        {
            return Err(ApiError::conflict(rt, name));
        }
        finish_write(rt, sub, cur, event_conversion::for_storage(rt, obj))
    })?;
    Ok(with_warnings(
        json_response(StatusCode::OK, &event_conversion::for_api(rt, &stored)),
        &warnings,
    ))
}
