//! Secret strings that never show up in `Debug`, `Display`, logs or errors.

use std::fmt;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// The text printed in place of a secret.
pub const REDACTED: &str = "***";

/// A secret (token, password, webhook path part). `Debug` and `Display` print `***`; the value is
/// only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself, for building a request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces every occurrence of each secret (raw and percent-encoded) in `text` by `***`.
///
/// Used on every error text that comes from a third party (HTTP client, SMTP server), because
/// such texts may quote a URL or a command line that contains a secret.
pub(crate) fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_owned();
    let mut values: Vec<String> = Vec::new();
    for secret in secrets {
        let raw = secret.expose();
        if raw.is_empty() {
            continue;
        }
        values.push(raw.to_owned());
        let encoded = utf8_percent_encode(raw, NON_ALPHANUMERIC).to_string();
        if encoded != raw {
            values.push(encoded);
        }
    }
    // Longest first, so that a secret containing another one is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        if out.contains(&value) {
            out = out.replace(&value, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrub_replaces_raw_and_encoded_forms() {
        let secrets = [Secret::new("a b/c"), Secret::new(""), Secret::new("tok")];
        let text = "x a b/c y a%20b%2Fc z tok";
        assert_eq!(scrub(text, &secrets), "x *** y *** z ***");
    }
}
