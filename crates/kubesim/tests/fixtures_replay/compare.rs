//! Comparing a recorded answer with kubesim's.

use kubesim::resources;
use serde_json::{Value, json};

// Comparison

/// Keys whose values differ on every run: compared by JSON type only.
pub(crate) const VARIABLE_KEYS: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "resourceVersion",
    "time",
    "continue",
    "lastTransitionTime",
    "lastHeartbeatTime",
    "startTime",
];

pub(crate) fn mask_digits(s: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

pub(crate) fn is_generated_volume_name(s: &str) -> bool {
    s.strip_prefix("kube-api-access-").is_some_and(|suffix| {
        suffix.len() == 5 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    key: &str,
    diffs: &mut Vec<String>,
) {
    if diffs.len() > 12 {
        return;
    }
    if key == "managedFields" {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                if k == "managedFields" {
                    continue;
                }
                match a.get(k) {
                    Some(av) => compare(ev, av, &format!("{path}.{k}"), k, diffs),
                    None => diffs.push(format!("{path}.{k}: missing")),
                }
            }
            for k in a.keys() {
                if !e.contains_key(k) && k != "managedFields" {
                    diffs.push(format!("{path}.{k}: unexpected ({})", a[k]));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() == a.len() {
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    compare(ev, av, &format!("{path}[{i}]"), key, diffs);
                }
            } else {
                diffs.push(format!(
                    "{path}: {} elements expected, {} found: {}",
                    e.len(),
                    a.len(),
                    truncate(&actual.to_string())
                ));
            }
        }
        _ if VARIABLE_KEYS.contains(&key) => {
            if type_name(expected) != type_name(actual) {
                diffs.push(format!(
                    "{path}: type {} expected, found {actual}",
                    type_name(expected)
                ));
            }
        }
        (Value::String(e), Value::String(a)) if key == "message" => {
            if mask_digits(e) != mask_digits(a) {
                diffs.push(format!("{path}: expected {e:?}, found {a:?}"));
            }
        }
        (Value::String(e), Value::String(a))
            if is_generated_volume_name(e) && is_generated_volume_name(a) => {}
        _ => {
            if expected != actual {
                diffs.push(format!(
                    "{path}: expected {}, found {}",
                    truncate(&expected.to_string()),
                    truncate(&actual.to_string())
                ));
            }
        }
    }
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() > 160 {
        let cut = (0..=160)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

/// Columns whose cells are ages (they depend on the wall clock).
const AGE_COLUMNS: &[&str] = &["Age", "Last Seen", "First Seen"];

/// Masks the age columns of a Table (`Age`; an Event's `Last Seen` and `First Seen`).
pub(crate) fn mask_table_ages(v: &mut Value) {
    if v["kind"] != "Table" {
        return;
    }
    let ages: Vec<usize> = v["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, c)| AGE_COLUMNS.iter().any(|n| c["name"] == *n))
        .map(|(i, _)| i)
        .collect();
    if let Some(rows) = v["rows"].as_array_mut() {
        for r in rows {
            for &age in &ages {
                if let Some(cell) = r["cells"].get_mut(age) {
                    *cell = json!("<age>");
                }
            }
        }
    }
}

/// Whether a discovery entry (`pods`, `pods/eviction`) names something kubesim serves.
pub(crate) fn served(group: &str, version: &str, name: &str) -> bool {
    let (plural, sub) = match name.split_once('/') {
        Some((p, s)) => (p, Some(s)),
        None => (name, None),
    };
    resources::lookup(group, version, plural)
        .is_some_and(|rt| sub.is_none_or(|s| rt.subresources.contains(&s)))
}

/// Restricts a recorded discovery document to the types kubesim serves.
pub(crate) fn filter_discovery(doc: &mut Value) {
    match doc["kind"].as_str() {
        Some("APIResourceList") => {
            let gv = doc["groupVersion"].as_str().unwrap_or_default().to_string();
            let (group, version) = gv.split_once('/').unwrap_or(("", &gv));
            let (group, version) = (group.to_string(), version.to_string());
            if let Some(rs) = doc["resources"].as_array_mut() {
                rs.retain(|r| served(&group, &version, r["name"].as_str().unwrap_or_default()));
            }
        }
        Some("APIGroupList") => {
            if let Some(gs) = doc["groups"].as_array_mut() {
                gs.retain(|g| {
                    resources::RESOURCES
                        .iter()
                        .any(|r| r.group == g["name"].as_str().unwrap_or_default())
                });
            }
        }
        Some("APIGroupDiscoveryList") => {
            if let Some(items) = doc["items"].as_array_mut() {
                items.retain_mut(|item| {
                    let group = item["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(versions) = item["versions"].as_array_mut() {
                        versions.retain_mut(|v| {
                            let version = v["version"].as_str().unwrap_or_default().to_string();
                            if let Some(rs) = v["resources"].as_array_mut() {
                                rs.retain_mut(|r| {
                                    let plural =
                                        r["resource"].as_str().unwrap_or_default().to_string();
                                    if let Some(subs) =
                                        r.get_mut("subresources").and_then(Value::as_array_mut)
                                    {
                                        subs.retain(|s| {
                                            served(
                                                &group,
                                                &version,
                                                &format!(
                                                    "{plural}/{}",
                                                    s["subresource"].as_str().unwrap_or_default()
                                                ),
                                            )
                                        });
                                    }
                                    served(&group, &version, &plural)
                                });
                                !rs.is_empty()
                            } else {
                                false
                            }
                        });
                        !versions.is_empty()
                    } else {
                        false
                    }
                });
            }
        }
        _ => {}
    }
}
