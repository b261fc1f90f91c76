//! [`HealthGate`]: one evaluation of every check ([`HealthGate::check`]), or waiting until they
//! pass or time runs out ([`HealthGate::wait`]).

use std::time::Instant;

use blockers::PrometheusQuery;

use crate::config::redact_url;
use crate::{Attempt, GateConfig, GateError, GateStatus, GateVerdict, Unhealthy, checks};

/// The health gate of a rebooted node: built once from a client and a [`GateConfig`], then
/// asked for each attempt.
#[derive(Clone)]
pub struct HealthGate {
    client: kube::Client,
    config: GateConfig,
    query: Option<PrometheusQuery>,
}

/// The configuration (Prometheus password redacted); the client is left out.
impl std::fmt::Debug for HealthGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthGate")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HealthGate {
    /// A gate reading the cluster through `client`. Validates the configuration; each error
    /// names the field: `timeout` and `poll` must be > 0, `pod_selector` must parse as the API
    /// server parses a label selector (and select something), `prometheus.url` must be an
    /// `http(s)://` URL, `prometheus.query` must not be empty.
    pub fn for_client(client: kube::Client, config: GateConfig) -> Result<Self, GateError> {
        let invalid = |field, message: String| GateError::Config { field, message };
        if config.timeout.is_zero() {
            return Err(invalid("timeout", "must be greater than zero".into()));
        }
        if config.poll.is_zero() {
            return Err(invalid("poll", "must be greater than zero".into()));
        }
        if let Some(selector) = &config.pod_selector {
            drain::check_label_selector(selector)
                .map_err(|e| invalid("pod_selector", e.to_string()))?;
        }
        let query = match &config.prometheus {
            None => None,
            Some(check) => {
                if check.query.trim().is_empty() {
                    return Err(invalid("prometheus.query", "is empty".into()));
                }
                let query = PrometheusQuery::new(&check.url, &check.query).map_err(|e| {
                    invalid("prometheus.url", format!("{}: {e}", redact_url(&check.url)))
                })?;
                Some(query)
            }
        };
        Ok(Self {
            client,
            config,
            query,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GateConfig {
        &self.config
    }

    /// One evaluation, in this order: the Node is Ready with a boot ID other than the
    /// attempt's (when this fails nothing else is checked: before the reboot the rest says
    /// nothing); every DaemonSet-managed pod on the node is Ready; every PDB of the attempt
    /// has `currentHealthy >= desiredHealthy`; every workload of the attempt has
    /// `readyReplicas >= replicas`; the Prometheus query returns nothing; every pod the
    /// selector matches is Ready. PDBs and workloads that no longer exist pass.
    ///
    /// Failed reads are reasons ([`Unhealthy::CheckFailed`]), not errors; the only error is an
    /// attempt that records no boot ID ([`GateError::InvalidAttempt`]).
    pub async fn check(&self, node: &str, attempt: &Attempt) -> Result<GateStatus, GateError> {
        if attempt.boot_id.is_empty() {
            return Err(GateError::InvalidAttempt {
                node: node.to_string(),
                reason: "it records no boot ID".into(),
            });
        }
        let mut reasons = checks::node(&self.client, node, attempt).await;
        if reasons.is_empty() {
            reasons.extend(checks::daemonset_pods(&self.client, node).await);
            reasons.extend(checks::pdbs(&self.client, &attempt.pdbs).await);
            reasons.extend(checks::workloads(&self.client, &attempt.workloads).await);
            if let Some(query) = &self.query {
                reasons.extend(checks::query(query).await);
            }
            if let Some(selector) = &self.config.pod_selector {
                reasons.extend(checks::selected_pods(&self.client, selector).await);
            }
        }
        Ok(if reasons.is_empty() {
            GateStatus::Passed
        } else {
            GateStatus::Waiting(reasons)
        })
    }

    /// Evaluates every [`GateConfig::poll`] until the gate passes, or until
    /// [`GateConfig::timeout`] has passed since `since` (the moment the node came back, or the
    /// reboot was ordered — the caller chooses). The first evaluation is immediate and one is
    /// made at the deadline, so a healthy node passes even when asked late; an evaluation that
    /// hangs is cut off at the deadline (but given at least one poll interval). Cancel by
    /// dropping the future.
    ///
    /// An attempt [`Self::check`] refuses fails at once, with the error as the reason.
    pub async fn wait(&self, node: &str, attempt: &Attempt, since: Instant) -> GateVerdict {
        let timeout = self.config.timeout;
        loop {
            let bound = timeout
                .saturating_sub(since.elapsed())
                .max(self.config.poll);
            let last = match tokio::time::timeout(bound, self.check(node, attempt)).await {
                Ok(Ok(GateStatus::Passed)) => {
                    return GateVerdict::Passed {
                        waited: since.elapsed(),
                    };
                }
                Ok(Ok(GateStatus::Waiting(reasons))) => reasons,
                Ok(Err(e)) => {
                    return GateVerdict::Failed {
                        waited: since.elapsed(),
                        last: vec![Unhealthy::CheckFailed(e.to_string())],
                    };
                }
                Err(_) => vec![Unhealthy::CheckFailed(format!(
                    "the gate evaluation did not finish within {bound:?}"
                ))],
            };
            let remaining = timeout.saturating_sub(since.elapsed());
            if remaining.is_zero() {
                return GateVerdict::Failed {
                    waited: since.elapsed(),
                    last,
                };
            }
            tracing::debug!(
                node,
                reasons = %crate::describe(&last, 5),
                "health gate not passed yet"
            );
            tokio::time::sleep(self.config.poll.min(remaining)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::PromCheck;

    /// A client for a server that is never contacted (validation happens before any request).
    fn client() -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap()
    }

    fn field_of(config: GateConfig) -> (&'static str, String) {
        match HealthGate::for_client(client(), config) {
            Err(e @ GateError::Config { field, .. }) => (field, e.to_string()),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    fn prom(url: &str, query: &str) -> PromCheck {
        PromCheck {
            url: url.into(),
            query: query.into(),
        }
    }

    #[tokio::test]
    async fn bad_configuration_names_the_field() {
        let cases = [
            (
                GateConfig {
                    pod_selector: Some("app=(x".into()),
                    ..GateConfig::default()
                },
                "pod_selector",
            ),
            (
                GateConfig {
                    pod_selector: Some(String::new()),
                    ..GateConfig::default()
                },
                "pod_selector",
            ),
            (
                GateConfig {
                    prometheus: Some(prom("ftp://gate:s3cret@prom:9090", "up == 0")),
                    ..GateConfig::default()
                },
                "prometheus.url",
            ),
            (
                GateConfig {
                    prometheus: Some(prom("not a url", "up == 0")),
                    ..GateConfig::default()
                },
                "prometheus.url",
            ),
            (
                GateConfig {
                    prometheus: Some(prom("http://prom:9090", "  ")),
                    ..GateConfig::default()
                },
                "prometheus.query",
            ),
            (
                GateConfig {
                    timeout: Duration::ZERO,
                    ..GateConfig::default()
                },
                "timeout",
            ),
            (
                GateConfig {
                    poll: Duration::ZERO,
                    ..GateConfig::default()
                },
                "poll",
            ),
        ];
        for (config, expected) in cases {
            let (field, message) = field_of(config);
            assert_eq!(field, expected, "{message}");
            assert!(
                message.starts_with(&format!("invalid health gate configuration: {expected}: ")),
                "{message}"
            );
            assert!(!message.contains("s3cret"), "password shown: {message}");
        }
        let (_, message) = field_of(GateConfig {
            pod_selector: Some("app=(x".into()),
            ..GateConfig::default()
        });
        assert!(
            message.contains("invalid label selector \"app=(x\""),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_good_configuration_builds() {
        let config = GateConfig {
            prometheus: Some(prom("https://gate:s3cret@prom:9090/prom", "up == 0")),
            pod_selector: Some("tier in (critical),!canary".into()),
            ..GateConfig::default()
        };
        let gate = HealthGate::for_client(client(), config.clone()).unwrap();
        assert_eq!(gate.config(), &config);
        let shown = format!("{gate:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
