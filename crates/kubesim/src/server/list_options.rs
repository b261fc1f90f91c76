//! The list options' own rules: `ValidateListOptions` and the resourceVersion checks.

use serde_json::json;

use super::query::ListQuery;
use crate::errors::ApiError;
use crate::validation;

/// The list-side rules of `ValidateListOptions`: `resourceVersionMatch` needs a
/// `resourceVersion`, is `Exact` or `NotOlderThan`, and `Exact` is not allowed with "0";
/// `sendInitialEvents` is for watches only. Violations are a 422 on `ListOptions.meta.k8s.io`.
pub(crate) fn validate_list_options(q: &ListQuery) -> Result<(), ApiError> {
    use validation::FieldError;
    let mut errs = Vec::new();
    if let Some(m) = q.resource_version_match.as_deref() {
        match q.resource_version.as_deref() {
            None => errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )),
            Some(rv) => match m {
                "Exact" if rv == "0" => errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                )),
                "Exact" | "NotOlderThan" => {}
                other => errs.push(FieldError::not_supported(
                    "resourceVersionMatch",
                    other,
                    &["Exact", "NotOlderThan", ""],
                )),
            },
        }
    }
    if q.send_initial_events.is_some() {
        errs.push(FieldError::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(validation::invalid_kind(
            "meta.k8s.io",
            "ListOptions",
            "",
            &errs,
        ))
    }
}

/// 504 for a resourceVersion the store has not reached yet.
pub(crate) fn too_large_rv(requested: u64, current: u64) -> ApiError {
    ApiError::new(
        504,
        Some("Timeout"),
        format!("Timeout: Too large resource version: {requested}, current: {current}"),
    )
    .with_details(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1
    }))
}

/// A resourceVersion parameter as a number (400 when it is not one).
pub(crate) fn parse_rv(v: &str) -> Result<u64, ApiError> {
    v.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))
}
