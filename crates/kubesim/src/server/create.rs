//! `POST` of a new object.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::body::{apply_namespace, decode_body};
use super::normalize::normalize;
use super::request::ApiRequest;
use super::response::{json_response, with_warnings};
use super::state::ServerState;
use super::unknown_fields::{FieldValidation, check_unknown_fields};
use crate::errors::ApiError;
use crate::{admission, event_conversion, validation};

/// `POST` to a collection: the object decoded, admitted, normalised, validated and stored
/// (201), with a warning per unknown field.
pub(crate) fn create(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let rt = req.rt;
    let mut obj = decode_body(req)?;
    let warnings = check_unknown_fields(rt, &mut obj, FieldValidation::from_query(&req.query))?;
    apply_namespace(req, &mut obj)?;
    // From here on the object has its storage type's shape (events.k8s.io events: core/v1).
    let mut obj = event_conversion::for_storage(rt, obj);
    let storage = rt.storage();
    validation::normalize_micro_times(storage, &mut obj)?;
    obj["kind"] = json!(storage.kind);
    obj["apiVersion"] = json!(storage.api_version());
    if let Some(meta) = obj["metadata"].as_object_mut() {
        // System fields are the server's, whatever the client sent.
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
    }
    if admission::resets_status_on_create(storage)
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    admission::admit_create(storage, &mut obj);
    normalize(storage, &mut obj);
    // Validation knows the API the object was written through (events.k8s.io is stricter).
    validation::validate_create(rt, &obj)?;
    if req.is_dry_run() {
        return Ok(with_warnings(
            json_response(StatusCode::CREATED, &event_conversion::for_api(rt, &obj)),
            &warnings,
        ));
    }
    let stored = state.store.create(rt, obj)?;
    if state.options.controller_writes_after_create {
        crate::controllers::after_create(&state.store, storage, &stored);
    }
    Ok(with_warnings(
        json_response(StatusCode::CREATED, &event_conversion::for_api(rt, &stored)),
        &warnings,
    ))
}
