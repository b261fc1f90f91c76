//! Prometheus metrics (`GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `pre-reboot`, `steady-state` or `admin-release`.
    pub endpoint: &'static str,
    /// `granted`, `already_held`, `released`, `not_held` or an error kind.
    pub outcome: &'static str,
}

/// Labels of the per-group gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    /// The group.
    pub group: String,
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Current holders per group (refreshed from the store on each scrape).
    pub holders: Family<GroupLabels, Gauge>,
    /// Configured slots per group.
    pub slots: Family<GroupLabels, Gauge>,
    /// Kubernetes mode: drain durations by result (`ok`, `failed`).
    pub drains: DrainHistogram,
    /// 1 while the group's rollout is halted, else 0 (refreshed from the store on each scrape).
    pub rollout_halted: Family<GroupLabels, Gauge>,
    /// Kubernetes mode: failed reboots by group and reason (`gate_failed`, `not_back`).
    pub gate_failures: Family<FailureLabels, Counter>,
    /// Kubernetes mode: how long health gates waited, by result (`passed`, `failed`).
    pub gate_waits: GateHistogram,
}

/// Labels of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The group.
    pub group: String,
    /// `gate_failed` (the health gate timed out) or `not_back` (the node was not Ready with a
    /// new boot ID within `--reboot-not-back-timeout`).
    pub reason: &'static str,
}

/// The gate wait histogram family.
pub type GateHistogram = Family<GateLabels, Histogram, fn() -> Histogram>;

/// Labels of the gate wait histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GateLabels {
    /// `passed` or `failed`.
    pub result: &'static str,
}

/// The drain duration histogram family.
pub type DrainHistogram = Family<DrainLabels, Histogram, fn() -> Histogram>;

/// Labels of the drain duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DrainLabels {
    /// `ok` or `failed`.
    pub result: &'static str,
}

fn drain_histogram() -> Histogram {
    // 0.5 s … ~2.3 h
    Histogram::new(exponential_buckets(0.5, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `fleetlock` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fleetlock");
        let requests = Family::<RequestLabels, Counter>::default();
        let holders = Family::<GroupLabels, Gauge>::default();
        let slots = Family::<GroupLabels, Gauge>::default();
        let drains: DrainHistogram =
            Family::new_with_constructor(drain_histogram as fn() -> Histogram);
        registry.register(
            "requests",
            "FleetLock requests by endpoint and outcome",
            requests.clone(),
        );
        registry.register("holders", "Current slot holders per group", holders.clone());
        registry.register("slots", "Configured slots per group", slots.clone());
        registry.register(
            "drain_duration_seconds",
            "Kubernetes mode: time from drain start to its end",
            drains.clone(),
        );
        let rollout_halted = Family::<GroupLabels, Gauge>::default();
        let gate_failures = Family::<FailureLabels, Counter>::default();
        let gate_waits: GateHistogram =
            Family::new_with_constructor(drain_histogram as fn() -> Histogram);
        registry.register(
            "rollout_halted",
            "1 while the group's rollout is halted (an operator must clear it), else 0",
            rollout_halted.clone(),
        );
        registry.register(
            "reboot_failures",
            "Kubernetes mode: failed reboots (health gate failed, node not back in time)",
            gate_failures.clone(),
        );
        registry.register(
            "health_gate_wait_seconds",
            "Kubernetes mode: time from a node's steady-state to its health gate's verdict",
            gate_waits.clone(),
        );
        Self {
            registry,
            requests,
            holders,
            slots,
            drains,
            rollout_halted,
            gate_failures,
            gate_waits,
        }
    }

    /// Counts one request.
    pub fn count(&self, endpoint: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, outcome })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
