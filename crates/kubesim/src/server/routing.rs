//! The router: the one axum handler, the non-resource paths (version, discovery, health) and the
//! dispatch of resource requests on verb and subresource.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::create::create;
use super::delete::{delete, delete_collection};
use super::discovery;
use super::evict::evict;
use super::get::get;
use super::list::list;
use super::patch_object::patch_object;
use super::query::parse_query;
use super::request::ApiRequest;
use super::request_info::{path_segments, request_info};
use super::response::{api_error_response, result_response, text_response};
use super::state::ServerState;
use super::update::update;
use crate::errors::ApiError;
use crate::resources::RESOURCES;

/// Largest request body accepted (the real server's limit is 3 MiB for most writes).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

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
pub(crate) fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        Some("NotFound"),
        "the server could not find the requested resource",
    )
    .with_details(json!({}))
}

/// Answers one request (the body already read).
pub(crate) fn dispatch(
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
        ["api", version] => discovery::api_resource_list("", version)
            .map_or_else(page_not_found, |d| discovery::json_response(&d)),
        ["apis", group] => discovery::api_group(group)
            .map_or_else(page_not_found, |d| discovery::json_response(&d)),
        ["apis", group, version] => discovery::api_resource_list(group, version)
            .map_or_else(page_not_found, |d| discovery::json_response(&d)),
        ["healthz" | "livez" | "readyz"] => text_response(StatusCode::OK, "ok"),
        // A group/version the server does not serve has no handler at all: Go's plain 404.
        ["api", version, ..] if !serves_group_version("", version) => page_not_found(),
        ["apis", group, version, ..] if !serves_group_version(group, version) => page_not_found(),
        ["api" | "apis", ..] => result_response(
            parse_resource_request(method, uri, headers, body)
                .and_then(|req| resource_request(state, &req)),
        ),
        _ => page_not_found(),
    }
}

/// Go's `http.NotFound`: what the real server answers for a path no handler serves (an unknown
/// API group or version included).
fn page_not_found() -> Response {
    text_response(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// Whether some served resource type is in `group`/`version`.
fn serves_group_version(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
}

/// The [`ApiRequest`] of a path under `/api` or `/apis`; 404 when it names no served type, or
/// a namespace for a cluster-scoped one.
fn parse_resource_request<'a>(
    method: &Method,
    uri: &Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> Result<ApiRequest<'a>, ApiError> {
    let info = request_info(method, uri);
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
    Ok(ApiRequest {
        verb: info.verb,
        rt,
        ns,
        name: info.name,
        subresource: info.subresource,
        query: parse_query(uri.query()),
        headers,
        body,
    })
}

/// Dispatches a resource request on its verb (`HEAD` is `get`/`list`) and subresource.
fn resource_request(state: &ServerState, req: &ApiRequest<'_>) -> Result<Response, ApiError> {
    let verb = req.verb.as_str();
    match (&req.name, req.subresource.as_deref()) {
        (None, _) => {
            if req.ns.is_none() && !matches!(verb, "list" | "watch") {
                return Err(ApiError::method_not_allowed());
            }
            match verb {
                "list" | "watch" => list(state, req),
                "create" => create(state, req),
                "deletecollection" => delete_collection(state, req),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Some(_), _) if req.ns.is_none() => Err(not_found_path()),
        (Some(_), None) => match verb {
            "get" => get(state, req),
            "update" => update(state, req),
            "patch" => patch_object(state, req),
            "delete" => delete(state, req),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(_), Some(sub)) => {
            if !req.rt.subresources.contains(&sub) {
                return Err(not_found_path());
            }
            match (sub, verb) {
                ("status", "get") => get(state, req),
                ("status", "update") => update(state, req),
                ("status", "patch") => patch_object(state, req),
                ("eviction", "create") => evict(state, req),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    }
}
