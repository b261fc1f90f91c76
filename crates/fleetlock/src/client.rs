//! A FleetLock client that sends exactly what Zincati sends: a pretty-printed JSON body with
//! no Content-Type, the `fleet-lock-protocol: true` header, and endpoint URLs made with
//! [`url::Url::join`] (so a base URL without a trailing slash loses its last segment, as in
//! Zincati).

use http::StatusCode;
use serde::Serialize;

use crate::protocol::{ErrorBody, PRE_REBOOT_PATH, PROTOCOL_HEADER, STEADY_STATE_PATH};

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered non-2xx.
    #[error("lock manager {endpoint} rejection, code {}: {}", status.as_u16(), body.value)]
    Rejected {
        /// `pre-reboot` or `steady-state`.
        endpoint: &'static str,
        /// HTTP status.
        status: StatusCode,
        /// Decoded error body; `generic_http_<code>` if it was not JSON (as Zincati does).
        body: ErrorBody,
    },
    /// Transport failure.
    #[error("FleetLock request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The endpoint URL could not be built.
    #[error("bad FleetLock URL: {0}")]
    Url(#[from] url::ParseError),
    /// The body could not be encoded.
    #[error("encoding FleetLock body: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Identity<'a> {
    client_params: Params<'a>,
}

#[derive(Serialize)]
struct Params<'a> {
    id: &'a str,
    group: &'a str,
}

/// A FleetLock client for one identity.
#[derive(Clone)]
pub struct Client {
    base: url::Url,
    body: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("body", &self.body)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `id` in `group` against `base` (e.g. `http://host:8080/`).
    pub fn new(
        base: url::Url,
        id: &str,
        group: &str,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let body = serde_json::to_string_pretty(&Identity {
            client_params: Params { id, group },
        })?;
        Ok(Self {
            base,
            body,
            http,
            token: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request, for servers that require a
    /// protocol token (Zincati itself never sends one).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The exact body this client sends.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// `POST v1/pre-reboot`: `Ok(())` means a slot is held and the node may reboot.
    pub async fn pre_reboot(&self) -> Result<(), ClientError> {
        self.post(PRE_REBOOT_PATH, "pre-reboot").await
    }

    /// `POST v1/steady-state`: `Ok(())` means no slot is held any more.
    pub async fn steady_state(&self) -> Result<(), ClientError> {
        self.post(STEADY_STATE_PATH, "steady-state").await
    }

    async fn post(&self, path: &str, endpoint: &'static str) -> Result<(), ClientError> {
        let url = self.base.join(path)?;
        let mut request = self
            .http
            .post(url)
            .body(self.body.clone())
            .header(PROTOCOL_HEADER, "true");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let resp = request.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
            kind: format!("generic_http_{}", status.as_u16()),
            value: "(unknown server error)".into(),
        });
        Err(ClientError::Rejected {
            endpoint,
            status,
            body,
        })
    }
}
