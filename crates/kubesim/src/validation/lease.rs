//! Leases (`ValidateLeaseSpec`): a positive duration, a non-negative transition count.

use serde_json::Value;

use super::field_error::FieldError;

/// Appends the errors of a Lease `spec` to `errs`.
pub(super) fn validate_lease_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    if let Some(d) = spec["leaseDurationSeconds"].as_i64()
        && d <= 0
    {
        errs.push(FieldError::invalid_printed(
            "spec.leaseDurationSeconds",
            &d.to_string(),
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec["leaseTransitions"].as_i64()
        && t < 0
    {
        errs.push(FieldError::invalid_printed(
            "spec.leaseTransitions",
            &t.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}
