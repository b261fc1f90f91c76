//! Runs the built `kured-rs` binary: every malformed flag class exits with code 2 and one
//! line naming the flag, before any client is created; the environment wins over flags.

use std::process::{Command, Output};

fn kured(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kured-rs"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KURED_") {
            cmd.env_remove(k);
        }
    }
    // No cluster reachable: a run that gets past validation fails later with code 1.
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kured-rs")
}

fn assert_invalid(args: &[&str], flag: &str) {
    let mut full = vec!["--node-id=n1"];
    full.extend_from_slice(args);
    let out = kured(&full, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(flag),
        "{args:?}: error does not name {flag}: {stderr}"
    );
    assert!(
        !stderr.contains("Kubernetes configuration"),
        "{args:?}: got as far as the client: {stderr}"
    );
}

#[test]
fn malformed_time() {
    assert_invalid(&["--start-time=25:00"], "--start-time");
    assert_invalid(&["--end-time=noon-ish"], "--end-time");
}

#[test]
fn malformed_day() {
    assert_invalid(&["--reboot-days=mo,funday"], "--reboot-days");
}

#[test]
fn malformed_zone() {
    assert_invalid(&["--time-zone=Mars/Olympus_Mons"], "--time-zone");
}

#[test]
fn malformed_regexp() {
    assert_invalid(
        &["--alert-filter-regexp=(unclosed"],
        "--alert-filter-regexp",
    );
}

#[test]
fn malformed_selector() {
    assert_invalid(
        &["--blocking-pod-selector=app in x"],
        "--blocking-pod-selector",
    );
    assert_invalid(&["--drain-pod-selector=a=(b"], "--drain-pod-selector");
}

#[test]
fn label_without_equals() {
    assert_invalid(
        &["--pre-reboot-node-labels=rebooting"],
        "--pre-reboot-node-labels",
    );
    assert_invalid(
        &["--post-reboot-node-labels=a=b,oops"],
        "--post-reboot-node-labels",
    );
}

#[test]
fn malformed_url() {
    assert_invalid(&["--notify-url=nosuchscheme://x"], "--notify-url");
    assert_invalid(&["--prometheus-url=not a url"], "--prometheus-url");
    assert_invalid(
        &["--slack-hook-url=https://hooks.slack.com/a"],
        "--slack-hook-url",
    );
}

#[test]
fn malformed_duration() {
    assert_invalid(&["--period=10"], "--period");
    assert_invalid(&["--drain-timeout=5 minutes"], "--drain-timeout");
    assert_invalid(&["--lock-ttl=1d"], "--lock-ttl");
}

#[test]
fn concurrency_zero() {
    assert_invalid(&["--concurrency=0"], "--concurrency");
}

#[test]
fn unknown_reboot_method() {
    assert_invalid(&["--reboot-method=kexec"], "--reboot-method");
}

#[test]
fn malformed_numbers_and_bools() {
    assert_invalid(&["--metrics-port=http"], "--metrics-port");
    assert_invalid(&["--reboot-signal=999"], "--reboot-signal");
    assert_invalid(&["--force-reboot=maybe"], "--force-reboot");
}

#[test]
fn missing_node_id() {
    let out = kured(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node-id"));
}

#[test]
fn environment_wins_over_the_flag() {
    // A valid flag overridden by an invalid variable: the variable's value is what counts.
    let out = kured(
        &["--node-id=n1", "--period=1h"],
        &[("KURED_PERIOD", "soon")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--period") && stderr.contains("soon"),
        "{stderr}"
    );
    // An invalid flag overridden by a valid variable passes validation and fails only at
    // the (absent) cluster, with code 1.
    let out = kured(
        &["--concurrency=0", "--start-time=99:00"],
        &[
            ("KURED_CONCURRENCY", "2"),
            ("KURED_START_TIME", "2am"),
            ("KURED_NODE_ID", "n1"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Kubernetes configuration"), "{stderr}");
}

#[test]
fn help_lists_flags_and_the_environment_rule() {
    let out = kured(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--node-id",
        "--reboot-sentinel-command",
        "--lock-backend",
        "KURED_",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("wins over"));
}
