//! Unknown fields of a written object (`?fieldValidation=Ignore|Warn|Strict`): the fields the
//! real server's typed decoding drops, at any depth (`spec.bogus`, through
//! `super::typed_fields`); for an object that does not decode as its type, the top-level and
//! `metadata` ones.

use serde_json::Value;

use super::query::query_get;
use super::typed_fields::drop_unknown_typed_fields;
use crate::errors::ApiError;
use crate::resources::{OBJECT_META_FIELDS, ResourceType};

/// Top-level fields of an object of `rt` (anything else is an unknown field).
fn known_top_level(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "events") => &[
            "kind",
            "apiVersion",
            "metadata",
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("events.k8s.io", "events") => &[
            "kind",
            "apiVersion",
            "metadata",
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        ("coordination.k8s.io", "leases") => &["kind", "apiVersion", "metadata", "spec"],
        _ => &["kind", "apiVersion", "metadata", "spec", "status"],
    }
}

/// How unknown fields are treated (`?fieldValidation=`; the server default is `Warn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Drop silently.
    Ignore,
    /// Drop, with a `Warning` header per field.
    Warn,
    /// Reject the request (400).
    Strict,
}

impl FieldValidation {
    /// The mode `?fieldValidation=` asks for.
    pub(crate) fn from_query(query: &[(String, String)]) -> Self {
        match query_get(query, "fieldValidation") {
            Some("Ignore") => Self::Ignore,
            Some("Strict") => Self::Strict,
            _ => Self::Warn,
        }
    }
}

/// Removes the fields an object of `rt` does not have (the real server's typed decoding drops
/// them) and returns their paths.
fn drop_unknown_fields(rt: &ResourceType, obj: &mut Value) -> Vec<String> {
    if let Some(unknown) = drop_unknown_typed_fields(rt, obj) {
        return unknown;
    }
    let mut unknown = Vec::new();
    let known = known_top_level(rt);
    if let Some(m) = obj.as_object_mut() {
        m.retain(|k, _| {
            let ok = known.contains(&k.as_str());
            if !ok {
                unknown.push(k.clone());
            }
            ok
        });
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| {
                let ok = OBJECT_META_FIELDS.contains(&k.as_str());
                if !ok {
                    unknown.push(format!("metadata.{k}"));
                }
                ok
            });
        }
    }
    unknown
}

/// Applies `mode` to the unknown fields of a decoded body: `Err` (400) under `Strict`, else
/// the warning texts to send (none under `Ignore`).
pub(crate) fn check_unknown_fields(
    rt: &ResourceType,
    obj: &mut Value,
    mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let texts: Vec<String> = drop_unknown_fields(rt, obj)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match mode {
        FieldValidation::Strict if !texts.is_empty() => Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            texts.join(", "),
            kind = rt.kind,
            v = rt.version
        ))),
        FieldValidation::Ignore => Ok(Vec::new()),
        _ => Ok(texts),
    }
}
