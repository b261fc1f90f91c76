//! Label selectors (string form and `metav1.LabelSelector` objects) and field selectors, with
//! the real API server's grammar and error messages.
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

// `ApiError` (owned by errors.rs) is larger than clippy's `result_large_err` threshold; the
// agreed interfaces return it by value, so the lint is allowed here until it is boxed or
// allowed workspace-wide.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::resources::ResourceType;

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

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
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
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
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
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

/// `labels.NewRequirement`: validates the key, the value count for the operator and every
/// value; the error text is the apimachinery aggregate of field errors.
fn new_requirement(
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

/// `field.Invalid(path, value, detail).Error()`.
fn field_invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quote(value))
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several de-duplicated in
/// brackets.
fn aggregate(errs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen.pop().unwrap_or_default()
    } else {
        format!("[{}]", seen.join(", "))
    }
}

/// Go's `%q` formatting of a string (`strconv.Quote`).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// --- label key / value validation (apimachinery `content.IsLabelKey` / `IsLabelValue`) -------

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// `content.RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = msg.to_string();
    if examples.is_empty() {
        let _ = write!(out, " (regex used for validation is '{fmt}')");
        return out;
    }
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        let _ = write!(out, "'{ex}', ");
    }
    let _ = write!(out, "regex used for validation is '{fmt}')");
    out
}

/// `content.MaxLenError`.
fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` (a label key name part / non-empty label
/// value).
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Matches the lowercase RFC 1123 subdomain regex.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(first), Some(last)) => {
                    is_lower_alnum(*first)
                        && is_lower_alnum(*last)
                        && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
                }
                _ => false,
            }
        })
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `content.IsLabelKey`: the list of problems with a label key (empty when valid).
pub fn label_key_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errs.push(format!("prefix part {}", max_len_error(253)));
                }
                if !is_dns1123_subdomain(prefix) {
                    errs.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_ERR,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `content.IsLabelValue`: the list of problems with a label value (empty when valid).
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

// --- lexer and parser (a transcription of the grammar of apimachinery's labels.Parse) --------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &[u8]) -> Option<Tok> {
    Some(match s {
        b")" => Tok::ClosedPar,
        b"," => Tok::Comma,
        b"!" => Tok::DoesNotExist,
        b"==" => Tok::DoubleEquals,
        b"=" => Tok::Equals,
        b">" => Tok::GreaterThan,
        b"in" => Tok::In,
        b"<" => Tok::LessThan,
        b"!=" => Tok::NotEquals,
        b"notin" => Tok::NotIn,
        b"(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// The next byte, 0 at the end (a NUL byte in the input reads as 0 too, as in Go).
    fn read(&mut self) -> u8 {
        if let Some(&b) = self.s.get(self.pos) {
            self.pos += 1;
            b
        } else {
            0
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn lex(&mut self) -> (Tok, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            (Tok::EndOfString, String::new())
        } else if is_special(ch) {
            self.unread();
            self.scan_special()
        } else {
            self.unread();
            self.scan_id_or_keyword()
        }
    }

    fn scan_id_or_keyword(&mut self) -> (Tok, String) {
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
        }
        let lit = String::from_utf8_lossy(&buf).into_owned();
        match keyword(&buf) {
            Some(tok) => (tok, lit),
            None => (Tok::Identifier, lit),
        }
    }

    fn scan_special(&mut self) -> (Tok, String) {
        let mut buf = Vec::new();
        let mut last: Option<(Tok, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) {
                buf.push(ch);
                if let Some(tok) = keyword(&buf) {
                    last = Some((tok, buf.len()));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        match last {
            Some((tok, len)) => (tok, String::from_utf8_lossy(&buf[..len]).into_owned()),
            None => (
                Tok::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buf)
                ),
            ),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        let mut lexer = Lexer {
            s: s.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Tok::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Self { items, position: 0 }
    }

    fn item(&self, i: usize, ctx: Ctx) -> (Tok, String) {
        // The item list always ends with EndOfString and the parser never reads past it; the
        // fallback only keeps this total.
        let (tok, lit) = self
            .items
            .get(i)
            .cloned()
            .unwrap_or((Tok::EndOfString, String::new()));
        let tok = match (ctx, tok) {
            (Ctx::Values, Tok::In | Tok::NotIn) => Tok::Identifier,
            (_, t) => t,
        };
        (tok, lit)
    }

    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let it = self.item(self.position, ctx);
        self.position += 1;
        it
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::EndOfString => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Tok::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op) = op {
            return new_requirement(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(&key, op, values.into_iter().collect())
    }

    /// The key and, when the requirement is unary, its operator.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let key_errs = label_key_errors(&lit);
        if !key_errs.is_empty() {
            // The parser validates the key with a nil field path, which prints as "<nil>".
            return Err(field_invalid("<nil>", &lit, &key_errs.join("; ")));
        }
        let (next, _) = self.lookahead(Ctx::Values);
        if (next == Tok::EndOfString || next == Tok::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let set = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Ctx::Values);
                if tok != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut set = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Identifier => {
                    set.insert(lit);
                    let (tok2, lit2) = self.lookahead(Ctx::Values);
                    match tok2 {
                        Tok::Comma => {}
                        Tok::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (tok2, _) = self.lookahead(Ctx::Values);
                    if tok2 == Tok::ClosedPar {
                        set.insert(String::new());
                        return Ok(set);
                    }
                    if tok2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::EndOfString || tok == Tok::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

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
    /// - events: `involvedObject.*`, `reason`, `reportingComponent`, `source`, `type`,
    ///   `metadata.name`, `metadata.namespace`;
    /// - every other type: `metadata.name`, `metadata.namespace`.
    ///
    /// Errors are 400 `BadRequest` with the real texts: `invalid selector: 'S'; can't understand
    /// 'T'` for a term without operator, `field label not supported: X` for pods, nodes,
    /// namespaces and events, `"X" is not a known field selector: only "metadata.name",
    /// "metadata.namespace"` for the other types.
    pub fn parse(rt: &ResourceType, s: &str) -> Result<Self, ApiError> {
        Self::parse_for_kind(rt.kind, s).map_err(ApiError::bad_request)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{DAEMONSETS, EVENTS, NAMESPACES, NODES, PODS};
    use proptest::prelude::*;
    use serde_json::json;

    fn fixture_message(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/k8s-reference")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["response"]["body"]["reason"], "BadRequest", "{name}");
        v["response"]["body"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The query parameter of a fixture's request path, percent-decoded (`+` = space).
    fn fixture_query(name: &str, param: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/k8s-reference")
            .join(name);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let req_path = v["request"]["path"].as_str().unwrap();
        let query = req_path.split_once('?').unwrap().1;
        for pair in query.split('&') {
            if let Some((k, val)) = pair.split_once('=')
                && k == param
            {
                let val = val.replace('+', " ");
                return percent_encoding::percent_decode_str(&val)
                    .decode_utf8()
                    .unwrap()
                    .into_owned();
            }
        }
        panic!("no {param} in {req_path}");
    }

    fn labels(pairs: &[(&str, &str)]) -> Value {
        let m: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        json!({"metadata": {"name": "x", "labels": m}})
    }

    fn parse_err(s: &str) -> String {
        let e = LabelSelector::parse(s).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.reason, Some("BadRequest"));
        assert!(e.details.is_none());
        e.message
    }

    #[test]
    fn label_selector_fixture_errors_are_exact() {
        for name in [
            "error-400-bad-label-selector.json",
            "error-400-bad-label-selector-value.json",
        ] {
            let selector = fixture_query(name, "labelSelector");
            assert_eq!(parse_err(&selector), fixture_message(name), "{selector}");
        }
        assert_eq!(
            parse_err("app in (web"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            parse_err("a===b"),
            "unable to parse requirement: found '=', expected: identifier"
        );
    }

    #[test]
    fn label_selector_general_error_texts() {
        assert_eq!(
            parse_err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(parse_err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            parse_err("a=b c"),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse_err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            parse_err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            parse_err("a in (b,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(
            parse_err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            parse_err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            parse_err("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn label_selector_validation_messages() {
        assert_eq!(
            parse_err("-a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            parse_err("Example.com/a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            parse_err("a/b/c"),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        );
        let long = "k".repeat(64);
        assert_eq!(
            parse_err(&long),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 bytes"
            )
        );
        assert_eq!(
            parse_err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            parse_err("a=-b"),
            "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let long_value = "v".repeat(64);
        assert_eq!(
            parse_err(&format!("a={long_value}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{long_value}\": must be no more than 63 bytes"
            )
        );
        // Two bad values: sorted, aggregated in brackets.
        assert_eq!(
            parse_err("a in (z-,-b)"),
            "unable to parse requirement: [values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), values[1][a]: Invalid value: \"z-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"
        );
        assert!(parse_err("a=\u{e9}").contains("Invalid value: \"\u{e9}\""));
    }

    #[test]
    fn label_selector_operators_match() {
        let web = labels(&[("app", "web"), ("tier", "fe")]);
        let db = labels(&[("app", "db")]);
        let none = json!({"metadata": {"name": "n"}});
        let check = |s: &str, obj: &Value| LabelSelector::parse(s).unwrap().matches(obj);

        assert!(check("app=web", &web));
        assert!(check("app==web", &web));
        assert!(!check("app=web", &db));
        assert!(check("app!=web", &db));
        assert!(
            check("app!=web", &none),
            "!= matches objects without the key"
        );
        assert!(check("app in (web,api)", &web));
        assert!(!check("app in (web,api)", &db));
        assert!(!check("app in (web,api)", &none));
        assert!(check("app notin (web)", &db));
        assert!(
            check("app notin (web)", &none),
            "notin matches objects without the key"
        );
        assert!(check("tier", &web));
        assert!(!check("tier", &db));
        assert!(check("!tier", &db));
        assert!(!check("!tier", &web));
        assert!(check("app=web,tier=fe", &web));
        assert!(!check("app=web,tier=be", &web));
        assert!(
            check("  app = web ,  tier  ", &web),
            "whitespace is tolerated"
        );
        assert!(check("app\tin\t(web)", &web));
        assert!(check("", &none));
        assert!(check("app=", &labels(&[("app", "")])));
        assert!(!check("app=", &web));
        assert!(
            check("in in (in)", &labels(&[("in", "in")])),
            "keywords as key and value"
        );
        assert!(check("n>3", &labels(&[("n", "5")])));
        assert!(!check("n>3", &labels(&[("n", "2")])));
        assert!(check("n<3", &labels(&[("n", "2")])));
        assert!(!check("n<3", &labels(&[("n", "x")])));
        assert!(check("app in (,web)", &labels(&[("app", "")])));
        assert!(check("app in ()", &labels(&[("app", "")])));
        assert!(check(
            "example.com/app=web",
            &labels(&[("example.com/app", "web")])
        ));
    }

    #[test]
    fn label_selector_parsed_structure() {
        let sel = LabelSelector::parse("z=1,a in (c,b,c),!m").unwrap();
        let keys: Vec<&str> = sel.requirements().iter().map(Requirement::key).collect();
        assert_eq!(keys, ["a", "m", "z"], "sorted by key");
        assert_eq!(sel.requirements()[0].values(), ["b", "c"]);
        assert_eq!(sel.requirements()[0].operator(), Operator::In);
        assert_eq!(sel.requirements()[1].operator(), Operator::DoesNotExist);
        assert!(!sel.is_empty());
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn label_selector_from_object() {
        let sel = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
                {"key": "track", "operator": "NotIn", "values": ["canary"]}
            ]
        }))
        .unwrap();
        let good = labels(&[("app", "web"), ("tier", "fe"), ("zone", "a")]);
        assert!(sel.matches(&good));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!sel.matches(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("zone", "a"),
            ("legacy", "y")
        ])));
        assert!(!sel.matches(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("zone", "a"),
            ("track", "canary")
        ])));

        let everything = LabelSelector::from_object(&json!({})).unwrap();
        assert!(everything.is_empty());
        assert!(everything.matches(&json!({"metadata": {"name": "x"}})));
        let nothing = LabelSelector::from_object(&Value::Null).unwrap();
        assert!(nothing.matches_nothing());
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&good));

        assert_eq!(
            LabelSelector::from_object(
                &json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
            )
            .unwrap_err(),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            LabelSelector::from_object(
                &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
            )
            .unwrap_err(),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            LabelSelector::from_object(
                &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            )
            .unwrap_err(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert!(
            LabelSelector::from_object(&json!({"matchLabels": {"-bad": "x"}}))
                .unwrap_err()
                .starts_with("key: Invalid value: \"-bad\": name part must consist")
        );
        assert!(LabelSelector::from_object(&json!({"matchLabels": {"a": 1}})).is_err());
        assert!(LabelSelector::from_object(&json!("a=b")).is_err());
    }

    #[test]
    fn field_selector_fixture_errors_are_exact() {
        let cases: [(&str, &ResourceType); 7] = [
            (
                "error-400-fieldselector-daemonsets-unsupported.json",
                DAEMONSETS,
            ),
            (
                "error-400-fieldselector-namespaced-list-unsupported.json",
                PODS,
            ),
            ("error-400-fieldselector-no-operator.json", PODS),
            (
                "error-400-fieldselector-nodes-metadata-namespace.json",
                NODES,
            ),
            (
                "error-400-fieldselector-pods-unsupported-label-path.json",
                PODS,
            ),
            (
                "error-400-fieldselector-pods-unsupported-priorityclassname.json",
                PODS,
            ),
            (
                "error-400-fieldselector-pods-unsupported-status-hostip.json",
                PODS,
            ),
        ];
        for (name, rt) in cases {
            let selector = fixture_query(name, "fieldSelector");
            let err = FieldSelector::parse(rt, &selector).unwrap_err();
            assert_eq!(err.code, 400);
            assert_eq!(err.reason, Some("BadRequest"));
            assert!(err.details.is_none());
            assert_eq!(err.message, fixture_message(name), "{name}");
        }
    }

    #[test]
    fn field_selector_error_texts() {
        let msg = |rt, s| FieldSelector::parse(rt, s).unwrap_err().message;
        assert_eq!(
            msg(PODS, "status.phase=Running,foo"),
            "invalid selector: 'status.phase=Running,foo'; can't understand 'foo'"
        );
        assert_eq!(
            msg(PODS, "spec.nodeName=a=b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            msg(PODS, "spec.nodeName=a\\x"),
            "invalid field selector: invalid escape sequence: \\x"
        );
        assert_eq!(
            msg(NAMESPACES, "metadata.namespace=x"),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(msg(EVENTS, "spec.x=y"), "field label not supported: spec.x");
        assert_eq!(
            msg(
                crate::resources::well_known::LEASES,
                "spec.holderIdentity=a"
            ),
            "\"spec.holderIdentity\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        // Unsupported terms are reported in sorted order, after every term parsed.
        assert_eq!(msg(PODS, "z.y=1,a.b=2"), "field label not supported: a.b");
    }

    fn pod(name: &str, ns: &str, node: Option<&str>, phase: &str) -> Value {
        let mut p = json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": []},
            "status": {"phase": phase}
        });
        if let Some(node) = node {
            p["spec"]["nodeName"] = json!(node);
        }
        p
    }

    #[test]
    fn field_selector_matches_pods() {
        let a = pod("a", "default", Some("node-a"), "Running");
        let b = pod("b", "kube-system", Some("node-b"), "Succeeded");
        let unbound = pod("c", "default", None, "Pending");
        let check = |s: &str, p: &Value| FieldSelector::parse(PODS, s).unwrap().matches(p);

        assert!(check("spec.nodeName=node-a", &a));
        assert!(!check("spec.nodeName=node-a", &b));
        assert!(check("spec.nodeName==node-a", &a));
        assert!(check("spec.host=node-a", &a), "legacy spec.host");
        assert!(check("spec.nodeName=", &unbound), "unbound pods");
        assert!(!check("spec.nodeName=", &a));
        assert!(check("spec.nodeName!=", &a));
        assert!(check("status.phase!=Succeeded", &a));
        assert!(!check("status.phase!=Succeeded", &b));
        assert!(check(
            "spec.nodeName=node-a,status.phase!=Succeeded,status.phase!=Failed",
            &a
        ));
        assert!(!check("spec.nodeName=node-a,status.phase=Pending", &a));
        assert!(check("metadata.name=b", &b));
        assert!(check("metadata.namespace=kube-system", &b));
        assert!(
            check("spec.hostNetwork=false", &a),
            "missing bool reads false"
        );
        assert!(!check("spec.hostNetwork=true", &a));
        let mut host = a.clone();
        host["spec"]["hostNetwork"] = json!(true);
        assert!(check("spec.hostNetwork=true", &host));
        assert!(check("spec.schedulerName=", &a));
        assert!(check("", &a));
        let mut ips = a.clone();
        ips["status"]["podIP"] = json!("10.0.0.1");
        ips["status"]["podIPs"] = json!([{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]);
        assert!(check("status.podIP=10.0.0.1", &ips));
        assert!(check("status.podIPs=fd00::1", &ips));
        let mut escaped = a.clone();
        escaped["spec"]["nodeName"] = json!("x,y=z");
        assert!(check("spec.nodeName=x\\,y\\=z", &escaped));

        let sel = FieldSelector::parse(PODS, "spec.nodeName=node-a,status.phase!=Failed").unwrap();
        assert_eq!(sel.exact_match("spec.nodeName"), Some("node-a"));
        assert_eq!(sel.exact_match("status.phase"), None);
        assert_eq!(sel.terms().len(), 2);
        assert!(FieldSelector::parse(PODS, "").unwrap().is_empty());
    }

    #[test]
    fn field_selector_matches_nodes_and_others() {
        let cordoned = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        let open = json!({"metadata": {"name": "n2"}, "spec": {}});
        let node = |s: &str, n: &Value| FieldSelector::parse(NODES, s).unwrap().matches(n);
        assert!(
            node("spec.unschedulable=false", &open),
            "missing bool reads false"
        );
        assert!(!node("spec.unschedulable=false", &cordoned));
        assert!(node("spec.unschedulable=true", &cordoned));
        assert!(node("metadata.name=n2", &open));

        let ds = json!({"metadata": {"name": "kured", "namespace": "kube-system"}});
        let sel = FieldSelector::parse(DAEMONSETS, "metadata.name=kured").unwrap();
        assert!(sel.matches(&ds));
        let sel = FieldSelector::parse(DAEMONSETS, "metadata.namespace!=kube-system").unwrap();
        assert!(!sel.matches(&ds));

        let ev = json!({
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "n1"},
            "reason": "Rebooted",
            "source": {"component": "kured"},
            "type": "Normal"
        });
        let sel = FieldSelector::parse(
            EVENTS,
            "involvedObject.kind=Node,involvedObject.name=n1,reason=Rebooted,source=kured,type=Normal",
        )
        .unwrap();
        assert!(sel.matches(&ev));

        let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
        assert!(
            FieldSelector::parse(NAMESPACES, "status.phase=Active")
                .unwrap()
                .matches(&ns)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_label_selectors_never_panic(s in ".{0,40}") {
            let obj = labels(&[("a", "b"), ("in", "notin")]);
            if let Ok(sel) = LabelSelector::parse(&s) {
                let _ = sel.matches(&obj);
            }
        }

        #[test]
        fn selector_like_strings_never_panic(s in "[a-c!=(), <>\\\\/.\t-]{0,30}") {
            let obj = labels(&[("a", "b")]);
            if let Ok(sel) = LabelSelector::parse(&s) {
                let _ = sel.matches(&obj);
            }
            if let Ok(sel) = FieldSelector::parse(PODS, &s) {
                let _ = sel.matches(&obj);
            }
        }

        #[test]
        fn arbitrary_field_selectors_never_panic(s in ".{0,40}") {
            let obj = pod("a", "b", Some("c"), "Running");
            if let Ok(sel) = FieldSelector::parse(PODS, &s) {
                let _ = sel.matches(&obj);
            }
            let _ = FieldSelector::parse(DAEMONSETS, &s);
        }

        #[test]
        fn valid_equality_selectors_round_trip(
            key in "[a-z][a-z0-9]{0,10}",
            value in "[a-z0-9]{0,10}",
        ) {
            let sel = LabelSelector::parse(&format!("{key}={value}")).unwrap();
            prop_assert!(sel.matches(&labels(&[(&key, &value)])));
            let neg = LabelSelector::parse(&format!("{key}!={value}")).unwrap();
            prop_assert!(!neg.matches(&labels(&[(&key, &value)])));
        }
    }
}
