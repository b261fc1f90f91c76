//! Label selectors: the string form and `metav1.LabelSelector` objects.

use serde_json::{Map, Value};

use super::go_text::go_quote;
use super::label_parser::Parser;
use super::requirement::{Operator, Requirement, new_requirement};
use crate::errors::ApiError;

/// A parsed label selector: a conjunction of [`Requirement`]s.
///
/// Two special forms exist, as in apimachinery: the empty selector (no requirements) matches
/// every object, and the "nothing" selector (from a missing or `null` `metav1.LabelSelector`,
/// see [`LabelSelector::from_object`]) matches no object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the string form (`a=b,c!=d,e in (f,g),!h`) exactly as the real API server does;
    /// an error is the 400 `BadRequest` the server answers with for `?labelSelector=`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut requirements = Parser::new(s).parse().map_err(ApiError::bad_request)?;
        requirements.sort_by(|a, b| a.key().cmp(b.key()));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` object (as found in PDB, `ReplicaSet` and
    /// `DaemonSet` specs): `matchLabels` plus `matchExpressions` with the operators `In`, `NotIn`,
    /// `Exists` and `DoesNotExist`.
    ///
    /// As `metav1.LabelSelectorAsSelector` does: an empty selector `{}` matches everything; a
    /// missing/`null` one (pass `Value::Null`) matches nothing. Invalid keys, values or operators
    /// give the apimachinery error text.
    pub fn from_object(v: &Value) -> Result<Self, String> {
        let obj = match v {
            Value::Null => return Ok(Self::nothing()),
            Value::Object(obj) => obj,
            other => return Err(format!("label selector must be an object, not {other}")),
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err("matchLabels must be an object".to_string()),
        };
        let match_expressions = match obj.get("matchExpressions") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(a),
            Some(_) => return Err("matchExpressions must be an array".to_string()),
        };
        let mut requirements = Vec::new();
        for (k, val) in match_labels.into_iter().flatten() {
            let Some(val) = val.as_str() else {
                return Err(format!("matchLabels[{k}] must be a string"));
            };
            requirements.push(new_requirement(k, Operator::Equals, vec![val.to_string()])?);
        }
        for expr in match_expressions.into_iter().flatten() {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let op_name = expr.get("operator").and_then(Value::as_str).unwrap_or("");
            let operator = match op_name {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    ));
                }
            };
            let mut values = Vec::new();
            if let Some(vals) = expr.get("values").and_then(Value::as_array) {
                for val in vals {
                    let Some(val) = val.as_str() else {
                        return Err("matchExpressions values must be strings".to_string());
                    };
                    values.push(val.to_string());
                }
            }
            requirements.push(new_requirement(key, operator, values)?);
        }
        requirements.sort_by(|a, b| a.key().cmp(b.key()));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_labels(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// Whether a label map (`None`: no labels) satisfies every requirement; useful for pod
    /// templates.
    pub fn matches_labels(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    /// Whether this is the "nothing" selector (matches no object).
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}
