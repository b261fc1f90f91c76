//! Label selectors (string form and `metav1.LabelSelector` objects) and field selectors, with
//! the real API server's grammar and error messages.

use serde_json::Value;

use crate::errors::ApiError;
use crate::resources::ResourceType;

/// A parsed label selector: a conjunction of requirements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<(String, String)>,
    nothing: bool,
}

impl LabelSelector {
    /// Parses the string form (`a=b,c!=d,e in (f,g),!h`).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let Some((k, v)) = term.split_once('=') else {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {term}"
                )));
            };
            requirements.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` object. `{}` matches everything; `null`
    /// matches nothing.
    pub fn from_object(v: &Value) -> Result<Self, String> {
        if v.is_null() {
            return Ok(Self {
                requirements: Vec::new(),
                nothing: true,
            });
        }
        let mut requirements = Vec::new();
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                requirements.push((k.clone(), val.as_str().unwrap_or_default().to_string()));
            }
        }
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.nothing {
            return false;
        }
        let labels = obj.pointer("/metadata/labels");
        self.requirements.iter().all(|(k, v)| {
            labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.as_str())
        })
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }
}

/// A parsed field selector: a conjunction of `field=value` / `field!=value` terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a field selector for resource type `rt`.
    pub fn parse(_rt: &ResourceType, s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in s.split(',').filter(|t| !t.is_empty()) {
            if let Some((f, v)) = term.split_once("!=") {
                terms.push((f.to_string(), false, v.to_string()));
            } else if let Some((f, v)) = term.split_once('=') {
                terms.push((f.to_string(), true, v.trim_start_matches('=').to_string()));
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            }
        }
        Ok(Self { terms })
    }

    /// Whether the object satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(f, eq, v)| {
            let ptr = format!("/{}", f.replace('.', "/"));
            let actual = obj.pointer(&ptr).and_then(Value::as_str).unwrap_or("");
            (actual == v) == *eq
        })
    }
}
