//! How the real server prints a bad value in a field error (apimachinery `field.Error`):
//! numbers and booleans plainly, strings quoted, anything else as Go's `json.Marshal` writes
//! it (map keys sorted, no spaces, `<`, `>` and `&` escaped).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// `v` as Go's `json.Marshal` of the equivalent Go value writes it.
pub(super) fn go_json(v: &Value) -> String {
    let sorted = sort_keys(v);
    let text = serde_json::to_string(&sorted).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' | '>' | '&' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out
}

/// A copy of `v` whose objects list their keys in sorted order (Go sorts map keys).
fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, x)| (k, sort_keys(x))).collect();
            Value::Object(sorted.into_iter().map(|(k, x)| (k.clone(), x)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::go_json;

    #[test]
    fn maps_are_sorted_and_html_characters_escaped() {
        assert_eq!(
            go_json(&json!({"b":"2","a":"<&>"})),
            r#"{"a":"\u003c\u0026\u003e","b":"2"}"#
        );
        assert_eq!(go_json(&json!(null)), "null");
    }
}
