//! One label requirement (`key in (a,b)`, `key!=v`, `!key`, …): matching, and
//! `labels.NewRequirement`'s validation.

use serde_json::{Map, Value};

use super::go_text::{aggregate, field_invalid, go_quote};
use super::label_syntax::{label_key_errors, label_value_errors};

/// The operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value` (also matches objects without the key)
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)` (also matches objects without the key)
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>N` (integer comparison)
    GreaterThan,
    /// `key<N` (integer comparison)
    LessThan,
}

/// One requirement of a label selector: a key, an operator and a (sorted, de-duplicated) set of
/// values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and de-duplicated (empty for `Exists` / `DoesNotExist`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement (`labels` is `None` when the object has
    /// no labels at all).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let found = labels.and_then(|l| l.get(&self.key)).map(label_value_str);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                found.is_some_and(|v| self.values.iter().any(|w| w == v))
            }
            Operator::NotIn | Operator::NotEquals => {
                found.is_none_or(|v| !self.values.iter().any(|w| w == v))
            }
            Operator::Exists => found.is_some(),
            Operator::DoesNotExist => found.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(found), [bound]) = (found, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(have), Ok(bound)) = (found.parse::<i64>(), bound.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > bound
                } else {
                    have < bound
                }
            }
        }
    }
}

/// A label value as a string; a non-string value (never stored by a real server) reads as "".
fn label_value_str(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `labels.NewRequirement`: validates the key, the value count for the operator and every
/// value; the error text is the apimachinery aggregate of field errors.
pub(crate) fn new_requirement(
    key: &str,
    operator: Operator,
    values: Vec<String>,
) -> Result<Requirement, String> {
    let mut errs: Vec<String> = Vec::new();
    let key_errs = label_key_errors(key);
    if !key_errs.is_empty() {
        errs.push(field_invalid("key", key, &key_errs.join("; ")));
    }
    // Go's `%#v` of the values slice; an empty one is the nil slice `LabelSelectorAsSelector`
    // builds from an empty `values` list.
    let values_list = || {
        if values.is_empty() {
            return "[]string(nil)".to_string();
        }
        let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
        format!("[]string{{{}}}", quoted.join(", "))
    };
    match operator {
        Operator::In | Operator::NotIn => {
            if values.is_empty() {
                errs.push(format!(
                    "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                    values_list()
                ));
            }
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
            if values.len() != 1 {
                errs.push(format!(
                    "values: Invalid value: {}: exact-match compatibility requires one single value",
                    values_list()
                ));
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !values.is_empty() {
                errs.push(format!(
                    "values: Invalid value: {}: values set must be empty for exists and does not exist",
                    values_list()
                ));
            }
        }
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(format!(
                    "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                    values_list()
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(field_invalid(
                        &format!("values[{i}]"),
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let value_errs = label_value_errors(v);
        if !value_errs.is_empty() {
            errs.push(field_invalid(
                &format!("values[{i}][{key}]"),
                v,
                &value_errs.join("; "),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    } else {
        Err(aggregate(errs))
    }
}
