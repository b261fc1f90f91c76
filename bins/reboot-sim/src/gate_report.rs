//! The issue-18 part of the report: the health gate's wait per node, the handoffs measured
//! from lock releases and from the moments the workloads were whole again, and the halt.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::report::{Handoff, Observed, percentile};
use crate::rollout;

/// A node's failed attempt, or the halt, as recorded in the lock's rollout state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFailure {
    /// The node.
    pub node: String,
    /// Why, as the agent recorded it.
    pub reason: String,
}

impl fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.reason)
    }
}

/// What the health gate cost and how the rollout ended (failures, halt).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateReport {
    /// The health gate was on.
    pub enabled: bool,
    /// Per node, the gate's wait after the reboot (`kured_gate_wait_seconds`), seconds.
    pub wait_s: BTreeMap<String, f64>,
    /// Mean of `wait_s`.
    pub wait_mean_s: f64,
    /// Maximum of `wait_s`.
    pub wait_max_s: f64,
    /// From the first cordon to the last lock release, seconds (with the gate the rollout
    /// ends there, not when the last node is uncordoned).
    pub release_makespan_s: f64,
    /// ceil(N/C) × (mean node cycle + pod start), seconds: the makespan of a rollout that
    /// waits for the workloads to start again, with zero coordination overhead.
    pub ideal_with_pod_start_s: f64,
    /// `release_makespan_s` / `ideal_with_pod_start_s`.
    pub ratio_with_pod_start: f64,
    /// Per handoff: the next cordon after a lock release.
    pub after_release: Handoff,
    /// Per handoff (gate on): the next cordon after the moment every pod was Ready again
    /// before it — the gate's and the lock's overhead beyond readiness.
    pub beyond_readiness: Handoff,
    /// Failed attempts recorded in the rollout state at the end.
    pub failures: Vec<NodeFailure>,
    /// The halt at the end (`None`: not halted).
    pub halt: Option<NodeFailure>,
    /// When the simulator first saw the halt, seconds since the agents started.
    pub halted_at_s: Option<f64>,
    /// The node a node-level fault (`never-back`, `reboot-fails`) was injected on.
    pub faulty_node: Option<String>,
}

fn stats(mut xs: Vec<f64>) -> Handoff {
    xs.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let mean = if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    Handoff {
        count: xs.len(),
        mean_s: mean,
        p95_s: percentile(&xs, 95.0),
        max_s: xs.last().copied().unwrap_or(0.0),
    }
}

/// The gate report of a run: `cordons` are the observed cordon times (sorted), `mean_cycle`
/// the mean cordon → back time.
pub(crate) fn build(
    options: &crate::SimOptions,
    o: &Observed<'_>,
    cordons: &[Duration],
    mean_cycle: f64,
) -> GateReport {
    let rv_times = &o.run.rv_times;
    let at = |rv| rollout::time_of(rv_times, rv);
    let mut releases: Vec<Duration> =
        rollout::releases(o.history, o.start_rv, options.lock_backend)
            .into_iter()
            .filter_map(|(rv, _)| at(rv))
            .collect();
    releases.sort();
    let whole: Vec<Duration> = rollout::all_ready_moments(o.history, o.start_rv)
        .into_iter()
        .filter_map(at)
        .collect();
    let c = options.concurrency as usize;
    let after_release = cordons
        .iter()
        .enumerate()
        .skip(c)
        .filter_map(|(k, ck)| releases.get(k - c).map(|r| ck.saturating_sub(*r)))
        .map(|d| d.as_secs_f64())
        .collect();
    // The last moment the workloads were whole before each handoff's cordon, if it came
    // after the cordon before (else the next node started on a disturbed cluster: nothing
    // to measure).
    let beyond_readiness = if options.health_gate {
        cordons
            .iter()
            .enumerate()
            .skip(c)
            .filter_map(|(k, ck)| {
                let ready = whole.iter().rev().find(|w| *w <= ck)?;
                (*ready > cordons[k - 1]).then(|| ck.saturating_sub(*ready).as_secs_f64())
            })
            .collect()
    } else {
        Vec::new()
    };
    let first = cordons.first().copied();
    let release_makespan = match (first, releases.last()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    let rebooted = o
        .run
        .times
        .values()
        .filter(|t| t.contains_key(&crate::Phase::Done))
        .count();
    #[allow(clippy::cast_precision_loss)] // wave counts are small
    let ideal = rebooted.div_ceil(c.max(1)) as f64
        * (mean_cycle + options.effective_pod_start().as_secs_f64());
    let waits: Vec<f64> = o.gate_wait.values().copied().collect();
    let wait_stats = stats(waits);
    GateReport {
        enabled: options.health_gate,
        wait_s: o.gate_wait.clone(),
        wait_mean_s: wait_stats.mean_s,
        wait_max_s: wait_stats.max_s,
        release_makespan_s: release_makespan,
        ideal_with_pod_start_s: ideal,
        ratio_with_pod_start: if ideal > 0.0 {
            release_makespan / ideal
        } else {
            0.0
        },
        after_release: stats(after_release),
        beyond_readiness: stats(beyond_readiness),
        failures: o
            .rollout
            .failures
            .iter()
            .map(|f| NodeFailure {
                node: f.node.clone(),
                reason: f.reason.clone(),
            })
            .collect(),
        halt: o.rollout.halt.as_ref().map(|h| NodeFailure {
            node: h.node.clone(),
            reason: h.reason.clone(),
        }),
        halted_at_s: o.run.halted_at.map(|d| d.as_secs_f64()),
        faulty_node: o.faulty.clone(),
    }
}

impl fmt::Display for GateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.enabled {
            writeln!(
                f,
                "  health gate wait         mean {:.3} s, max {:.3} s over {} nodes",
                self.wait_mean_s,
                self.wait_max_s,
                self.wait_s.len()
            )?;
            writeln!(
                f,
                "  beyond readiness         mean {:.3} s, p95 {:.3} s, max {:.3} s over {} handoffs (all pods Ready -> next cordon)",
                self.beyond_readiness.mean_s,
                self.beyond_readiness.p95_s,
                self.beyond_readiness.max_s,
                self.beyond_readiness.count
            )?;
        }
        writeln!(
            f,
            "  makespan to last release {:.2} s; ideal with pod start {:.2} s -> ratio {:.3}",
            self.release_makespan_s, self.ideal_with_pod_start_s, self.ratio_with_pod_start
        )?;
        writeln!(
            f,
            "  after release            mean {:.3} s, p95 {:.3} s, max {:.3} s over {} handoffs (release -> next cordon)",
            self.after_release.mean_s,
            self.after_release.p95_s,
            self.after_release.max_s,
            self.after_release.count
        )?;
        if let Some(node) = &self.faulty_node {
            writeln!(f, "  faulty node              {node}")?;
        }
        if !self.failures.is_empty() {
            let list: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
            writeln!(f, "  failed nodes             {}", list.join("; "))?;
        }
        match &self.halt {
            Some(h) => writeln!(f, "  ROLLOUT HALTED           by {h}"),
            None => Ok(()),
        }
    }
}
