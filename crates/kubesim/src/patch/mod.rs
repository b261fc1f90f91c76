//! Patch application: JSON merge patch (RFC 7386, `merge`), strategic merge patch (`strategic`)
//! with the per-field strategies of the types kubesim serves (`strategy`), and JSON patch
//! (RFC 6902, `json_patch`); `taints` holds the Node taint validation a patch result must pass.
//!
//! All functions are pure: they work on `serde_json::Value` trees and never touch the store.
//! The error values are the `Status` errors the real kube-apiserver answers with (see the
//! `patch-*` and `error-422-*` fixtures in `shared/k8s-reference/`).
//!
//! ```
//! use kubesim::patch::{json_patch, merge_patch, strategic_merge_patch};
//! use kubesim::resources::well_known::NODES;
//! use serde_json::json;
//!
//! let mut node = json!({"metadata": {"name": "n", "annotations": {"a": "1"}},
//!                       "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}});
//! merge_patch(&mut node, &json!({"metadata": {"annotations": {"a": null}}}));
//! assert_eq!(node["metadata"]["annotations"], json!({}));
//!
//! // spec.taints is atomic under strategic merge patch: the list is replaced.
//! strategic_merge_patch(NODES, &mut node,
//!     &json!({"spec": {"taints": [{"key": "y", "effect": "NoExecute"}]}})).unwrap();
//! assert_eq!(node["spec"]["taints"], json!([{"key": "y", "effect": "NoExecute"}]));
//!
//! json_patch(&mut node, &json!([{"op": "add", "path": "/spec/taints/-",
//!                                "value": {"key": "z", "effect": "NoSchedule"}}])).unwrap();
//! assert_eq!(node["spec"]["taints"][1]["key"], "z");
//! ```

mod go_json;
mod json_patch;
mod merge;
mod strategic;
mod strategy;
mod taints;

#[cfg(test)]
mod tests;

pub use json_patch::json_patch;
pub use merge::merge_patch;
pub use strategic::{
    strategic_merge_patch, strategic_merge_patch_with_warnings, warning_header_value,
};
pub use strategy::{PatchStrategy, field_strategy};
pub use taints::validate_node_taints;

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
    /// are ignored, the media type is case-insensitive); `None` for any other media type (the
    /// server answers 415).
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

    /// The canonical media type of this patch kind.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }
}
