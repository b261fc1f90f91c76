//! Minimal object validation with the real server's `422 Invalid` shape (`details.kind` is the
//! Kind, `details.causes[]` lists `{reason, message, field}`), plus the decode-time checks that
//! the real server answers with `400` (Lease `MicroTime` format).
//!
//! Checked: object names (RFC 1123 subdomain; label for namespaces), pod containers (required,
//! each with a name and an image), node taints (through [`crate::patch::validate_node_taints`],
//! which reports them under `metadata.taints[i]` and duplicated, exactly as recorded).

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::resources::ResourceType;

/// One field error of an Invalid response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, …
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers`.
    pub field: String,
    /// The cause message, e.g. `Required value`.
    pub message: String,
}

impl FieldError {
    /// `Required value`.
    pub fn required(field: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }

    /// `Invalid value: "v": detail`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {detail}"),
        }
    }

    /// `Unsupported value: "v": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                list.join(", ")
            ),
        }
    }

    /// `Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }
}

/// The 422 Invalid error for `errs` on object `name` of type `rt`.
pub fn invalid(rt: &ResourceType, name: &str, errs: &[FieldError]) -> ApiError {
    invalid_kind(rt.group, rt.kind, name, errs)
}

/// The 422 Invalid error for `errs` on object `name` of kind `kind` in API group `group`
/// (e.g. `ListOptions` in `meta.k8s.io` for bad list parameters). An empty name is left out of
/// `details`, as by the real server.
pub fn invalid_kind(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
    let mut unique: Vec<String> = Vec::new();
    for e in errs {
        let s = format!("{}: {}", e.field, e.message);
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    let summary = if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    };
    let qualified_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
        .collect();
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
    details.insert("causes".into(), Value::Array(causes));
    ApiError::new(
        422,
        Some("Invalid"),
        format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
    )
    .with_details(Value::Object(details))
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Whether `s` is an RFC 1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters).
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is an RFC 1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Validates an object about to be stored; `Err` is the 422 Invalid error.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut errs = Vec::new();
    if !name.is_empty() {
        if rt.plural == "namespaces" && rt.group.is_empty() {
            if !is_dns_label(name) {
                errs.push(FieldError::invalid("metadata.name", name, LABEL_MSG));
            }
        } else if !is_dns_subdomain(name) {
            errs.push(FieldError::invalid("metadata.name", name, SUBDOMAIN_MSG));
        }
    }
    if rt.group.is_empty() && rt.plural == "pods" {
        validate_pod_spec(&obj["spec"], "spec", &mut errs);
    }
    if !errs.is_empty() {
        return Err(invalid(rt, name, &errs));
    }
    if rt.group.is_empty() && rt.plural == "nodes" {
        // One implementation of the taint rules (and their recorded quirks) for patches and
        // every other write.
        crate::patch::validate_node_taints(obj)?;
    }
    Ok(())
}

fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match spec["containers"].as_array() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if c["name"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{path}.containers[{i}].name")));
                }
                if c["image"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!(
                        "{path}.containers[{i}].image"
                    )));
                }
            }
        }
        _ => errs.push(FieldError::required(format!("{path}.containers"))),
    }
}

/// The message of the real server's pod-spec immutability error (without its diff).
const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Validates an update of `old` to `new` (after [`validate`] passed for `new`): a pod's spec is
/// immutable except for container images, `activeDeadlineSeconds`, added tolerations,
/// `terminationGracePeriodSeconds` and removed scheduling gates.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    if !(rt.group.is_empty() && rt.plural == "pods") || old.get("spec") == new.get("spec") {
        return Ok(());
    }
    let (old_spec, new_spec) = (&old["spec"], &new["spec"]);
    // The old spec with every mutable field taken from the new one must equal the new spec.
    let mut allowed = old_spec.clone();
    for key in ["containers", "initContainers"] {
        let (Some(olds), Some(news)) = (old_spec[key].as_array(), new_spec[key].as_array()) else {
            continue;
        };
        if olds.len() != news.len() {
            continue;
        }
        if let Some(list) = allowed.get_mut(key).and_then(Value::as_array_mut) {
            for (c, n) in list.iter_mut().zip(news) {
                if let Some(image) = n.get("image") {
                    c["image"] = image.clone();
                }
            }
        }
    }
    let tolerations_added_only = old_spec["tolerations"].as_array().is_none_or(|olds| {
        let news = new_spec["tolerations"].as_array();
        olds.iter().all(|t| news.is_some_and(|ns| ns.contains(t)))
    });
    let mut mutable = vec![
        "activeDeadlineSeconds",
        "terminationGracePeriodSeconds",
        "schedulingGates",
    ];
    if tolerations_added_only {
        mutable.push("tolerations");
    }
    if let Some(m) = allowed.as_object_mut() {
        for key in mutable {
            match new_spec.get(key) {
                Some(v) => {
                    m.insert(key.to_string(), v.clone());
                }
                None => {
                    m.remove(key);
                }
            }
        }
    }
    if &allowed == new_spec {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    Err(invalid(
        rt,
        name,
        &[FieldError {
            reason: "FieldValueForbidden",
            field: "spec".into(),
            message: format!("Forbidden: {POD_UPDATE_FORBIDDEN}"),
        }],
    ))
}

/// Checks and normalises the `MicroTime` fields of a Lease (`spec.acquireTime`,
/// `spec.renewTime`): exactly six fractional digits are required (else the real server's 400
/// decode error); a numeric offset is converted to UTC `Z`.
pub fn normalize_micro_times(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if rt.plural != "leases" {
        return Ok(());
    }
    for field in ["acquireTime", "renewTime"] {
        let Some(raw) = obj["spec"][field].as_str().map(str::to_string) else {
            continue;
        };
        match parse_micro_time(&raw) {
            Ok(normalised) => obj["spec"][field] = json!(normalised),
            Err(detail) => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: parsing time \"{raw}\" as \"2006-01-02T15:04:05.000000Z07:00\": {detail}",
                    kind = rt.kind,
                    v = rt.version
                )));
            }
        }
    }
    Ok(())
}

/// Parses a `MicroTime` (`YYYY-MM-DDTHH:MM:SS.ffffff` + `Z` or `±HH:MM`) and renders it in UTC;
/// `Err` is Go's `cannot parse …` detail.
fn parse_micro_time(raw: &str) -> Result<String, String> {
    let cannot = |rest: &str, elem: &str| format!("cannot parse \"{rest}\" as \"{elem}\"");
    if raw.len() < 19 || !raw.is_char_boundary(19) {
        return Err(cannot(raw, "2006"));
    }
    let (head, rest) = raw.split_at(19);
    let Some(frac_and_zone) = rest.strip_prefix('.') else {
        return Err(cannot(rest, ".000000"));
    };
    let digits = frac_and_zone.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 6 {
        return Err(cannot(rest, ".000000"));
    }
    let zone = &frac_and_zone[6..];
    if digits > 6 || !(zone == "Z" || zone.starts_with('+') || zone.starts_with('-')) {
        return Err(cannot(zone, "Z07:00"));
    }
    let frac = &frac_and_zone[..6];
    let full = format!("{head}.{frac}{zone}");
    let ts: jiff::Timestamp = full
        .parse()
        .map_err(|_| cannot(raw, "2006-01-02T15:04:05"))?;
    let secs = jiff::Timestamp::from_second(ts.as_second()).map_err(|e| e.to_string())?;
    let base = secs.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    Ok(format!("{base}.{frac}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{DAEMONSETS, LEASES, NODES, PODS};

    #[test]
    fn invalid_pod_matches_the_recorded_error() {
        let pod = json!({"metadata":{"name":"Bad_Name"},"spec":{"containers":[]}});
        let e = validate(PODS, &pod).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert!(e.message.ends_with(", spec.containers: Required value]"));
        let d = e.details.unwrap();
        assert_eq!(d["kind"], "Pod");
        assert_eq!(
            d["causes"][1],
            json!({"reason":"FieldValueRequired","message":"Required value","field":"spec.containers"})
        );
        let ok =
            json!({"metadata":{"name":"a.b-1"},"spec":{"containers":[{"name":"c","image":"i"}]}});
        assert!(validate(PODS, &ok).is_ok());
    }

    #[test]
    fn bad_taint_effect_is_reported_twice_under_metadata() {
        let node = json!({"metadata":{"name":"node-a"},"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}});
        let e = validate(NODES, &node).unwrap_err();
        assert_eq!(
            e.message,
            "Node \"node-a\" is invalid: metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        );
        let d = e.details.unwrap();
        assert_eq!(d["causes"].as_array().unwrap().len(), 2);
        let grouped = invalid(DAEMONSETS, "x", &[FieldError::required("spec.selector")]);
        assert!(
            grouped
                .message
                .starts_with("DaemonSet.apps \"x\" is invalid")
        );
        assert_eq!(grouped.details.unwrap()["group"], "apps");
    }

    #[test]
    fn pod_specs_are_immutable_except_images_and_added_tolerations() {
        let old = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"a"}],
            "tolerations":[{"key":"k","operator":"Exists"}],"nodeName":"n1"}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("b");
        new["spec"]["tolerations"] =
            json!([{"key":"k","operator":"Exists"},{"key":"x","operator":"Exists"}]);
        assert!(validate_update(PODS, &old, &new).is_ok());
        let mut moved = old.clone();
        moved["spec"]["nodeName"] = json!("n2");
        let e = validate_update(PODS, &old, &moved).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with(
            "Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than"
        ));
        let mut dropped = old.clone();
        dropped["spec"]["tolerations"] = json!([]);
        assert!(validate_update(PODS, &old, &dropped).is_err());
        assert!(validate_update(NODES, &old, &moved).is_ok());
    }

    #[test]
    fn micro_times_need_six_digits_and_are_normalised_to_utc() {
        let mut l = json!({"spec":{"renewTime":"2026-01-02T03:04:05.123456+02:00"}});
        normalize_micro_times(LEASES, &mut l).unwrap();
        assert_eq!(l["spec"]["renewTime"], "2026-01-02T01:04:05.123456Z");
        let mut l = json!({"spec":{"renewTime":"2026-01-02T03:04:05Z"}});
        let e = normalize_micro_times(LEASES, &mut l).unwrap_err();
        assert_eq!(
            e.message,
            "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2026-01-02T03:04:05Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
        );
        assert_eq!(
            parse_micro_time("2026-01-02T03:04:05.1Z").unwrap_err(),
            "cannot parse \".1Z\" as \".000000\""
        );
        assert_eq!(
            parse_micro_time("2026-01-02T03:04:05.123456789Z").unwrap_err(),
            "cannot parse \"789Z\" as \"Z07:00\""
        );
        assert!(is_dns_label("a-1") && !is_dns_label("-a") && !is_dns_subdomain("A"));
    }
}
