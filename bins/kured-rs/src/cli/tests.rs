//! Unit tests of `cli`.

use super::*;

#[test]
fn all_43_kured_flags_exist_with_kureds_names() {
    let command = Flags::command();
    let longs: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .collect();
    for flag in KURED_FLAGS {
        assert!(longs.contains(&flag), "missing --{flag}");
    }
    let ours = [
        "lock-backend",
        "lock-wait",
        "opt-out-key",
        "help",
        "version",
    ];
    let extra: Vec<&&str> = longs
        .iter()
        .filter(|l| !KURED_FLAGS.contains(l) && !ours.contains(l))
        .collect();
    assert!(extra.is_empty(), "unexpected flags {extra:?}");
    assert_eq!(KURED_FLAGS.len(), 43);
    Flags::command().debug_assert();
}

#[test]
fn markdown_table_lists_every_flag_once() {
    let table = flags_markdown();
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 43 + 3, "{table}");
    for flag in KURED_FLAGS {
        assert_eq!(
            rows.iter()
                .filter(|r| r.starts_with(&format!("| `--{flag}` ")))
                .count(),
            1,
            "{flag}"
        );
    }
    assert!(
        table.contains("| `--period` | `KURED_PERIOD` | `1h0m0s` |"),
        "{table}"
    );
}

#[test]
fn kured_defaults() {
    let f = Flags::try_parse_from(["kured-rs"]).unwrap();
    assert_eq!(f.period, Duration::from_secs(3600));
    assert_eq!(f.metrics_port, 8080);
    assert_eq!(f.drain_grace_period, -1);
    assert_eq!(f.reboot_signal, 39);
    assert_eq!(f.concurrency, 1);
    assert_eq!(f.reboot_days, ["su", "mo", "tu", "we", "th", "fr", "sa"]);
    assert_eq!(f.start_time, "0:00");
    assert_eq!(f.end_time, "23:59:59");
    assert_eq!(f.reboot_command, "/bin/systemctl reboot");
    assert_eq!(f.reboot_sentinel, "/var/run/reboot-required");
    assert_eq!(f.slack_username, "kured");
    assert_eq!(f.lock_annotation, "weave.works/kured-node-lock");
    assert_eq!(f.message_template_drain, "Draining node %s");
    assert_eq!(f.reboot_method, RebootMethod::Command);
    assert_eq!(f.lock_backend, lock::Backend::Annotation);
    assert_eq!(f.lock_wait, agent::LockWaitMode::Poll);
    assert!(!f.force_reboot && !f.annotate_nodes);
}

#[test]
fn go_bools_and_repeatable_flags() {
    let f = Flags::try_parse_from([
        "kured-rs",
        "--force-reboot",
        "--annotate-nodes=F",
        "--blocking-pod-selector=app=a,tier in (x,y)",
        "--blocking-pod-selector",
        "b=c",
        "--reboot-days=mo,tu",
        "--reboot-days",
        "we",
        "--pre-reboot-node-labels=a=1,b=2",
    ])
    .unwrap();
    assert!(f.force_reboot);
    assert!(!f.annotate_nodes);
    assert_eq!(f.blocking_pod_selector, ["app=a,tier in (x,y)", "b=c"]);
    assert_eq!(f.reboot_days, ["mo", "tu", "we"]);
    assert_eq!(f.pre_reboot_node_labels, ["a=1", "b=2"]);
}

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("1h0m0s"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
    assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
    assert!(
        parse_go_duration("10")
            .unwrap_err()
            .contains("missing unit")
    );
    assert!(
        parse_go_duration("5d")
            .unwrap_err()
            .contains("unknown unit")
    );
    // kured accepts a negative duration and treats it as 0 (its checks are `> 0`; issue 17).
    assert_eq!(parse_go_duration("-5s"), Ok(Duration::ZERO));
    assert!(parse_nonzero_go_duration("-5s").is_err());
    assert!(parse_drain_timeout("-5s").is_err());
    assert!(parse_go_duration("").is_err());
}

#[test]
fn go_duration_strings() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_millis(250), "250ms"),
        (Duration::from_micros(1500), "1.5ms"),
        (Duration::from_nanos(42), "42ns"),
        (Duration::from_secs(26 * 3600 + 5), "26h0m5s"),
    ];
    for (d, text) in cases {
        assert_eq!(format_go_duration(d), text);
        assert_eq!(parse_go_duration(text).unwrap(), d, "{text} round-trips");
    }
}

#[test]
fn environment_wins_over_the_command_line() {
    let env = |name: &str| match name {
        "KURED_PERIOD" => Some("5m".to_string()),
        "KURED_FORCE_REBOOT" => Some("false".to_string()),
        "KURED_REBOOT_DAYS" => Some("sa,su".to_string()),
        _ => None,
    };
    let args: Vec<String> = [
        "--period",
        "1m",
        "--force-reboot",
        "--reboot-days=mo",
        "--ds-name",
        "x",
    ]
    .map(String::from)
    .to_vec();
    let rewritten = apply_env(args, env);
    let mut full = vec!["kured-rs".to_string()];
    full.extend(rewritten);
    let f = Flags::try_parse_from(full).unwrap();
    assert_eq!(f.period, Duration::from_secs(300));
    assert!(!f.force_reboot);
    assert_eq!(f.reboot_days, ["sa", "su"]);
    assert_eq!(f.ds_name, "x");
}
