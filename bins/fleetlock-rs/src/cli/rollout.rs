//! The health gate and stop-the-line flags (`--health-gate*`, `--reboot-not-back-timeout`,
//! `--max-failed-nodes`): their values, and which flag an invalid field came from.

use fleetlock::{ConfigError, FileConfig};

use super::{Args, parse_duration, parse_number};

/// The flag of a rollout field when the value came from it.
pub(super) fn rollout_flag(args: &Args, field: &str) -> Option<&'static str> {
    let (flag, given) = match field {
        "health_gate" => ("--health-gate", args.health_gate.is_some()),
        "health_gate_timeout" => ("--health-gate-timeout", args.health_gate_timeout.is_some()),
        "health_gate_prometheus_url" => (
            "--health-gate-prometheus-url",
            args.health_gate_prometheus_url.is_some(),
        ),
        "health_gate_prometheus_query" => (
            "--health-gate-prometheus-query",
            args.health_gate_prometheus_query.is_some(),
        ),
        "health_gate_pod_selector" => (
            "--health-gate-pod-selector",
            args.health_gate_pod_selector.is_some(),
        ),
        "reboot_not_back_timeout" => (
            "--reboot-not-back-timeout",
            args.reboot_not_back_timeout.is_some(),
        ),
        "max_failed_nodes" => ("--max-failed-nodes", args.max_failed_nodes.is_some()),
        _ => return None,
    };
    given.then_some(flag)
}

/// The health gate and stop-the-line settings: flags, then the file.
pub(super) fn rollout_settings(
    args: &Args,
    file: &FileConfig,
    rollout: &mut fleetlock::RolloutConfig,
) -> Result<(), ConfigError> {
    if let Some(on) = args.health_gate.or(file.health_gate) {
        rollout.health_gate = on;
    }
    if let Some(text) = &args.health_gate_timeout {
        rollout.health_gate_timeout = parse_duration("--health-gate-timeout", text)?;
    } else if let Some(text) = &file.health_gate_timeout {
        rollout.health_gate_timeout = parse_duration("health_gate_timeout", text)?;
    }
    if let Some(text) = &args.reboot_not_back_timeout {
        rollout.reboot_not_back_timeout = parse_duration("--reboot-not-back-timeout", text)?;
    } else if let Some(text) = &file.reboot_not_back_timeout {
        rollout.reboot_not_back_timeout = parse_duration("reboot_not_back_timeout", text)?;
    }
    if let Some(text) = &args.max_failed_nodes {
        rollout.max_failed_nodes = parse_number("--max-failed-nodes", text)?;
    } else if let Some(n) = file.max_failed_nodes {
        rollout.max_failed_nodes = n;
    }
    let text = |flag: &Option<String>, key: &Option<String>| flag.clone().or_else(|| key.clone());
    rollout.health_gate_prometheus_url = text(
        &args.health_gate_prometheus_url,
        &file.health_gate_prometheus_url,
    );
    rollout.health_gate_prometheus_query = text(
        &args.health_gate_prometheus_query,
        &file.health_gate_prometheus_query,
    );
    rollout.health_gate_pod_selector = text(
        &args.health_gate_pod_selector,
        &file.health_gate_pod_selector,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::super::{EnvTokens, build_config};
    use super::*;

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("fleetlock-rs").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn rollout_flags_and_their_errors() {
        let c = build_config(&args(&[]), &EnvTokens::default()).unwrap();
        assert_eq!(c.rollout, fleetlock::RolloutConfig::default());
        assert!(c.events, "Events are on by default");
        let c = build_config(&args(&["--events", "false"]), &EnvTokens::default()).unwrap();
        assert!(!c.events);
        let c = build_config(
            &args(&[
                "--kubernetes-nodes",
                "true",
                "--health-gate",
                "true",
                "--health-gate-timeout",
                "10m",
                "--health-gate-prometheus-url",
                "http://prom:9090",
                "--health-gate-prometheus-query",
                "up == 0",
                "--health-gate-pod-selector",
                "tier=critical",
                "--reboot-not-back-timeout",
                "30m",
                "--max-failed-nodes",
                "2",
            ]),
            &EnvTokens::default(),
        )
        .unwrap();
        let r = &c.rollout;
        assert!(r.health_gate);
        assert_eq!(r.health_gate_timeout, Duration::from_secs(600));
        assert_eq!(r.reboot_not_back_timeout, Duration::from_secs(1800));
        assert_eq!(r.max_failed_nodes, 2);
        assert_eq!(r.health_gate_prometheus_query.as_deref(), Some("up == 0"));
        assert_eq!(r.health_gate_pod_selector.as_deref(), Some("tier=critical"));

        let k8s = ["--kubernetes-nodes", "true", "--health-gate", "true"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            k8s.iter().chain(extra).copied().collect()
        };
        let cases: [(Vec<&str>, &str); 7] = [
            (vec!["--health-gate", "true"], "--health-gate"),
            (
                vec!["--reboot-not-back-timeout", "5m"],
                "--reboot-not-back-timeout",
            ),
            (
                with(&["--health-gate-timeout", "soon"]),
                "--health-gate-timeout",
            ),
            (
                with(&["--health-gate-timeout", "0s"]),
                "--health-gate-timeout",
            ),
            (with(&["--max-failed-nodes", "0"]), "--max-failed-nodes"),
            (
                with(&["--health-gate-prometheus-url", "http://prom:9090"]),
                "health_gate_prometheus_query",
            ),
            (
                with(&["--health-gate-pod-selector", "app=(x"]),
                "--health-gate-pod-selector",
            ),
        ];
        for (argv, field) in cases {
            let e = build_config(&args(&argv), &EnvTokens::default()).unwrap_err();
            assert_eq!(e.field, field, "{argv:?}: {e}");
        }
    }
}
