//! kured 1.23's command line (all 43 flags, same names, types and defaults) plus kured-rs'
//! own flags, and the `KURED_<NAME>` environment variables.
//!
//! Names, types and defaults were checked against kured's `cmd/kured/main.go` (the flag
//! definitions are unchanged across the releases we could read). Durations take Go's syntax
//! (`time.ParseDuration`), booleans Go's `strconv.ParseBool` forms, `--blocking-pod-selector`
//! is a repeatable string array (a selector may contain commas), `--reboot-days` and the label
//! flags are comma-separated string slices.
//!
//! Precedence: **the environment wins over the command line**, as specified for kured 1.23
//! (whose flag package sets every flag that has a `KURED_<NAME>` variable after parsing the
//! command line). Note that the older cobra/viper binding (`bindFlags`, kured ≤ 1.16, the
//! version of `main.go` available to us for checking) applied a variable only to flags *not*
//! given on the command line — the opposite order. [`apply_env`] implements the 1.23 order by
//! replacing the command-line occurrences of a flag whose variable is set with the variable's
//! value; a list flag set from the environment takes the variable's (comma-split) value only.

// Doc comments of the flags are the `--help` text, where backticks would show.
#![allow(clippy::doc_markdown)]

use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
use clap::{ArgAction, CommandFactory, Parser, ValueEnum};

mod go_values;

pub use go_values::{format_go_duration, parse_go_duration};
use go_values::{
    go_int, parse_drain_timeout, parse_go_bool, parse_go_int, parse_limit_go_duration,
    parse_nonzero_go_duration, parse_port, parse_skip_wait_seconds,
};

/// How the host is rebooted (`--reboot-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RebootMethod {
    /// Run `--reboot-command` in the host's mount namespace (needs a privileged pod).
    Command,
    /// Send `--reboot-signal` to the host's PID 1 (needs only `CAP_KILL` and hostPID).
    Signal,
}

pub use daemon::LogFormat;

/// `--lock-backend`: [`lock::Backend`] by name, each value with its help text.
fn lock_backend_parser() -> impl clap::builder::TypedValueParser<Value = lock::Backend> {
    PossibleValuesParser::new([
        PossibleValue::new(lock::Backend::Annotation.name())
            .help("An annotation on kured's DaemonSet, in kured's format (kured's behaviour)"),
        PossibleValue::new(lock::Backend::Lease.name())
            .help("`coordination.k8s.io` Leases `<ds-name>-0 … <ds-name>-(concurrency-1)`"),
    ])
    .try_map(|name| name.parse::<lock::Backend>())
}

/// `--lock-wait`: [`agent::LockWaitMode`] by name (`poll`, `wait`), each with its help text.
fn lock_wait_parser() -> impl clap::builder::TypedValueParser<Value = agent::LockWaitMode> {
    PossibleValuesParser::new([
        PossibleValue::new("poll").help("Try again at the next period (kured's behaviour)"),
        PossibleValue::new("wait")
            .help("Wake as soon as the lock changes, re-check window and blockers, then try again"),
    ])
    .map(|name| {
        if name == "wait" {
            agent::LockWaitMode::Wait
        } else {
            agent::LockWaitMode::Poll
        }
    })
}

const ENV_HELP: &str = "\
Every flag can also be set with an environment variable KURED_<FLAG_NAME_IN_UPPER_SNAKE_CASE>
(e.g. KURED_NODE_ID, KURED_REBOOT_DAYS). As in kured 1.23, a set environment variable wins over
the same flag on the command line. Durations use Go's syntax (90s, 1h30m, 1h0m0s).";

/// The command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kured-rs",
    version,
    about = "Kubernetes Reboot Daemon: a drop-in replacement for kured 1.23",
    after_help = ENV_HELP,
    // As Go's flag package (and so kured): a repeated single-value flag keeps its last value;
    // list flags still add up.
    args_override_self = true
)]
#[allow(clippy::struct_excessive_bools)]
pub struct Flags {
    /// Node name kured runs on, should be passed down from spec.nodeName via KURED_NODE_ID
    #[arg(long, default_value = "", hide_default_value = true)]
    pub node_id: String,
    /// Force a reboot even if the drain fails or times out
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub force_reboot: bool,
    /// Host where metrics will listen (empty: all interfaces)
    #[arg(long, default_value = "", hide_default_value = true)]
    pub metrics_host: String,
    /// Port number where metrics will listen
    #[arg(long, default_value = "8080", value_parser = parse_port, value_name = "PORT")]
    pub metrics_port: u16,
    /// Time in seconds given to each pod to terminate gracefully; if negative, the pod's own terminationGracePeriodSeconds is used
    #[arg(
        long,
        default_value = "-1",
        allow_negative_numbers = true,
        value_parser = parse_go_int,
        value_name = "SECONDS"
    )]
    pub drain_grace_period: i64,
    /// Only drain pods with labels matching the selector (default: all pods)
    #[arg(long, default_value = "", hide_default_value = true, value_parser = parse_optional_selector, value_name = "SELECTOR")]
    pub drain_pod_selector: String,
    /// When greater than zero, skip waiting for pods whose deletion timestamp is older than N seconds while draining
    #[arg(long, default_value = "0", allow_negative_numbers = true, value_parser = parse_skip_wait_seconds, value_name = "SECONDS")]
    pub skip_wait_for_delete_timeout: u64,
    /// Delay drain for this duration (0: disabled)
    #[arg(long, default_value = "0s", value_parser = parse_go_duration, value_name = "DURATION")]
    pub drain_delay: Duration,
    /// Timeout after which the drain is aborted (0: infinite)
    #[arg(long, default_value = "0s", value_parser = parse_drain_timeout, value_name = "DURATION")]
    pub drain_timeout: Duration,
    /// Delay reboot for this duration (0: disabled)
    #[arg(long, default_value = "0s", value_parser = parse_go_duration, value_name = "DURATION")]
    pub reboot_delay: Duration,
    /// Method to use for reboots
    #[arg(long, value_enum, default_value = "command")]
    pub reboot_method: RebootMethod,
    /// Sentinel check period
    #[arg(long, default_value = format_go_duration(agent::DEFAULT_PERIOD), value_parser = parse_nonzero_go_duration, value_name = "DURATION")]
    pub period: Duration,
    /// Namespace containing the daemonset on which to place the lock
    #[arg(long, default_value = lock::DEFAULT_NAMESPACE, value_parser = parse_non_empty, value_name = "NAMESPACE")]
    pub ds_namespace: String,
    /// Name of the daemonset on which to place the lock
    #[arg(long, default_value = lock::DEFAULT_NAME, value_parser = parse_non_empty, value_name = "NAME")]
    pub ds_name: String,
    /// Annotation in which to record the locking node
    #[arg(long, default_value = lock::DEFAULT_ANNOTATION, value_parser = parse_non_empty, value_name = "KEY")]
    pub lock_annotation: String,
    /// Expire the lock annotation after this duration (0: disabled)
    #[arg(long, default_value = "0s", value_parser = parse_go_duration, value_name = "DURATION")]
    pub lock_ttl: Duration,
    /// Delay the lock release for this duration (0: disabled)
    #[arg(long, default_value = "0s", value_parser = parse_go_duration, value_name = "DURATION")]
    pub lock_release_delay: Duration,
    /// Prometheus instance to probe for active alerts
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "URL"
    )]
    pub prometheus_url: String,
    /// Alert names to ignore when checking for active alerts
    #[arg(long, default_value = "", hide_default_value = true, value_parser = parse_regex, value_name = "REGEXP")]
    pub alert_filter_regexp: String,
    /// Only block if the alert-filter-regexp matches active alerts
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub alert_filter_match_only: bool,
    /// Only consider firing alerts when checking for active alerts
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub alert_firing_only: bool,
    /// Path to the file whose existence triggers the reboot
    #[arg(long, default_value = "/var/run/reboot-required", value_name = "PATH")]
    pub reboot_sentinel: String,
    /// Taint name applied during a pending node reboot (e.g. weave.works/kured-node-reboot); disabled when empty
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "KEY"
    )]
    pub prefer_no_schedule_taint: String,
    /// Command for which a zero return code will trigger a reboot (replaces --reboot-sentinel)
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "COMMAND"
    )]
    pub reboot_sentinel_command: String,
    /// Command to run when a reboot is required
    #[arg(long, default_value = "/bin/systemctl reboot", value_name = "COMMAND")]
    pub reboot_command: String,
    /// Number of nodes to reboot concurrently
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub concurrency: u32,
    /// Signal to use for reboot (SIGRTMIN+5)
    #[arg(long, default_value = "39", value_parser = parse_signal, value_name = "SIGNAL")]
    pub reboot_signal: i32,
    /// Slack hook URL for reboot notifications [deprecated in favor of --notify-url]
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "URL"
    )]
    pub slack_hook_url: String,
    /// Slack username for reboot notifications
    #[arg(long, default_value = "kured", value_name = "NAME")]
    pub slack_username: String,
    /// Slack channel for reboot notifications
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "CHANNEL"
    )]
    pub slack_channel: String,
    /// Notify URL(s) for reboot notifications (shoutrrr syntax, comma separated; cannot be used with --slack-hook-url)
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "URL"
    )]
    pub notify_url: String,
    /// Message template used to notify about a node being drained
    #[arg(long, default_value = notify::DEFAULT_DRAIN, value_name = "TEMPLATE")]
    pub message_template_drain: String,
    /// Message template used to notify about a node being rebooted
    #[arg(long, default_value = notify::DEFAULT_REBOOT, value_name = "TEMPLATE")]
    pub message_template_reboot: String,
    /// Message template used to notify about a node being successfully uncordoned
    #[arg(long, default_value = notify::DEFAULT_UNCORDON, value_name = "TEMPLATE")]
    pub message_template_uncordon: String,
    /// Label selector identifying pods whose presence should prevent reboots (repeatable)
    #[arg(long, action = ArgAction::Append, value_parser = parse_selector, value_name = "SELECTOR")]
    pub blocking_pod_selector: Vec<String>,
    /// Schedule reboots on these days (comma separated or repeated)
    #[arg(long, action = ArgAction::Append, value_delimiter = ',', default_value = "su,mo,tu,we,th,fr,sa", value_name = "DAYS")]
    pub reboot_days: Vec<String>,
    /// Schedule reboots only after this time of day
    #[arg(long, default_value = "0:00", value_name = "TIME")]
    pub start_time: String,
    /// Schedule reboots only before this time of day
    #[arg(long, default_value = "23:59:59", value_name = "TIME")]
    pub end_time: String,
    /// Use this time zone for schedule inputs
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub time_zone: String,
    /// Annotate nodes undergoing reboots with weave.works/kured-reboot-in-progress and weave.works/kured-most-recent-reboot-needed
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL")]
    pub annotate_nodes: bool,
    /// Use text or json log format
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Labels (key=value) to add to nodes before cordoning (comma separated or repeated)
    #[arg(long, action = ArgAction::Append, value_delimiter = ',', value_parser = parse_label, value_name = "LABELS")]
    pub pre_reboot_node_labels: Vec<String>,
    /// Labels (key=value) to add to nodes after uncordoning (comma separated or repeated)
    #[arg(long, action = ArgAction::Append, value_delimiter = ',', value_parser = parse_label, value_name = "LABELS")]
    pub post_reboot_node_labels: Vec<String>,

    // ---- kured-rs only (defaults keep kured's behaviour) ----
    /// [kured-rs] Where the lock lives: kured's DaemonSet annotation, or Leases
    #[arg(
        long,
        value_parser = lock_backend_parser(),
        default_value = lock::Backend::default().name(),
        help_heading = "kured-rs options"
    )]
    pub lock_backend: lock::Backend,
    /// [kured-rs] While the lock is held by others: poll each period (kured) or wake on lock changes
    #[arg(
        long,
        value_parser = lock_wait_parser(),
        default_value = "poll",
        help_heading = "kured-rs options"
    )]
    pub lock_wait: agent::LockWaitMode,
    /// [kured-rs] Label/annotation key that opts a node out of reboots (any value but "false"); disabled when empty
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        help_heading = "kured-rs options",
        value_name = "KEY"
    )]
    pub opt_out_key: String,
    /// [kured-rs] Kill --reboot-command after this long and count the reboot as failed (see --max-failed-nodes; 0: no limit, as kured)
    #[arg(
        long,
        default_value = "0s",
        value_parser = parse_limit_go_duration,
        help_heading = "kured-rs options",
        value_name = "DURATION"
    )]
    pub reboot_command_timeout: Duration,
    /// [kured-rs] From taking the lock until releasing it, annotate the node so the cluster autoscaler and Karpenter do not remove it (set only where absent, removed only where set)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL", help_heading = "kured-rs options")]
    pub autoscaler_guard: bool,
    /// [kured-rs] After the reboot, keep the lock until the node is healthy: Ready with a new boot ID, its DaemonSet pods Ready, the workloads and PodDisruptionBudgets its drain disturbed whole again (and the optional checks below)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL", help_heading = "kured-rs options")]
    pub health_gate: bool,
    /// [kured-rs] A health gate not passed this long after the reboot is a failure (see --max-failed-nodes)
    #[arg(long, default_value = "30m0s", value_parser = parse_nonzero_go_duration, help_heading = "kured-rs options", value_name = "DURATION")]
    pub health_gate_timeout: Duration,
    /// [kured-rs] Health gate: this PromQL query (on --prometheus-url) must return nothing
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        help_heading = "kured-rs options",
        value_name = "QUERY"
    )]
    pub health_gate_prometheus_query: String,
    /// [kured-rs] Health gate: every pod (all namespaces) matching this label selector must be Ready
    #[arg(long, default_value = "", hide_default_value = true, value_parser = parse_optional_selector, help_heading = "kured-rs options", value_name = "SELECTOR")]
    pub health_gate_pod_selector: String,
    /// [kured-rs] A lock holder that ran its reboot command and is not Ready with a new boot ID this long afterwards is a failure, noticed by the waiting agents (0: never)
    #[arg(long, default_value = "0s", value_parser = parse_limit_go_duration, help_heading = "kured-rs options", value_name = "DURATION")]
    pub reboot_not_back_timeout: Duration,
    /// [kured-rs] Failed nodes (health gate failed, not back in time, reboot command failed) before the rollout halts; a failed node is not drained again until its sentinel, the configuration or an operator changes
    #[arg(long, default_value = "1", value_parser = parse_failure_budget, help_heading = "kured-rs options", value_name = "N")]
    pub max_failed_nodes: u32,
    /// [kured-rs] Publish Kubernetes Events about the node for every phase (kubectl describe node shows them)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL", help_heading = "kured-rs options")]
    pub events: bool,
    /// [kured-rs] When a PodDisruptionBudget has refused an eviction this long, report it (Warning Event, metric kured_drain_pdb_blocked) (0: never)
    #[arg(long, default_value = "0s", value_parser = parse_limit_go_duration, help_heading = "kured-rs options", value_name = "DURATION")]
    pub drain_pdb_warn_after: Duration,
    /// [kured-rs] When a PodDisruptionBudget has refused an eviction this long, delete (honouring the grace period) the blocked pods matching --drain-pdb-escalate-selector, never others (0: never)
    #[arg(long, default_value = "0s", value_parser = parse_limit_go_duration, help_heading = "kured-rs options", value_name = "DURATION")]
    pub drain_pdb_escalate_after: Duration,
    /// [kured-rs] The pods --drain-pdb-escalate-after may delete (label selector; required with it)
    #[arg(long, default_value = "", hide_default_value = true, value_parser = parse_optional_selector, help_heading = "kured-rs options", value_name = "SELECTOR")]
    pub drain_pdb_escalate_selector: String,
}

/// The 43 flags of kured 1.23, in kured's order.
#[cfg(test)]
pub const KURED_FLAGS: [&str; 43] = [
    "node-id",
    "force-reboot",
    "metrics-host",
    "metrics-port",
    "drain-grace-period",
    "drain-pod-selector",
    "skip-wait-for-delete-timeout",
    "drain-delay",
    "drain-timeout",
    "reboot-delay",
    "reboot-method",
    "period",
    "ds-namespace",
    "ds-name",
    "lock-annotation",
    "lock-ttl",
    "lock-release-delay",
    "prometheus-url",
    "alert-filter-regexp",
    "alert-filter-match-only",
    "alert-firing-only",
    "reboot-sentinel",
    "prefer-no-schedule-taint",
    "reboot-sentinel-command",
    "reboot-command",
    "concurrency",
    "reboot-signal",
    "slack-hook-url",
    "slack-username",
    "slack-channel",
    "notify-url",
    "message-template-drain",
    "message-template-reboot",
    "message-template-uncordon",
    "blocking-pod-selector",
    "reboot-days",
    "start-time",
    "end-time",
    "time-zone",
    "annotate-nodes",
    "log-format",
    "pre-reboot-node-labels",
    "post-reboot-node-labels",
];

/// A Markdown table of every flag (name, environment variable, default, help), generated
/// from the command definition (`kured-rs --print-flags-markdown`).
pub fn flags_markdown() -> String {
    use std::fmt::Write as _;
    let command = Flags::command();
    let mut out = String::from(
        "| flag | environment variable | default | description |\n|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let help = arg
            .get_help()
            .map(ToString::to_string)
            .unwrap_or_default()
            .replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `--{long}` | `{}` | {} | {help} |",
            env_var(long),
            if default.is_empty() || default.iter().all(String::is_empty) {
                String::new()
            } else {
                format!("`{}`", default.join(","))
            },
        );
    }
    out
}

/// `KURED_<NAME_IN_UPPER_SNAKE>` for a flag name.
pub fn env_var(flag: &str) -> String {
    format!("KURED_{}", flag.replace('-', "_").to_ascii_uppercase())
}

/// Rewrites `args` (without the program name) so that every flag whose `KURED_*` variable is
/// set (as returned by `lookup`) takes the variable's value instead of its command-line
/// value(s): the environment wins, as in kured 1.23.
pub fn apply_env(args: Vec<String>, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let command = Flags::command();
    let mut from_env: Vec<(String, bool, String)> = Vec::new(); // (flag, takes separate value, value)
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if let Some(value) = lookup(&env_var(long)) {
            from_env.push((long.to_string(), !arg.is_require_equals_set(), value));
        }
    }
    if from_env.is_empty() {
        return args;
    }
    let mut out = Vec::with_capacity(args.len() + from_env.len());
    let mut iter = args.into_iter();
    while let Some(token) = iter.next() {
        if token == "--" {
            out.push(token);
            out.extend(iter.by_ref());
            break;
        }
        let overridden = token.strip_prefix("--").and_then(|rest| {
            let (name, inline) = match rest.split_once('=') {
                Some((n, _)) => (n, true),
                None => (rest, false),
            };
            from_env
                .iter()
                .find(|(flag, _, _)| flag == name)
                .map(|(_, separate, _)| *separate && !inline)
        });
        match overridden {
            Some(skip_next) => {
                if skip_next {
                    iter.next();
                }
            }
            None => out.push(token),
        }
    }
    for (flag, _, value) in from_env {
        out.push(format!("--{flag}={value}"));
    }
    out
}

fn parse_non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s.to_string())
}

fn parse_regex(s: &str) -> Result<String, String> {
    if !s.is_empty() {
        blockers::regex::Regex::new(s).map_err(|e| format!("invalid regular expression: {e}"))?;
    }
    Ok(s.to_string())
}

fn parse_signal(s: &str) -> Result<i32, String> {
    let n = i32::try_from(go_int(s)?).map_err(|_| format!("invalid signal number {s:?}"))?;
    sentinel::SignalRebooter::new(n, 1).map_err(|e| e.to_string())?;
    Ok(n)
}

/// One `key=value` item of `--pre-reboot-node-labels` / `--post-reboot-node-labels` (clap has
/// split the value at commas). As pflag's CSV reading, `"key=value"` in double quotes is the
/// same item; surrounding whitespace is ignored (an extension). kured splits at `=` and keeps
/// the first two parts, so it would apply `a=b=c` as `a=b`, and the API server refuses the
/// labels its rules do not allow, failing kured's label update at reboot time: kured-rs
/// checks the key and value with those rules ([`drain::check_label`]) at start-up instead.
fn parse_label(s: &str) -> Result<String, String> {
    let item = s.trim();
    if item.is_empty() {
        // pflag reads `--pre-reboot-node-labels=` as an empty list: no label (skipped in plan).
        return Ok(String::new());
    }
    let item = match item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
        // A quote inside stays a quote, which no label allows: check_label refuses it.
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => item.to_string(),
    };
    let labels = drain::parse_labels(std::slice::from_ref(&item)).map_err(|e| e.to_string())?;
    for (key, value) in &labels {
        drain::check_label(key, value).map_err(|e| e.to_string())?;
    }
    Ok(item)
}

/// Go's `isWhitespace` in the selector lexer: only these separate tokens.
fn is_selector_blank(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// `--drain-pod-selector`: a blank selector selects every pod (kured's default).
fn parse_optional_selector(s: &str) -> Result<String, String> {
    if is_selector_blank(s) {
        return Ok(String::new());
    }
    parse_selector(s)
}

/// `--max-failed-nodes`: a whole number, at least 1.
fn parse_failure_budget(s: &str) -> Result<u32, String> {
    match go_int(s.trim()) {
        Ok(n) if n >= 1 => u32::try_from(n).map_err(|_| format!("{s:?} is too large")),
        Ok(_) => Err(format!(
            "{s:?} must be at least 1 (1: the first failed node halts the rollout)"
        )),
        Err(e) => Err(e),
    }
}

/// A non-empty label selector in the API server's grammar ([`drain::check_label_selector`]).
fn parse_selector(s: &str) -> Result<String, String> {
    drain::check_label_selector(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

#[cfg(test)]
mod tests;
