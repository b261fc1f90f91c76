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
        "reboot-command-timeout",
        "autoscaler-guard",
        "health-gate",
        "health-gate-timeout",
        "health-gate-prometheus-query",
        "health-gate-pod-selector",
        "reboot-not-back-timeout",
        "max-failed-nodes",
        "events",
        "drain-pdb-warn-after",
        "drain-pdb-escalate-after",
        "drain-pdb-escalate-selector",
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
    assert_eq!(rows.len(), 43 + 15, "{table}");
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

/// Go's own vectors (`src/time/time_test.go`, `parseDurationTests`) give each duration's value.
#[test]
fn go_duration_values_match_go() {
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    let cases: &[(&str, i64)] = &[
        ("0", 0),
        ("5s", 5 * S),
        ("-5s", -5 * S),
        ("+5s", 5 * S),
        ("-0", 0),
        ("+0", 0),
        ("5.6s", 5 * S + 600_000_000),
        ("5.s", 5 * S),
        (".5s", 500_000_000),
        ("1.004s", S + 4_000_000),
        ("100.00100s", 100 * S + 1_000_000),
        ("11us", 11_000),
        ("12µs", 12_000),
        ("12μs", 12_000),
        ("3h30m", 3 * H + 30 * M),
        ("10.5s4m", 4 * M + 10 * S + 500_000_000),
        ("-2m3.4s", -(2 * M + 3 * S + 400_000_000)),
        ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4_000_000 + 5_000 + 6),
        ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425_000_000),
        ("0.3333333333333333333h", 20 * M),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", i64::MAX),
        ("9223372036854775.807us", i64::MAX),
        ("9223372036s854ms775us807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
        ("-9223372036854775.808us", i64::MIN),
        ("-2562047h47m16.854775808s", i64::MIN),
        ("0.100000000000000000000h", 6 * M),
        ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
    ];
    for (text, nanos) in cases {
        assert_eq!(go_values::go_duration_nanos(text), Ok(*nanos), "{text}");
    }
    for bad in [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "9223372036854775810ns",
        "9223372036854775808ns",
        "-9223372036854775809ns",
        "9223372036854776us",
        "3000000h",
        "9223372036854775.808us",
        "9223372036854ms775us808ns",
    ] {
        assert!(go_values::go_duration_nanos(bad).is_err(), "{bad:?}");
    }
}

/// `strconv.ParseInt(s, 0, 64)` (Go's `atoi_test.go` base-0 rows).
#[test]
fn go_int_values_match_go() {
    for (text, value) in [
        ("0", 0),
        ("-1", -1),
        ("+5", 5),
        ("0x1f", 31),
        ("0X1F", 31),
        ("010", 8),
        ("0o10", 8),
        ("0b101", 5),
        ("1_000", 1000),
        ("0x_1F", 31),
        ("0_7", 7),
        ("-9223372036854775808", i64::MIN),
        ("9223372036854775807", i64::MAX),
    ] {
        assert_eq!(go_values::go_int(text), Ok(value), "{text}");
    }
    for bad in [
        "",
        "-",
        "0x",
        "08",
        "1__0",
        "_1",
        "1_",
        "0b2",
        "1.0",
        "9223372036854775808",
    ] {
        assert!(go_values::go_int(bad).is_err(), "{bad:?}");
    }
}
