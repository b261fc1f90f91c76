//! The HTTP API over the [`Store`]: routing, discovery, CRUD, patch, and the glue to
//! [`crate::watch`], [`crate::eviction`] and [`crate::deletion`].
//!
//! Every request goes through one handler that classifies the path (as kube-apiserver's
//! `RequestInfoFactory` does) and dispatches on the method. Behaviour follows the recorded
//! kube-apiserver v1.36.2 responses in `shared/k8s-reference/` (see the README's "Facts"):
//!
//! - errors are `Status` objects ([`api_error_response`]);
//! - lists carry `metadata.resourceVersion`, items without kind/apiVersion, `limit`/`continue`
//!   (an opaque base64url token holding the list resourceVersion and the last key, as the real
//!   server's), `remainingItemCount` only without selectors; `resourceVersionMatch=Exact` and
//!   continue tokens are served from a snapshot rebuilt from the store's event log (410 Expired
//!   once the log no longer reaches back);
//! - `Accept: …;as=Table;v=v1;g=meta.k8s.io` answers a `Table` ([`crate::table`]);
//!   `as=PartialObjectMetadata[List]` answers metadata only (kube-rs `get_metadata` /
//!   `list_metadata`; watches are always full objects);
//! - writes: the main resource ignores `.status`, `/status` ignores the spec; a pod's spec is
//!   immutable but for images, added tolerations and a few more fields (422, as the real
//!   server); a
//!   `metadata.resourceVersion` in a PUT body or in the result of a patch is a precondition
//!   (409 Conflict); after every write a normalisation step drops the empty/false values the
//!   real server omits (`spec.unschedulable: false`, empty `annotations`, …);
//! - `application/apply-patch+yaml` is accepted in its JSON form and applied as a JSON merge
//!   patch (no field ownership); a missing object is created by it;
//! - PUT without `metadata.resourceVersion` is an unconditional update, except for Leases and
//!   `PodDisruptionBudgets` (422 `must be specified for an update`, as their registry strategies
//!   say); a PUT to a missing Lease or Event creates it (201), other kinds answer 404;
//! - `dryRun` (query, or `dryRun` in a `DeleteOptions` body) runs every check and stores nothing,
//!   on create, update, patch, delete and eviction;
//! - unknown top-level and `metadata` fields of create/update bodies and patch results are
//!   dropped with a `Warning: 299 - "unknown field \"x\""` header (`fieldValidation=Warn`, the
//!   default), silently (`Ignore`), or rejected with 400 `strict decoding error` (`Strict`);
//! - request bodies are JSON; `application/yaml` is accepted only when the body is JSON (a YAML
//!   subset) — kubesim has no YAML parser.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::deletion::{self, DeleteOptions, DeleteOutcome};
use crate::errors::ApiError;
use crate::patch::{self, PatchKind};
use crate::resources::{self, OBJECT_META_FIELDS, ResourceType, well_known};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventType, Store, object_key};
use crate::table::{self, IncludeObject};
use crate::{admission, discovery, eviction, validation, watch};

/// Largest request body accepted (the real server's limit is 3 MiB for most writes).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

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

impl ServerState {
    /// State over `store` with default options.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            options: Arc::new(ServerOptions::default()),
        }
    }
}

/// The HTTP API as an axum router (serve it with `axum::serve`).
pub fn router(state: ServerState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(
    axum::extract::State(state): axum::extract::State<ServerState>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return api_error_response(&ApiError::new(
            413,
            Some("RequestEntityTooLarge"),
            "the request body is too large or could not be read",
        ));
    };
    dispatch(&state, &parts.method, &parts.uri, &parts.headers, &body)
}

/// 404 for a path that names nothing kubesim serves.
fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        Some("NotFound"),
        "the server could not find the requested resource",
    )
    .with_details(json!({}))
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

/// A JSON response with the real server's `Content-Type` and `Cache-Control`.
fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
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
    resp
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

fn result_response(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| api_error_response(&e))
}

/// Decoded `key=value` pairs of a query string (`+` is a space, `%XX` escapes decoded).
fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | "True" | "TRUE"))
}

/// Whether a query string turns a GET into a watch (`watch=true` or `watch=1`).
fn query_has_watch(query: Option<&str>) -> bool {
    is_true(query_get(&parse_query(query), "watch"))
}

impl ListQuery {
    /// Reads the list/watch parameters from a raw query string.
    pub fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        let pairs = parse_query(query);
        let get = |k: &str| query_get(&pairs, k).map(str::to_string);
        let limit = match query_get(&pairs, "limit") {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for limit: {v}")))?,
            ),
        };
        let timeout_seconds = match query_get(&pairs, "timeoutSeconds") {
            None | Some("") => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid value for timeoutSeconds: {v}"))
            })?),
        };
        Ok(Self {
            label_selector: get("labelSelector"),
            field_selector: get("fieldSelector"),
            resource_version: get("resourceVersion").filter(|s| !s.is_empty()),
            resource_version_match: get("resourceVersionMatch").filter(|s| !s.is_empty()),
            limit: limit.filter(|l| *l > 0),
            continue_token: get("continue").filter(|s| !s.is_empty()),
            watch: is_true(query_get(&pairs, "watch")),
            timeout_seconds,
            allow_watch_bookmarks: is_true(query_get(&pairs, "allowWatchBookmarks")),
            send_initial_events: query_get(&pairs, "sendInitialEvents").map(|v| is_true(Some(v))),
        })
    }
}

fn path_segments(path: &str) -> Vec<String> {
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

fn text_response(status: StatusCode, text: &'static str) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn dispatch(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let segs = path_segments(uri.path());
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["version"] => {
            if matches!(*method, Method::GET | Method::HEAD) {
                discovery::json_response(&discovery::version())
            } else {
                api_error_response(&ApiError::method_not_allowed())
            }
        }
        // The discovery endpoints ignore the HTTP method (recorded quirk).
        ["api"] => discovery::root_response(true, headers),
        ["apis"] => discovery::root_response(false, headers),
        ["api", version] => discovery::api_resource_list("", version).map_or_else(
            || api_error_response(&not_found_path()),
            |d| discovery::json_response(&d),
        ),
        ["apis", group] => discovery::api_group(group).map_or_else(
            || api_error_response(&not_found_path()),
            |d| discovery::json_response(&d),
        ),
        ["apis", group, version] => discovery::api_resource_list(group, version).map_or_else(
            || api_error_response(&not_found_path()),
            |d| discovery::json_response(&d),
        ),
        ["healthz" | "livez" | "readyz"] => text_response(StatusCode::OK, "ok"),
        ["api" | "apis", ..] => {
            let info = request_info(method, uri);
            result_response(resource_request(state, method, uri, headers, body, &info))
        }
        _ => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// The parsed target of a resource request.
struct Target {
    rt: &'static ResourceType,
    /// Namespace for namespaced types (`None` = all namespaces); always `""` for cluster ones.
    ns: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }
}

fn resource_request(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    info: &RequestInfo,
) -> Result<Response, ApiError> {
    let rt = info.resource.ok_or_else(not_found_path)?;
    let ns = if rt.namespaced {
        info.namespace.clone()
    } else {
        // `/api/v1/namespaces/NAME` is the namespace itself; other cluster-scoped types do not
        // live under a namespace path.
        let is_ns_object = rt.plural == "namespaces" && info.namespace == info.name;
        if info.namespace.is_some() && !is_ns_object {
            return Err(not_found_path());
        }
        Some(String::new())
    };
    let target = Target { rt, ns };
    let query = parse_query(uri.query());
    match (&info.name, &info.subresource) {
        (None, _) => {
            if target.ns.is_none() && !matches!(*method, Method::GET | Method::HEAD) {
                return Err(ApiError::method_not_allowed());
            }
            match *method {
                Method::GET | Method::HEAD => list(state, &target, uri, headers),
                Method::POST => create(state, &target, headers, &query, body),
                Method::DELETE => delete_collection(state, &target, uri, &query, body),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Some(_), _) if target.ns.is_none() => Err(not_found_path()),
        (Some(name), None) => match *method {
            Method::GET | Method::HEAD => get(state, &target, name, headers, &query),
            Method::PUT => update(state, &target, name, None, headers, &query, body),
            Method::PATCH => patch_object(state, &target, name, None, headers, &query, body),
            Method::DELETE => delete(state, &target, name, &query, body),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some(sub)) => {
            if !rt.subresources.contains(&sub.as_str()) {
                return Err(not_found_path());
            }
            match (sub.as_str(), method.clone()) {
                ("status", Method::GET | Method::HEAD) => {
                    get(state, &target, name, headers, &query)
                }
                ("status", Method::PUT) => {
                    update(state, &target, name, Some("status"), headers, &query, body)
                }
                ("status", Method::PATCH) => {
                    patch_object(state, &target, name, Some("status"), headers, &query, body)
                }
                ("eviction", Method::POST) => {
                    let mode = FieldValidation::from_query(&query);
                    let mapped;
                    let body = if is_dry_run(&query) {
                        // `?dryRun=All` is mapped onto the Eviction's deleteOptions.dryRun.
                        match serde_json::from_slice::<Value>(body) {
                            Ok(mut v) if v.is_object() => {
                                if !v["deleteOptions"].is_object() {
                                    v["deleteOptions"] = json!({});
                                }
                                v["deleteOptions"]["dryRun"] = json!(["All"]);
                                mapped = serde_json::to_vec(&v).unwrap_or_default();
                                mapped.as_slice()
                            }
                            _ => body,
                        }
                    } else {
                        body
                    };
                    let warnings = eviction::evict(
                        &state.store,
                        target.ns(),
                        name,
                        body,
                        mode == FieldValidation::Strict,
                    )?;
                    let warnings = if mode == FieldValidation::Ignore {
                        Vec::new()
                    } else {
                        warnings
                    };
                    let mut resp = json_response(
                        StatusCode::CREATED,
                        &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}),
                    );
                    for w in warnings {
                        if let Ok(v) = HeaderValue::from_str(&w) {
                            resp.headers_mut().append(header::WARNING, v);
                        }
                    }
                    Ok(resp)
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

fn get(
    state: &ServerState,
    target: &Target,
    name: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Response, ApiError> {
    let obj = state
        .store
        .get(target.rt, target.ns(), name)
        .ok_or_else(|| ApiError::not_found(target.rt, name))?;
    if table::wants_table(headers) {
        let meta = json!({"resourceVersion": obj["metadata"]["resourceVersion"].clone()});
        let include = IncludeObject::parse(query_get(query, "includeObject"));
        let t = table::table(target.rt, [obj.as_ref()], meta, include);
        return Ok(json_response(StatusCode::OK, &t));
    }
    if wants_partial_metadata(headers) {
        return Ok(json_response(StatusCode::OK, &partial_metadata(&obj)));
    }
    Ok(json_response(StatusCode::OK, &obj))
}

/// Whether the first `Accept` alternative asks for `PartialObjectMetadata[List]` (what
/// kube-rs' `Api::get_metadata` / `list_metadata` and client-go's metadata client send).
fn wants_partial_metadata(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let first = accept.split(',').next().unwrap_or_default();
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    params.iter().any(|p| {
        matches!(
            *p,
            "as=PartialObjectMetadata" | "as=PartialObjectMetadataList"
        )
    }) && params.contains(&"g=meta.k8s.io")
        && params.contains(&"v=v1")
}

/// The `meta.k8s.io/v1` `PartialObjectMetadata` of an object.
fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"].clone()
    })
}

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContinueToken {
    /// List resourceVersion; -1 for an "inconsistent" continuation.
    rv: i64,
    /// The key to continue from (the last returned key followed by a NUL).
    start: String,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let doc = json!({"v": "meta.k8s.io/v1", "rv": self.rv, "start": self.start});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            )
        };
        let trimmed = token.trim_end_matches('=');
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|_| invalid())?;
        let doc: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
        if doc["v"] != json!("meta.k8s.io/v1") {
            return Err(invalid());
        }
        let rv = doc["rv"].as_i64().ok_or_else(invalid)?;
        let start = doc["start"].as_str().ok_or_else(invalid)?.to_string();
        Ok(Self { rv, start })
    }
}

/// The etcd-style key of an object within a list: `ns/name` for a cluster-wide list of a
/// namespaced type, `name` otherwise.
fn list_key(target: &Target, obj: &Value) -> String {
    let (ns, name) = object_key(obj);
    if target.rt.namespaced && target.ns.is_none() {
        format!("{ns}/{name}")
    } else {
        name
    }
}

/// The objects of `target` as they were at resourceVersion `at`, rebuilt from the current
/// state by undoing the logged events after `at`; `None` when the log no longer reaches back.
fn snapshot(store: &Store, target: &Target, at: u64) -> Option<Vec<Arc<Value>>> {
    let (items, list_rv) = store.list(target.rt, target.ns.as_deref(), |_| true);
    if at >= list_rv {
        return Some(items);
    }
    let events = store.events_since(at).ok()?;
    let mut map: BTreeMap<(String, String), Arc<Value>> =
        items.into_iter().map(|o| (object_key(&o), o)).collect();
    for e in events
        .iter()
        .rev()
        // Compare by identity fields: `well_known::*` and `RESOURCES` entries are equal but
        // not necessarily at the same address.
        .filter(|e| {
            e.rv <= list_rv
                && e.resource.group == target.rt.group
                && e.resource.plural == target.rt.plural
        })
    {
        let key = object_key(&e.object);
        if let Some(ns) = target.ns.as_deref()
            && target.rt.namespaced
            && key.0 != ns
        {
            continue;
        }
        match (e.kind, &e.previous) {
            (EventType::Added, _) => {
                map.remove(&key);
            }
            (EventType::Modified | EventType::Deleted, Some(prev)) => {
                map.insert(key, prev.clone());
            }
            (_, None) => {}
        }
    }
    Some(map.into_values().collect())
}

/// HTTP 410 for a continue token older than the retained history; its `metadata.continue`
/// is a fresh "inconsistent" token (rv -1) from the same key.
fn continue_expired_response(start: &str) -> Response {
    let fresh = ContinueToken {
        rv: -1,
        start: start.to_string(),
    };
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {"continue": fresh.encode()},
        "status": "Failure",
        "message": "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        "reason": "Expired",
        "code": 410
    });
    json_response(StatusCode::GONE, &status)
}

/// The list-side rules of `ValidateListOptions`: `resourceVersionMatch` needs a
/// `resourceVersion`, is `Exact` or `NotOlderThan`, and `Exact` is not allowed with "0";
/// `sendInitialEvents` is for watches only. Violations are a 422 on `ListOptions.meta.k8s.io`.
fn validate_list_options(q: &ListQuery) -> Result<(), ApiError> {
    use validation::FieldError;
    let mut errs = Vec::new();
    if let Some(m) = q.resource_version_match.as_deref() {
        match q.resource_version.as_deref() {
            None => errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )),
            Some(rv) => match m {
                "Exact" if rv == "0" => errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                )),
                "Exact" | "NotOlderThan" => {}
                other => errs.push(FieldError::not_supported(
                    "resourceVersionMatch",
                    other,
                    &["Exact", "NotOlderThan", ""],
                )),
            },
        }
    }
    if q.send_initial_events.is_some() {
        errs.push(FieldError::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(validation::invalid_kind(
            "meta.k8s.io",
            "ListOptions",
            "",
            &errs,
        ))
    }
}

fn too_large_rv(requested: u64, current: u64) -> ApiError {
    ApiError::new(
        504,
        Some("Timeout"),
        format!("Timeout: Too large resource version: {requested}, current: {current}"),
    )
    .with_details(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1
    }))
}

fn parse_rv(v: &str) -> Result<u64, ApiError> {
    v.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))
}

/// The label and field selectors of a list; empty ones are skipped (a scan over tens of
/// thousands of objects is dominated by the pointer chasing into each object).
struct Selectors {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
}

impl Selectors {
    /// The node of a `spec.nodeName=X` (or `==`) term, if the field selector has one.
    fn pod_node(&self) -> Option<&str> {
        self.field.as_ref()?.exact_match("spec.nodeName")
    }

    fn parse(rt: &ResourceType, q: &ListQuery) -> Result<Self, ApiError> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        Ok(Self {
            label: non_empty(&q.label_selector)
                .map(|s| LabelSelector::parse(&s))
                .transpose()?,
            field: non_empty(&q.field_selector)
                .map(|s| FieldSelector::parse(rt, &s))
                .transpose()?,
        })
    }

    fn matches(&self, obj: &Value) -> bool {
        self.label.as_ref().is_none_or(|l| l.matches(obj))
            && self.field.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// A list item: the object without `kind`/`apiVersion`, serialised without copying.
struct Item<'a>(&'a Value);

impl serde::Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut out = serializer.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Items (unfiltered, in key order), the list resourceVersion and the continue start key of a
/// list request; the inner `Err` is a ready 410 response for an expired continue token.
type ListSource = (Vec<Arc<Value>>, u64, Option<String>);

fn list_source(
    store: &Store,
    target: &Target,
    q: &ListQuery,
    selectors: &Selectors,
) -> Result<Result<ListSource, Response>, ApiError> {
    let current = store.current_rv();
    // The current state; pods selected by `spec.nodeName=X` come from the store's index
    // (kubelets and drains ask for them all the time, and a scan of 50,000 pods is slow).
    let current_items = || match selectors.pod_node() {
        Some(node) if target.rt == well_known::PODS => {
            store.list_pods_on_node(target.ns.as_deref(), node, |_| true)
        }
        _ => store.list(target.rt, target.ns.as_deref(), |_| true),
    };
    let source = if let Some(token) = &q.continue_token {
        let token = ContinueToken::decode(token)?;
        if token.rv < 0 {
            let (items, rv) = current_items();
            (items, rv, Some(token.start))
        } else {
            let at = u64::try_from(token.rv).unwrap_or_default();
            let snap = if at < store.oldest_watchable_rv() {
                None
            } else {
                snapshot(store, target, at)
            };
            let Some(items) = snap else {
                return Ok(Err(continue_expired_response(&token.start)));
            };
            (items, at, Some(token.start.clone()))
        }
    } else {
        match (
            q.resource_version.as_deref(),
            q.resource_version_match.as_deref(),
        ) {
            (Some(rv), Some("Exact")) => {
                let at = parse_rv(rv)?;
                if at > current {
                    return Err(too_large_rv(at, current));
                }
                let gone = || {
                    ApiError::new(
                        410,
                        Some("Expired"),
                        "The resourceVersion for the provided list is too old.",
                    )
                };
                if at < store.oldest_watchable_rv() {
                    return Err(gone());
                }
                let items = snapshot(store, target, at).ok_or_else(gone)?;
                (items, at, None)
            }
            (Some(rv), _) if rv != "0" => {
                let at = parse_rv(rv)?;
                if at > current {
                    return Err(too_large_rv(at, current));
                }
                let (items, rv) = current_items();
                (items, rv, None)
            }
            _ => {
                let (items, rv) = current_items();
                (items, rv, None)
            }
        }
    };
    Ok(Ok(source))
}

fn list(
    state: &ServerState,
    target: &Target,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let q = ListQuery::from_query(uri.query())?;
    if q.watch {
        return Ok(watch::watch_response(
            state.clone(),
            target.rt,
            target.ns.clone(),
            q,
        ));
    }
    validate_list_options(&q)?;
    let selectors = Selectors::parse(target.rt, &q)?;
    let has_selectors = selectors.label.is_some() || selectors.field.is_some();
    let (items, list_rv, start) = match list_source(&state.store, target, &q, &selectors)? {
        Ok(source) => source,
        Err(expired) => return Ok(expired),
    };
    let mut selected: Vec<Arc<Value>> =
        items.into_iter().filter(|o| selectors.matches(o)).collect();
    if let Some(start) = start {
        let after = start.trim_end_matches('\u{0}').to_string();
        selected.retain(|o| list_key(target, o) > after);
    }
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(list_rv.to_string()));
    if let Some(limit) = q.limit
        && selected.len() > limit
    {
        {
            let remaining = selected.len() - limit;
            selected.truncate(limit);
            let last = selected
                .last()
                .map(|o| list_key(target, o))
                .unwrap_or_default();
            let token = ContinueToken {
                rv: i64::try_from(list_rv).unwrap_or(i64::MAX),
                start: format!("{last}\u{0}"),
            };
            metadata.insert("continue".into(), json!(token.encode()));
            if !has_selectors {
                metadata.insert("remainingItemCount".into(), json!(remaining));
            }
        }
    }
    if table::wants_table(headers) {
        let pairs = parse_query(uri.query());
        let include = IncludeObject::parse(query_get(&pairs, "includeObject"));
        let t = table::table(
            target.rt,
            selected.iter().map(AsRef::as_ref),
            Value::Object(metadata),
            include,
        );
        return Ok(json_response(StatusCode::OK, &t));
    }
    if wants_partial_metadata(headers) {
        let items: Vec<Value> = selected.iter().map(|o| partial_metadata(o)).collect();
        let list = json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items
        });
        return Ok(json_response(StatusCode::OK, &list));
    }
    let items: Vec<Item<'_>> = selected.iter().map(|o| Item(o.as_ref())).collect();
    let mut body = Vec::with_capacity(256 + selected.len() * 1024);
    let internal = |e: serde_json::Error| ApiError::internal(e.to_string());
    body.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut body, &target.rt.list_kind()).map_err(internal)?;
    body.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut body, &target.rt.api_version()).map_err(internal)?;
    body.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut body, &metadata).map_err(internal)?;
    body.extend_from_slice(b",\"items\":");
    serde_json::to_writer(&mut body, &items).map_err(internal)?;
    body.push(b'}');
    Ok(json_bytes_response(StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// Writes

/// Internal API group name the real server uses in conversion errors (`core.Pod`).
fn internal_group(rt: &ResourceType) -> &'static str {
    match rt.group {
        "" => "core",
        "coordination.k8s.io" => "coordination",
        g => g,
    }
}

/// Go's `encoding/json` wording for a serde error (the part clients might match on).
fn go_json_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        e.to_string()
    }
}

/// Decodes a create/update body: `application/json` (or `application/yaml` in its JSON form)
/// holding an object of the target's kind.
fn decode_body(rt: &ResourceType, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !matches!(media.as_str(), "application/json" | "application/yaml" | "") {
        return Err(ApiError::new(
            415,
            Some("UnsupportedMediaType"),
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    let obj: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let shown: String = if text.chars().count() > 30 {
            format!("{} ...", text.chars().take(30).collect::<String>())
        } else {
            text.into_owned()
        };
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {} ({shown})",
            rt.kind,
            go_json_error(&e)
        ))
    })?;
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            rt.kind,
            match obj {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    }
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty())
        && kind != rt.kind
    {
        {
            let version = obj["apiVersion"]
                .as_str()
                .map_or("v1", |av| av.rsplit('/').next().unwrap_or(av));
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {}: converting ({version}.{kind}) to ({}.{}): unknown conversion",
                rt.kind,
                internal_group(rt),
                rt.kind
            )));
        }
    }
    check_string_maps(rt, &obj)?;
    Ok(obj)
}

/// Labels and annotations must be maps of strings (else the real server's decode error).
fn check_string_maps(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    for field in ["labels", "annotations"] {
        let v = &obj["metadata"][field];
        let ok = match v {
            Value::Null => true,
            Value::Object(m) => m.values().all(|x| x.is_string() || x.is_null()),
            _ => false,
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal into Go struct field ObjectMeta.metadata.{field} of type map[string]string",
                kind = rt.kind,
                version = rt.version
            )));
        }
    }
    Ok(())
}

/// Puts the URL namespace into a body (or checks it matches); cluster-scoped objects lose
/// any namespace.
fn apply_namespace(target: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if target.rt.namespaced {
        match obj["metadata"]["namespace"].as_str() {
            None | Some("") => obj["metadata"]["namespace"] = json!(target.ns()),
            Some(ns) if ns == target.ns() => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(())
}

/// Removes `null`s recursively (Go decodes them to zero values, which are then omitted),
/// except where the real server keeps them (pod condition `lastProbeTime`).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                drop_nulls(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn remove_if(obj: &mut Value, path: &[&str], pred: impl Fn(&Value) -> bool) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut()
        && m.get(*last).is_some_and(&pred)
    {
        m.remove(*last);
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Null => true,
        Value::Number(_) => false,
    }
}

/// The values the real server omits on output (Go `omitempty`), for the fields the fixtures
/// show, plus the explicit `lastProbeTime: null` of pod conditions and the kind/apiVersion/
/// metadata-first key order. Applied to every object before it is stored.
pub fn normalize(rt: &ResourceType, obj: &mut Value) {
    drop_nulls(obj);
    for field in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "generateName",
    ] {
        remove_if(obj, &["metadata", field], is_empty_value);
    }
    match (rt.group, rt.plural) {
        ("", "nodes") => {
            for field in [
                "unschedulable",
                "taints",
                "podCIDR",
                "podCIDRs",
                "providerID",
            ] {
                remove_if(obj, &["spec", field], is_empty_value);
            }
        }
        ("", "pods") => {
            for field in [
                "nodeName",
                "tolerations",
                "volumes",
                "initContainers",
                "nodeSelector",
                "hostNetwork",
                "hostPID",
                "hostIPC",
                "imagePullSecrets",
            ] {
                remove_if(obj, &["spec", field], is_empty_value);
            }
            if let Some(conds) = obj
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in conds {
                    if let Some(m) = c.as_object_mut() {
                        m.entry("lastProbeTime").or_insert(Value::Null);
                    }
                }
            }
        }
        _ => {}
    }
    if let Value::Object(m) = obj
        && m.keys()
            .take(3)
            .map(String::as_str)
            .ne(["kind", "apiVersion", "metadata"])
    {
        let mut ordered = Map::new();
        for k in ["kind", "apiVersion", "metadata"] {
            if let Some(v) = m.remove(k) {
                ordered.insert(k.to_string(), v);
            }
        }
        ordered.append(m);
        *m = ordered;
    }
}

fn object_response(status: StatusCode, obj: &Value) -> Response {
    json_response(status, obj)
}

/// Top-level fields of an object of `rt` (anything else is an unknown field).
fn known_top_level(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "events") => &[
            "kind",
            "apiVersion",
            "metadata",
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("coordination.k8s.io", "leases") => &["kind", "apiVersion", "metadata", "spec"],
        _ => &["kind", "apiVersion", "metadata", "spec", "status"],
    }
}

/// How unknown fields are treated (`?fieldValidation=`; the server default is `Warn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    /// Drop silently.
    Ignore,
    /// Drop, with a `Warning` header per field.
    Warn,
    /// Reject the request (400).
    Strict,
}

impl FieldValidation {
    fn from_query(query: &[(String, String)]) -> Self {
        match query_get(query, "fieldValidation") {
            Some("Ignore") => Self::Ignore,
            Some("Strict") => Self::Strict,
            _ => Self::Warn,
        }
    }
}

/// Removes the top-level and `metadata` fields an object of `rt` does not have (the real
/// server's typed decoding drops them) and returns their paths.
fn drop_unknown_fields(rt: &ResourceType, obj: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let known = known_top_level(rt);
    if let Some(m) = obj.as_object_mut() {
        m.retain(|k, _| {
            let ok = known.contains(&k.as_str());
            if !ok {
                unknown.push(k.clone());
            }
            ok
        });
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| {
                let ok = OBJECT_META_FIELDS.contains(&k.as_str());
                if !ok {
                    unknown.push(format!("metadata.{k}"));
                }
                ok
            });
        }
    }
    unknown
}

/// Applies `mode` to the unknown fields of a decoded body: `Err` (400) under `Strict`, else
/// the warning texts to send (none under `Ignore`).
fn check_unknown_fields(
    rt: &ResourceType,
    obj: &mut Value,
    mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let texts: Vec<String> = drop_unknown_fields(rt, obj)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match mode {
        FieldValidation::Strict if !texts.is_empty() => Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            texts.join(", "),
            kind = rt.kind,
            v = rt.version
        ))),
        FieldValidation::Ignore => Ok(Vec::new()),
        _ => Ok(texts),
    }
}

/// Whether a PUT without `metadata.resourceVersion` is allowed (the registry strategy's
/// `AllowUnconditionalUpdate`): not for `Leases` and `PodDisruptionBudgets`.
fn allows_unconditional_update(rt: &ResourceType) -> bool {
    !matches!(
        (rt.group, rt.plural),
        ("coordination.k8s.io", "leases") | ("policy", "poddisruptionbudgets")
    )
}

/// Whether a PUT to a missing name creates the object (`AllowCreateOnUpdate`): Leases and
/// Events.
fn allows_create_on_update(rt: &ResourceType) -> bool {
    matches!(
        (rt.group, rt.plural),
        ("coordination.k8s.io", "leases") | ("", "events")
    )
}

/// Whether the request asks for a dry run (`?dryRun=All`).
fn is_dry_run(query: &[(String, String)]) -> bool {
    query_get(query, "dryRun").is_some_and(|v| !v.is_empty())
}

/// A write through `store.update`, or under `dryRun` the same change computed on the current
/// object and not stored (the response keeps the current resourceVersion).
fn write_or_dry_run(
    state: &ServerState,
    target: &Target,
    name: &str,
    dry_run: bool,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Arc<Value>, ApiError> {
    if dry_run {
        let cur = state
            .store
            .get(target.rt, target.ns(), name)
            .ok_or_else(|| ApiError::not_found(target.rt, name))?;
        let mut out = change(&cur)?;
        out["metadata"]["resourceVersion"] = json!(current_rv(&cur));
        return Ok(Arc::new(out));
    }
    let (stored, _) = state.store.update(target.rt, target.ns(), name, change)?;
    after_write(state, target, name, stored)
}

/// Adds one `Warning: 299 - "…"` header per text.
fn with_warnings(mut resp: Response, texts: &[String]) -> Response {
    for t in texts {
        if let Ok(v) = HeaderValue::from_str(&patch::warning_header_value(t)) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn create(
    state: &ServerState,
    target: &Target,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ApiError> {
    let rt = target.rt;
    let mut obj = decode_body(rt, headers, body)?;
    let warnings = check_unknown_fields(rt, &mut obj, FieldValidation::from_query(query))?;
    apply_namespace(target, &mut obj)?;
    validation::normalize_micro_times(rt, &mut obj)?;
    obj["kind"] = json!(rt.kind);
    obj["apiVersion"] = json!(rt.api_version());
    if let Some(meta) = obj["metadata"].as_object_mut() {
        // System fields are the server's, whatever the client sent.
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
    }
    if admission::resets_status_on_create(rt)
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    admission::admit_create(rt, &mut obj);
    normalize(rt, &mut obj);
    validation::validate(rt, &obj)?;
    if is_dry_run(query) {
        return Ok(with_warnings(
            object_response(StatusCode::CREATED, &obj),
            &warnings,
        ));
    }
    let stored = state.store.create(rt, obj)?;
    Ok(with_warnings(
        object_response(StatusCode::CREATED, &stored),
        &warnings,
    ))
}

/// Whether `rt` has a status subresource (then the main resource ignores `.status`).
fn has_status_subresource(rt: &ResourceType) -> bool {
    rt.subresources.contains(&"status")
}

/// Applies the main-resource / status-subresource split to a desired object: the main
/// resource keeps the current `.status`; `/status` keeps everything but `metadata` and
/// `.status` from the current object. Server-managed deletion fields always come from the
/// current object.
fn apply_write_scope(rt: &ResourceType, sub: Option<&str>, cur: &Value, desired: &mut Value) {
    let Some(d) = desired.as_object_mut() else {
        return;
    };
    match sub {
        Some("status") => {
            let keep: Vec<String> = d
                .keys()
                .filter(|k| !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion"))
                .cloned()
                .collect();
            for k in keep {
                d.remove(&k);
            }
            if let Some(c) = cur.as_object() {
                for (k, v) in c {
                    if !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion") {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ if has_status_subresource(rt) => match cur.get("status") {
            Some(s) => {
                d.insert("status".into(), s.clone());
            }
            None => {
                d.remove("status");
            }
        },
        _ => {}
    }
    if !d.get("metadata").is_some_and(Value::is_object) {
        d.insert("metadata".into(), json!({}));
    }
    for f in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        match cur["metadata"].get(f) {
            Some(v) => desired["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = desired["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
}

/// The write after the caller's change function: scope, normalisation, validation.
fn finish_write(
    rt: &ResourceType,
    sub: Option<&str>,
    cur: &Value,
    mut desired: Value,
) -> Result<Value, ApiError> {
    if !desired.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    apply_write_scope(rt, sub, cur, &mut desired);
    validation::normalize_micro_times(rt, &mut desired)?;
    check_string_maps(rt, &desired)?;
    desired["kind"] = json!(rt.kind);
    desired["apiVersion"] = json!(rt.api_version());
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        match cur["metadata"].get(f) {
            Some(v) => desired["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = desired["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    normalize(rt, &mut desired);
    validation::validate(rt, &desired)?;
    validation::validate_update(rt, cur, &desired)?;
    Ok(desired)
}

fn current_rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
}

/// After a write that removed the last finalizer of an object being deleted, the object goes.
fn after_write(
    state: &ServerState,
    target: &Target,
    name: &str,
    obj: Arc<Value>,
) -> Result<Arc<Value>, ApiError> {
    if deletion::should_delete_after_update(&obj)
        && let Some(last) =
            deletion::remove_if_finalized(&state.store, target.rt, target.ns(), name)?
    {
        return Ok(last);
    }
    Ok(obj)
}

fn update(
    state: &ServerState,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ApiError> {
    let rt = target.rt;
    let mut obj = decode_body(rt, headers, body)?;
    let warnings = check_unknown_fields(rt, &mut obj, FieldValidation::from_query(query))?;
    apply_namespace(target, &mut obj)?;
    match obj["metadata"]["name"].as_str() {
        None | Some("") => obj["metadata"]["name"] = json!(name),
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let precondition = obj["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if sub.is_none()
        && allows_create_on_update(rt)
        && state.store.get(rt, target.ns(), name).is_none()
    {
        // Leases and events are created by a PUT to a missing name (201), as on the real
        // server.
        let bytes = serde_json::to_vec(&obj).unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return create(state, target, &h, query, &bytes);
    }
    if precondition.is_none() && !allows_unconditional_update(rt) {
        return Err(ApiError::new(
            422,
            Some("Invalid"),
            format!(
                "{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                rt.qualified_plural()
            ),
        )
        .with_details({
            let mut d = Map::new();
            d.insert("name".into(), json!(name));
            if !rt.group.is_empty() {
                d.insert("group".into(), json!(rt.group));
            }
            d.insert("kind".into(), json!(rt.plural));
            d.insert(
                "causes".into(),
                json!([{"reason": "FieldValueInvalid", "message": "Invalid value: 0x0: must be specified for an update", "field": "metadata.resourceVersion"}]),
            );
            Value::Object(d)
        }));
    }
    let stored = write_or_dry_run(state, target, name, is_dry_run(query), |cur| {
        if let Some(rv) = &precondition
            && rv != current_rv(cur)
        {
            return Err(ApiError::conflict(rt, name));
        }
        finish_write(rt, sub, cur, obj)
    })?;
    Ok(with_warnings(
        object_response(StatusCode::OK, &stored),
        &warnings,
    ))
}

fn patch_object(
    state: &ServerState,
    target: &Target,
    name: &str,
    sub: Option<&str>,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ApiError> {
    let rt = target.rt;
    let mode = FieldValidation::from_query(query);
    let strict = mode == FieldValidation::Strict;
    let mut warnings: Vec<String> = Vec::new();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(kind) = PatchKind::from_content_type(content_type) else {
        return Err(ApiError::new(
            415,
            Some("UnsupportedMediaType"),
            "415: Unsupported Media Type",
        )
        .with_details(json!({})));
    };
    let patch: Value = serde_json::from_slice(body).map_err(|e| {
        if kind == PatchKind::Apply {
            ApiError::bad_request(format!(
                "error decoding YAML: kubesim accepts apply patches in their JSON form only: {e}"
            ))
        } else {
            ApiError::bad_request(format!("error decoding patch: {}", go_json_error(&e)))
        }
    })?;
    if kind != PatchKind::Json && !patch.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the patch must be a JSON object",
        ));
    }
    let result = write_or_dry_run(state, target, name, is_dry_run(query), |cur| {
        let mut obj = cur.clone();
        match kind {
            PatchKind::Json => patch::json_patch(&mut obj, &patch)?,
            PatchKind::Merge | PatchKind::Apply => patch::merge_patch(&mut obj, &patch),
            PatchKind::Strategic => {
                warnings = patch::strategic_merge_patch_with_warnings(rt, &mut obj, &patch)?;
                if strict && !warnings.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "strict decoding error: {}",
                        warnings.join(", ")
                    )));
                }
            }
        }
        warnings.extend(check_unknown_fields(rt, &mut obj, mode)?);
        // A resourceVersion in the patched object is a precondition (a merge/strategic patch
        // carrying one, or a JSON patch replacing it).
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && rv != current_rv(cur)
        {
            return Err(ApiError::conflict(rt, name));
        }
        finish_write(rt, sub, cur, obj)
    });
    let stored = match result {
        Ok(stored) => stored,
        Err(e) if e.code == 404 && kind == PatchKind::Apply && sub.is_none() => {
            let mut obj = patch.clone();
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            obj["metadata"]["name"] = json!(name);
            let bytes = serde_json::to_vec(&obj).unwrap_or_default();
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return create(state, target, &h, query, &bytes);
        }
        Err(e) => return Err(e),
    };
    let resp = object_response(StatusCode::OK, &stored);
    if mode == FieldValidation::Ignore {
        return Ok(resp);
    }
    Ok(with_warnings(resp, &warnings))
}

/// Delete options from the query (`gracePeriodSeconds`, `propagationPolicy`) over a
/// `DeleteOptions` body.
fn delete_options(query: &[(String, String)], body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type DeleteOptions): {}",
                go_json_error(&e)
            ))
        })?;
        DeleteOptions::from_json(&v)
    };
    if let Some(g) = query_get(query, "gracePeriodSeconds").filter(|g| !g.is_empty()) {
        opts.grace_period_seconds = Some(g.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("invalid value for gracePeriodSeconds: {g}"))
        })?);
    }
    if let Some(p) = query_get(query, "propagationPolicy").filter(|p| !p.is_empty()) {
        opts.propagation_policy = Some(p.to_string());
    }
    Ok(opts)
}

/// Kinds whose DELETE answers with the object rather than a Success `Status`.
fn delete_returns_object(rt: &ResourceType) -> bool {
    rt.group.is_empty() && matches!(rt.plural, "pods" | "namespaces")
}

fn delete_success_status(rt: &ResourceType, obj: &Value) -> Value {
    let mut details = Map::new();
    details.insert("name".into(), obj["metadata"]["name"].clone());
    if !rt.group.is_empty() {
        details.insert("group".into(), json!(rt.group));
    }
    details.insert("kind".into(), json!(rt.plural));
    details.insert("uid".into(), obj["metadata"]["uid"].clone());
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details
    })
}

fn delete(
    state: &ServerState,
    target: &Target,
    name: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = delete_options(query, body)?;
    let body_dry_run = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["dryRun"].as_array().map(|a| !a.is_empty()))
        .unwrap_or(false);
    if is_dry_run(query) || body_dry_run {
        // Check what the delete would check, change nothing.
        let cur = state
            .store
            .get(target.rt, target.ns(), name)
            .ok_or_else(|| ApiError::not_found(target.rt, name))?;
        deletion::check_preconditions(target.rt, &cur, &opts)?;
        return Ok(if delete_returns_object(target.rt) {
            object_response(StatusCode::OK, &cur)
        } else {
            json_response(StatusCode::OK, &delete_success_status(target.rt, &cur))
        });
    }
    let outcome = deletion::delete_object(&state.store, target.rt, target.ns(), name, &opts)?;
    Ok(match outcome {
        DeleteOutcome::Deleted(obj) if !delete_returns_object(target.rt) => {
            json_response(StatusCode::OK, &delete_success_status(target.rt, &obj))
        }
        DeleteOutcome::Deleted(obj) | DeleteOutcome::Terminating(obj) => {
            object_response(StatusCode::OK, &obj)
        }
    })
}

fn delete_collection(
    state: &ServerState,
    target: &Target,
    uri: &Uri,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Response, ApiError> {
    let q = ListQuery::from_query(uri.query())?;
    let selectors = Selectors::parse(target.rt, &q)?;
    let opts = delete_options(query, body)?;
    let (items, _) = state
        .store
        .list(target.rt, target.ns.as_deref(), |o| selectors.matches(o));
    let mut deleted = Vec::new();
    for item in items {
        let (ns, name) = object_key(&item);
        match deletion::delete_object(&state.store, target.rt, &ns, &name, &opts) {
            Ok(outcome) => deleted.push(outcome.object().clone()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let items: Vec<Item<'_>> = deleted.iter().map(|o| Item(o.as_ref())).collect();
    let doc = json!({
        "kind": target.rt.list_kind(),
        "apiVersion": target.rt.api_version(),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()},
        "items": serde_json::to_value(&items).unwrap_or_default()
    });
    Ok(json_response(StatusCode::OK, &doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::well_known::{LEASES, NAMESPACES, NODES, PODS};
    use crate::store::StoreConfig;

    fn state() -> ServerState {
        ServerState::new(Store::new(StoreConfig {
            watch_window: 1000,
            record_history: false,
        }))
    }

    async fn call(
        state: &ServerState,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        let resp = dispatch(
            state,
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &headers,
            body.as_bytes(),
        );
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"pool": "a"}}, "spec": {}})
    }

    #[test]
    fn request_info_classifies_like_the_apiserver() {
        let get = |m: &str, u: &str| request_info(&m.parse().unwrap(), &u.parse().unwrap());
        let i = get("GET", "/api/v1/namespaces/default/pods/p1/status");
        assert_eq!(i.verb, "get");
        assert_eq!(i.resource, Some(PODS));
        assert_eq!(i.namespace.as_deref(), Some("default"));
        assert_eq!(i.name.as_deref(), Some("p1"));
        assert_eq!(i.subresource.as_deref(), Some("status"));
        let i = get("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(i.resource, Some(NAMESPACES));
        assert_eq!(i.name.as_deref(), Some("kube-system"));
        let i = get("GET", "/api/v1/pods?watch=1");
        assert_eq!(i.verb, "watch");
        assert_eq!(get("GET", "/api/v1/nodes").verb, "list");
        assert_eq!(get("DELETE", "/api/v1/nodes").verb, "deletecollection");
        let i = get("POST", "/apis/policy/v1/namespaces/d/poddisruptionbudgets");
        assert_eq!(i.verb, "create");
        assert_eq!(i.group.as_deref(), Some("policy"));
        let i = get("GET", "/apis/example.com/v1/widgets");
        assert_eq!(i.resource, None);
        assert_eq!(i.resource_name.as_deref(), Some("widgets"));
        assert_eq!(get("GET", "/version").resource_name, None);
    }

    #[test]
    fn continue_tokens_round_trip_in_the_real_format() {
        let t = ContinueToken {
            rv: 323,
            start: "kube-node-lease\u{0}".into(),
        };
        assert_eq!(
            t.encode(),
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MzIzLCJzdGFydCI6Imt1YmUtbm9kZS1sZWFzZVx1MDAwMCJ9"
        );
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert_eq!(ContinueToken::decode("not-a-token").unwrap_err().code, 400);
    }

    #[test]
    fn query_strings_are_form_decoded() {
        let q = ListQuery::from_query(Some(
            "labelSelector=app+in+%28web%29&fieldSelector=spec.nodeName%3Dn&limit=0&watch=1",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app in (web)"));
        assert_eq!(q.field_selector.as_deref(), Some("spec.nodeName=n"));
        assert_eq!(q.limit, None);
        assert!(q.watch);
        assert_eq!(
            ListQuery::from_query(Some("limit=x")).unwrap_err().code,
            400
        );
    }

    #[test]
    fn normalisation_drops_what_the_real_server_omits() {
        let mut n = json!({"spec": {"unschedulable": false, "taints": []},
            "metadata": {"annotations": {}, "labels": {"a": "b"}, "name": "n"},
            "apiVersion": "v1", "kind": "Node", "status": {"x": null}});
        normalize(NODES, &mut n);
        assert_eq!(
            n,
            json!({"kind": "Node", "apiVersion": "v1", "metadata": {"labels": {"a": "b"}, "name": "n"},
                "spec": {}, "status": {}})
        );
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "kind");
        let mut p = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        normalize(PODS, &mut p);
        assert!(p["status"]["conditions"][0]["lastProbeTime"].is_null());
        assert!(p["status"]["conditions"][0].get("lastProbeTime").is_some());
    }

    #[tokio::test]
    async fn exact_lists_and_continue_tokens_read_a_consistent_snapshot() {
        let st = state();
        for n in ["a", "b", "c"] {
            st.store.create(NODES, node(n)).unwrap();
        }
        let rv = st.store.current_rv();
        let (s, page1) = call(&st, "GET", "/api/v1/nodes?limit=2", None, "").await;
        assert_eq!(s, 200);
        assert_eq!(page1["metadata"]["remainingItemCount"], 1);
        assert!(page1["items"][0].get("kind").is_none());
        // Changes after page 1 do not show on page 2 (same snapshot).
        st.store.delete(NODES, "", "c", |_| Ok(())).unwrap();
        st.store.create(NODES, node("d")).unwrap();
        let token = page1["metadata"]["continue"].as_str().unwrap();
        let (s, page2) = call(
            &st,
            "GET",
            &format!("/api/v1/nodes?limit=2&continue={token}"),
            None,
            "",
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(page2["items"].as_array().unwrap().len(), 1);
        assert_eq!(page2["items"][0]["metadata"]["name"], "c");
        assert_eq!(page2["metadata"]["resourceVersion"], rv.to_string());
        assert!(page2["metadata"].get("continue").is_none());
        let (s, exact) = call(
            &st,
            "GET",
            &format!("/api/v1/nodes?resourceVersion={rv}&resourceVersionMatch=Exact"),
            None,
            "",
        )
        .await;
        assert_eq!(s, 200);
        let names: Vec<&str> = exact["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/nodes?resourceVersion=999999&resourceVersionMatch=Exact",
            None,
            "",
        )
        .await;
        assert_eq!(s, 504);
        st.store.compact();
        let (s, gone) = call(
            &st,
            "GET",
            &format!("/api/v1/nodes?limit=2&continue={token}"),
            None,
            "",
        )
        .await;
        assert_eq!(s, 410);
        assert!(gone["metadata"]["continue"].is_string());
    }

    #[tokio::test]
    async fn writes_respect_preconditions_and_the_status_split() {
        let st = state();
        let (s, created) = call(
            &st,
            "POST",
            "/api/v1/nodes",
            Some("application/json"),
            &node("n1").to_string(),
        )
        .await;
        assert_eq!(s, 201);
        assert_eq!(
            created["spec"]["taints"][0]["key"],
            "node.kubernetes.io/not-ready"
        );
        let rv = created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        // PUT with the current RV: spec applies, status is ignored on the main resource.
        let mut put = created.clone();
        put["spec"]["unschedulable"] = json!(true);
        put["status"] = json!({"phase": "x"});
        let (s, updated) = call(
            &st,
            "PUT",
            "/api/v1/nodes/n1",
            Some("application/json"),
            &put.to_string(),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(updated["spec"]["unschedulable"], true);
        assert_eq!(updated["status"], created["status"]);
        // The same RV again is stale now.
        let (s, conflict) = call(
            &st,
            "PUT",
            "/api/v1/nodes/n1",
            Some("application/json"),
            &put.to_string(),
        )
        .await;
        assert_eq!((s, conflict["reason"].clone()), (409, json!("Conflict")));
        // /status: spec dropped, labels applied, status applied.
        let patch = json!({"spec": {"unschedulable": false}, "metadata": {"labels": {"x": "1"}}, "status": {"phase": "y"}});
        let (s, st_obj) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n1/status",
            Some("application/merge-patch+json"),
            &patch.to_string(),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(st_obj["spec"]["unschedulable"], true);
        assert_eq!(st_obj["metadata"]["labels"]["x"], "1");
        assert_eq!(st_obj["status"]["phase"], "y");
        // Uncordon through a merge patch: `false` is omitted.
        let (s, un) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n1",
            Some("application/merge-patch+json"),
            r#"{"spec":{"unschedulable":false}}"#,
        )
        .await;
        assert_eq!(s, 200);
        assert!(un["spec"].get("unschedulable").is_none());
        assert_ne!(un["metadata"]["resourceVersion"], json!(rv));
        let (s, e) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n1",
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(
            (s, e["message"].clone()),
            (415, json!("415: Unsupported Media Type"))
        );
        let (s, _) = call(
            &st,
            "POST",
            "/api/v1/nodes/n1",
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(s, 405);
    }

    #[tokio::test]
    async fn apply_creates_dry_run_stores_nothing_and_delete_answers_status() {
        let st = state();
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
        let path = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
        let (s, created) = call(
            &st,
            "PATCH",
            path,
            Some("application/apply-patch+yaml"),
            &lease.to_string(),
        )
        .await;
        assert_eq!(s, 201);
        assert_eq!(created["metadata"]["namespace"], "ns");
        let (s, _) = call(
            &st,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases?dryRun=All",
            Some("application/json"),
            &json!({"metadata": {"name": "dry"}, "spec": {}}).to_string(),
        )
        .await;
        assert_eq!(s, 201);
        assert!(st.store.get(LEASES, "ns", "dry").is_none());
        let (s, status) = call(&st, "DELETE", path, None, "").await;
        assert_eq!(s, 200);
        assert_eq!(status["status"], "Success");
        assert_eq!(status["details"]["group"], "coordination.k8s.io");
        assert_eq!(status["details"]["kind"], "leases");
        let (s, _) = call(&st, "DELETE", path, None, "").await;
        assert_eq!(s, 404);
    }

    #[tokio::test]
    async fn delete_collection_removes_what_the_selector_matches() {
        let st = state();
        st.store.create(NODES, node("a")).unwrap();
        let mut other = node("b");
        other["metadata"]["labels"]["pool"] = json!("b");
        st.store.create(NODES, other).unwrap();
        let (s, list) = call(
            &st,
            "DELETE",
            "/api/v1/nodes?labelSelector=pool%3Da",
            None,
            "",
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(list["kind"], "NodeList");
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(st.store.get(NODES, "", "a").is_none());
        assert!(st.store.get(NODES, "", "b").is_some());
    }

    #[tokio::test]
    async fn unknown_paths_and_cluster_paths_of_namespaced_types() {
        let st = state();
        let (s, e) = call(&st, "GET", "/api/v1/services", None, "").await;
        assert_eq!((s, e["reason"].clone()), (404, json!("NotFound")));
        let (s, _) = call(&st, "GET", "/api/v1/namespaces/x/nodes", None, "").await;
        assert_eq!(s, 404);
        let (s, _) = call(&st, "POST", "/api/v1/pods", Some("application/json"), "{}").await;
        assert_eq!(s, 405);
        let (s, _) = call(&st, "GET", "/nope", None, "").await;
        assert_eq!(s, 404);
        let (s, e) = call(
            &st,
            "POST",
            "/api/v1/namespaces/a/pods",
            Some("application/json"),
            "[1]",
        )
        .await;
        assert_eq!((s, e["reason"].clone()), (400, json!("BadRequest")));
    }

    #[tokio::test]
    async fn unknown_fields_warn_by_default_and_fail_under_strict() {
        let st = state();
        let body =
            json!({"metadata": {"name": "n", "bogus": 1}, "spec": {}, "spek": {}}).to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let resp = dispatch(
            &st,
            &Method::POST,
            &"/api/v1/nodes".parse().unwrap(),
            &headers,
            body.as_bytes(),
        );
        assert_eq!(resp.status(), StatusCode::CREATED);
        let warnings: Vec<&str> = resp
            .headers()
            .get_all(header::WARNING)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            warnings,
            [
                r#"299 - "unknown field \"spek\"""#,
                r#"299 - "unknown field \"metadata.bogus\"""#
            ]
        );
        let stored = st.store.get(NODES, "", "n").unwrap();
        assert!(stored.get("spek").is_none() && stored["metadata"].get("bogus").is_none());
        let (s, e) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n?fieldValidation=Strict",
            Some("application/merge-patch+json"),
            r#"{"spek":{"a":1}}"#,
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(
            e["message"],
            "Node in version \"v1\" cannot be handled as a Node: strict decoding error: unknown field \"spek\""
        );
        let (s, _) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n?fieldValidation=Ignore",
            Some("application/merge-patch+json"),
            r#"{"spek":{"a":1}}"#,
        )
        .await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn bad_list_options_are_a_422_on_list_options() {
        let st = state();
        let (s, e) = call(
            &st,
            "GET",
            "/api/v1/nodes?resourceVersionMatch=Exact",
            None,
            "",
        )
        .await;
        assert_eq!(s, 422);
        assert_eq!(
            e["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        assert_eq!(e["details"]["kind"], "ListOptions");
        assert!(e["details"].get("name").is_none());
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/nodes?resourceVersion=0&resourceVersionMatch=Exact",
            None,
            "",
        )
        .await;
        assert_eq!(s, 422);
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/nodes?resourceVersion=1&resourceVersionMatch=Newest",
            None,
            "",
        )
        .await;
        assert_eq!(s, 422);
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/nodes?resourceVersion=0&resourceVersionMatch=NotOlderThan",
            None,
            "",
        )
        .await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn dry_runs_check_but_store_nothing() {
        let st = state();
        st.store.create(NODES, node("n")).unwrap();
        let rv = st.store.current_rv();
        let (s, o) = call(
            &st,
            "PATCH",
            "/api/v1/nodes/n?dryRun=All",
            Some("application/merge-patch+json"),
            r#"{"spec":{"unschedulable":true}}"#,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(o["spec"]["unschedulable"], true);
        let mut put = (*st.store.get(NODES, "", "n").unwrap()).clone();
        put["metadata"]["labels"]["x"] = json!("y");
        let (s, o) = call(
            &st,
            "PUT",
            "/api/v1/nodes/n?dryRun=All",
            Some("application/json"),
            &put.to_string(),
        )
        .await;
        assert_eq!((s, o["metadata"]["labels"]["x"].clone()), (200, json!("y")));
        let (s, o) = call(&st, "DELETE", "/api/v1/nodes/n?dryRun=All", None, "").await;
        assert_eq!((s, o["status"].clone()), (200, json!("Success")));
        let (s, _) = call(
            &st,
            "DELETE",
            "/api/v1/nodes/n",
            Some("application/json"),
            r#"{"dryRun":["All"],"preconditions":{"uid":"other"}}"#,
        )
        .await;
        assert_eq!(s, 409);
        assert_eq!(st.store.current_rv(), rv);
        let stored = st.store.get(NODES, "", "n").unwrap();
        assert!(stored["spec"].get("unschedulable").is_none());
        assert!(stored["metadata"]["labels"].get("x").is_none());
    }

    #[tokio::test]
    async fn put_rules_follow_the_registry_strategies() {
        let st = state();
        let path = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
        let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
        let (s, created) = call(
            &st,
            "PUT",
            path,
            Some("application/json"),
            &lease.to_string(),
        )
        .await;
        assert_eq!(s, 201);
        assert_eq!(created["metadata"]["namespace"], "ns");
        let (s, e) = call(
            &st,
            "PUT",
            path,
            Some("application/json"),
            &lease.to_string(),
        )
        .await;
        assert_eq!(s, 422);
        assert_eq!(
            e["message"],
            "leases.coordination.k8s.io \"l\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        );
        let (s, _) = call(
            &st,
            "PUT",
            "/api/v1/nodes/missing",
            Some("application/json"),
            &node("missing").to_string(),
        )
        .await;
        assert_eq!(s, 404);
        st.store.create(NODES, node("n")).unwrap();
        let (s, _) = call(
            &st,
            "PUT",
            "/api/v1/nodes/n",
            Some("application/json"),
            &node("n").to_string(),
        )
        .await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn odd_shapes_are_answered_not_panicked_on() {
        let st = state();
        st.store
            .create(PODS, json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
            .unwrap();
        st.store.create(NODES, node("n")).unwrap();
        let bodies = [
            r#"{"metadata":"x"}"#,
            r#"{"metadata":{"name":"q"},"spec":5}"#,
            r#"{"metadata":{"name":"q"},"spec":{"containers":"x"},"status":"x"}"#,
            r#"{"metadata":{"name":"q","labels":[1]}}"#,
            r#"{"metadata":{"name":"q"},"spec":{"containers":[5,{"name":1}]}}"#,
            "[]",
            "null",
        ];
        for body in bodies {
            for (method, uri, ct) in [
                ("POST", "/api/v1/namespaces/d/pods", "application/json"),
                ("POST", "/api/v1/nodes", "application/json"),
                ("PUT", "/api/v1/namespaces/d/pods/p", "application/json"),
                (
                    "PATCH",
                    "/api/v1/namespaces/d/pods/p",
                    "application/merge-patch+json",
                ),
                (
                    "PATCH",
                    "/api/v1/namespaces/d/pods/p/status",
                    "application/strategic-merge-patch+json",
                ),
                ("PATCH", "/api/v1/nodes/n", "application/merge-patch+json"),
                ("PATCH", "/api/v1/nodes/n", "application/json-patch+json"),
                (
                    "PUT",
                    "/apis/coordination.k8s.io/v1/namespaces/d/leases/l",
                    "application/json",
                ),
            ] {
                let (s, _) = call(&st, method, uri, Some(ct), body).await;
                assert!((200..600).contains(&s), "{method} {uri} {body}: {s}");
            }
        }
        // The stored objects are still well-formed.
        let (s, list) = call(&st, "GET", "/api/v1/pods", None, "").await;
        assert_eq!(s, 200);
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["metadata"].is_object())
        );
    }

    #[tokio::test]
    async fn partial_object_metadata_is_served_on_request() {
        let st = state();
        st.store.create(NODES, node("n")).unwrap();
        let accept =
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        let resp = dispatch(
            &st,
            &Method::GET,
            &"/api/v1/nodes".parse().unwrap(),
            &headers,
            b"",
        );
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let list: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
        assert_eq!(list["items"][0]["metadata"]["name"], "n");
        assert!(list["items"][0].get("spec").is_none());
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            ),
        );
        let resp = dispatch(
            &st,
            &Method::GET,
            &"/api/v1/nodes/n".parse().unwrap(),
            &headers,
            b"",
        );
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let one: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(one["kind"], "PartialObjectMetadata");
        assert_eq!(one["apiVersion"], "meta.k8s.io/v1");
    }
}
