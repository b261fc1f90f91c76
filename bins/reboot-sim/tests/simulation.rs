//! Whole simulations in-process: a small rolling reboot (N=5, C=2) and an agent crash
//! mid-drain recovered by node deletion and by the lock TTL. Also the binary's exit code.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reboot_sim::{CrashRecovery, FaultSpec, Phase, Report, SimOptions, Transition, simulate};

fn fast(nodes: usize, concurrency: u32) -> SimOptions {
    SimOptions {
        nodes,
        concurrency,
        pods_per_node: 2,
        reboot_time: Duration::from_millis(300),
        drain_grace: Duration::from_millis(200),
        pod_start: Duration::from_millis(50),
        reschedule_delay: Duration::from_millis(30),
        period: Duration::from_millis(300),
        node_cache: Duration::from_millis(500),
        seed: Some(42),
        deadline: Duration::from_secs(60),
        ..SimOptions::default()
    }
}

type Log = Arc<Mutex<Vec<Transition>>>;

async fn run(options: &SimOptions) -> (Report, Vec<Transition>) {
    let log: Log = Arc::default();
    let sink = {
        let log = log.clone();
        Arc::new(move |t: &Transition| log.lock().unwrap().push(t.clone()))
    };
    let report = simulate(options, sink).await.expect("simulation runs");
    let log = log.lock().unwrap().clone();
    (report, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_two_at_a_time() {
    let options = fast(5, 2);
    let (report, log) = run(&options).await;
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.completed);
    assert_eq!(report.nodes_rebooted, 5);
    assert!(report.crashed.is_empty());
    assert!(report.nodes_left_cordoned.is_empty());
    assert_eq!(report.pdb_violations, 0);
    // The lock let two through at once (and never more).
    assert!(
        (1..=2).contains(&report.max_concurrently_cordoned),
        "{report}"
    );

    // Every node went pending -> draining -> rebooting -> done, in that order (the sampler
    // may miss a short phase, never reorder them).
    let mut per_node: BTreeMap<String, Vec<Phase>> = BTreeMap::new();
    for t in &log {
        per_node.entry(t.node.clone()).or_default().push(t.to);
    }
    assert_eq!(per_node.len(), 5, "{log:?}");
    for (node, phases) in &per_node {
        assert_eq!(phases.last(), Some(&Phase::Done), "{node}: {phases:?}");
        assert!(phases.windows(2).all(|w| w[0] < w[1]), "{node}: {phases:?}");
    }
    // At no time were more than two nodes between cordon and back, per the live view.
    let most_active = log
        .iter()
        .map(|t| {
            t.counts.get(&Phase::Draining).copied().unwrap_or(0)
                + t.counts.get(&Phase::Rebooting).copied().unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    assert!(most_active <= 2, "{log:?}");

    // The report is consistent with itself and with the live view.
    let last = log.last().unwrap();
    assert_eq!(last.counts.get(&Phase::Done), Some(&5));
    assert!(
        (report.wall_s - last.at.as_secs_f64()).abs() < 0.5,
        "{report:?}"
    );
    assert!(report.makespan_s > 0.0 && report.makespan_s <= report.wall_s + 1e-9);
    assert!(report.ideal_makespan_s > 0.0);
    // 5 nodes, 2 at a time: three waves of one cycle each at least.
    assert!(
        (report.ideal_makespan_s - 3.0 * report.mean_node_cycle_s).abs() < 1e-6,
        "{report:?}"
    );
    assert!((report.makespan_ratio - report.makespan_s / report.ideal_makespan_s).abs() < 1e-9);
    assert_eq!(report.handoff.count, 3);
    assert!(report.handoff.mean_s <= report.handoff.p95_s + 1e-9);
    assert!(report.handoff.p95_s <= report.handoff.max_s + 1e-9);
    assert_eq!(
        report.api_requests_total,
        report.api_requests.values().sum::<u64>()
    );
    // Each node patched (cordon/uncordon/taint) and evicted its pods (create on eviction).
    assert!(
        report.api_requests.get("patch").copied().unwrap_or(0) >= 10,
        "{report:?}"
    );
    assert!(
        report.api_requests.get("create").copied().unwrap_or(0) >= 10,
        "{report:?}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["nodes"], 5);
    assert_eq!(json["pdb_violations"], 0);
}

async fn crash(recovery: CrashRecovery) {
    let options = SimOptions {
        faults: FaultSpec {
            crash: true,
            recovery,
            ..FaultSpec::default()
        },
        lock_ttl: if recovery == CrashRecovery::Ttl {
            Duration::from_millis(1500)
        } else {
            Duration::ZERO
        },
        drain_grace: Duration::from_millis(400),
        ..fast(4, 1)
    };
    let (report, log) = run(&options).await;
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.completed, "{report}");
    assert_eq!(report.crashed.len(), 1, "{report}");
    let victim = &report.crashed[0];
    assert_eq!(report.nodes_rebooted, 3, "{report}");
    let victim_phases: Vec<Phase> = log
        .iter()
        .filter(|t| &t.node == victim)
        .map(|t| t.to)
        .collect();
    let expected_end = match recovery {
        CrashRecovery::Delete => Phase::Gone,
        CrashRecovery::Ttl => Phase::Crashed,
    };
    assert_eq!(
        victim_phases.last(),
        Some(&expected_end),
        "{victim_phases:?}"
    );
    assert!(
        victim_phases.contains(&Phase::Draining),
        "{victim_phases:?}"
    );
    // The others waited for the recovery, then finished one at a time.
    let others_done = log
        .iter()
        .filter(|t| &t.node != victim && t.to == Phase::Done)
        .count();
    assert_eq!(others_done, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_drain_recovered_by_node_deletion() {
    crash(CrashRecovery::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_drain_recovered_by_lock_ttl() {
    crash(CrashRecovery::Ttl).await;
}

#[test]
fn binary_json_report_and_exit_code() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reboot-sim"))
        .args([
            "--nodes",
            "3",
            "--concurrency",
            "1",
            "--pods-per-node",
            "1",
            "--reboot-time",
            "200ms",
            "--drain-grace",
            "100ms",
            "--pod-start",
            "50ms",
            "--period",
            "300ms",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["nodes_rebooted"], 3);
    assert_eq!(report["max_concurrently_cordoned"], 1);
    assert_eq!(report["violations"], serde_json::json!([]));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_reboot-sim"))
        .args(["--faults", "meteor"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

/// `fast(nodes, 1)` with a node-level fault or slow applications.
fn faulty(nodes: usize, faults: FaultSpec) -> SimOptions {
    SimOptions {
        faults,
        ..fast(nodes, 1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_back_halts_the_rollout_and_nothing_else_drains() {
    let options = faulty(
        4,
        FaultSpec {
            never_back: true,
            ..FaultSpec::default()
        },
    );
    let started = std::time::Instant::now();
    let (report, log) = run(&options).await;
    // Ended by the halt, not by the 60 s deadline.
    assert!(started.elapsed() < Duration::from_secs(30), "{report}");
    assert!(report.halted() && !report.completed, "{report}");
    let lost = report.gate.faulty_node.clone().unwrap();
    let halt = report.gate.halt.clone().unwrap();
    assert_eq!(halt.node, lost, "{report}");
    assert!(halt.reason.contains("not back"), "{}", halt.reason);
    // Nothing cordoned while halted (the report checks kubesim's history), no other
    // invariant broken, the lost node's cordon excused.
    assert!(report.violations.is_empty(), "{report}");
    // And per the observer: no node started draining after the halt was seen.
    let halted_at = Duration::from_secs_f64(report.gate.halted_at_s.unwrap());
    let late: Vec<&Transition> = log
        .iter()
        .filter(|t| t.to == Phase::Draining && t.at > halted_at)
        .collect();
    assert!(late.is_empty(), "{late:?}");
    assert!(report.nodes_rebooted < 4, "{report}");
    // The text names the culprit.
    assert!(
        report
            .to_string()
            .contains(&format!("ROLLOUT HALTED           by {lost}: not back")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reboot_command_halts_the_rollout() {
    let options = faulty(
        3,
        FaultSpec {
            reboot_fails: true,
            ..FaultSpec::default()
        },
    );
    let (report, log) = run(&options).await;
    assert!(report.halted(), "{report}");
    let bad = report.gate.faulty_node.clone().unwrap();
    let halt = report.gate.halt.clone().unwrap();
    assert_eq!(halt.node, bad);
    assert!(
        halt.reason.contains("reboot command failed"),
        "{}",
        halt.reason
    );
    assert!(report.violations.is_empty(), "{report}");
    // The failed node was drained (its reboot was tried), then uncordoned; never rebooted.
    assert!(
        log.iter().any(|t| t.node == bad && t.to == Phase::Draining),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|t| t.node == bad && t.to == Phase::Rebooting)
    );
    assert!(report.nodes_left_cordoned.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_slow_apps_the_gate_makes_the_next_node_wait_for_them() {
    let options = SimOptions {
        health_gate: true,
        ..faulty(
            3,
            FaultSpec {
                slow_apps: true,
                ..FaultSpec::default()
            },
        )
    };
    let pod_start = options.effective_pod_start().as_secs_f64();
    let (report, _) = run(&options).await;
    assert!(report.completed && !report.halted(), "{report}");
    assert!(report.violations.is_empty(), "{report}");
    // Every node's gate waited most of the pod start (it starts once the agent is back,
    // a little after the node's pods began starting).
    assert_eq!(report.gate.wait_s.len(), 3, "{report}");
    for (node, wait) in &report.gate.wait_s {
        assert!(*wait > 0.8 * pod_start, "{node} waited {wait} s: {report}");
    }
    // The next node was cordoned only after the previous one was back AND every pod was
    // Ready again: each handoff is measured from such a moment.
    assert_eq!(report.gate.beyond_readiness.count, 2, "{report}");
    assert!(report.handoff.mean_s > 0.8 * pod_start, "{report}");
    // Without the gate the same cluster hands off as soon as the node is uncordoned.
    let (ungated, _) = run(&SimOptions {
        health_gate: false,
        ..options.clone()
    })
    .await;
    assert!(ungated.violations.is_empty(), "{ungated}");
    assert!(ungated.gate.wait_s.is_empty());
    assert!(
        ungated.handoff.mean_s < report.handoff.mean_s - 0.5 * pod_start,
        "gated {report}\nungated {ungated}"
    );
}

#[test]
fn binary_exits_3_and_names_the_node_when_the_rollout_halts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reboot-sim"))
        .args([
            "--nodes",
            "3",
            "--concurrency",
            "1",
            "--pods-per-node",
            "1",
            "--reboot-time",
            "200ms",
            "--drain-grace",
            "100ms",
            "--pod-start",
            "50ms",
            "--period",
            "300ms",
            "--seed",
            "7",
            "--faults",
            "reboot-fails",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let node = report["gate"]["faulty_node"].as_str().unwrap();
    assert_eq!(report["gate"]["halt"]["node"], node);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the rollout was halted by {node}: reboot command failed"
        )),
        "{stderr}"
    );
}
