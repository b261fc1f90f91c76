//! Parsing `key=value` arguments (kured's `--pre-reboot-node-labels`,
//! `--post-reboot-node-labels`).

use std::collections::BTreeMap;

use crate::error::LabelParseError;

/// Parses `key=value` strings into a map (a later duplicate key wins). The value may be empty
/// (`key=`) and may contain `=`; an argument without `=`, or with an empty key, is rejected with
/// an error naming it.
///
/// ```
/// let labels = drain::parse_labels(&["example.com/rebooting=true".to_string()]).unwrap();
/// assert_eq!(labels["example.com/rebooting"], "true");
/// let err = drain::parse_labels(&["oops".to_string()]).unwrap_err();
/// assert!(err.to_string().contains("\"oops\""));
/// ```
pub fn parse_labels(args: &[String]) -> Result<BTreeMap<String, String>, LabelParseError> {
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(LabelParseError::MissingEquals(arg.clone()));
        };
        if key.is_empty() {
            return Err(LabelParseError::EmptyKey(arg.clone()));
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_pairs_empty_values_and_equals_in_values() {
        let m = parse_labels(&args(&["a=1", "b=", "c=x=y", "a=2"])).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["a"], "2");
        assert_eq!(m["b"], "");
        assert_eq!(m["c"], "x=y");
        assert!(parse_labels(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_missing_equals_and_empty_key_naming_the_argument() {
        let e = parse_labels(&args(&["ok=1", "example.com/reboot"])).unwrap_err();
        assert_eq!(
            e,
            LabelParseError::MissingEquals("example.com/reboot".into())
        );
        assert_eq!(
            e.to_string(),
            "invalid label \"example.com/reboot\": expected key=value (no '=' found)"
        );
        let e = parse_labels(&args(&["=v"])).unwrap_err();
        assert_eq!(e, LabelParseError::EmptyKey("=v".into()));
    }
}
