//! The label and field selectors of a list or delete-collection request.

use serde_json::Value;

use super::query::ListQuery;
use crate::errors::ApiError;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};

/// The label and field selectors of a list; empty ones are skipped (a scan over tens of
/// thousands of objects is dominated by the pointer chasing into each object).
pub(crate) struct Selectors {
    /// `labelSelector`, when not empty.
    pub label: Option<LabelSelector>,
    /// `fieldSelector`, when not empty.
    pub field: Option<FieldSelector>,
}

impl Selectors {
    /// The node of a `spec.nodeName=X` (or `==`) term, if the field selector has one.
    pub fn pod_node(&self) -> Option<&str> {
        self.field.as_ref()?.exact_match("spec.nodeName")
    }

    /// Parses the selectors of `q` for objects of `rt` (400 on a bad one).
    pub fn parse(rt: &ResourceType, q: &ListQuery) -> Result<Self, ApiError> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        Ok(Self {
            label: non_empty(&q.label_selector)
                .map(|s| LabelSelector::parse(&s))
                .transpose()?,
            field: non_empty(&q.field_selector)
                .map(|s| FieldSelector::parse(rt, &s))
                .transpose()?,
        })
    }

    /// Whether `obj` matches both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.label.as_ref().is_none_or(|l| l.matches(obj))
            && self.field.as_ref().is_none_or(|f| f.matches(obj))
    }
}
