//! FleetLock wire types: the request body Zincati sends and the error body it reads.

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Path of the lock (reserve a reboot slot) endpoint, relative to the base URL.
pub const PRE_REBOOT_PATH: &str = "v1/pre-reboot";
/// Path of the unlock (release a reboot slot) endpoint, relative to the base URL.
pub const STEADY_STATE_PATH: &str = "v1/steady-state";
/// Header every lock/unlock request must carry with the value `true`.
pub const PROTOCOL_HEADER: &str = "fleet-lock-protocol";
/// The longest `client_params.id` accepted, in bytes of UTF-8. Zincati's ids are 32 hex
/// characters; the rest is room for other clients (host names, UUIDs with prefixes).
pub const MAX_ID_BYTES: usize = 256;

/// The identity part of a request body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientParams {
    /// Client identifier (Zincati: the app-specific machine id, lowercase hex). Case-sensitive.
    /// Zincati releases before 0.0.5 called this field `node_uuid`; both are accepted.
    #[serde(alias = "node_uuid")]
    pub id: String,
    /// Reboot group, `^[a-zA-Z0-9.-]+$`.
    pub group: String,
}

/// A lock or unlock request body: `{"client_params": {"id": "...", "group": "..."}}`.
/// Unknown fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// The caller's identity.
    pub client_params: ClientParams,
}

impl LockRequest {
    /// A request for `id` in `group`.
    pub fn new(id: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            client_params: ClientParams {
                id: id.into(),
                group: group.into(),
            },
        }
    }

    /// Parses a body as JSON whatever its Content-Type, and validates id and group.
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        let req: Self = serde_json::from_slice(body).map_err(|e| ProtocolError {
            kind: ErrorKind::BadBody,
            value: format!("request body is not a FleetLock JSON document: {e}"),
        })?;
        check_id(&req.client_params.id)?;
        if !is_valid_group(&req.client_params.group) {
            return Err(ProtocolError {
                kind: ErrorKind::InvalidGroup,
                value: format!(
                    "client_params.group {:?} must be non-empty and match ^[a-zA-Z0-9.-]+$",
                    req.client_params.group
                ),
            });
        }
        Ok(req)
    }
}

/// Checks a client id: non-empty, at most [`MAX_ID_BYTES`] bytes, no control characters
/// (the id is stored, logged and shown by the status API). The refusal is
/// [`ErrorKind::InvalidId`]; it names the rule, and shows the id only when it is short and
/// printable.
pub fn check_id(id: &str) -> Result<(), ProtocolError> {
    if id.is_empty() {
        return Err(ProtocolError::new(
            ErrorKind::InvalidId,
            "client_params.id must be a non-empty string",
        ));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(ProtocolError::new(
            ErrorKind::InvalidId,
            format!(
                "client_params.id is {} bytes long; at most {MAX_ID_BYTES} are accepted (Zincati sends 32 hex characters)",
                id.len()
            ),
        ));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(ProtocolError::new(
            ErrorKind::InvalidId,
            format!(
                "client_params.id must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Whether `group` is a valid group name: non-empty, `^[a-zA-Z0-9.-]+$`.
pub fn is_valid_group(group: &str) -> bool {
    !group.is_empty()
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// The fixed, small set of error kinds (Zincati uses `kind` as a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The `fleet-lock-protocol: true` header is missing or has another value.
    MissingProtocolHeader,
    /// The body is not valid FleetLock JSON.
    BadBody,
    /// `client_params.id` is empty, longer than [`MAX_ID_BYTES`] or has control characters.
    InvalidId,
    /// `client_params.group` is empty or has characters outside `[a-zA-Z0-9.-]`.
    InvalidGroup,
    /// The group is not configured and auto-creation is off.
    UnknownGroup,
    /// All slots of the group are held by others.
    SemaphoreFull,
    /// The lock store could not be read or written (retry later).
    StoreUnavailable,
    /// The request body is larger than the configured cap.
    BodyTooLarge,
    /// Wrong HTTP method for this path.
    MethodNotAllowed,
    /// No such endpoint.
    NotFound,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The admin endpoint is disabled (no token configured).
    AdminDisabled,
    /// Kubernetes mode: the node is being cordoned/drained; ask again later.
    DrainInProgress,
    /// Kubernetes mode: the last drain attempt failed; it is being retried.
    DrainFailed,
    /// Kubernetes mode: a PodDisruptionBudget refuses an eviction; the drain keeps retrying.
    PdbBlocked,
    /// Kubernetes mode: the node's `Ready` condition is not `True`; it is not drained.
    NodeNotReady,
    /// Kubernetes mode: the id matches several nodes.
    NodeAmbiguous,
    /// Kubernetes mode: the Kubernetes API failed.
    KubernetesUnavailable,
    /// The group's rollout is halted (a failed reboot reached the failure budget); only an
    /// operator resumes it. Holders keep their 200.
    RolloutHalted,
}

impl ErrorKind {
    /// The `kind` string sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingProtocolHeader => "failed_protocol_header",
            Self::BadBody => "failed_parse_body",
            Self::InvalidId => "failed_invalid_id",
            Self::InvalidGroup => "failed_invalid_group",
            Self::UnknownGroup => "failed_unknown_group",
            Self::SemaphoreFull => "failed_lock_semaphore_full",
            Self::StoreUnavailable => "failed_store_unavailable",
            Self::BodyTooLarge => "failed_body_too_large",
            Self::MethodNotAllowed => "failed_method_not_allowed",
            Self::NotFound => "failed_not_found",
            Self::Unauthorized => "failed_unauthorized",
            Self::AdminDisabled => "failed_admin_disabled",
            Self::DrainInProgress => "drain_in_progress",
            Self::DrainFailed => "failed_drain",
            Self::PdbBlocked => "failed_pdb_blocked",
            Self::NodeNotReady => "failed_node_not_ready",
            Self::NodeAmbiguous => "failed_node_ambiguous",
            Self::KubernetesUnavailable => "failed_kubernetes_unavailable",
            Self::RolloutHalted => "rollout_halted",
        }
    }

    /// The HTTP status for this kind. Never 2xx: Zincati treats any 2xx as "granted".
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingProtocolHeader | Self::BadBody | Self::InvalidId | Self::InvalidGroup => {
                StatusCode::BAD_REQUEST
            }
            Self::UnknownGroup | Self::NotFound | Self::AdminDisabled => StatusCode::NOT_FOUND,
            Self::SemaphoreFull
            | Self::DrainInProgress
            | Self::DrainFailed
            | Self::PdbBlocked
            | Self::NodeNotReady
            | Self::NodeAmbiguous => StatusCode::CONFLICT,
            Self::StoreUnavailable | Self::KubernetesUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            // 423 Locked: the group stays locked until an operator unlocks it; not 409 (the
            // "ask again, it will pass" answers) and not 5xx (the server is healthy).
            Self::RolloutHalted => StatusCode::LOCKED,
        }
    }
}

/// The JSON error body `{"kind": "...", "value": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-friendly error kind, from a small fixed set.
    pub kind: String,
    /// Human-friendly explanation (ids and details go here).
    pub value: String,
}

/// A protocol-level refusal: kind plus human-readable value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {value}", kind.as_str())]
pub struct ProtocolError {
    /// The error kind (decides the status code).
    pub kind: ErrorKind,
    /// Details for humans.
    pub value: String,
}

impl ProtocolError {
    /// A refusal of `kind` with explanation `value`.
    pub fn new(kind: ErrorKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    /// The wire body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind.as_str().to_owned(),
            value: self.value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        for ok in ["default", "a", "workers-1.eu", "A.B-c9"] {
            assert!(is_valid_group(ok), "{ok}");
        }
        for bad in ["", "a b", "a_b", "a/b", "ü", "x\n"] {
            assert!(!is_valid_group(bad), "{bad:?}");
        }
    }

    #[test]
    fn parses_zincati_body_and_ignores_unknown_fields() {
        let body = "{\n  \"client_params\": {\n    \"id\": \"AbC\",\n    \"group\": \"default\",\n    \"extra\": 1\n  },\n  \"more\": []\n}";
        let req = LockRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(req, LockRequest::new("AbC", "default"));
        let old = br#"{"client_params":{"node_uuid":"x","group":"g"}}"#;
        assert_eq!(LockRequest::parse(old).unwrap().client_params.id, "x");
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        let zincati = "c988d2509fdf4cdcbed39037c56406fb";
        let longest = "x".repeat(MAX_ID_BYTES);
        let multibyte = "é".repeat(MAX_ID_BYTES / 2);
        for ok in [
            zincati,
            "node-1.example.com",
            "Ünïcode id",
            &longest,
            &multibyte,
        ] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        let over = "x".repeat(MAX_ID_BYTES + 1);
        let huge = "a".repeat(60 * 1024);
        let multibyte_over = format!("{multibyte}x");
        for (bad, says) in [
            ("", "non-empty"),
            (over.as_str(), "257 bytes long; at most 256"),
            (huge.as_str(), "61440 bytes long"),
            (multibyte_over.as_str(), "257 bytes"),
            ("a\nb", "U+000A"),
            ("a\tb", "U+0009"),
            ("\u{0}", "U+0000"),
            ("a\u{7f}", "U+007F"),
            ("a\u{85}", "U+0085"),
        ] {
            let e = check_id(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidId, "{bad:?}");
            assert_eq!(e.kind.status(), StatusCode::BAD_REQUEST);
            assert!(e.value.contains(says), "{bad:?}: {}", e.value);
            assert!(e.value.len() < 200, "the refusal does not echo the id");
        }
        let body = format!(
            r#"{{"client_params":{{"id":"{}","group":"default"}}}}"#,
            "f".repeat(300)
        );
        assert_eq!(
            LockRequest::parse(body.as_bytes()).unwrap_err().kind,
            ErrorKind::InvalidId
        );
        let body = br#"{"client_params":{"id":"a\u0000b","group":"default"}}"#;
        assert_eq!(
            LockRequest::parse(body).unwrap_err().kind,
            ErrorKind::InvalidId
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        let cases: [(&[u8], ErrorKind); 6] = [
            (b"", ErrorKind::BadBody),
            (b"client_params=1", ErrorKind::BadBody),
            (br#"{"client_params":{"group":"g"}}"#, ErrorKind::BadBody),
            (
                br#"{"client_params":{"id":"","group":"g"}}"#,
                ErrorKind::InvalidId,
            ),
            (
                br#"{"client_params":{"id":"a","group":""}}"#,
                ErrorKind::InvalidGroup,
            ),
            (
                br#"{"client_params":{"id":"a","group":"a b"}}"#,
                ErrorKind::InvalidGroup,
            ),
        ];
        for (body, kind) in cases {
            let err = LockRequest::parse(body).unwrap_err();
            assert_eq!(err.kind, kind, "{}", String::from_utf8_lossy(body));
            assert!(!err.kind.status().is_success());
        }
    }
}
