//! Node labels: the API server's rules for label keys and values (which label selectors
//! share), and parsing `key=value` arguments (kured's `--pre-reboot-node-labels`,
//! `--post-reboot-node-labels`).
//!
//! The rules are those of k8s.io/apimachinery `pkg/util/validation` (`IsQualifiedName`,
//! `IsDNS1123Subdomain`, `IsValidLabelValue`), which the API server applies to every label it
//! stores and every requirement of a label selector it parses.

use std::collections::BTreeMap;

use crate::error::LabelParseError;

/// A label the API server would refuse; the message names it and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidLabel(String);

/// Checks one label as the API server would before storing it: the key is a qualified name
/// (an optional lower-case DNS subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_`, `.`, starting and ending with an alphanumeric) and the value is
/// empty or a name of the same form.
///
/// ```
/// assert!(drain::check_label("example.com/rebooting", "true").is_ok());
/// assert!(drain::check_label("rebooting", "").is_ok());
/// let e = drain::check_label("Example.com/x", "y").unwrap_err();
/// assert!(e.to_string().contains("\"Example.com/x\""), "{e}");
/// assert!(drain::check_label("x", "a b").is_err());
/// ```
pub fn check_label(key: &str, value: &str) -> Result<(), InvalidLabel> {
    if let Some(problem) = key_problem(key) {
        return Err(InvalidLabel(format!(
            "invalid label key {key:?}: {problem}"
        )));
    }
    if let Some(problem) = value_problem(value) {
        return Err(InvalidLabel(format!(
            "invalid value {value:?} for label {key:?}: {problem}"
        )));
    }
    Ok(())
}

/// What is wrong with a label key (`IsQualifiedName`), if anything.
pub(crate) fn key_problem(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Some("the prefix before '/' must not be empty".into());
            }
            if let Some(problem) = dns_subdomain_problem(prefix) {
                return Some(format!("prefix {prefix:?}: {problem}"));
            }
            *name
        }
        _ => return Some("a key holds at most one '/' (prefix/name)".into()),
    };
    if name.is_empty() {
        return Some("the name part must not be empty".into());
    }
    if name.len() > 63 {
        return Some("the name part must be no more than 63 characters".into());
    }
    if !is_name(name) {
        return Some(format!("{NAME_RULE} (the name part)"));
    }
    None
}

/// What is wrong with a label value (`IsValidLabelValue`), if anything.
pub(crate) fn value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    if !value.is_empty() && !is_name(value) {
        return Some(format!("must be empty or {NAME_RULE}"));
    }
    None
}

const NAME_RULE: &str = "consist of alphanumeric characters, '-', '_' or '.', \
    starting and ending with an alphanumeric character";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `IsDNS1123Subdomain`: at most 253 characters, dot-separated parts of lower-case
/// alphanumerics and `-`, each starting and ending with an alphanumeric.
fn dns_subdomain_problem(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let part_ok = |p: &str| {
        let b = p.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(alnum)
            && b.last().is_some_and(alnum)
            && b.iter().all(|c| alnum(c) || *c == b'-')
    };
    if s.split('.').all(part_ok) {
        None
    } else {
        Some(
            "must be a lower-case DNS subdomain (lower-case alphanumerics, '-' and '.', \
             starting and ending with an alphanumeric)"
                .into(),
        )
    }
}

/// Parses `key=value` strings into a map (a later duplicate key wins). The value may be empty
/// (`key=`) and may contain `=`; an argument without `=`, or with an empty key, is rejected with
/// an error naming it. Only the split is done here: [`check_label`] applies the API server's
/// rules to a key and value.
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

    /// Rows from apimachinery's `validation_test.go` (`TestIsQualifiedName`,
    /// `TestIsValidLabelValue`, `TestIsDNS1123Subdomain`).
    #[test]
    fn keys_and_values_follow_apimachinery() {
        let x63 = "x".repeat(63);
        let x64 = "x".repeat(64);
        let long_prefix = format!("{}/a", "a".repeat(254));
        for good in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "1-num.2-num/3-num",
            "a.b.c/Upper_case.Name",
            "A",
            "ABC_123.x-y",
            &x63,
        ] {
            assert_eq!(key_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "/abc",
            "abc/",
            "a..b/c",
            "-a/b",
            " a",
            &x64,
            &long_prefix,
        ] {
            assert!(key_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "",
            "simple",
            "now-with-dashes",
            "1-starts",
            "UPPER_case.9",
            &x63,
        ] {
            assert_eq!(value_problem(good), None, "{good}");
        }
        for bad in [
            "nospecial%",
            "-dash",
            "dash-",
            "_u",
            "a b",
            "a=b",
            "a/b",
            &x64,
        ] {
            assert!(value_problem(bad).is_some(), "{bad:?}");
        }
    }
}
