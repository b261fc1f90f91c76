//! `GET` of one object (also `…/status`): JSON, a `Table`, or `PartialObjectMetadata`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::request::ApiRequest;
use super::response::json_response;
use super::state::ServerState;
use crate::errors::ApiError;
use crate::event_conversion;
use crate::table::{self, IncludeObject};

/// Answers the object, in the representation the `Accept` header asks for.
pub(crate) fn get(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let obj = state
        .store
        .get(req.rt, req.ns(), req.name())
        .ok_or_else(|| ApiError::not_found(req.rt, req.name()))?;
    if table::wants_table(req.headers) {
        let meta = json!({"resourceVersion": obj["metadata"]["resourceVersion"].clone()});
        let include = IncludeObject::parse(req.param("includeObject"));
        let t = table::table(req.rt, [obj.as_ref()], meta, include);
        return Ok(json_response(StatusCode::OK, &t));
    }
    if wants_partial_metadata(req.headers) {
        return Ok(json_response(StatusCode::OK, &partial_metadata(&obj)));
    }
    Ok(json_response(
        StatusCode::OK,
        &event_conversion::for_api(req.rt, &obj),
    ))
}

/// Whether the first `Accept` alternative asks for `PartialObjectMetadata[List]` (what
/// kube-rs' `Api::get_metadata` / `list_metadata` and client-go's metadata client send).
pub(crate) fn wants_partial_metadata(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let first = accept.split(',').next().unwrap_or_default();
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    params.iter().any(|p| {
        matches!(
            *p,
            "as=PartialObjectMetadata" | "as=PartialObjectMetadataList"
        )
    }) && params.contains(&"g=meta.k8s.io")
        && params.contains(&"v=v1")
}

/// The `meta.k8s.io/v1` `PartialObjectMetadata` of an object.
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"].clone()
    })
}
