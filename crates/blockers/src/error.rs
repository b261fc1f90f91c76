//! [`BlockerError`]: why a blocker could not be built or could not decide.

/// Why a blocker could not be configured, or why a check could not tell whether the node may
/// reboot. A check that returns an error must be treated as **blocking** (fail safe):
/// [`crate::check_or_block`] and [`crate::CompositeBlocker`] turn it into
/// [`crate::BlockReason::CheckFailed`].
///
/// Prometheus URLs in these messages never carry a password (it is replaced by `***`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockerError {
    /// Bad configuration, reported when the blocker is built (never at check time).
    #[error("invalid blocker configuration: {0}")]
    Config(String),
    /// Prometheus could not be reached, or the request timed out.
    #[error("prometheus query {url}: request failed: {source}")]
    PrometheusTransport {
        /// The query URL (password redacted).
        url: String,
        /// The transport error (without its URL, which could carry credentials).
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus answered with its error envelope (`"status": "error"`).
    #[error("prometheus query {url}: HTTP {status}: {error_type}: {error}")]
    PrometheusApi {
        /// The query URL (password redacted).
        url: String,
        /// The HTTP status code.
        status: u16,
        /// `errorType` (`bad_data`, `execution`, `timeout`, `unavailable`, …).
        error_type: String,
        /// `error`: the server's message.
        error: String,
    },
    /// Prometheus (or something in front of it) answered a non-success status without the
    /// Prometheus error envelope.
    #[error("prometheus query {url}: HTTP {status}: {body}")]
    PrometheusStatus {
        /// The query URL (password redacted).
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A response Prometheus would not send: not JSON, not an instant vector, a sample without
    /// a value, …
    #[error("prometheus query {url}: unexpected response: {detail}")]
    PrometheusBadResponse {
        /// The query URL (password redacted).
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A Kubernetes API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done (`listing pods on node-0 with selector "app=db"`).
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}
