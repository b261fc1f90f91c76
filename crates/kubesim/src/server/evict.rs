//! `POST …/pods/NAME/eviction`: the HTTP side of [`crate::eviction`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::request::ApiRequest;
use super::response::json_response;
use super::state::ServerState;
use super::unknown_fields::FieldValidation;
use crate::errors::ApiError;
use crate::eviction;

/// Evicts the pod; answers 201 with a Success `Status` and the eviction's warnings.
pub(crate) fn evict(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let mode = FieldValidation::from_query(&req.query);
    let mapped;
    let body = if req.is_dry_run() {
        // `?dryRun=All` is mapped onto the Eviction's deleteOptions.dryRun.
        match serde_json::from_slice::<Value>(req.body) {
            Ok(mut v) if v.is_object() => {
                if !v["deleteOptions"].is_object() {
                    v["deleteOptions"] = json!({});
                }
                v["deleteOptions"]["dryRun"] = json!(["All"]);
                mapped = serde_json::to_vec(&v).unwrap_or_default();
                mapped.as_slice()
            }
            _ => req.body,
        }
    } else {
        req.body
    };
    let warnings = eviction::evict(
        &state.store,
        req.ns(),
        req.name(),
        body,
        mode == FieldValidation::Strict,
    )?;
    let warnings = if mode == FieldValidation::Ignore {
        Vec::new()
    } else {
        warnings
    };
    let mut resp = json_response(
        StatusCode::CREATED,
        &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}),
    );
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&w) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    Ok(resp)
}
