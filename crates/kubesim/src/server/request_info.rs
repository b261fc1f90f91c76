//! What a request is, in RBAC terms (kube-apiserver's `RequestInfoFactory`): used by the router,
//! by [`crate::auth`] and by [`crate::faults`].

use axum::http::{Method, Uri};

use super::query::{is_true, parse_query, query_get};
use crate::resources::{self, ResourceType};

/// What a request is, in RBAC terms: verb, resource, subresource, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; for non-resource URLs the
    /// lowercase HTTP method.
    pub verb: String,
    /// The resource type, when the path names a served one.
    pub resource: Option<&'static ResourceType>,
    /// `status`, `eviction`, …
    pub subresource: Option<String>,
    /// The namespace in the path.
    pub namespace: Option<String>,
    /// The object name in the path.
    pub name: Option<String>,
    /// The plural resource name in the path, even when kubesim does not serve it.
    pub resource_name: Option<String>,
    /// The API group in the path (`""` for core).
    pub group: Option<String>,
}

/// Whether a query string turns a GET into a watch (`watch=true` or `watch=1`).
fn query_has_watch(query: Option<&str>) -> bool {
    is_true(query_get(&parse_query(query), "watch"))
}

/// The percent-decoded, non-empty segments of a URL path.
pub(crate) fn path_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Classifies a request the way kube-apiserver's `RequestInfoFactory` does.
pub fn request_info(method: &Method, uri: &Uri) -> RequestInfo {
    let mut info = RequestInfo {
        verb: method.as_str().to_ascii_lowercase(),
        resource: None,
        subresource: None,
        namespace: None,
        name: None,
        resource_name: None,
        group: None,
    };
    let parts = path_segments(uri.path());
    let (group, version, rest) = match parts.first().map(String::as_str) {
        Some("api") if parts.len() >= 3 => (String::new(), parts[1].clone(), &parts[2..]),
        Some("apis") if parts.len() >= 4 => (parts[1].clone(), parts[2].clone(), &parts[3..]),
        _ => return info,
    };
    let mut rest: &[String] = rest;
    if rest[0] == "namespaces" && rest.len() > 1 {
        info.namespace = Some(rest[1].clone());
        if rest.len() > 2 && !matches!(rest[2].as_str(), "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    info.resource_name = Some(rest[0].clone());
    if let Some(name) = rest.get(1) {
        info.name = Some(name.clone());
    }
    if let Some(sub) = rest.get(2) {
        info.subresource = Some(sub.clone());
    }
    info.resource = resources::lookup(&group, &version, &rest[0]);
    info.group = Some(group);
    let has_name = info.name.is_some();
    info.verb = match *method {
        Method::GET | Method::HEAD if has_name => "get",
        Method::GET | Method::HEAD if query_has_watch(uri.query()) => "watch",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => return info,
    }
    .to_string();
    info
}
