//! Chaos runs in CI: a handful of seeded runs chosen (deterministically, from their plans) to
//! cover every kind of fault, all of which must hold every invariant; and the CLI.

use std::collections::BTreeSet;
use std::time::Duration;

use lock::Backend;
use reboot_sim::chaos::plan::Recovery;
use reboot_sim::chaos::{ChaosOptions, KillPoint, Plan, RunOutcome, run_seeds};

/// A Lease-backed run whose concurrency shrinks: holders of the dropped slots must still
/// finish their cycle and count against the new concurrency (the bug fixed in `lock::LeaseLock`,
/// docs/chaos.md "Findings").
fn lease_concurrency_shrinks(p: &Plan) -> bool {
    p.backend == Backend::Lease
        && p.rollout
            .as_ref()
            .is_some_and(|r| r.concurrency < p.concurrency)
}

/// The first seeds from 1 that together cover every kill point, both crash recoveries, the
/// manual lock, a concurrency rollout and the Lease backend.
fn covering_seeds() -> Vec<u64> {
    let mut seeds = Vec::new();
    let mut missing: BTreeSet<&str> = [
        "before-lock",
        "before-cordon",
        "mid-drain",
        "before-uncordon",
        "release-delay",
        "crash-delete",
        "crash-ttl",
        "manual",
        "rollout",
        "lease",
    ]
    .into_iter()
    .collect();
    for seed in 1..10_000 {
        let p = Plan::from_seed(seed);
        let mut has: Vec<String> = p.kills.iter().map(|k| k.point.to_string()).collect();
        if let Some(c) = &p.crash {
            has.push(match c.recovery {
                Recovery::DeleteNode(_) => "crash-delete".into(),
                Recovery::Ttl => "crash-ttl".into(),
            });
        }
        if p.manual_lock.is_some() {
            has.push("manual".into());
        }
        if p.rollout.is_some() {
            has.push("rollout".into());
        }
        if p.backend == Backend::Lease {
            has.push("lease".into());
        }
        // A seed is taken when it covers at least two missing things (or the last one).
        let new = has.iter().filter(|h| missing.contains(h.as_str())).count();
        if new >= 2 || (new == 1 && missing.len() == 1) {
            for h in &has {
                missing.remove(h.as_str());
            }
            seeds.push(seed);
        }
        if missing.is_empty() {
            return seeds;
        }
    }
    panic!("no seeds cover {missing:?}");
}

async fn run(seeds: &[u64]) -> Vec<RunOutcome> {
    let options = ChaosOptions {
        parallel: 2,
        run_timeout: Duration::from_secs(45),
        ..ChaosOptions::default()
    };
    run_seeds(seeds, &options, |_| {}).await.outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_chaos_runs_hold_every_invariant() {
    let seeds = covering_seeds();
    assert!(seeds.len() <= 6, "too many seeds for CI: {seeds:?}");
    let outcomes = run(&seeds).await;
    assert_eq!(outcomes.len(), seeds.len());
    for o in &outcomes {
        assert!(o.violations.is_empty(), "{o}");
        assert!(o.completed, "{o}");
    }
    // The faults really happened: every kill point fired somewhere.
    let fired: BTreeSet<KillPoint> = outcomes
        .iter()
        .flat_map(|o| o.kills_fired.keys().copied())
        .collect();
    assert_eq!(fired, KillPoint::ALL.into_iter().collect(), "{outcomes:#?}");
    assert!(outcomes.iter().any(|o| !o.dead_nodes.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lock_survives_a_concurrency_decrease() {
    // The first two such plans (seed 4 is 3 → 1 with no other fault).
    let seeds: Vec<u64> = (1..10_000)
        .filter(|s| lease_concurrency_shrinks(&Plan::from_seed(*s)))
        .take(2)
        .collect();
    assert_eq!(seeds.len(), 2, "such plans exist");
    let outcomes = run(&seeds).await;
    for o in &outcomes {
        assert!(o.violations.is_empty(), "{o}");
        assert!(o.completed, "{o}");
    }
}

#[test]
fn cli_reports_json_and_exit_code() {
    let seed = covering_seeds()[0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reboot-sim"))
        .args([
            "chaos",
            "--runs",
            "1",
            "--seed",
            &seed.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["runs"], 1);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["outcomes"][0]["seed"], seed);
    assert_eq!(summary["repro"], serde_json::Value::Null);

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_reboot-sim"))
        .args(["chaos", "--runs", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}
