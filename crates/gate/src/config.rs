//! [`GateConfig`]: how long the gate waits, how often it looks, and its optional checks.

use std::time::Duration;

/// Default [`GateConfig::timeout`]: a node not healthy 30 minutes after its reboot is a gate
/// failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Default [`GateConfig::poll`]: one evaluation a second keeps the gate's own delay per
/// handoff under a second beyond readiness.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// How the gate decides and how long it waits. [`crate::HealthGate::for_client`] validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// A gate that has not passed this long after the wait's `since` fails. Must be > 0.
    pub timeout: Duration,
    /// Re-check interval. Must be > 0.
    pub poll: Duration,
    /// Optional: a Prometheus query that must return an empty result.
    pub prometheus: Option<PromCheck>,
    /// Optional: a label selector (all namespaces) whose pods must all be Ready (finished and
    /// terminating pods are not counted). Checked with the API server's grammar.
    pub pod_selector: Option<String>,
}

impl Default for GateConfig {
    /// [`DEFAULT_TIMEOUT`], [`DEFAULT_POLL`], no optional checks.
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            poll: DEFAULT_POLL,
            prometheus: None,
            pod_selector: None,
        }
    }
}

/// A Prometheus instant query that must return no series for the gate to pass (for example
/// `ALERTS{alertstate="firing",severity="critical"}` or `up{job="node"} == 0`). Any series
/// counts, whatever its value; a failed query holds the gate.
#[derive(Clone, PartialEq, Eq)]
pub struct PromCheck {
    /// The server (`http://prometheus.monitoring:9090`, a path prefix allowed; credentials in
    /// the URL are sent as basic authentication and never logged).
    pub url: String,
    /// The `PromQL` expression.
    pub query: String,
}

/// The URL with a password in it replaced by `***` (`http://user:***@host`).
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}***{}",
        &url[..scheme_end],
        &authority[..=colon],
        &rest[at..]
    )
}

/// The URL's password is shown as `***`.
impl std::fmt::Debug for PromCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromCheck")
            .field("url", &redact_url(&self.url))
            .field("query", &self.query)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let check = PromCheck {
            url: "https://gate:s3cret@prom.example:9090/prom?x=1".into(),
            query: "up == 0".into(),
        };
        let shown = format!("{check:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("https://gate:***@prom.example:9090/prom?x=1"),
            "{shown}"
        );
        assert_eq!(redact_url("http://prom:9090"), "http://prom:9090");
        assert_eq!(redact_url("http://user@prom:9090"), "http://user@prom:9090");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
