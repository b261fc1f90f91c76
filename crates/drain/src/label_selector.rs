//! Label selectors in the API server's grammar (kured's `--blocking-pod-selector`,
//! `--drain-pod-selector`), checked before they are sent.

/// A label selector that the API server would refuse; the message names it and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

/// Checks a label selector's syntax (the API server's grammar): comma-separated
/// requirements `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
/// `key notin (a,b)`. An empty selector (it would match everything) is refused.
///
/// ```
/// assert!(drain::check_label_selector("app in (db, cache),!canary").is_ok());
/// let e = drain::check_label_selector("app=(x").unwrap_err();
/// assert!(e.to_string().starts_with("invalid label selector"));
/// ```
pub fn check_label_selector(s: &str) -> Result<(), SelectorError> {
    if s.trim().is_empty() {
        return Err(SelectorError(
            "empty label selector (it would match every pod)".into(),
        ));
    }
    for requirement in split_requirements(s).map_err(SelectorError)? {
        check_requirement(requirement.trim())
            .map_err(|e| SelectorError(format!("invalid label selector {s:?}: {e}")))?;
    }
    Ok(())
}

fn split_requirements(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("invalid label selector {s:?}: unbalanced ')'"));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("invalid label selector {s:?}: unbalanced '('"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn valid_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    prefix_ok && valid_value(name) && !name.is_empty()
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

fn check_requirement(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("empty requirement".into());
    }
    if let Some(key) = r.strip_prefix('!') {
        return if valid_key(key.trim()) {
            Ok(())
        } else {
            Err(format!("invalid key {:?}", key.trim()))
        };
    }
    for op in ["!=", "==", "="] {
        if let Some((k, v)) = r.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) {
                return Err(format!("invalid key {k:?}"));
            }
            if !valid_value(v) {
                return Err(format!("invalid value {v:?}"));
            }
            return Ok(());
        }
    }
    let words: Vec<&str> = r
        .splitn(3, char::is_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    if let [key, op, rest @ ..] = words.as_slice()
        && (*op == "in" || *op == "notin")
    {
        if !valid_key(key) {
            return Err(format!("invalid key {key:?}"));
        }
        let set = rest.join(" ");
        let inner = set
            .trim()
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or_else(|| format!("expected ( values ) after {op}"))?;
        for v in inner.split(',') {
            if !valid_value(v.trim()) {
                return Err(format!("invalid value {:?}", v.trim()));
            }
        }
        return Ok(());
    }
    if valid_key(r) {
        Ok(())
    } else {
        Err(format!("invalid requirement {r:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        for ok in [
            "app=x",
            "app==x",
            "app!=x",
            "!app",
            "app",
            "example.com/a=b",
            "a in (x, y),!b",
            "a notin (x)",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["", "app=x,", "a in x", "=x", "a=(x", "a b", "app=-x"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_selector() {
        let e = check_label_selector("a=(x").unwrap_err().to_string();
        assert!(e.starts_with("invalid label selector \"a=(x\""), "{e}");
        let e = check_label_selector(" ").unwrap_err().to_string();
        assert!(e.contains("match every pod"), "{e}");
    }
}
