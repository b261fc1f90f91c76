//! Continue tokens of paginated lists, in the real server's format (base64url JSON holding the
//! list resourceVersion and the key to continue from), and the 410 for an expired one.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use super::response::json_response;
use crate::errors::ApiError;

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContinueToken {
    /// List resourceVersion; -1 for an "inconsistent" continuation.
    pub rv: i64,
    /// The key to continue from (the last returned key followed by a NUL).
    pub start: String,
}

impl ContinueToken {
    /// The token text.
    pub fn encode(&self) -> String {
        let doc = json!({"v": "meta.k8s.io/v1", "rv": self.rv, "start": self.start});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
    }

    /// Parses a token; 400 with the real server's message when it is not one.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
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

/// HTTP 410 for a continue token older than the retained history; its `metadata.continue`
/// is a fresh "inconsistent" token (rv -1) from the same key.
pub(crate) fn continue_expired_response(start: &str) -> Response {
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
