//! Validation of everything that needs more than one flag or another crate's parser, and the
//! construction of the pieces that need no cluster. Runs before any client is created.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use schedule::TimeWindow;

use crate::cli::{Flags, RebootMethod};

/// An invalid flag value: names the flag, printed as one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The flag (without dashes).
    pub flag: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.starts_with(&format!("--{}", self.flag)) {
            f.write_str(&self.message)
        } else {
            write!(f, "--{}: {}", self.flag, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(flag: &'static str, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        flag,
        message: message.to_string(),
    }
}

/// The validated pieces built from the flags.
pub struct Settings {
    /// The maintenance window.
    pub window: TimeWindow,
    /// Pre-reboot labels.
    pub pre_labels: BTreeMap<String, String>,
    /// Post-reboot labels.
    pub post_labels: BTreeMap<String, String>,
    /// Notifications, if any URL is configured.
    pub notifications: Option<notify::Notifications>,
    /// The Prometheus blocker, if `--prometheus-url` is set.
    pub prometheus: Option<blockers::PrometheusBlocker>,
    /// The sentinel.
    pub sentinel: Arc<dyn sentinel::RebootSentinel>,
    /// The rebooter.
    pub rebooter: Arc<dyn sentinel::Rebooter>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("window", &self.window.to_string())
            .finish_non_exhaustive()
    }
}

/// How long one notification may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

impl Settings {
    /// Validates `flags` and builds what needs no cluster.
    pub fn from_flags(flags: &Flags) -> Result<Self, ConfigError> {
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
        let pre_labels = drain::parse_labels(&flags.pre_reboot_node_labels)
            .map_err(|e| err("pre-reboot-node-labels", e))?;
        let post_labels = drain::parse_labels(&flags.post_reboot_node_labels)
            .map_err(|e| err("post-reboot-node-labels", e))?;
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
        let notifications = if urls.trim().is_empty() {
            None
        } else {
            let fanout =
                notify::FanOut::from_urls(&urls, NOTIFY_TIMEOUT).map_err(|e| err(url_flag, e))?;
            Some(notify::Notifications::new(Arc::new(fanout), templates))
        };
        let prometheus = if flags.prometheus_url.trim().is_empty() {
            None
        } else {
            let filter = if flags.alert_filter_regexp.is_empty() {
                None
            } else {
                Some(
                    blockers::regex::Regex::new(&flags.alert_filter_regexp)
                        .map_err(|e| err("alert-filter-regexp", e))?,
                )
            };
            Some(
                blockers::PrometheusBlocker::new(flags.prometheus_url.trim())
                    .map_err(|e| err("prometheus-url", e))?
                    .filter(filter)
                    .filter_match_only(flags.alert_filter_match_only)
                    .firing_only(flags.alert_firing_only),
            )
        };
        let sentinel: Arc<dyn sentinel::RebootSentinel> =
            if flags.reboot_sentinel_command.trim().is_empty() {
                if flags.reboot_sentinel.trim().is_empty() {
                    return Err(err("reboot-sentinel", "must not be empty"));
                }
                Arc::new(sentinel::FileSentinel::new(&flags.reboot_sentinel))
            } else {
                Arc::new(
                    sentinel::CommandSentinel::parse(&flags.reboot_sentinel_command)
                        .map_err(|e| err("reboot-sentinel-command", e))?,
                )
            };
        let command = sentinel::CommandRebooter::parse(&flags.reboot_command)
            .map_err(|e| err("reboot-command", e))?;
        let rebooter: Arc<dyn sentinel::Rebooter> = match flags.reboot_method {
            RebootMethod::Command => Arc::new(command),
            RebootMethod::Signal => Arc::new(
                sentinel::SignalRebooter::new(flags.reboot_signal, 1)
                    .map_err(|e| err("reboot-signal", e))?,
            ),
        };
        Ok(Self {
            window,
            pre_labels,
            post_labels,
            notifications,
            prometheus,
            sentinel,
            rebooter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut full = vec!["kured-rs", "--node-id=n1"];
        full.extend_from_slice(args);
        Settings::from_flags(&Flags::try_parse_from(full).unwrap())
    }

    #[test]
    fn defaults_are_valid_and_always_open() {
        let s = settings(&[]).unwrap();
        assert!(s.notifications.is_none() && s.prometheus.is_none());
        assert!(s.window.contains(jiff::Timestamp::now()));
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
            let e = settings(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(e.to_string().starts_with(flag), "{args:?}: {e}");
        }
        let e = Settings::from_flags(&Flags::try_parse_from(["kured-rs"]).unwrap()).unwrap_err();
        assert_eq!(e.flag, "node-id");
    }
}
