//! Splitting a `--notify-url` value into single URLs.

/// Splits a `--notify-url` value into single URLs: whitespace separates; a comma separates only
/// when what follows it starts a new `scheme://` (commas inside a URL's query, such as
/// `toAddresses=a,b`, stay). Surrounding quotes (kured's `stripQuotes`) are removed.
pub fn split_urls(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in list.split_whitespace() {
        let word = strip_quotes(word);
        let mut start = 0;
        let bytes = word.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b',' && starts_with_scheme(&word[i + 1..]) {
                push_nonempty(&mut out, &word[start..i]);
                start = i + 1;
            }
        }
        push_nonempty(&mut out, &word[start..]);
    }
    out
}

fn push_nonempty(out: &mut Vec<String>, s: &str) {
    let s = strip_quotes(s.trim_matches(','));
    if !s.is_empty() {
        out.push(s.to_owned());
    }
}

fn starts_with_scheme(s: &str) -> bool {
    let Some(pos) = s.find("://") else {
        return false;
    };
    let scheme = &s[..pos];
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Removes one pair of matching surrounding `"` or `'` (kured's `stripQuotes`).
pub fn strip_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}
