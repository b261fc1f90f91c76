//! Field selectors (`fields.ParseSelector`) with kube-apiserver's per-type field label
//! conversions.

use serde_json::Value;

use super::go_text::go_quote;
use crate::errors::ApiError;
use crate::resources::ResourceType;

/// One `field=value` / `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The (converted) field label, e.g. `spec.nodeName`.
    pub field: String,
    /// The unescaped value.
    pub value: String,
    /// `true` for `!=`.
    pub negated: bool,
}

/// A parsed field selector: a conjunction of [`FieldTerm`]s over the selectable fields of one
/// resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelector {
    kind: &'static str,
    terms: Vec<FieldTerm>,
}

/// How a resource type names its selectable fields and reports unsupported ones.
enum FieldSet {
    /// A type with its own field label conversion: `field label not supported: X`.
    Custom(&'static [&'static str]),
    /// The default (`metadata.name`, `metadata.namespace`) with the other message format.
    Default,
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// events.k8s.io/v1 Event field labels, each with the core/v1 (storage) field it selects.
const EVENT_V1_FIELDS: &[(&str, &str)] = &[
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.namespace"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingController", "reportingComponent"),
    ("type", "type"),
];

/// The key the field label conversion is looked up by: the kind, except for the events.k8s.io
/// API of Events (its own labels over the same stored Events).
const EVENT_V1_KEY: &str = "Event.events.k8s.io";

fn field_set(kind: &str) -> FieldSet {
    match kind {
        "Pod" => FieldSet::Custom(POD_FIELDS),
        "Node" => FieldSet::Custom(NODE_FIELDS),
        "Namespace" => FieldSet::Custom(NAMESPACE_FIELDS),
        "Event" => FieldSet::Custom(EVENT_FIELDS),
        _ => FieldSet::Default,
    }
}

/// The field label conversion of kube-apiserver for `kind`: the canonical label, or the error
/// text.
fn convert_field_label(kind: &str, label: &str) -> Result<String, String> {
    if kind == "Pod" && label == "spec.host" {
        return Ok("spec.nodeName".to_string());
    }
    if kind == EVENT_V1_KEY {
        return EVENT_V1_FIELDS
            .iter()
            .find(|(v1, _)| *v1 == label)
            .map(|(_, core)| (*core).to_string())
            .ok_or_else(|| format!("field label not supported: {label}"));
    }
    match field_set(kind) {
        FieldSet::Custom(fields) => {
            if fields.contains(&label) {
                Ok(label.to_string())
            } else {
                Err(format!("field label not supported: {label}"))
            }
        }
        FieldSet::Default => {
            if label == "metadata.name" || label == "metadata.namespace" {
                Ok(label.to_string())
            } else {
                Err(format!(
                    "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    go_quote(label)
                ))
            }
        }
    }
}

/// Splits on commas not escaped by a backslash (`fields.splitTerms`).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator (`!=`, `==`, `=`), trying all operators at each position.
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                // Go prints the rune with %v, i.e. as its code point number.
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            other => out.push(other),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses a field selector for resource type `rt`, as kube-apiserver does for
    /// `?fieldSelector=`: terms separated by unescaped commas (AND), operators `=`, `==`, `!=`,
    /// values unescaped (`\,`, `\=`, `\\`). Supported fields per type:
    /// - pods: `metadata.name`, `metadata.namespace`, `spec.nodeName`, `spec.restartPolicy`,
    ///   `spec.schedulerName`, `spec.serviceAccountName`, `spec.hostNetwork`, `status.phase`,
    ///   `status.podIP`, `status.podIPs`, `status.nominatedNodeName` (+ legacy `spec.host`);
    /// - nodes: `metadata.name`, `spec.unschedulable`;
    /// - namespaces: `metadata.name`, `status.phase`;
    /// - core/v1 events: `involvedObject.*`, `reason`, `reportingComponent`, `source`, `type`,
    ///   `metadata.name`, `metadata.namespace`;
    /// - events.k8s.io/v1 events: `regarding.*`, `reason`, `reportingController`, `type`,
    ///   `metadata.name`, `metadata.namespace` (terms then select the stored core/v1 fields:
    ///   `involvedObject.*`, `reportingComponent`);
    /// - every other type: `metadata.name`, `metadata.namespace`.
    ///
    /// Errors are 400 `BadRequest` with the real texts: `invalid selector: 'S'; can't understand
    /// 'T'` for a term without operator, `field label not supported: X` for pods, nodes,
    /// namespaces and both Event APIs, `"X" is not a known field selector: only "metadata.name",
    /// "metadata.namespace"` for the other types.
    pub fn parse(rt: &ResourceType, s: &str) -> Result<Self, ApiError> {
        let key = if rt.group == "events.k8s.io" && rt.plural == "events" {
            EVENT_V1_KEY
        } else {
            rt.kind
        };
        let mut parsed = Self::parse_for_kind(key, s).map_err(ApiError::bad_request)?;
        // Terms name the stored object's fields (core/v1 for both Event APIs).
        parsed.kind = rt.storage().kind;
        Ok(parsed)
    }

    fn parse_for_kind(kind: &'static str, s: &str) -> Result<Self, String> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut raw = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let value = unescape_value(rhs)?;
            raw.push((lhs, value, op == "!="));
        }
        let mut terms = Vec::with_capacity(raw.len());
        for (lhs, value, negated) in raw {
            let field = convert_field_label(kind, lhs)?;
            terms.push(FieldTerm {
                field,
                value,
                negated,
            });
        }
        Ok(Self { kind, terms })
    }

    /// Whether the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, in the (sorted) order the server evaluates them.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The value `field` must equal when the selector requires an exact match on it (e.g.
    /// `spec.nodeName=node-a`), for index look-ups.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether the object satisfies every term. A missing field compares as "" (so
    /// `spec.nodeName=` matches unbound pods) and a missing boolean as "false".
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(self.kind, obj, &t.field) == t.value) != t.negated)
    }
}

/// The string value of a selectable field of an object of `kind`.
fn field_value(kind: &str, obj: &Value, field: &str) -> String {
    let str_at = |ptr: &str| {
        obj.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let bool_at = |ptr: &str| {
        obj.pointer(ptr)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    match (kind, field) {
        (_, "metadata.name") => str_at("/metadata/name"),
        (_, "metadata.namespace") => str_at("/metadata/namespace"),
        ("Pod", "spec.hostNetwork") => bool_at("/spec/hostNetwork"),
        ("Pod", "status.podIP") => {
            let first = obj.pointer("/status/podIPs/0/ip").and_then(Value::as_str);
            first.map_or_else(|| str_at("/status/podIP"), str::to_string)
        }
        // The secondary pod IP (the first one is `status.podIP`).
        ("Pod", "status.podIPs") => str_at("/status/podIPs/1/ip"),
        ("Node", "spec.unschedulable") => bool_at("/spec/unschedulable"),
        ("Event", "source") => {
            let component = str_at("/source/component");
            if component.is_empty() {
                str_at("/reportingComponent")
            } else {
                component
            }
        }
        (_, other) => {
            let ptr: String = other.split('.').fold(String::new(), |mut acc, seg| {
                acc.push('/');
                acc.push_str(seg);
                acc
            });
            str_at(&ptr)
        }
    }
}
