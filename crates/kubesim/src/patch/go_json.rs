//! Go's names for JSON value types, as the real server's decoding errors print them.

use serde_json::Value;

/// Go's name of a JSON value type in `json: cannot unmarshal X into …` errors.
pub(crate) fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
