//! Responses as the real server writes them: JSON with its `Content-Type` and `Cache-Control`,
//! errors as `Status` bodies, `Warning` headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::errors::ApiError;
use crate::patch;

/// The response for an API error: its HTTP status, the `Status` body, its extra headers.
pub(crate) fn api_error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &err.to_status());
    let headers = resp.headers_mut();
    for (name, value) in &err.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(*name, v);
        }
    }
    resp
}

/// A JSON response with the real server's `Content-Type` and `Cache-Control`.
pub(crate) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    set_json_headers(&mut resp);
    resp
}

/// Sets the real server's `Content-Type: application/json` and
/// `Cache-Control: no-cache, private` (also on streamed watch responses).
pub(crate) fn set_json_headers(resp: &mut Response) {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
}

/// [`json_bytes_response`] of a JSON value.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

/// The response of a handler's result: the success, or the error as a `Status`.
pub(crate) fn result_response(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| api_error_response(&e))
}

/// A `text/plain` response (the real server's health checks and unknown paths).
pub(crate) fn text_response(status: StatusCode, text: &'static str) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Adds one `Warning: 299 - "…"` header per text.
pub(crate) fn with_warnings(mut resp: Response, texts: &[String]) -> Response {
    for t in texts {
        if let Ok(v) = HeaderValue::from_str(&patch::warning_header_value(t)) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}
