//! [`GateError`]: why a gate could not be built, an attempt not be recorded or read.

/// Why a gate could not be built, or an attempt could not be prepared, recorded or read.
///
/// A failed API read **during a gate check** is not an error: it is reported as
/// [`crate::Unhealthy::CheckFailed`] and the gate keeps waiting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Bad gate configuration, reported by [`crate::HealthGate::for_client`]; `field` names the
    /// [`crate::GateConfig`] field (`pod_selector`, `prometheus.url`, …).
    #[error("invalid health gate configuration: {field}: {message}")]
    Config {
        /// The configuration field (`timeout`, `poll`, `pod_selector`, `prometheus.url`,
        /// `prometheus.query`).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A Kubernetes API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done (`reading node node-0`).
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The node reports no `status.nodeInfo.bootID`, so a reboot could not be told from none.
    #[error("node {node} reports no status.nodeInfo.bootID: a reboot could not be verified")]
    NoBootId {
        /// The node.
        node: String,
    },
    /// The attempt annotation holds something that is not an attempt record.
    #[error("node {node}: annotation {annotation} is not a reboot attempt record: {source}")]
    BadAnnotation {
        /// The node.
        node: String,
        /// The annotation key ([`crate::ATTEMPT_ANNOTATION`]).
        annotation: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The attempt handed to the gate cannot be checked (it records no boot ID).
    #[error("reboot attempt for node {node} cannot be checked: {reason}")]
    InvalidAttempt {
        /// The node.
        node: String,
        /// What is missing.
        reason: String,
    },
}

impl GateError {
    /// A [`GateError::Kube`] saying what was being done.
    pub(crate) fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            what: what.into(),
            source,
        }
    }
}
