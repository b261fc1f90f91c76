//! `reboot-sim`: a whole rolling reboot of a simulated cluster, with a live view and a
//! final report. Exits 1 if an invariant broke, 2 on bad options, 3 if the rollout halted
//! (a failed node; the report names it and the reason).

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent::LockWaitMode;
use clap::{Parser, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kubesim::faults::FaultConfig;
mod chaos_cli;

use reboot_sim::{CrashRecovery, FaultSpec, Phase, SimOptions, Transition};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WaitArg {
    /// Wake on a lock change (kured-rs `--lock-wait=wait`).
    Wait,
    /// Retry at the next period (kured's behaviour).
    Poll,
}

/// `--lock-backend`: [`lock::Backend`] by name, each value with its help text.
fn lock_backend_parser() -> impl clap::builder::TypedValueParser<Value = lock::Backend> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new([
        PossibleValue::new(lock::Backend::Annotation.name())
            .help("kured's annotation on its DaemonSet"),
        PossibleValue::new(lock::Backend::Lease.name()).help("A coordination.k8s.io Lease"),
    ])
    .try_map(|name| name.parse::<lock::Backend>())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RecoveryArg {
    /// Delete the dead node (the lock entry of a missing node is free).
    Delete,
    /// Wait for the lock TTL.
    Ttl,
}

/// A whole rolling reboot on an embedded simulated cluster: kubesim plus one real kured-rs
/// agent per node. Every node is marked "reboot required"; watch them drain, reboot and come
/// back, C at a time.
#[allow(clippy::doc_markdown)] // --help text: backticks would show
#[derive(Debug, Parser)]
#[command(name = "reboot-sim", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<chaos_cli::Command>,
    /// Number of nodes.
    #[arg(long, default_value_t = 12)]
    nodes: usize,
    /// Nodes rebooting at once (the lock's concurrency).
    #[arg(long, default_value_t = 2)]
    concurrency: u32,
    /// Application pods per node (one Deployment each, one replica per node).
    #[arg(long, default_value_t = 4)]
    pods_per_node: usize,
    /// A PodDisruptionBudget (maxUnavailable 1) per Deployment.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pdb: OnOff,
    /// How long a node is down.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    reboot_time: Duration,
    /// How long an evicted pod takes to stop.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    drain_grace: Duration,
    /// How long a pod takes to start and become Ready.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    pod_start: Duration,
    /// How the agents wait for a held lock.
    #[arg(long, value_enum, default_value_t = WaitArg::Wait)]
    lock: WaitArg,
    /// The agents' check period (kured: 1h; scaled down).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    period: Duration,
    /// Which lock object the agents share.
    #[arg(long, value_parser = lock_backend_parser(), default_value = lock::Backend::Annotation.name())]
    lock_backend: lock::Backend,
    /// Lock TTL (0: none).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    lock_ttl: Duration,
    /// How long a lock holder's node is presumed to exist after its record was written or a
    /// lookup found it: waiters look holders up at most this often (kured-rs uses 30s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    node_cache: Duration,
    /// Seed for kubesim's names and the fault RNG.
    #[arg(long)]
    seed: Option<u64>,
    /// Comma-separated faults: `latency=20ms`, `jitter=10ms`, `errors=0.01` (500s),
    /// `throttle=0.01` (429s), `conflicts=0.01` (409s on writes), `crash` (one agent killed
    /// mid-drain for good), `never-back` (one node never comes back from its reboot),
    /// `slow-apps` (pods start slowly: at least 2 x (reboot + drain grace) and 1s),
    /// `reboot-fails` (one node's reboot command fails).
    #[arg(long, default_value = "")]
    faults: String,
    /// How the others get past a crashed lock holder.
    #[arg(long, value_enum, default_value_t = RecoveryArg::Delete)]
    crash_recovery: RecoveryArg,
    /// After its reboot a node keeps the lock until the health gate passes (kured-rs
    /// --health-gate): its DaemonSet pods and the workloads its drain evicted Ready again.
    #[arg(long)]
    health_gate: bool,
    /// A gate not passed this long after it started fails (a failed node for the budget).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    gate_timeout: Duration,
    /// How often the gate re-checks.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "100ms")]
    gate_poll: Duration,
    /// Failed nodes before the rollout halts (kured-rs --max-failed-nodes).
    #[arg(long, default_value_t = 1)]
    max_failed_nodes: u32,
    /// A node not back this long after its reboot command is a failure (kured-rs
    /// --reboot-not-back-timeout; 0: never, except with `--faults never-back`, which picks
    /// 3 x (reboot time + pod start), at least 2s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    reboot_not_back_timeout: Duration,
    /// Give up after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    deadline: Duration,
    /// Print the report as JSON (stdout) instead of text.
    #[arg(long)]
    json: bool,
    /// Log level of the agents and kubesim (stderr).
    #[arg(long, default_value = "error")]
    log: String,
}

fn parse_faults(text: &str, seed: Option<u64>) -> Result<FaultSpec, String> {
    let mut spec = FaultSpec::default();
    let mut api = FaultConfig {
        seed: seed.unwrap_or(0),
        ..FaultConfig::default()
    };
    let fraction = |v: &str| -> Result<f64, String> {
        let f: f64 = v.parse().map_err(|_| format!("not a fraction: {v:?}"))?;
        if (0.0..=1.0).contains(&f) {
            Ok(f)
        } else {
            Err(format!("fraction out of 0..1: {v}"))
        }
    };
    let duration =
        |v: &str| humantime::parse_duration(v).map_err(|e| format!("bad duration {v:?}: {e}"));
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match key {
            "crash" => spec.crash = true,
            "never-back" => spec.never_back = true,
            "slow-apps" => spec.slow_apps = true,
            "reboot-fails" => spec.reboot_fails = true,
            "latency" => api.latency = duration(value)?,
            "jitter" => api.jitter = duration(value)?,
            "errors" => api.error_500_fraction = fraction(value)?,
            "throttle" => api.error_429_fraction = fraction(value)?,
            "conflicts" => api.conflict_409_fraction = fraction(value)?,
            other => return Err(format!("unknown fault {other:?}")),
        }
    }
    if api.is_active() {
        spec.api = Some(api);
    }
    Ok(spec)
}

fn options(args: &Args) -> Result<SimOptions, String> {
    let mut faults = parse_faults(&args.faults, args.seed)?;
    faults.recovery = match args.crash_recovery {
        RecoveryArg::Delete => CrashRecovery::Delete,
        RecoveryArg::Ttl => CrashRecovery::Ttl,
    };
    if args.nodes == 0 || args.concurrency == 0 {
        return Err("--nodes and --concurrency must be at least 1".into());
    }
    if args.period.is_zero() {
        return Err("--period must be positive".into());
    }
    if args.health_gate && (args.gate_timeout.is_zero() || args.gate_poll.is_zero()) {
        return Err("--gate-timeout and --gate-poll must be positive".into());
    }
    if args.max_failed_nodes == 0 {
        return Err("--max-failed-nodes must be at least 1".into());
    }
    Ok(SimOptions {
        nodes: args.nodes,
        concurrency: args.concurrency,
        pods_per_node: args.pods_per_node,
        pdb: matches!(args.pdb, OnOff::On),
        reboot_time: args.reboot_time,
        drain_grace: args.drain_grace,
        pod_start: args.pod_start,
        lock_wait: match args.lock {
            WaitArg::Wait => LockWaitMode::Wait,
            WaitArg::Poll => LockWaitMode::Poll,
        },
        period: args.period,
        lock_backend: args.lock_backend,
        lock_ttl: args.lock_ttl,
        node_cache: args.node_cache,
        seed: args.seed,
        faults,
        health_gate: args.health_gate,
        gate_timeout: args.gate_timeout,
        gate_poll: args.gate_poll,
        max_failed_nodes: args.max_failed_nodes,
        not_back_timeout: args.reboot_not_back_timeout,
        deadline: args.deadline,
        ..SimOptions::default()
    })
}

/// The live view: progress bars per phase on a terminal, plain lines otherwise.
struct View {
    bars: Option<(MultiProgress, Vec<(Phase, ProgressBar)>)>,
    quiet: bool,
}

impl View {
    fn new(nodes: usize, tty: bool, quiet: bool) -> Self {
        if !tty || quiet {
            return Self { bars: None, quiet };
        }
        let multi = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{prefix:>10} [{bar:40.cyan/blue}] {pos:>5}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bars = [
            (Phase::Draining, "cordoned"),
            (Phase::Rebooting, "rebooted"),
            (Phase::Done, "back"),
        ]
        .into_iter()
        .map(|(phase, label)| {
            let bar = multi.add(ProgressBar::new(nodes as u64));
            bar.set_style(style.clone());
            bar.set_prefix(label);
            (phase, bar)
        })
        .collect();
        Self {
            bars: Some((multi, bars)),
            quiet,
        }
    }

    fn on_change(
        &self,
        t: &Transition,
        reached: &Mutex<std::collections::BTreeMap<String, Phase>>,
    ) {
        if self.quiet {
            return;
        }
        let line = format!(
            "[{:>7.2}s] {:<12} {:>9} -> {:<9}",
            t.at.as_secs_f64(),
            t.node,
            t.from.to_string(),
            t.to.to_string()
        );
        match &self.bars {
            None => println!("{line}"),
            Some((multi, bars)) => {
                let _ = multi.println(line);
                // A bar counts the nodes that reached its phase (or a later one) so far.
                let mut reached = reached.lock().unwrap_or_else(PoisonError::into_inner);
                let best = reached.entry(t.node.clone()).or_insert(Phase::Pending);
                if t.to <= Phase::Done && t.to > *best {
                    *best = t.to;
                }
                for (phase, bar) in bars {
                    let n = reached.values().filter(|p| **p >= *phase).count() as u64;
                    bar.set_position(n.min(bar.length().unwrap_or(n)));
                }
            }
        }
    }

    fn finish(&self) {
        if let Some((_, bars)) = &self.bars {
            for (_, bar) in bars {
                bar.finish();
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(chaos_cli::Command::Chaos(chaos)) = &args.command {
        return chaos_cli::main(chaos);
    }
    let options = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("reboot-sim: {e}");
            return ExitCode::from(2);
        }
    };
    kubesim::cluster::install_crypto_provider();
    daemon::init_logging_with_filter(daemon::LogFormat::Text, &args.log, "error");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reboot-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The header first: once the bars are drawn, plain prints would tear them.
    if !args.json {
        println!(
            "reboot-sim: {} nodes, {} app pods per node (PDB {}), concurrency {}, lock {:?}, reboot {}, drain grace {}, pod start {}, health gate {}",
            options.nodes,
            options.pods_per_node,
            if options.pdb { "on" } else { "off" },
            options.concurrency,
            args.lock,
            humantime::format_duration(options.reboot_time),
            humantime::format_duration(options.drain_grace),
            humantime::format_duration(options.effective_pod_start()),
            if options.health_gate { "on" } else { "off" },
        );
    }
    let view = Arc::new(View::new(
        options.nodes,
        std::io::stdout().is_terminal(),
        args.json,
    ));
    let reached = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
    let sink = {
        let view = view.clone();
        Arc::new(move |t: &Transition| view.on_change(t, &reached))
    };
    let result = runtime.block_on(reboot_sim::simulate(&options, sink));
    view.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reboot-sim: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if !print_result(&report, args.json, "reboot-sim") {
        return ExitCode::FAILURE;
    }
    // Do not wait for stray tasks of the simulated cluster.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !report.violations.is_empty() {
        ExitCode::from(1)
    } else if let Some(halt) = &report.gate.halt {
        eprintln!("reboot-sim: the rollout was halted by {halt}");
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints `value` as pretty JSON (`json`) or as text; `false` after an error message starting
/// with `program` if it cannot be serialised.
fn print_result<T: serde::Serialize + std::fmt::Display>(
    value: &T,
    json: bool,
    program: &str,
) -> bool {
    if !json {
        println!("{value}");
        return true;
    }
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            true
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        let f = parse_faults("latency=20ms, errors=0.05,crash", Some(7)).unwrap();
        assert!(f.crash);
        let api = f.api.unwrap();
        assert_eq!(api.latency, Duration::from_millis(20));
        assert!((api.error_500_fraction - 0.05).abs() < 1e-12);
        assert_eq!(api.seed, 7);
        assert!(parse_faults("", None).unwrap().api.is_none());
        assert!(parse_faults("errors=2", None).is_err());
        assert!(parse_faults("meteor", None).is_err());
        let f = parse_faults("never-back,slow-apps,reboot-fails", None).unwrap();
        assert!(f.never_back && f.slow_apps && f.reboot_fails && !f.crash);
    }
}
