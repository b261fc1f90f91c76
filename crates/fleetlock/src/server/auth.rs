//! Bearer-token checks of the lock and admin endpoints.

use http::{HeaderMap, header};

use super::service::FleetLock;
use crate::protocol::{ErrorKind, ProtocolError};

/// Constant-time comparison of a presented token with the configured one: both are hashed
/// first, so neither the contents nor the length of the expected token leak through timing.
fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, presented);
    let b = ring::digest::digest(&ring::digest::SHA256, expected);
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The bearer token of an `Authorization` header (scheme case-insensitive), or "".
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .unwrap_or_default()
}

/// Checks the lock endpoints' bearer token when one is configured.
pub(super) fn check_protocol_token(
    app: &FleetLock,
    headers: &HeaderMap,
) -> Result<(), ProtocolError> {
    match app.config().protocol_token.as_deref() {
        None => Ok(()),
        Some(expected) if token_matches(bearer(headers).as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ProtocolError::new(
            ErrorKind::Unauthorized,
            "this server requires `Authorization: Bearer <protocol token>` on the lock endpoints",
        )),
    }
}

/// Checks the admin endpoints' bearer token; refuses every request when none is configured.
pub(super) fn check_admin(app: &FleetLock, headers: &HeaderMap) -> Result<(), ProtocolError> {
    let Some(expected) = app.config().admin_token.as_deref() else {
        return Err(ProtocolError::new(
            ErrorKind::AdminDisabled,
            "admin endpoints are disabled: no admin token configured",
        ));
    };
    if token_matches(bearer(headers).as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorKind::Unauthorized,
            "admin endpoints need `Authorization: Bearer <admin token>`",
        ))
    }
}
