//! Minimal object validation with the real server's `422 Invalid` shape (`details.kind` is the
//! Kind, `details.causes[]` lists `{reason, message, field}`), plus the decode-time checks that
//! the real server answers with `400` (Lease `MicroTime` format).
//!
//! Checked: object names (RFC 1123 subdomain; label for namespaces, `names`), pod containers
//! (required, each with a name and an image) and the pod fields an update may change (`pod`),
//! node taints (through [`crate::patch::validate_node_taints`], which reports them under
//! `metadata.taints[i]` and duplicated, exactly as recorded), a `DaemonSet`'s selector against its
//! template labels (`daemonset`), a Lease's duration and transitions (`lease`), the namespace of
//! Events of both APIs (`event`). Messages print bad values as the real server does (`go_value`);
//! the error shape is `field_error`'s; `micro_time` holds the Lease time format check.

use serde_json::Value;

use crate::errors::ApiError;
use crate::resources::ResourceType;

mod daemonset;
mod event;
mod field_error;
mod go_value;
mod lease;
mod micro_time;
mod names;
mod pod;
#[cfg(test)]
mod tests;

use daemonset::validate_daemonset_spec;
pub use field_error::{FieldError, invalid, invalid_kind};
use lease::validate_lease_spec;
pub use micro_time::normalize_micro_times;
use names::{LABEL_MSG, SUBDOMAIN_MSG, is_dns_label, is_dns_subdomain};
use pod::validate_pod_spec;
use pod::validate_pod_update;

/// Validates an object about to be stored by an update (or by a create of a type without
/// create-only rules); `Err` is the 422 Invalid error. `obj` has the storage type's shape, `rt`
/// is the API type of the request.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    check(rt, obj, false)
}

/// Validates an object about to be created: [`validate`] plus the create-only rules
/// (events.k8s.io/v1 Events: `eventTime`, `type`, series, no deprecated fields).
pub fn validate_create(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    check(rt, obj, true)
}

fn check(rt: &ResourceType, obj: &Value, creating: bool) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut errs = Vec::new();
    if !name.is_empty() {
        if rt.plural == "namespaces" && rt.group.is_empty() {
            if !is_dns_label(name) {
                errs.push(FieldError::invalid("metadata.name", name, LABEL_MSG));
            }
        } else if !is_dns_subdomain(name) {
            errs.push(FieldError::invalid("metadata.name", name, SUBDOMAIN_MSG));
        }
    }
    match (rt.group, rt.plural) {
        ("", "pods") => validate_pod_spec(&obj["spec"], "spec", &mut errs),
        ("", "events") => event::legacy(obj, "reportingComponent", &mut errs),
        // An update through events.k8s.io runs `validate_update`'s rules only.
        ("events.k8s.io", "events") if creating => {
            event::legacy(obj, "reportingController", &mut errs);
            event::strict_create(obj, &mut errs);
        }
        ("apps", "daemonsets") => validate_daemonset_spec(&obj["spec"], &mut errs),
        ("coordination.k8s.io", "leases") => validate_lease_spec(&obj["spec"], &mut errs),
        _ => {}
    }
    if !errs.is_empty() {
        // Named by the storage type: an events.k8s.io Event is invalid as `Event` (no group).
        return Err(invalid(rt.storage(), name, &errs));
    }
    if rt.group.is_empty() && rt.plural == "nodes" {
        // One implementation of the taint rules (and their recorded quirks) for patches and
        // every other write.
        crate::patch::validate_node_taints(obj)?;
    }
    Ok(())
}

/// Validates an update of `old` to `new` (both in the storage shape) through API type `rt`:
/// the fields a pod's spec may not change; the immutable fields and the series of an
/// events.k8s.io/v1 Event.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    if rt.group == "events.k8s.io" && rt.plural == "events" {
        let mut errs = Vec::new();
        event::update(old, new, &mut errs);
        if errs.is_empty() {
            return Ok(());
        }
        let name = new["metadata"]["name"].as_str().unwrap_or_default();
        return Err(invalid(rt.storage(), name, &errs));
    }
    validate_pod_update(rt, old, new)
}
