//! Chaos mode: many seeded rolling reboots under injected faults, each checked against the
//! invariants on kubesim's recorded history.
//!
//! Each run (seed `S + i` of `--seed S --runs N`) draws a [`Plan`]: 5–8 nodes with 1–3
//! PDB-covered pods each, the annotation or Lease lock, C in 1..=3, and faults — API latency
//! spikes, 500/429/409 bursts and cut watch streams in time windows; agents killed (task
//! cancelled, a fresh one started later, as a pod restart) before the lock, holding it before
//! the cordon, mid-drain, after the reboot before the uncordon and during the release delay;
//! an agent killed for good and recovered by deleting its node while it holds the lock or by
//! the lock TTL; kured's manual lock set by hand and removed; the concurrency changed by
//! restarting every agent. Real agents ([`agent::Agent`]) run against kubesim over HTTP.
//! [`invariants::check`] then replays the history.
//!
//! ```no_run
//! # async fn demo() {
//! let options = reboot_sim::chaos::ChaosOptions { runs: 3, seed: 1, ..Default::default() };
//! let summary = reboot_sim::chaos::run_many(&options, |_| {}).await;
//! assert_eq!(summary.failed, 0, "{summary}");
//! # }
//! ```

mod hooks;
pub mod invariants;
pub mod plan;
mod run;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use invariants::{Violation, ViolationKind};
pub use plan::{KillPoint, Plan};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Number of runs.
    pub runs: u64,
    /// Seed of the first run; run `i` uses `seed + i`.
    pub seed: u64,
    /// Runs at once (each has its own kubesim and agents).
    pub parallel: usize,
    /// A run still going after this long is a timeout violation.
    pub run_timeout: Duration,
    /// Where to write the history timeline of each failing run (`seed-N.txt`).
    pub dump_dir: Option<std::path::PathBuf>,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            runs: 10,
            seed: 1,
            parallel: 2,
            run_timeout: Duration::from_secs(60),
            dump_dir: None,
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Its seed.
    pub seed: u64,
    /// The plan in one line.
    pub summary: String,
    /// The plan.
    pub plan: Plan,
    /// It ended by itself within its time limit.
    pub completed: bool,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Kill points that fired (a planned kill the agent never reached does not count).
    pub kills_fired: BTreeMap<KillPoint, usize>,
    /// Nodes whose agent died for good.
    pub dead_nodes: Vec<String>,
    /// API requests answered 500 by the fault windows.
    pub errors_500: u64,
    /// … answered 429.
    pub errors_429: u64,
    /// Writes answered 409.
    pub conflicts_409: u64,
    /// Watch streams cut.
    pub watches_cut: u64,
    /// Broken invariants (empty: all held). A run that could not start is reported as a
    /// timeout with the error.
    pub violations: Vec<Violation>,
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {:>6}  {}  {:>5.1}s  {}",
            self.seed,
            if self.violations.is_empty() {
                "ok  "
            } else {
                "FAIL"
            },
            self.wall_s,
            self.summary
        )?;
        for v in &self.violations {
            write!(f, "\n      {v}")?;
        }
        Ok(())
    }
}

/// All runs.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Runs made.
    pub runs: u64,
    /// Runs without a violation.
    pub passed: u64,
    /// Runs with at least one.
    pub failed: u64,
    /// Runs that broke each kind of invariant.
    pub violations_by_kind: BTreeMap<ViolationKind, u64>,
    /// Seeds of the failing runs.
    pub failing_seeds: Vec<u64>,
    /// The command that repeats the first failing run (`None`: none failed).
    pub repro: Option<String>,
    /// Kill points fired over all runs.
    pub kills_fired: BTreeMap<KillPoint, usize>,
    /// Agents killed for good over all runs.
    pub permanent_crashes: usize,
    /// Runs with a manual lock.
    pub manual_locks: usize,
    /// Runs with a concurrency rollout.
    pub rollouts: usize,
    /// Injected 500s / 429s / 409s / cut watches over all runs.
    pub api_faults: [u64; 4],
    /// Wall time of the whole batch, seconds.
    pub wall_s: f64,
    /// Every run.
    pub outcomes: Vec<RunOutcome>,
}

/// The command that repeats the run of `seed`.
pub fn repro_command(seed: u64) -> String {
    format!("cargo run --release -p reboot-sim -- chaos --runs 1 --seed {seed}")
}

/// Runs `options.runs` seeded runs, `options.parallel` at a time; `on_done` is called after
/// each (in completion order).
pub async fn run_many(options: &ChaosOptions, on_done: impl Fn(&RunOutcome)) -> Summary {
    let seeds: Vec<u64> = (0..options.runs)
        .map(|i| options.seed.wrapping_add(i))
        .collect();
    run_seeds(&seeds, options, on_done).await
}

/// Runs the given seeds (`options.runs` and `options.seed` are not used),
/// `options.parallel` at a time; `on_done` is called after each (in completion order).
pub async fn run_seeds(
    seeds: &[u64],
    options: &ChaosOptions,
    on_done: impl Fn(&RunOutcome),
) -> Summary {
    let started = std::time::Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for &seed in seeds {
        let timeout = options.run_timeout;
        let dump = options.dump_dir.clone();
        let limit = limit.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            match run::run_seed(seed, timeout, dump.as_deref()).await {
                Ok(o) => o,
                Err(e) => failed_to_start(seed, &format!("{e:#}")),
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        let outcome = joined.unwrap_or_else(|e| failed_to_start(0, &format!("run panicked: {e}")));
        on_done(&outcome);
        outcomes.push(outcome);
    }
    outcomes.sort_by_key(|o| o.seed);
    summarise(outcomes, started.elapsed())
}

fn failed_to_start(seed: u64, error: &str) -> RunOutcome {
    let plan = Plan::from_seed(seed);
    RunOutcome {
        seed,
        summary: plan.to_string(),
        plan,
        completed: false,
        wall_s: 0.0,
        kills_fired: BTreeMap::new(),
        dead_nodes: Vec::new(),
        errors_500: 0,
        errors_429: 0,
        conflicts_409: 0,
        watches_cut: 0,
        violations: vec![Violation {
            kind: ViolationKind::Timeout,
            detail: format!("the run did not run: {error}"),
        }],
    }
}

fn summarise(outcomes: Vec<RunOutcome>, wall: Duration) -> Summary {
    let mut s = Summary {
        runs: outcomes.len() as u64,
        passed: 0,
        failed: 0,
        violations_by_kind: BTreeMap::new(),
        failing_seeds: Vec::new(),
        repro: None,
        kills_fired: BTreeMap::new(),
        permanent_crashes: 0,
        manual_locks: 0,
        rollouts: 0,
        api_faults: [0; 4],
        wall_s: wall.as_secs_f64(),
        outcomes: Vec::new(),
    };
    for o in &outcomes {
        if o.violations.is_empty() {
            s.passed += 1;
        } else {
            s.failed += 1;
            s.failing_seeds.push(o.seed);
            let mut kinds: Vec<ViolationKind> = o.violations.iter().map(|v| v.kind).collect();
            kinds.dedup();
            for k in kinds {
                *s.violations_by_kind.entry(k).or_default() += 1;
            }
        }
        for (p, n) in &o.kills_fired {
            *s.kills_fired.entry(*p).or_default() += n;
        }
        s.permanent_crashes += o.dead_nodes.len();
        s.manual_locks += usize::from(o.plan.manual_lock.is_some());
        s.rollouts += usize::from(o.plan.rollout.is_some());
        s.api_faults[0] += o.errors_500;
        s.api_faults[1] += o.errors_429;
        s.api_faults[2] += o.conflicts_409;
        s.api_faults[3] += o.watches_cut;
    }
    s.repro = s.failing_seeds.first().map(|seed| repro_command(*seed));
    s.outcomes = outcomes;
    s
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos: {} runs, {} passed, {} failed in {:.1} s",
            self.runs, self.passed, self.failed, self.wall_s
        )?;
        let kills: Vec<String> = self
            .kills_fired
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        writeln!(
            f,
            "  agents killed and restarted  {}",
            if kills.is_empty() {
                "none".to_string()
            } else {
                kills.join(", ")
            }
        )?;
        writeln!(
            f,
            "  killed for good              {} (recovered by node deletion or lock TTL)",
            self.permanent_crashes
        )?;
        writeln!(
            f,
            "  manual locks / rollouts      {} / {}",
            self.manual_locks, self.rollouts
        )?;
        writeln!(
            f,
            "  API faults injected          500: {}, 429: {}, 409: {}, watches cut: {}",
            self.api_faults[0], self.api_faults[1], self.api_faults[2], self.api_faults[3]
        )?;
        if self.violations_by_kind.is_empty() {
            write!(f, "  violations                   none")
        } else {
            let kinds: Vec<String> = self
                .violations_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            writeln!(f, "  violations (runs)            {}", kinds.join(", "))?;
            let seeds: Vec<String> = self.failing_seeds.iter().map(u64::to_string).collect();
            writeln!(f, "  failing seeds                {}", seeds.join(" "))?;
            write!(
                f,
                "  repro                        {}",
                self.repro.as_deref().unwrap_or_default()
            )
        }
    }
}
