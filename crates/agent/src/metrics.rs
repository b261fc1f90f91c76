//! Prometheus metrics of the agent and the `/metrics` + `/healthz` server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Label set `{node}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    /// The node name.
    pub node: String,
}

/// Label set `{reason}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The blocker label (`prometheus_alert`, `blocker_pod`, `opt_out`, …).
    pub reason: String,
}

/// Label set `{pdb}` (`namespace/name`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PdbLabel {
    /// The `PodDisruptionBudget`, `namespace/name`.
    pub pdb: String,
}

/// The agent's metrics. Cheap to clone; clones update the same series.
///
/// - `kured_reboot_required{node}`: exactly kured's gauge (1 when the sentinel says a reboot
///   is required);
/// - `kured_lock_held`: 1 while this agent holds the reboot lock;
/// - `kured_reboot_blocked{reason}`: 1 per blocker label currently blocking a required reboot;
/// - `kured_window_open`: 1 when the maintenance window was open at the last check;
/// - `kured_drain_duration_seconds`: histogram of drain wall time;
/// - `kured_reboots_total`, `kured_drain_failures_total`, `kured_sentinel_errors_total`;
/// - `kured_rollout_halted`: 1 while this agent sees the rollout halted (issue 18);
/// - `kured_reboot_failures_total` (reboot command failed), `kured_gate_failures_total`;
/// - `kured_gate_wait_seconds`: histogram of the health gate's wait after a reboot;
/// - `kured_drain_pdb_blocked{pdb}`: pods of the current drain a `PodDisruptionBudget` has kept
///   blocking longer than `--drain-pdb-warn-after`.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// `kured_reboot_required{node}`.
    pub reboot_required: Family<NodeLabel, Gauge>,
    /// `kured_lock_held`.
    pub lock_held: Gauge,
    /// `kured_reboot_blocked{reason}`.
    pub blocked: Family<ReasonLabel, Gauge>,
    /// `kured_window_open`.
    pub window_open: Gauge,
    /// `kured_drain_duration_seconds`.
    pub drain_duration: Histogram,
    /// `kured_reboots_total`: reboots triggered.
    pub reboots: Counter,
    /// `kured_drain_failures_total`.
    pub drain_failures: Counter,
    /// `kured_rollout_halted`.
    pub rollout_halted: Gauge,
    /// `kured_reboot_failures_total`.
    pub reboot_failures: Counter,
    /// `kured_gate_failures_total`.
    pub gate_failures: Counter,
    /// `kured_gate_wait_seconds`.
    pub gate_wait: Histogram,
    /// `kured_drain_pdb_blocked{pdb}`.
    pub drain_pdb_blocked: Family<PdbLabel, Gauge>,
    /// `kured_sentinel_errors_total`: sentinel checks that could not tell.
    pub sentinel_errors: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reboot_required = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "kured_reboot_required",
            "OS requires reboot due to software updates",
            reboot_required.clone(),
        );
        let lock_held = Gauge::default();
        registry.register(
            "kured_lock_held",
            "1 while this node holds the reboot lock",
            lock_held.clone(),
        );
        let blocked = Family::<ReasonLabel, Gauge>::default();
        registry.register(
            "kured_reboot_blocked",
            "1 per reason currently blocking a required reboot",
            blocked.clone(),
        );
        let window_open = Gauge::default();
        registry.register(
            "kured_window_open",
            "1 when the reboot window was open at the last check",
            window_open.clone(),
        );
        let drain_duration = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "kured_drain_duration_seconds",
            "Wall time of node drains",
            drain_duration.clone(),
        );
        let reboots = Counter::default();
        registry.register("kured_reboots", "Reboots triggered", reboots.clone());
        let drain_failures = Counter::default();
        registry.register(
            "kured_drain_failures",
            "Drains (or cordons) that failed",
            drain_failures.clone(),
        );
        let sentinel_errors = Counter::default();
        registry.register(
            "kured_sentinel_errors",
            "Sentinel checks that could not tell whether a reboot is required",
            sentinel_errors.clone(),
        );
        let rollout_halted = Gauge::default();
        registry.register(
            "kured_rollout_halted",
            "1 while the reboot rollout is halted (a failed node stopped the line)",
            rollout_halted.clone(),
        );
        let reboot_failures = Counter::default();
        registry.register(
            "kured_reboot_failures",
            "Reboot commands that failed",
            reboot_failures.clone(),
        );
        let gate_failures = Counter::default();
        registry.register(
            "kured_gate_failures",
            "Health gates that did not pass in time after a reboot",
            gate_failures.clone(),
        );
        let gate_wait = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "kured_gate_wait_seconds",
            "Time the health gate waited after a reboot before it passed",
            gate_wait.clone(),
        );
        let drain_pdb_blocked = Family::<PdbLabel, Gauge>::default();
        registry.register(
            "kured_drain_pdb_blocked",
            "Pods of the current drain a PodDisruptionBudget keeps blocking",
            drain_pdb_blocked.clone(),
        );
        Self {
            registry: Arc::new(registry),
            rollout_halted,
            reboot_failures,
            gate_failures,
            gate_wait,
            drain_pdb_blocked,
            reboot_required,
            lock_held,
            blocked,
            window_open,
            drain_duration,
            reboots,
            drain_failures,
            sentinel_errors,
        }
    }

    /// Sets `kured_reboot_required{node}`.
    pub fn set_reboot_required(&self, node: &str, required: bool) {
        self.reboot_required
            .get_or_create(&NodeLabel {
                node: node.to_string(),
            })
            .set(i64::from(required));
    }

    /// Replaces the blocking reasons (`None`: nothing blocks).
    pub fn set_blocked(&self, reason: Option<&blockers::BlockReason>) {
        self.blocked.clear();
        if let Some(reason) = reason {
            for leaf in reason.reasons() {
                self.blocked
                    .get_or_create(&ReasonLabel {
                        reason: leaf.label().to_string(),
                    })
                    .set(1);
            }
        }
    }

    /// Sets `kured_drain_pdb_blocked{pdb}` to `pods`.
    pub fn set_pdb_blocked(&self, pdb: &str, pods: usize) {
        self.drain_pdb_blocked
            .get_or_create(&PdbLabel {
                pdb: pdb.to_string(),
            })
            .set(i64::try_from(pods).unwrap_or(i64::MAX));
    }

    /// Clears `kured_drain_pdb_blocked` (the drain ended).
    pub fn clear_pdb_blocked(&self) {
        self.drain_pdb_blocked.clear();
    }

    /// The `OpenMetrics` text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// The registry (to add more metrics, build your own and serve both).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The HTTP router: `GET /metrics` (`OpenMetrics` text) and `GET /healthz` (`ok`).
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

/// Serves [`router`] on `listener` until `cancel` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
}

/// Binds `addr` (kured's `--metrics-host:--metrics-port`; an empty host means all
/// interfaces).
pub async fn bind(host: &str, port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn exposition_has_kureds_gauge_and_ours() {
        let m = Metrics::new();
        m.set_reboot_required("node-1", true);
        m.reboots.inc();
        m.set_blocked(Some(&blockers::BlockReason::Alerts(vec!["X".into()])));
        let text = m.encode();
        assert!(
            text.contains("kured_reboot_required{node=\"node-1\"} 1"),
            "{text}"
        );
        assert!(text.contains("kured_reboots_total 1"), "{text}");
        assert!(
            text.contains("kured_reboot_blocked{reason=\"prometheus_alert\"} 1"),
            "{text}"
        );
        m.set_blocked(None);
        assert!(!m.encode().contains("prometheus_alert"));
        // The encoder ends each HELP text with a period itself.
        let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP")).collect();
        assert!(helps.len() >= 8, "{text}");
        for help in helps {
            assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
        }
    }

    #[tokio::test]
    async fn serves_metrics_and_healthz_on_a_free_port() {
        let m = Metrics::new();
        m.set_reboot_required("n", false);
        let (listener, addr) = bind("127.0.0.1", 0).await.unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(listener, m, cancel.clone()));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let metrics = get("/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(
            metrics.contains("kured_reboot_required{node=\"n\"} 0"),
            "{metrics}"
        );
        let health = get("/healthz").await;
        assert!(
            health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
            "{health}"
        );
        cancel.cancel();
        server.await.unwrap().unwrap();
    }
}
