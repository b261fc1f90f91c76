//! Lock errors, classified for callers that retry.

use crate::format::FormatError;

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// `release` by a holder that holds no record; says who does.
    #[error("lock not held by {holder}{}", held_by(.holders))]
    NotHeld {
        /// The caller.
        holder: String,
        /// The node ids holding records now (possibly empty).
        holders: Vec<String>,
    },
    /// The lock object (`DaemonSet`) does not exist.
    #[error("lock object {kind} {namespace}/{name} not found")]
    NotFound {
        /// `DaemonSet` or `Lease`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The stored value is not kured's format; it is left untouched.
    #[error("cannot parse lock annotation {annotation} on {object}: {source}")]
    Format {
        /// The annotation key.
        annotation: String,
        /// `namespace/name` of the object.
        object: String,
        /// The parse error.
        #[source]
        source: FormatError,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Api(#[source] kube::Error),
    /// Every attempt met a concurrent writer (409) or a transient error.
    #[error("gave up after {attempts} attempts against concurrent writers or transient errors")]
    Contention {
        /// How many read-decide-write rounds were made.
        attempts: u32,
    },
    /// Invalid configuration (e.g. concurrency 0).
    #[error("invalid lock configuration: {0}")]
    Config(String),
    /// The watch behind `wait_for_change` stopped.
    #[error("the lock watch ended")]
    WatchEnded,
}

fn held_by(holders: &[String]) -> String {
    if holders.is_empty() {
        "; nobody holds it".to_string()
    } else {
        format!("; held by {}", holders.join(","))
    }
}

impl LockError {
    /// Whether trying again later may succeed (transient API errors, contention, a watch that
    /// ended). Not-held, not-found, format and configuration errors are permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => kube_error_is_retryable(e),
            Self::Contention { .. } | Self::WatchEnded => true,
            Self::NotHeld { .. }
            | Self::NotFound { .. }
            | Self::Format { .. }
            | Self::Config(_) => false,
        }
    }
}

/// HTTP status of an API error, if it is one.
pub(crate) fn api_status(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// 409 Conflict: someone else wrote first.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    api_status(e) == Some(409)
}

/// Transient: 5xx, 429, request timeouts, and transport errors.
pub(crate) fn kube_error_is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => matches!(status.code, 408 | 409 | 429) || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn classification() {
        assert!(LockError::Api(api(500)).is_retryable());
        assert!(LockError::Api(api(503)).is_retryable());
        assert!(LockError::Api(api(429)).is_retryable());
        assert!(LockError::Api(api(409)).is_retryable());
        assert!(!LockError::Api(api(403)).is_retryable());
        assert!(!LockError::Api(api(422)).is_retryable());
        assert!(LockError::Contention { attempts: 3 }.is_retryable());
        assert!(!LockError::Config("x".into()).is_retryable());
        let not_held = LockError::NotHeld {
            holder: "n1".into(),
            holders: vec!["n2".into(), "n3".into()],
        };
        assert!(!not_held.is_retryable());
        assert_eq!(not_held.to_string(), "lock not held by n1; held by n2,n3");
        let nobody = LockError::NotHeld {
            holder: "n1".into(),
            holders: vec![],
        };
        assert_eq!(nobody.to_string(), "lock not held by n1; nobody holds it");
        assert!(is_conflict(&api(409)));
        assert!(!is_conflict(&api(500)));
    }
}
