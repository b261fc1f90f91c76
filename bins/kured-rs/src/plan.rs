//! The flags turned into a [`Plan`]: every part of the agent validated and built, except what
//! needs the cluster client (the lock, the drain engine, the blockers that read the API, which
//! `agent::Deps::for_client` builds from the plan's [`agent::Parts`]). Runs before any client
//! is created, so bad input changes nothing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use schedule::TimeWindow;

use crate::cli::{Flags, RebootMethod};

/// An invalid flag value: names the flag, printed as one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    /// The flag (without dashes).
    pub flag: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.starts_with(&format!("--{}", self.flag)) {
            f.write_str(&self.message)
        } else {
            write!(f, "--{}: {}", self.flag, self.message)
        }
    }
}

impl std::error::Error for FlagError {}

fn err(flag: &'static str, message: impl fmt::Display) -> FlagError {
    FlagError {
        flag,
        message: message.to_string(),
    }
}

/// Everything the flags say, validated: the loop's configuration, the agent's parts and where
/// `/metrics` is served.
#[derive(Debug)]
pub struct Plan {
    /// The reboot loop's configuration.
    pub config: agent::Config,
    /// The lock, drain, blocker, host and notification parts.
    pub parts: agent::Parts,
    /// `--metrics-host` (empty: all interfaces).
    pub metrics_host: String,
    /// `--metrics-port`.
    pub metrics_port: u16,
}

/// How long one notification may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

impl Plan {
    /// Validates `flags` and builds every part that needs no cluster. The first bad value is
    /// the error (in the order: node, window, labels, notifications, Prometheus, host).
    pub fn from_flags(flags: &Flags) -> Result<Self, FlagError> {
        let config = agent_config(flags)?;
        let notifications = notifications(flags)?;
        let blockers = blockers::BlockerSpec {
            prometheus: prometheus(flags)?,
            pod_selectors: flags.blocking_pod_selector.clone(),
            opt_out_key: Some(flags.opt_out_key.clone()).filter(|k| !k.trim().is_empty()),
        };
        let (sentinel, rebooter) = host(flags)?;
        let lock = lock::LockConfig {
            namespace: flags.ds_namespace.clone(),
            name: flags.ds_name.clone(),
            annotation: flags.lock_annotation.clone(),
            ..lock::LockConfig::default()
        }
        .backend(flags.lock_backend)
        .concurrency(flags.concurrency)
        .ttl(flags.lock_ttl);
        let drain = drain_options(flags)?;
        let gate = health_gate(flags)?;
        let events = flags.events.then(|| flags.node_id.clone());
        Ok(Self {
            config,
            parts: agent::Parts {
                lock,
                drain,
                blockers,
                sentinel,
                rebooter,
                notifications,
                gate,
                events,
            },
            metrics_host: flags.metrics_host.clone(),
            metrics_port: flags.metrics_port,
        })
    }
}

/// The loop's configuration: node, period, window, delays, taint, annotations, labels.
fn agent_config(flags: &Flags) -> Result<agent::Config, FlagError> {
    if flags.node_id.trim().is_empty() {
        return Err(err(
            "node-id",
            "is required (set KURED_NODE_ID from the pod's spec.nodeName)",
        ));
    }
    let window = TimeWindow::parse(
        &flags.reboot_days,
        &flags.start_time,
        &flags.end_time,
        &flags.time_zone,
    )
    .map_err(|e| {
        let flag = e.field().flag();
        err(flag.trim_start_matches('-'), e)
    })?;
    let mut config = agent::Config::new(flags.node_id.clone());
    config.pre_reboot_node_labels = drain::parse_labels(&non_empty(&flags.pre_reboot_node_labels))
        .map_err(|e| err("pre-reboot-node-labels", e))?;
    config.post_reboot_node_labels =
        drain::parse_labels(&non_empty(&flags.post_reboot_node_labels))
            .map_err(|e| err("post-reboot-node-labels", e))?;
    config.period = flags.period;
    config.window = window;
    config.force_reboot = flags.force_reboot;
    config.drain_delay = flags.drain_delay;
    config.reboot_delay = flags.reboot_delay;
    config.lock_release_delay = flags.lock_release_delay;
    config.prefer_no_schedule_taint =
        Some(flags.prefer_no_schedule_taint.clone()).filter(|t| !t.trim().is_empty());
    config.annotate_nodes = flags.annotate_nodes;
    config.lock_wait = flags.lock_wait;
    config.autoscaler_guard = flags.autoscaler_guard;
    config.health_gate = flags.health_gate;
    config.not_back_timeout = flags.reboot_not_back_timeout;
    config.max_failed_nodes = flags.max_failed_nodes;
    config.fingerprint = fingerprint(flags);
    Ok(config)
}

/// Identifies the configuration (every flag but the node): a node whose attempt failed
/// tries again once it changes. FNV-1a over the flags' debug form, in hex.
fn fingerprint(flags: &Flags) -> String {
    let mut flags = flags.clone();
    flags.node_id.clear();
    let text = format!("{flags:?}");
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The drain: kured's options, and kured-rs's `PodDisruptionBudget` report and escalation.
fn drain_options(flags: &Flags) -> Result<drain::DrainOptions, FlagError> {
    let escalate_selector = flags.drain_pdb_escalate_selector.trim();
    let pdb_escalation = match (
        flags.drain_pdb_escalate_after.is_zero(),
        escalate_selector.is_empty(),
    ) {
        (true, true) => None,
        (false, false) => Some(
            drain::PdbEscalation::new(flags.drain_pdb_escalate_after, escalate_selector)
                .map_err(|e| err("drain-pdb-escalate-selector", e))?,
        ),
        (false, true) => {
            return Err(err(
                "drain-pdb-escalate-selector",
                "is required with --drain-pdb-escalate-after (the pods that may be deleted; never all of them)",
            ));
        }
        (true, false) => {
            return Err(err(
                "drain-pdb-escalate-after",
                "must be set (a duration above 0) when --drain-pdb-escalate-selector is",
            ));
        }
    };
    Ok(drain::DrainOptions {
        grace_period_seconds: flags.drain_grace_period,
        timeout: flags.drain_timeout,
        skip_wait_for_delete_timeout: Duration::from_secs(flags.skip_wait_for_delete_timeout),
        pod_selector: flags.drain_pod_selector.clone(),
        pdb_stuck_after: Some(flags.drain_pdb_warn_after).filter(|d| !d.is_zero()),
        pdb_escalation,
        ..drain::DrainOptions::default()
    })
}

/// The health gate's checks (`None` without `--health-gate`); the optional query needs
/// `--prometheus-url`.
fn health_gate(flags: &Flags) -> Result<Option<gate::GateConfig>, FlagError> {
    let query = flags.health_gate_prometheus_query.trim();
    let selector = flags.health_gate_pod_selector.trim();
    if !flags.health_gate {
        for (flag, set) in [
            ("health-gate-prometheus-query", !query.is_empty()),
            ("health-gate-pod-selector", !selector.is_empty()),
        ] {
            if set {
                return Err(err(flag, "needs --health-gate=true"));
            }
        }
        return Ok(None);
    }
    let prometheus = if query.is_empty() {
        None
    } else if flags.prometheus_url.trim().is_empty() {
        return Err(err(
            "health-gate-prometheus-query",
            "needs --prometheus-url (the server to query)",
        ));
    } else {
        Some(gate::PromCheck {
            url: flags.prometheus_url.trim().to_string(),
            query: query.to_string(),
        })
    };
    Ok(Some(gate::GateConfig {
        timeout: flags.health_gate_timeout,
        prometheus,
        pod_selector: Some(selector.to_string()).filter(|s| !s.is_empty()),
        ..gate::GateConfig::default()
    }))
}

/// The items of a label list flag without the empty ones (`--pre-reboot-node-labels=` is no
/// label, as in kured).
fn non_empty(items: &[String]) -> Vec<String> {
    items.iter().filter(|i| !i.is_empty()).cloned().collect()
}

/// The notifications (`None` without a URL): kured's templates and notify/Slack URLs.
fn notifications(flags: &Flags) -> Result<Option<notify::Notifications>, FlagError> {
    let templates = notify::MessageTemplates::new(
        &flags.message_template_drain,
        &flags.message_template_reboot,
        &flags.message_template_uncordon,
        notify::DEFAULT_BLOCKED,
    )
    .map_err(|e| err("message-template-drain", e))?;
    let url_flag = if flags.notify_url.trim().is_empty() {
        "slack-hook-url"
    } else {
        "notify-url"
    };
    let urls = notify::notify_urls_from_kured_flags(
        &flags.notify_url,
        &flags.slack_hook_url,
        &flags.slack_username,
        &flags.slack_channel,
    )
    .map_err(|e| err(url_flag, e))?;
    if urls.trim().is_empty() {
        return Ok(None);
    }
    let fanout = notify::FanOut::from_urls(&urls, NOTIFY_TIMEOUT).map_err(|e| err(url_flag, e))?;
    Ok(Some(notify::Notifications::new(
        Arc::new(fanout),
        templates,
    )))
}

/// The Prometheus alert blocker (`None` without `--prometheus-url`), with kured's filters.
fn prometheus(flags: &Flags) -> Result<Option<blockers::PrometheusBlocker>, FlagError> {
    if flags.prometheus_url.trim().is_empty() {
        return Ok(None);
    }
    let filter = if flags.alert_filter_regexp.is_empty() {
        None
    } else {
        Some(
            blockers::regex::Regex::new(&flags.alert_filter_regexp)
                .map_err(|e| err("alert-filter-regexp", e))?,
        )
    };
    Ok(Some(
        blockers::PrometheusBlocker::new(flags.prometheus_url.trim())
            .map_err(|e| err("prometheus-url", e))?
            .filter(filter)
            .filter_match_only(flags.alert_filter_match_only)
            .firing_only(flags.alert_firing_only),
    ))
}

/// The host side: "is a reboot required?" and "reboot now".
type Host = (
    Arc<dyn sentinel::RebootSentinel>,
    Arc<dyn sentinel::Rebooter>,
);

/// The host side: the sentinel (file or command) and the rebooter (command or signal).
fn host(flags: &Flags) -> Result<Host, FlagError> {
    let sentinel: Arc<dyn sentinel::RebootSentinel> =
        if let Some(command) = sentinel_command(flags)? {
            Arc::new(command)
        } else if flags.reboot_sentinel.trim().is_empty() {
            return Err(err("reboot-sentinel", "must not be empty"));
        } else {
            Arc::new(sentinel::FileSentinel::new(&flags.reboot_sentinel))
        };
    // Validated whatever the method, as kured parses it at start-up.
    let command = reboot_command(flags)?;
    let rebooter: Arc<dyn sentinel::Rebooter> = match flags.reboot_method {
        RebootMethod::Command => Arc::new(command),
        RebootMethod::Signal => Arc::new(
            sentinel::SignalRebooter::new(flags.reboot_signal, 1)
                .map_err(|e| err("reboot-signal", e))?,
        ),
    };
    Ok((sentinel, rebooter))
}

/// `--reboot-sentinel-command` (`None` when empty: the file sentinel is used).
///
/// kured runs it without a time limit; here it gets the longer of `--period` and
/// [`sentinel::CommandSentinel::DEFAULT_TIMEOUT`]: a check still running when the next one is
/// due is hung, and is reported (and retried, never a reboot) instead of stopping the agent.
fn sentinel_command(flags: &Flags) -> Result<Option<sentinel::CommandSentinel>, FlagError> {
    if flags.reboot_sentinel_command.trim().is_empty() {
        return Ok(None);
    }
    let command = sentinel::CommandSentinel::parse(&flags.reboot_sentinel_command)
        .map_err(|e| err("reboot-sentinel-command", e))?;
    Ok(Some(command.with_timeout(
        flags.period.max(sentinel::CommandSentinel::DEFAULT_TIMEOUT),
    )))
}

/// `--reboot-command`, as kured without a time limit (it may upgrade, then reboot, and the
/// host may go down while it runs) unless `--reboot-command-timeout` is above zero.
fn reboot_command(flags: &Flags) -> Result<sentinel::CommandRebooter, FlagError> {
    let command = sentinel::CommandRebooter::parse(&flags.reboot_command)
        .map_err(|e| err("reboot-command", e))?;
    Ok(if flags.reboot_command_timeout.is_zero() {
        command.without_timeout()
    } else {
        command.with_timeout(flags.reboot_command_timeout)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<Plan, FlagError> {
        let mut full = vec!["kured-rs", "--node-id=n1"];
        full.extend_from_slice(args);
        Plan::from_flags(&Flags::try_parse_from(full).unwrap())
    }

    #[test]
    fn defaults_are_valid_and_always_open() {
        let p = plan(&[]).unwrap();
        assert!(p.parts.notifications.is_none() && p.parts.blockers.prometheus.is_none());
        assert!(p.config.window.contains(jiff::Timestamp::now()));
        // The flags' defaults are the libraries' defaults.
        let mut defaults = agent::Config::new("n1");
        assert_eq!(p.config.fingerprint.len(), 16);
        defaults.fingerprint.clone_from(&p.config.fingerprint);
        assert_eq!(p.config, defaults);
        assert!(p.parts.gate.is_none(), "no health gate unless asked for");
        assert_eq!(
            p.parts.events.as_deref(),
            Some("n1"),
            "Events on by default"
        );
        assert_eq!(p.parts.lock, lock::LockConfig::default());
        assert_eq!(p.parts.drain, drain::DrainOptions::default());
    }

    #[test]
    fn errors_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--start-time=25:00"], "--start-time"),
            (&["--end-time=x"], "--end-time"),
            (&["--reboot-days=funday"], "--reboot-days"),
            (&["--time-zone=Mars/Olympus"], "--time-zone"),
            (&["--notify-url=nope://x"], "--notify-url"),
            (
                &["--slack-hook-url=https://hooks.slack.com/x"],
                "--slack-hook-url",
            ),
            (&["--prometheus-url=::"], "--prometheus-url"),
            (&["--reboot-command="], "--reboot-command"),
        ];
        for (args, flag) in cases {
            let e = plan(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(e.to_string().starts_with(flag), "{args:?}: {e}");
        }
        let e = Plan::from_flags(&Flags::try_parse_from(["kured-rs"]).unwrap()).unwrap_err();
        assert_eq!(e.flag, "node-id");
    }

    fn flags(args: &[&str]) -> Flags {
        let mut full = vec!["kured-rs", "--node-id=n1"];
        full.extend_from_slice(args);
        Flags::try_parse_from(full).unwrap()
    }

    #[test]
    fn the_reboot_command_has_no_time_limit_unless_given_one() {
        let limit = |args: &[&str]| reboot_command(&flags(args)).unwrap().command().timeout();
        assert_eq!(limit(&[]), None, "kured's default: no limit");
        assert_eq!(limit(&["--reboot-command-timeout=0"]), None);
        assert_eq!(
            limit(&["--reboot-command-timeout=10m"]),
            Some(Duration::from_secs(600))
        );
        let from_env = crate::cli::apply_env(vec!["--node-id=n1".into()], |name| {
            (name == "KURED_REBOOT_COMMAND_TIMEOUT").then(|| "1h30m".to_owned())
        });
        let parsed =
            Flags::try_parse_from(std::iter::once("kured-rs".to_owned()).chain(from_env)).unwrap();
        assert_eq!(
            reboot_command(&parsed).unwrap().command().timeout(),
            Some(Duration::from_secs(5400))
        );
    }

    #[test]
    fn the_sentinel_command_may_run_for_a_period() {
        let limit = |args: &[&str]| {
            sentinel_command(&flags(args))
                .unwrap()
                .map(|c| c.command().timeout())
        };
        assert_eq!(limit(&[]), None, "no command: the file sentinel");
        let command = "--reboot-sentinel-command=needs-restarting -r";
        assert_eq!(
            limit(&[command]),
            Some(Some(agent::DEFAULT_PERIOD)),
            "kured's default period, 1 h"
        );
        assert_eq!(
            limit(&[command, "--period=10s"]),
            Some(Some(sentinel::CommandSentinel::DEFAULT_TIMEOUT)),
            "never less than the library's default"
        );
    }

    #[test]
    fn the_autoscaler_guard_is_off_unless_asked_for() {
        assert!(
            !plan(&[]).unwrap().config.autoscaler_guard,
            "kured's behaviour"
        );
        assert!(
            plan(&["--autoscaler-guard"])
                .unwrap()
                .config
                .autoscaler_guard
        );
        assert!(
            !plan(&["--autoscaler-guard=false"])
                .unwrap()
                .config
                .autoscaler_guard
        );
        let args = crate::cli::apply_env(vec!["--node-id=n1".into()], |name| {
            (name == "KURED_AUTOSCALER_GUARD").then(|| "true".to_string())
        });
        let mut full = vec!["kured-rs".to_string()];
        full.extend(args);
        let flags = Flags::try_parse_from(full).unwrap();
        assert!(Plan::from_flags(&flags).unwrap().config.autoscaler_guard);
    }

    #[test]
    fn the_fingerprint_follows_the_flags_but_not_the_node() {
        let a = plan(&[]).unwrap().config.fingerprint;
        let b = plan(&["--period=2h"]).unwrap().config.fingerprint;
        assert_ne!(a, b);
        let other_node =
            Plan::from_flags(&Flags::try_parse_from(["kured-rs", "--node-id=n2"]).unwrap())
                .unwrap();
        assert_eq!(other_node.config.fingerprint, a);
    }

    #[test]
    fn health_gate_and_escalation_flags_go_together() {
        let p = plan(&[
            "--health-gate",
            "--health-gate-timeout=5m",
            "--health-gate-pod-selector=app=db",
            "--prometheus-url=http://127.0.0.1:9090",
            "--health-gate-prometheus-query=up == 0",
            "--max-failed-nodes=2",
            "--reboot-not-back-timeout=20m",
        ])
        .unwrap();
        let gate = p.parts.gate.unwrap();
        assert_eq!(gate.timeout, Duration::from_secs(300));
        assert_eq!(gate.pod_selector.as_deref(), Some("app=db"));
        assert_eq!(gate.prometheus.unwrap().query, "up == 0");
        assert!(p.config.health_gate);
        assert_eq!(p.config.max_failed_nodes, 2);
        assert_eq!(p.config.not_back_timeout, Duration::from_secs(1200));
        let cases: &[(&[&str], &str)] = &[
            (
                &["--health-gate-pod-selector=app=db"],
                "--health-gate-pod-selector",
            ),
            (
                &["--health-gate", "--health-gate-prometheus-query=up"],
                "--health-gate-prometheus-query",
            ),
            (
                &["--drain-pdb-escalate-after=5m"],
                "--drain-pdb-escalate-selector",
            ),
            (
                &["--drain-pdb-escalate-selector=app=x"],
                "--drain-pdb-escalate-after",
            ),
        ];
        for (args, flag) in cases {
            let e = plan(args).unwrap_err().to_string();
            assert!(e.starts_with(flag), "{args:?}: {e}");
        }
        let p = plan(&[
            "--drain-pdb-warn-after=10m",
            "--drain-pdb-escalate-after=30m",
            "--drain-pdb-escalate-selector=tier=batch",
        ])
        .unwrap();
        assert_eq!(
            p.parts.drain.pdb_stuck_after,
            Some(Duration::from_secs(600))
        );
        let escalation = p.parts.drain.pdb_escalation.unwrap();
        assert_eq!(
            (escalation.after(), escalation.selector()),
            (Duration::from_secs(1800), "tier=batch")
        );
        assert!(Flags::try_parse_from(["kured-rs", "--max-failed-nodes=0"]).is_err());
    }
}
