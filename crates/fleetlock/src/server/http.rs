//! The HTTP side: axum handlers of the FleetLock, status, admin, health and metrics endpoints,
//! the router, and the JSON error answers (every "not yet" is a non-2xx).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::auth::{check_admin, check_protocol_token};
use super::service::{FleetLock, store_error};
use crate::protocol::{ErrorKind, LockRequest, PROTOCOL_HEADER, ProtocolError};
use crate::semaphore::{Acquired, Released};

/// The request body as axum hands it over (a rejection when it is too large or unreadable).
type Body = Result<Bytes, BytesRejection>;

/// `POST /v1/admin/release` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRelease {
    /// Group of the stuck slot.
    pub group: String,
    /// Holder id to remove.
    pub id: String,
}

/// `POST /v1/admin/clear-halt` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminClearHalt {
    /// The halted group.
    pub group: String,
}

/// The JSON error answer (`WWW-Authenticate: Bearer` on 401).
fn error_response(e: &ProtocolError) -> Response {
    let mut response = (
        e.kind.status(),
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&e.body()).unwrap_or_default(),
    )
        .into_response();
    if e.kind == ErrorKind::Unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// A 200 with `value` as JSON.
fn ok_json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The request body, or the answer for one that is too large or unreadable (`prefix` goes
/// before the reason of the latter).
fn read_body(body: Body, prefix: &str) -> Result<Bytes, ProtocolError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ProtocolError::new(ErrorKind::BodyTooLarge, "request body is too large")
        } else {
            ProtocolError::new(ErrorKind::BadBody, format!("{prefix}{r}"))
        }
    })
}

/// Checks the token (if configured), the body limit, the protocol header and the JSON body,
/// in that order.
fn parse_protocol_request(
    app: &FleetLock,
    headers: &HeaderMap,
    body: Body,
) -> Result<LockRequest, ProtocolError> {
    check_protocol_token(app, headers)?;
    let body = read_body(body, "reading request body: ")?;
    let header_ok = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !header_ok {
        return Err(ProtocolError::new(
            ErrorKind::MissingProtocolHeader,
            "header `fleet-lock-protocol: true` is required",
        ));
    }
    LockRequest::parse(&body)
}

/// `POST /v1/pre-reboot`.
async fn pre_reboot(State(app): State<Arc<FleetLock>>, headers: HeaderMap, body: Body) -> Response {
    lock_endpoint(&app, &headers, body, LockOp::PreReboot).await
}

/// `POST /v1/steady-state`.
async fn steady_state(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    lock_endpoint(&app, &headers, body, LockOp::SteadyState).await
}

/// The two lock operations of the FleetLock protocol.
#[derive(Clone, Copy, Debug)]
enum LockOp {
    PreReboot,
    SteadyState,
}

impl LockOp {
    /// The endpoint's name in logs and metrics.
    fn endpoint(self) -> &'static str {
        match self {
            Self::PreReboot => "pre-reboot",
            Self::SteadyState => "steady-state",
        }
    }

    /// Runs the operation; the outcome's label for logs and metrics.
    async fn run(self, app: &FleetLock, req: &LockRequest) -> Result<&'static str, ProtocolError> {
        Ok(match self {
            Self::PreReboot => match app.pre_reboot(req).await? {
                Acquired::Granted => "granted",
                Acquired::AlreadyHeld => "already_held",
            },
            Self::SteadyState => match app.steady_state(req).await? {
                Released::Released => "released",
                Released::NotHeld => "not_held",
                Released::KeptForGate => "kept_for_gate",
                Released::KeptWhileHalted => "kept_while_halted",
            },
        })
    }
}

/// A lock endpoint: checks and parses the request, runs `op`, answers 200 or the JSON error;
/// logged and counted with the outcome's label or the refusal's kind.
async fn lock_endpoint(app: &FleetLock, headers: &HeaderMap, body: Body, op: LockOp) -> Response {
    let endpoint = op.endpoint();
    let result = async {
        let req = parse_protocol_request(app, headers, body)?;
        let label = op.run(app, &req).await?;
        Ok::<_, ProtocolError>((req, label))
    }
    .await;
    match result {
        Ok((req, label)) => {
            tracing::info!(id = %req.client_params.id, group = %req.client_params.group, outcome = label, "{endpoint}");
            app.metrics().count(endpoint, label);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::info!(kind = e.kind.as_str(), value = %e.value, "{endpoint} refused");
            app.metrics().count(endpoint, e.kind.as_str());
            error_response(&e)
        }
    }
}

async fn admin_release(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const EP: &str = "admin-release";
    let result = async {
        check_admin(&app, &headers)?;
        let body = read_body(body, "")?;
        let req: AdminRelease = serde_json::from_slice(&body).map_err(|e| {
            ProtocolError::new(
                ErrorKind::BadBody,
                format!("expected {{\"group\": \"...\", \"id\": \"...\"}}: {e}"),
            )
        })?;
        if !crate::protocol::is_valid_group(&req.group) || req.id.is_empty() {
            return Err(ProtocolError::new(
                ErrorKind::BadBody,
                "group must match ^[a-zA-Z0-9.-]+$ and id must be non-empty",
            ));
        }
        let released = app.admin_release(&req.group, &req.id).await?;
        Ok::<_, ProtocolError>((req, released))
    }
    .await;
    match result {
        Ok((req, released)) => {
            let label = if released == Released::Released {
                "released"
            } else {
                "not_held"
            };
            tracing::warn!(id = %req.id, group = %req.group, outcome = label, "admin release");
            app.metrics().count(EP, label);
            ok_json(&serde_json::json!({ "released": released == Released::Released }))
        }
        Err(e) => {
            app.metrics().count(EP, e.kind.as_str());
            error_response(&e)
        }
    }
}

async fn admin_clear_halt(
    State(app): State<Arc<FleetLock>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const EP: &str = "admin-clear-halt";
    let result = async {
        check_admin(&app, &headers)?;
        let body = read_body(body, "")?;
        let req: AdminClearHalt = serde_json::from_slice(&body).map_err(|e| {
            ProtocolError::new(
                ErrorKind::BadBody,
                format!("expected {{\"group\": \"...\"}}: {e}"),
            )
        })?;
        if !crate::protocol::is_valid_group(&req.group) {
            return Err(ProtocolError::new(
                ErrorKind::InvalidGroup,
                format!("group {:?} must match ^[a-zA-Z0-9.-]+$", req.group),
            ));
        }
        app.clear_halt(&req.group).await
    }
    .await;
    match result {
        Ok(cleared) => {
            let label = if cleared.halt.is_some() {
                "cleared"
            } else {
                "not_halted"
            };
            tracing::warn!(group = %cleared.group, halt = ?cleared.halt, failures = cleared.failures.len(), released = ?cleared.released, outcome = label, "admin clear-halt");
            app.metrics().count(EP, label);
            ok_json(&cleared)
        }
        Err(e) => {
            app.metrics().count(EP, e.kind.as_str());
            error_response(&e)
        }
    }
}

async fn status(State(app): State<Arc<FleetLock>>) -> Response {
    match app.status().await {
        Ok(s) => ok_json(&s),
        Err(e) => error_response(&store_error(&e)),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<Arc<FleetLock>>) -> Response {
    match tokio::time::timeout(app.config().request_timeout, app.store().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(e)) => error_response(&store_error(&e)),
        Err(_) => error_response(&ProtocolError::new(
            ErrorKind::StoreUnavailable,
            "lock store did not answer in time",
        )),
    }
}

async fn metrics(State(app): State<Arc<FleetLock>>) -> Response {
    if let Ok(status) = app.status().await {
        for g in status.groups {
            let labels = crate::metrics::GroupLabels { group: g.group };
            app.metrics()
                .rollout_halted
                .get_or_create(&labels)
                .set(i64::from(g.halt.is_some()));
            app.metrics()
                .holders
                .get_or_create(&labels)
                .set(i64::try_from(g.holders.len()).unwrap_or(i64::MAX));
            if let Some(slots) = g.slots {
                app.metrics()
                    .slots
                    .get_or_create(&labels)
                    .set(i64::from(slots));
            }
        }
    }
    match app.metrics().encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn method_not_allowed() -> Response {
    error_response(&ProtocolError::new(
        ErrorKind::MethodNotAllowed,
        "FleetLock endpoints accept POST only",
    ))
}

async fn not_found() -> Response {
    error_response(&ProtocolError::new(ErrorKind::NotFound, "no such endpoint"))
}

/// The router: `/v1/pre-reboot`, `/v1/steady-state`, `/v1/status`, `/v1/admin/release`,
/// `/v1/admin/clear-halt`, `/healthz`, `/readyz`, `/metrics`.
pub fn router(app: Arc<FleetLock>) -> Router {
    let limit = app.config().max_body_bytes;
    Router::new()
        .route(
            "/v1/pre-reboot",
            post(pre_reboot).fallback(method_not_allowed),
        )
        .route(
            "/v1/steady-state",
            post(steady_state).fallback(method_not_allowed),
        )
        .route(
            "/v1/admin/release",
            post(admin_release).fallback(method_not_allowed),
        )
        .route(
            "/v1/admin/clear-halt",
            post(admin_clear_halt).fallback(method_not_allowed),
        )
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}
