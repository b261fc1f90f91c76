//! Discovery documents generated from [`RESOURCES`]: `/version`, the legacy `APIVersions`,
//! `APIGroupList`, `APIGroup` and `APIResourceList`, and aggregated discovery
//! (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) with its exact content type, `ETag`,
//! `Vary: Accept`, `Cache-Control: public` and `304 Not Modified` on a matching `If-None-Match`.
//!
//! Shapes, key order, verbs, short names, categories and storage version hashes are those of
//! the recorded kube-apiserver v1.36.2 (`shared/k8s-reference/discovery-*.json`), restricted to
//! the types kubesim serves.

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::response;
use crate::resources::{RESOURCES, ResourceType};

/// The media type of aggregated discovery responses, exactly as the real server sends it.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Non-core groups in the order the real server lists them.
const GROUP_ORDER: &[&str] = &["apps", "events.k8s.io", "policy", "coordination.k8s.io"];

/// Verbs of a served top-level resource.
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The `/version` document (the recorded server's, minus nothing).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.2",
        "gitCommit": "98b35193b2ac7a23a673325f5e9b830ecd5ba406",
        "gitTreeState": "clean",
        "buildDate": "2026-11-21T11:08:23Z",
        "goVersion": "go1.26.6",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `storageVersionHash` of a type (deterministic per type/version on the real server).
fn storage_version_hash(rt: &ResourceType) -> Option<&'static str> {
    Some(match (rt.group, rt.plural) {
        // Both Event APIs store core/v1 Events: the same hash.
        ("" | "events.k8s.io", "events") => "r2yiGXH7wu8=",
        ("", "namespaces") => "Q3oi5N2YM8M=",
        ("", "nodes") => "XwShjMxG9Fs=",
        ("", "pods") => "xPOwRZ+Yhw8=",
        ("apps", "daemonsets") => "dd7pWHUlMKQ=",
        ("apps", "deployments") => "8aSe+NMegvE=",
        ("apps", "replicasets") => "P1RzHs8/mWQ=",
        ("coordination.k8s.io", "leases") => "gqkMMb/YqFM=",
        ("policy", "poddisruptionbudgets") => "EVWiDmWqyJw=",
        _ => return None,
    })
}

/// Discovery categories (`kubectl get all`).
fn categories(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") | ("apps", "daemonsets" | "deployments" | "replicasets") => &["all"],
        _ => &[],
    }
}

/// Verbs advertised for a top-level resource.
fn verbs(rt: &ResourceType) -> Vec<&'static str> {
    ALL_VERBS
        .iter()
        .copied()
        .filter(|v| !(rt.plural == "namespaces" && *v == "deletecollection"))
        .collect()
}

/// (group, version, kind, verbs) of a subresource.
fn subresource_info(
    rt: &ResourceType,
    sub: &str,
) -> (&'static str, &'static str, String, &'static [&'static str]) {
    match sub {
        "eviction" => ("policy", "v1", "Eviction".to_string(), &["create"]),
        _ => ("", "", rt.kind.to_string(), &["get", "patch", "update"]),
    }
}

/// Served resource types of one group/version, sorted by plural as the real server lists them.
fn resources_of(group: &str, version: &str) -> Vec<&'static ResourceType> {
    let mut v: Vec<&'static ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    v.sort_by_key(|r| r.plural);
    v
}

/// Served groups other than core, in the real server's order.
fn served_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups.sort_by_key(|g| {
        GROUP_ORDER
            .iter()
            .position(|o| o == g)
            .unwrap_or(GROUP_ORDER.len())
    });
    groups
}

/// Versions served for a group (kubesim serves one per group).
fn versions_of(group: &str) -> Vec<&'static str> {
    let mut versions: Vec<&'static str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        if !versions.contains(&r.version) {
            versions.push(r.version);
        }
    }
    versions
}

fn strings(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| json!(s)).collect())
}

/// `APIResourceList` for a group/version, or `None` when it is not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let types = resources_of(group, version);
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in types {
        let mut m = Map::new();
        m.insert("name".into(), json!(rt.plural));
        m.insert("singularName".into(), json!(rt.singular));
        m.insert("namespaced".into(), json!(rt.namespaced));
        m.insert("kind".into(), json!(rt.kind));
        m.insert("verbs".into(), strings(&verbs(rt)));
        if !rt.short_names.is_empty() {
            m.insert("shortNames".into(), strings(rt.short_names));
        }
        if !categories(rt).is_empty() {
            m.insert("categories".into(), strings(categories(rt)));
        }
        if let Some(h) = storage_version_hash(rt) {
            m.insert("storageVersionHash".into(), json!(h));
        }
        resources.push(Value::Object(m));
        let mut subs: Vec<&str> = rt.subresources.to_vec();
        subs.sort_unstable();
        for sub in subs {
            let (g, v, kind, verbs) = subresource_info(rt, sub);
            let mut m = Map::new();
            m.insert("name".into(), json!(format!("{}/{sub}", rt.plural)));
            m.insert("singularName".into(), json!(""));
            m.insert("namespaced".into(), json!(rt.namespaced));
            if !g.is_empty() {
                m.insert("group".into(), json!(g));
                m.insert("version".into(), json!(v));
            }
            m.insert("kind".into(), json!(kind));
            m.insert("verbs".into(), strings(verbs));
            resources.push(Value::Object(m));
        }
    }
    let mut doc = Map::new();
    doc.insert("kind".into(), json!("APIResourceList"));
    // The recorded core list has no apiVersion; the group lists have `v1`.
    if !group.is_empty() {
        doc.insert("apiVersion".into(), json!("v1"));
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    doc.insert("groupVersion".into(), json!(gv));
    doc.insert("resources".into(), Value::Array(resources));
    Some(Value::Object(doc))
}

/// `APIVersions` for `/api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
    })
}

fn group_entry(group: &str) -> Value {
    let versions: Vec<Value> = versions_of(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `APIGroupList` for `/apis` (no core group).
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = served_groups().into_iter().map(group_entry).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `APIGroup` for `/apis/{group}`, or `None` when the group is not served.
pub fn api_group(group: &str) -> Option<Value> {
    if group.is_empty() || !served_groups().contains(&group) {
        return None;
    }
    let mut doc = Map::new();
    doc.insert("kind".into(), json!("APIGroup"));
    doc.insert("apiVersion".into(), json!("v1"));
    if let Value::Object(entry) = group_entry(group) {
        doc.extend(entry);
    }
    Some(Value::Object(doc))
}

fn aggregated_resources(group: &str, version: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for rt in resources_of(group, version) {
        let mut m = Map::new();
        m.insert("resource".into(), json!(rt.plural));
        m.insert(
            "responseKind".into(),
            json!({"group": "", "version": "", "kind": rt.kind}),
        );
        m.insert(
            "scope".into(),
            json!(if rt.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            }),
        );
        m.insert("singularResource".into(), json!(rt.singular));
        m.insert("verbs".into(), strings(&verbs(rt)));
        if !rt.short_names.is_empty() {
            m.insert("shortNames".into(), strings(rt.short_names));
        }
        if !categories(rt).is_empty() {
            m.insert("categories".into(), strings(categories(rt)));
        }
        if !rt.subresources.is_empty() {
            let mut subs: Vec<&str> = rt.subresources.to_vec();
            subs.sort_unstable();
            let subs: Vec<Value> = subs
                .into_iter()
                .map(|sub| {
                    let (g, v, kind, verbs) = subresource_info(rt, sub);
                    json!({
                        "subresource": sub,
                        "responseKind": {"group": g, "version": v, "kind": kind},
                        "verbs": strings(verbs)
                    })
                })
                .collect();
            m.insert("subresources".into(), Value::Array(subs));
        }
        out.push(Value::Object(m));
    }
    out
}

fn aggregated_versions(group: &str) -> Vec<Value> {
    versions_of(group)
        .into_iter()
        .map(|v| {
            json!({
                "version": v,
                "resources": aggregated_resources(group, v),
                "freshness": "Current"
            })
        })
        .collect()
}

/// The aggregated `APIGroupDiscoveryList` for `/api` (`core == true`) or `/apis`.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![json!({"metadata": {}, "versions": aggregated_versions("")})]
    } else {
        served_groups()
            .into_iter()
            .map(|g| json!({"metadata": {"name": g}, "versions": aggregated_versions(g)}))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

/// Whether the client's `Accept` prefers aggregated discovery v2 (the first acceptable
/// alternative wins; v2beta1 is no longer served and is skipped, as by the real server).
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    for alternative in accept.split(',') {
        let mut params = alternative.split(';').map(str::trim);
        let media = params.next().unwrap_or_default().to_ascii_lowercase();
        let mut g = None;
        let mut v = None;
        let mut as_ = None;
        for p in params {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "g" => g = Some(val.trim().to_string()),
                    "v" => v = Some(val.trim().to_string()),
                    "as" => as_ = Some(val.trim().to_string()),
                    _ => {}
                }
            }
        }
        match (g.as_deref(), v.as_deref(), as_.as_deref()) {
            (Some("apidiscovery.k8s.io"), Some("v2"), Some("APIGroupDiscoveryList"))
                if media == "application/json" =>
            {
                return true;
            }
            (None, None, None)
                if matches!(media.as_str(), "application/json" | "*/*" | "application/*") =>
            {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// A content hash of a document as the quoted upper-case hex `ETag` the real server sends
/// (512 bits, from eight differently seeded FNV-1a passes; stable across runs).
pub fn etag(doc: &[u8]) -> String {
    let mut out = String::with_capacity(130);
    out.push('"');
    for seed in 0..8u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in doc {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let _ = write!(out, "{h:016X}");
    }
    out.push('"');
    out
}

/// A plain discovery response: `application/json`, `Cache-Control: no-cache, private`.
pub(crate) fn json_response(doc: &Value) -> Response {
    response::json_response(StatusCode::OK, doc)
}

/// The response for `/api` (`core`) or `/apis`, negotiated on `Accept` and `If-None-Match`.
pub fn root_response(core: bool, headers: &HeaderMap) -> Response {
    if !wants_aggregated(headers) {
        return json_response(&if core {
            api_versions()
        } else {
            api_group_list()
        });
    }
    let body = serde_json::to_vec(&aggregated(core)).unwrap_or_default();
    let tag = etag(&body);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(AGGREGATED_CONTENT_TYPE),
        );
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn core_list_has_eviction_and_status_subresources() {
        let doc = api_resource_list("", "v1").unwrap();
        assert!(doc.get("apiVersion").is_none());
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods/eviction") && names.contains(&"nodes/status"));
        let eviction = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .unwrap();
        assert_eq!(eviction["group"], "policy");
        assert_eq!(eviction["verbs"], json!(["create"]));
        assert!(api_resource_list("batch", "v1").is_none());
        assert_eq!(api_resource_list("apps", "v1").unwrap()["apiVersion"], "v1");
    }

    #[test]
    fn accept_negotiation_picks_the_first_served_alternative() {
        assert!(wants_aggregated(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(&accept("application/json")));
        assert!(!wants_aggregated(&HeaderMap::new()));
    }

    #[test]
    fn aggregated_root_has_etag_and_answers_304() {
        let h = accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        );
        let r = root_response(false, &h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], AGGREGATED_CONTENT_TYPE);
        let tag = r.headers()[header::ETAG].clone();
        assert_eq!(tag.len(), 130);
        let mut h2 = h.clone();
        h2.insert(header::IF_NONE_MATCH, tag);
        let r2 = root_response(false, &h2);
        assert_eq!(r2.status(), StatusCode::NOT_MODIFIED);
        assert!(r2.headers().get(header::CONTENT_TYPE).is_none());
        let groups = api_group_list();
        assert_eq!(groups["groups"][0]["name"], "apps");
        assert_eq!(groups["groups"][1]["name"], "events.k8s.io");
        assert_eq!(groups["groups"][3]["name"], "coordination.k8s.io");
    }
}
