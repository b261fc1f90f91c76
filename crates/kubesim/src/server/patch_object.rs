//! `PATCH` of an object (or its `/status`) with any of the patch types of [`crate::patch`].

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::body::go_json_error;
use super::create::create;
use super::request::ApiRequest;
use super::response::{json_response, with_warnings};
use super::state::ServerState;
use super::unknown_fields::{FieldValidation, check_unknown_fields};
use super::write::{current_rv, finish_write, write_or_dry_run};
use crate::errors::ApiError;
use crate::event_conversion;
use crate::patch::{self, PatchKind};

/// `PATCH` of an object or its `/status`: JSON patch, merge patch, strategic merge patch, or an
/// apply patch (a merge patch that creates a missing object).
pub(crate) fn patch_object(
    state: &ServerState,
    req: &ApiRequest<'_>,
) -> Result<Response, ApiError> {
    let (rt, name, sub) = (req.rt, req.name(), req.subresource.as_deref());
    let mode = FieldValidation::from_query(&req.query);
    let strict = mode == FieldValidation::Strict;
    let mut warnings: Vec<String> = Vec::new();
    let content_type = req.content_type().unwrap_or_default();
    let Some(kind) = PatchKind::from_content_type(content_type) else {
        return Err(ApiError::new(
            415,
            Some("UnsupportedMediaType"),
            "415: Unsupported Media Type",
        )
        .with_details(json!({})));
    };
    let patch: Value = serde_json::from_slice(req.body).map_err(|e| {
        if kind == PatchKind::Apply {
            ApiError::bad_request(format!(
                "error decoding YAML: kubesim accepts apply patches in their JSON form only: {e}"
            ))
        } else {
            ApiError::bad_request(format!("error decoding patch: {}", go_json_error(&e)))
        }
    })?;
    if kind != PatchKind::Json && !patch.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the patch must be a JSON object",
        ));
    }
    let result = write_or_dry_run(state, req, |cur| {
        // Patches apply to the object as the request's API shows it.
        let mut obj = event_conversion::for_api(rt, cur).into_owned();
        match kind {
            PatchKind::Json => patch::json_patch(&mut obj, &patch)?,
            PatchKind::Merge | PatchKind::Apply => patch::merge_patch(&mut obj, &patch),
            PatchKind::Strategic => {
                warnings = patch::strategic_merge_patch_with_warnings(rt, &mut obj, &patch)?;
                if strict && !warnings.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "strict decoding error: {}",
                        warnings.join(", ")
                    )));
                }
            }
        }
        warnings.extend(check_unknown_fields(rt, &mut obj, mode)?);
        // A resourceVersion in the patched object is a precondition (a merge/strategic patch
        // carrying one, or a JSON patch replacing it).
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && rv != current_rv(cur)
        {
            return Err(ApiError::conflict(rt, name));
        }
        finish_write(rt, sub, cur, event_conversion::for_storage(rt, obj))
    });
    let stored = match result {
        Ok(stored) => stored,
        Err(e) if e.code == 404 && kind == PatchKind::Apply && sub.is_none() => {
            let mut obj = patch.clone();
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            obj["metadata"]["name"] = json!(name);
            let bytes = serde_json::to_vec(&obj).unwrap_or_default();
            let mut headers = HeaderMap::new();
            return create(state, &req.with_json_body(&mut headers, &bytes));
        }
        Err(e) => return Err(e),
    };
    let resp = json_response(StatusCode::OK, &event_conversion::for_api(rt, &stored));
    if mode == FieldValidation::Ignore {
        return Ok(resp);
    }
    Ok(with_warnings(resp, &warnings))
}
