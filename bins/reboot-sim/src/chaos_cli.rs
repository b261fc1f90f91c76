//! `reboot-sim chaos`: many seeded runs under injected faults; exit 1 on any violation.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reboot_sim::chaos::{ChaosOptions, run_seeds};

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Many seeded rolling reboots under chaos (API faults, agents killed at every phase,
    /// node deletion, manual lock, concurrency changes), each checked on kubesim's history.
    Chaos(ChaosArgs),
}

/// `reboot-sim chaos` options.
#[derive(Debug, Args)]
pub(crate) struct ChaosArgs {
    /// Number of seeded runs (run i uses seed S+i).
    #[arg(long, default_value_t = 10)]
    runs: u64,
    /// Seed of the first run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run each seed this many times (a seed fixes the plan, not the interleaving).
    #[arg(long, default_value_t = 1)]
    repeat: u64,
    /// Runs at once (each has its own kubesim and agents).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// A run still going after this long is a violation (timeout).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    run_timeout: Duration,
    /// Write the history timeline of each failing run to DIR/seed-N.txt.
    #[arg(long, value_name = "DIR")]
    dump_dir: Option<std::path::PathBuf>,
    /// Print the summary (with every run) as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Log level of the agents and kubesim (stderr).
    #[arg(long, default_value = "off")]
    log: String,
}

pub(crate) fn main(args: &ChaosArgs) -> ExitCode {
    if args.runs == 0 || args.parallel == 0 || args.repeat == 0 {
        eprintln!("reboot-sim chaos: --runs, --repeat and --parallel must be at least 1");
        return ExitCode::from(2);
    }
    kubesim::cluster::install_crypto_provider();
    daemon::init_logging_with_filter(daemon::LogFormat::Text, &args.log, "off");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reboot-sim chaos: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = ChaosOptions {
        runs: args.runs,
        seed: args.seed,
        parallel: args.parallel,
        run_timeout: args.run_timeout,
        dump_dir: args.dump_dir.clone(),
    };
    let json = args.json;
    let seeds: Vec<u64> = (0..args.runs)
        .map(|i| args.seed.wrapping_add(i))
        .flat_map(|s| std::iter::repeat_n(s, usize::try_from(args.repeat).unwrap_or(1)))
        .collect();
    let summary = runtime.block_on(run_seeds(&seeds, &options, |o| {
        if !json {
            println!("{o}");
            let _ = std::io::stdout().flush();
        }
    }));
    if !crate::print_result(&summary, json, "reboot-sim chaos") {
        return ExitCode::FAILURE;
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
