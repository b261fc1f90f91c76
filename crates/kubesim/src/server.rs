//! The HTTP API over the [`Store`]: routing, discovery, CRUD, patch, and the glue to
//! [`crate::watch`], [`crate::eviction`] and [`crate::deletion`].
//!
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::resources::{self, ResourceType};
use crate::store::Store;

/// Server behaviour switches.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Interval between watch BOOKMARK events when the client asked for them (real: ~1 min).
    pub bookmark_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// State shared by every request handler.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The object store.
    pub store: Arc<Store>,
    /// Behaviour switches.
    pub options: Arc<ServerOptions>,
}

/// The list/watch query parameters (`?labelSelector=…&watch=true…`), unparsed values.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `resourceVersion`
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`
    pub resource_version_match: Option<String>,
    /// `limit`
    pub limit: Option<usize>,
    /// `continue`
    pub continue_token: Option<String>,
    /// `watch` (true for `watch=true` or `watch=1`)
    pub watch: bool,
    /// `timeoutSeconds`
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`
    pub send_initial_events: Option<bool>,
}

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

/// The HTTP API as an axum router (serve it with `axum::serve`).
pub fn router(state: ServerState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(
    axum::extract::State(_state): axum::extract::State<ServerState>,
    req: Request<Body>,
) -> Response {
    let info = request_info(req.method(), req.uri());
    match info.resource {
        Some(rt) => {
            api_error_response(&ApiError::not_found(rt, info.name.as_deref().unwrap_or("")))
        }
        None => api_error_response(&not_found_path()),
    }
}

/// 404 for a path that names nothing kubesim serves.
fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        Some("NotFound"),
        "the server could not find the requested resource",
    )
    .with_details(serde_json::json!({}))
}

/// The response for an API error: its HTTP status, the `Status` body, its extra headers.
pub fn api_error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err.to_status()).unwrap_or_default();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    for (name, value) in &err.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(*name, v);
        }
    }
    resp
}

/// Whether a query string turns a GET into a watch (`watch=true` or `watch=1`).
fn query_has_watch(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True" | "watch"))
    })
}

/// Classifies a request the way kube-apiserver's RequestInfoFactory does.
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
    let parts: Vec<String> = uri
        .path()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
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
