//! The final report and the invariants, computed from kubesim's history and the observed
//! phase times.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kubesim::cluster::matching_over_time;
use kubesim::resources::well_known::{NODES, PODS};
use kubesim::store::Event;
use serde::Serialize;
use serde_json::Value;

use crate::gate_report::{self, GateReport};
use crate::options::SimOptions;
use crate::phase::{ObserveResult, Phase};

/// Coordination overhead per handoff: from a slot becoming free (a node back, uncordoned)
/// to the next node cordoning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Handoff {
    /// Number of handoffs measured (nodes − concurrency).
    pub count: usize,
    /// Mean, seconds.
    pub mean_s: f64,
    /// 95th percentile (nearest rank), seconds.
    pub p95_s: f64,
    /// Maximum, seconds.
    pub max_s: f64,
}

/// What a run measured and which invariants held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Lock concurrency.
    pub concurrency: u32,
    /// `wait` or `poll`.
    pub lock_wait: String,
    /// Agent check period, seconds.
    pub period_s: f64,
    /// Lock backend.
    pub lock_backend: lock::Backend,
    /// Every node finished before the deadline.
    pub completed: bool,
    /// Nodes that rebooted (at least once).
    pub nodes_rebooted: usize,
    /// Nodes whose agent was killed by `--faults crash`.
    pub crashed: Vec<String>,
    /// From the agents' start to the last node back, seconds.
    pub wall_s: f64,
    /// From the first cordon to the last node back, seconds.
    pub makespan_s: f64,
    /// Mean time of one node's cycle (cordon → back), seconds.
    pub mean_node_cycle_s: f64,
    /// ceil(N/C) × mean node cycle, seconds: the makespan with zero coordination overhead.
    pub ideal_makespan_s: f64,
    /// makespan / ideal.
    pub makespan_ratio: f64,
    /// Per-handoff coordination overhead.
    pub handoff: Handoff,
    /// Resolution of the phase times, milliseconds.
    pub sample_interval_ms: u64,
    /// Most nodes cordoned at once (from kubesim's history).
    pub max_concurrently_cordoned: usize,
    /// Times a PDB-covered Deployment fell below its budget (must be 0).
    pub pdb_violations: usize,
    /// Nodes still cordoned at the end, crashed ones excepted (must be empty).
    pub nodes_left_cordoned: Vec<String>,
    /// API requests by verb during the run.
    pub api_requests: BTreeMap<String, u64>,
    /// Sum of `api_requests`.
    pub api_requests_total: u64,
    /// The health gate, the failures and the halt (issue 18).
    pub gate: GateReport,
    /// Broken invariants (empty: all held).
    pub violations: Vec<String>,
}

impl Report {
    /// The rollout was halted (a failed node, see [`GateReport::halt`]); the run ended when
    /// the halt was seen.
    pub fn halted(&self) -> bool {
        self.gate.halt.is_some()
    }
}

/// Everything [`build`] needs.
pub(crate) struct Observed<'a> {
    pub(crate) nodes: Vec<String>,
    pub(crate) run: ObserveResult,
    pub(crate) reboots: BTreeMap<String, usize>,
    pub(crate) crashed: Vec<String>,
    /// Node → cordoned, at the end (deleted nodes absent).
    pub(crate) final_nodes: BTreeMap<String, bool>,
    pub(crate) history: &'a [Arc<Event>],
    pub(crate) start_rv: u64,
    pub(crate) requests: BTreeMap<String, u64>,
    /// Per node, the gate's total wait (seconds) from its agents' metrics.
    pub(crate) gate_wait: BTreeMap<String, f64>,
    /// The lock's rollout state at the end.
    pub(crate) rollout: lock::RolloutState,
    /// The node a node-level fault was injected on.
    pub(crate) faulty: Option<String>,
}

/// The `p`-th percentile (0–100, nearest rank) of `sorted` (ascending); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // a rank in 1..=len, len far below 2^52
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Healthy as a `PodDisruptionBudget` counts it: Running, Ready, not terminating.
pub fn pdb_healthy(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Episodes where the healthy pods of `app` fell below `min_available` after `start_rv`.
fn budget_breaches(
    history: &[Arc<Event>],
    start_rv: u64,
    app: &str,
    min_available: usize,
) -> usize {
    let counts = matching_over_time(history, PODS, |p| {
        p["metadata"]["namespace"] == "default"
            && p["metadata"]["labels"]["app"] == app
            && pdb_healthy(p)
    });
    let mut below = false;
    let mut breaches = 0;
    for (rv, n) in counts {
        if rv <= start_rv {
            continue;
        }
        if n < min_available && !below {
            breaches += 1;
        }
        below = n < min_available;
    }
    breaches
}

#[allow(clippy::too_many_lines)] // one pass over the measurements, read top to bottom
pub(crate) fn build(options: &SimOptions, o: &Observed<'_>) -> Report {
    let times = &o.run.times;
    // A node's cycle starts at its cordon (or its reboot, if the sampler missed the drain).
    let mut cordons = Vec::new();
    let mut dones = Vec::new();
    let mut cycles = Vec::new();
    for node in &o.nodes {
        let Some(t) = times.get(node) else { continue };
        let start = [t.get(&Phase::Draining), t.get(&Phase::Rebooting)]
            .into_iter()
            .flatten()
            .min()
            .copied();
        if let Some(s) = start {
            cordons.push(s);
        }
        if let (Some(s), Some(d)) = (start, t.get(&Phase::Done)) {
            dones.push(*d);
            cycles.push(secs(d.saturating_sub(s)));
        }
    }
    cordons.sort();
    dones.sort();
    let c = options.concurrency as usize;
    let mut handoffs: Vec<f64> = cordons
        .iter()
        .enumerate()
        .skip(c)
        .filter_map(|(k, ck)| dones.get(k - c).map(|d| secs(ck.saturating_sub(*d))))
        .collect();
    handoffs.sort_by(f64::total_cmp);
    let handoff = Handoff {
        count: handoffs.len(),
        mean_s: mean(&handoffs),
        p95_s: percentile(&handoffs, 95.0),
        max_s: handoffs.last().copied().unwrap_or(0.0),
    };
    let makespan = match (cordons.first(), dones.last()) {
        (Some(a), Some(b)) => secs(b.saturating_sub(*a)),
        _ => 0.0,
    };
    let mean_cycle = mean(&cycles);
    #[allow(clippy::cast_precision_loss)] // wave counts are small
    let ideal = dones.len().div_ceil(c.max(1)) as f64 * mean_cycle;
    let ratio = if ideal > 0.0 { makespan / ideal } else { 0.0 };

    let max_cordoned = matching_over_time(o.history, NODES, |n| {
        n["spec"]["unschedulable"] == Value::Bool(true)
    })
    .into_iter()
    .filter(|(rv, _)| *rv > o.start_rv)
    .map(|(_, n)| n)
    .max()
    .unwrap_or(0);
    let pdb_violations = if options.pdb && options.nodes > 1 {
        (0..options.pods_per_node)
            .map(|i| {
                budget_breaches(
                    o.history,
                    o.start_rv,
                    &format!("app-{i}"),
                    options.nodes - 1,
                )
            })
            .sum()
    } else {
        0
    };
    let gate = gate_report::build(options, o, &cordons, mean_cycle);
    // A failed node may stay cordoned (one never back was cordoned when it went down).
    let failed = |n: &String| o.rollout.failures.iter().any(|f| &f.node == n);
    let nodes_left_cordoned: Vec<String> = o
        .final_nodes
        .iter()
        .filter(|(n, cordoned)| **cordoned && !o.crashed.contains(n) && !failed(n))
        .map(|(n, _)| n.clone())
        .collect();

    let mut violations = Vec::new();
    if !o.run.completed && o.run.halted_at.is_none() {
        violations.push(format!(
            "deadline ({}) passed before every node was back",
            humantime::format_duration(options.deadline)
        ));
    }
    let allowed = c + o.crashed.len();
    if max_cordoned > allowed {
        violations.push(format!(
            "{max_cordoned} nodes cordoned at once (concurrency {c})"
        ));
    }
    let while_halted =
        crate::rollout::cordons_while_halted(o.history, o.start_rv, options.lock_backend);
    if !while_halted.is_empty() {
        violations.push(format!(
            "cordoned while the rollout was halted: {}",
            while_halted.join(", ")
        ));
    }
    if pdb_violations > 0 {
        violations.push(format!("{pdb_violations} PodDisruptionBudget violation(s)"));
    }
    if !nodes_left_cordoned.is_empty() {
        violations.push(format!(
            "nodes left cordoned: {}",
            nodes_left_cordoned.join(", ")
        ));
    }
    for node in &o.nodes {
        let n = o.reboots.get(node).copied().unwrap_or(0);
        if !o.crashed.contains(node) && !failed(node) && n != 1 && o.run.completed {
            violations.push(format!("{node} rebooted {n} times (expected once)"));
        }
    }
    Report {
        nodes: options.nodes,
        concurrency: options.concurrency,
        lock_wait: match options.lock_wait {
            agent::LockWaitMode::Wait => "wait".into(),
            agent::LockWaitMode::Poll => "poll".into(),
        },
        period_s: secs(options.period),
        lock_backend: options.lock_backend,
        completed: o.run.completed,
        nodes_rebooted: o.reboots.len(),
        crashed: o.crashed.clone(),
        wall_s: secs(o.run.wall),
        makespan_s: makespan,
        mean_node_cycle_s: mean_cycle,
        ideal_makespan_s: ideal,
        makespan_ratio: ratio,
        handoff,
        sample_interval_ms: u64::try_from(o.run.sample_interval.as_millis()).unwrap_or(u64::MAX),
        max_concurrently_cordoned: max_cordoned,
        pdb_violations,
        nodes_left_cordoned,
        api_requests_total: o.requests.values().sum(),
        api_requests: o.requests.clone(),
        gate,
        violations,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rolling reboot: {} nodes, concurrency {}, lock {} ({} backend, period {:.1}s)",
            self.nodes, self.concurrency, self.lock_wait, self.lock_backend, self.period_s
        )?;
        writeln!(
            f,
            "  nodes rebooted           {}/{}{}",
            self.nodes_rebooted,
            self.nodes,
            if self.crashed.is_empty() {
                String::new()
            } else {
                format!(" (crashed agent: {})", self.crashed.join(", "))
            }
        )?;
        writeln!(
            f,
            "  makespan                 {:.2} s (wall {:.2} s)",
            self.makespan_s, self.wall_s
        )?;
        writeln!(
            f,
            "  ideal makespan           {:.2} s (ceil(N/C) x {:.2} s per node) -> ratio {:.3}",
            self.ideal_makespan_s, self.mean_node_cycle_s, self.makespan_ratio
        )?;
        writeln!(
            f,
            "  handoff overhead         mean {:.3} s, p95 {:.3} s, max {:.3} s over {} handoffs (±{} ms)",
            self.handoff.mean_s,
            self.handoff.p95_s,
            self.handoff.max_s,
            self.handoff.count,
            self.sample_interval_ms
        )?;
        writeln!(
            f,
            "  max cordoned at once     {}",
            self.max_concurrently_cordoned
        )?;
        writeln!(f, "  PDB violations           {}", self.pdb_violations)?;
        writeln!(
            f,
            "  nodes left cordoned      {}",
            if self.nodes_left_cordoned.is_empty() {
                "0".to_string()
            } else {
                self.nodes_left_cordoned.join(", ")
            }
        )?;
        let verbs: Vec<String> = self
            .api_requests
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        writeln!(
            f,
            "  API requests             {} ({})",
            self.api_requests_total,
            verbs.join(", ")
        )?;
        write!(f, "{}", self.gate)?;
        if self.violations.is_empty() {
            write!(f, "  invariants               all held")
        } else {
            write!(
                f,
                "  INVARIANTS BROKEN:       {}",
                self.violations.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert!((percentile(&xs, 95.0) - 19.0).abs() < 1e-9);
        assert!((percentile(&xs, 100.0) - 20.0).abs() < 1e-9);
        assert!((percentile(&xs, 0.0) - 1.0).abs() < 1e-9);
        assert!(percentile(&[], 95.0).abs() < 1e-9);
    }
}
