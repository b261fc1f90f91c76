//! Label selectors (string form and `metav1.LabelSelector` objects, `label`) and field
//! selectors (`field`), with the real API server's grammar and error messages.
//!
//! The string grammar is the one of `k8s.io/apimachinery/pkg/labels.Parse`:
//!
//! ```text
//! selector    ::= requirement | requirement "," selector
//! requirement ::= ["!"] KEY [ ("in" | "notin") "(" VALUES ")" | ("=" | "==" | "!=") VALUE ]
//! ```
//!
//! plus the `>`/`<` integer comparisons the real parser also accepts. Keys must be qualified
//! names (optional DNS-subdomain prefix and `/`, a name of at most 63 characters); values must
//! be valid label values. Errors carry the exact texts the real server answers with (a 400
//! `BadRequest` `Status`), e.g. `unable to parse requirement: found '=', expected: identifier`.
//!
//! Field selectors follow `k8s.io/apimachinery/pkg/fields.ParseSelector` plus the per-type field
//! label conversions of kube-apiserver (see [`FieldSelector::parse`]).
//!
//! ```
//! use kubesim::selector::LabelSelector;
//! use serde_json::json;
//!
//! let sel = LabelSelector::parse("app in (web,api),tier!=db,!legacy").unwrap();
//! assert!(sel.matches(&json!({"metadata": {"labels": {"app": "web"}}})));
//! assert!(!sel.matches(&json!({"metadata": {"labels": {"app": "web", "legacy": "1"}}})));
//! ```

mod field;
mod go_text;
mod label;
mod label_parser;
mod label_syntax;
mod requirement;

#[cfg(test)]
mod tests;

pub use field::{FieldSelector, FieldTerm};
pub(crate) use go_text::go_quote;
pub use label::LabelSelector;
pub use label_syntax::{label_key_errors, label_value_errors};
pub use requirement::{Operator, Requirement};
