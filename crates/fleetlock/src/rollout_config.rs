//! [`RolloutConfig`]: Kubernetes mode's post-reboot health gate and stop-the-line settings
//! (`--health-gate*`, `--reboot-not-back-timeout`, `--max-failed-nodes`).

use std::time::Duration;

use crate::config::ConfigError;

/// Default [`RolloutConfig::health_gate_timeout`]: 30 minutes.
pub const DEFAULT_HEALTH_GATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default [`RolloutConfig::poll`]: how often gates re-check and the supervisor looks at the
/// holders.
pub const DEFAULT_ROLLOUT_POLL: Duration = Duration::from_secs(1);

/// The health gate and stop-the-line (Kubernetes mode). The defaults keep today's behaviour:
/// no gate, no not-back timeout.
#[derive(Clone, PartialEq, Eq)]
pub struct RolloutConfig {
    /// Keep a node's slot after its steady-state (answered 2xx at once) until the health gate
    /// passes; a gate that does not pass in time is a failure.
    pub health_gate: bool,
    /// How long the gate may take, counted from the steady-state. Must be > 0.
    pub health_gate_timeout: Duration,
    /// Optional Prometheus server for the gate's query (with `health_gate_prometheus_query`).
    pub health_gate_prometheus_url: Option<String>,
    /// Optional PromQL query that must return nothing (with `health_gate_prometheus_url`).
    pub health_gate_prometheus_query: Option<String>,
    /// Optional label selector (all namespaces) whose pods must all be Ready.
    pub health_gate_pod_selector: Option<String>,
    /// A node not Ready with a new boot ID this long after its reboot was granted is a failure;
    /// zero turns the check off.
    pub reboot_not_back_timeout: Duration,
    /// Failures (distinct machines) that halt a group's rollout. At least 1.
    pub max_failed_nodes: u32,
    /// Gate re-check and supervisor interval. Must be > 0.
    pub poll: Duration,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            health_gate: false,
            health_gate_timeout: DEFAULT_HEALTH_GATE_TIMEOUT,
            health_gate_prometheus_url: None,
            health_gate_prometheus_query: None,
            health_gate_pod_selector: None,
            reboot_not_back_timeout: Duration::ZERO,
            max_failed_nodes: 1,
            poll: DEFAULT_ROLLOUT_POLL,
        }
    }
}

/// The URL with the password of its user part replaced by `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The Prometheus URL's password is shown as `***`.
impl std::fmt::Debug for RolloutConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutConfig")
            .field("health_gate", &self.health_gate)
            .field("health_gate_timeout", &self.health_gate_timeout)
            .field(
                "health_gate_prometheus_url",
                &self.health_gate_prometheus_url.as_deref().map(redact),
            )
            .field(
                "health_gate_prometheus_query",
                &self.health_gate_prometheus_query,
            )
            .field("health_gate_pod_selector", &self.health_gate_pod_selector)
            .field("reboot_not_back_timeout", &self.reboot_not_back_timeout)
            .field("max_failed_nodes", &self.max_failed_nodes)
            .field("poll", &self.poll)
            .finish()
    }
}

impl RolloutConfig {
    /// Whether anything here needs Kubernetes mode (the gate or the not-back timeout).
    pub fn enabled(&self) -> bool {
        self.health_gate || !self.reboot_not_back_timeout.is_zero()
    }

    /// Checks the rules that need no cluster (the selector and URL are checked when the gate
    /// is built); errors name the field.
    pub fn validate(&self, kubernetes_nodes: bool) -> Result<(), ConfigError> {
        if self.enabled() && !kubernetes_nodes {
            let field = if self.health_gate {
                "health_gate"
            } else {
                "reboot_not_back_timeout"
            };
            return Err(ConfigError::new(
                field,
                "needs kubernetes_nodes (the gate and the not-back check read Nodes)",
            ));
        }
        if self.max_failed_nodes == 0 {
            return Err(ConfigError::new("max_failed_nodes", "must be at least 1"));
        }
        if self.health_gate_timeout.is_zero() {
            return Err(ConfigError::new("health_gate_timeout", "must be positive"));
        }
        if self.poll.is_zero() {
            return Err(ConfigError::new("rollout poll", "must be positive"));
        }
        match (
            &self.health_gate_prometheus_url,
            &self.health_gate_prometheus_query,
        ) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "health_gate_prometheus_query",
                    "is needed with health_gate_prometheus_url",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "health_gate_prometheus_url",
                    "is needed with health_gate_prometheus_query",
                ));
            }
            _ => {}
        }
        let gate_only = [
            (
                "health_gate_prometheus_url",
                self.health_gate_prometheus_url.is_some(),
            ),
            (
                "health_gate_pod_selector",
                self.health_gate_pod_selector.is_some(),
            ),
        ];
        if let Some((field, _)) = gate_only.iter().find(|(_, set)| *set && !self.health_gate) {
            return Err(ConfigError::new(*field, "needs health_gate"));
        }
        if let Some(url) = &self.health_gate_prometheus_url {
            let parsed = url::Url::parse(url).map_err(|e| {
                ConfigError::new(
                    "health_gate_prometheus_url",
                    format!("{}: {e}", redact(url)),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::new(
                    "health_gate_prometheus_url",
                    format!("{}: must be an http:// or https:// URL", redact(url)),
                ));
            }
        }
        if self
            .health_gate_prometheus_query
            .as_deref()
            .is_some_and(|q| q.trim().is_empty())
        {
            return Err(ConfigError::new("health_gate_prometheus_query", "is empty"));
        }
        #[cfg(feature = "kubernetes")]
        if let Some(selector) = &self.health_gate_pod_selector {
            drain::check_label_selector(selector)
                .map_err(|e| ConfigError::new("health_gate_pod_selector", e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_change_nothing_and_errors_name_the_field() {
        let c = RolloutConfig::default();
        assert!(!c.enabled());
        c.validate(false).unwrap();
        let field = |c: RolloutConfig, k8s: bool| c.validate(k8s).unwrap_err().field;
        let gate = RolloutConfig {
            health_gate: true,
            ..RolloutConfig::default()
        };
        assert_eq!(field(gate.clone(), false), "health_gate");
        gate.validate(true).unwrap();
        let not_back = RolloutConfig {
            reboot_not_back_timeout: Duration::from_secs(60),
            ..RolloutConfig::default()
        };
        assert_eq!(field(not_back, false), "reboot_not_back_timeout");
        let zero = RolloutConfig {
            max_failed_nodes: 0,
            ..gate.clone()
        };
        assert_eq!(field(zero, true), "max_failed_nodes");
        let url_only = RolloutConfig {
            health_gate_prometheus_url: Some("http://prom:9090".into()),
            ..gate.clone()
        };
        assert_eq!(field(url_only, true), "health_gate_prometheus_query");
        let selector_without_gate = RolloutConfig {
            health_gate_pod_selector: Some("app=x".into()),
            ..RolloutConfig::default()
        };
        assert_eq!(
            field(selector_without_gate, true),
            "health_gate_pod_selector"
        );
        let timeout = RolloutConfig {
            health_gate_timeout: Duration::ZERO,
            ..gate
        };
        assert_eq!(field(timeout, true), "health_gate_timeout");
        let gate = RolloutConfig {
            health_gate: true,
            ..RolloutConfig::default()
        };
        let ftp = RolloutConfig {
            health_gate_prometheus_url: Some("ftp://u:s3cret@prom".into()),
            health_gate_prometheus_query: Some("up == 0".into()),
            ..gate.clone()
        };
        let e = ftp.validate(true).unwrap_err();
        assert_eq!(e.field, "health_gate_prometheus_url");
        assert!(!e.message.contains("s3cret"), "{e}");
        let empty_query = RolloutConfig {
            health_gate_prometheus_url: Some("http://prom:9090".into()),
            health_gate_prometheus_query: Some(" ".into()),
            ..gate.clone()
        };
        assert_eq!(field(empty_query, true), "health_gate_prometheus_query");
        let bad_selector = RolloutConfig {
            health_gate_pod_selector: Some("app=(x".into()),
            ..gate
        };
        assert_eq!(field(bad_selector, true), "health_gate_pod_selector");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = RolloutConfig {
            health_gate_prometheus_url: Some("https://u:s3cret@prom:9090/x".into()),
            ..RolloutConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https://u:***@prom:9090/x"), "{shown}");
    }
}
