//! Runs the built `kured-rs` binary where it cannot reach a cluster: one line says what was
//! tried (the kubeconfig from `KUBECONFIG` or `~/.kube/config`, the in-cluster service account
//! from `KUBERNETES_SERVICE_HOST`/`PORT`) and why each failed, and the exit status is 1.
//! Also the kured-rs-only `--reboot-command-timeout` flag's bad values.

use std::path::Path;
use std::process::{Command, Output};

/// `kured-rs --node-id=n1 args…` with only `env` set (no `KUBECONFIG`, no in-cluster variables,
/// no `HOME` unless given).
fn kured(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kured-rs"))
        .env_clear()
        .envs(env.iter().copied())
        .arg("--node-id=n1")
        .args(args)
        .output()
        .expect("run kured-rs")
}

/// The one line about the cluster configuration, after checking there is exactly one and the
/// run failed with status 1.
fn config_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Kubernetes configuration"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0].to_owned();
    // Each source says its reason once (kube's own error repeated the kubeconfig's three times).
    let (kubeconfig, in_cluster) = line
        .split_once("in-cluster service account")
        .unwrap_or_else(|| panic!("the in-cluster attempt is not named: {line}"));
    for part in [kubeconfig, in_cluster] {
        assert!(
            part.matches("No such file or directory").count() <= 1,
            "a reason repeats: {line}"
        );
    }
    line
}

/// Runs `kured-rs` with only `env` and checks its one configuration line contains `expected`.
fn assert_config_error(env: &[(&str, &str)], expected: &[&str]) -> String {
    let line = config_error(&kured(&[], env));
    for text in expected {
        assert!(line.contains(text), "{text:?} missing: {line}");
    }
    line
}

#[test]
fn no_kubeconfig_and_not_in_a_pod_is_one_line_naming_both_attempts() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join(".kube/config");
    let line = assert_config_error(
        &[("HOME", home.path().to_str().unwrap())],
        &[
            "KUBECONFIG is not set",
            kubeconfig.to_str().unwrap(),
            "No such file or directory",
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
        ],
    );
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
}

#[test]
fn a_missing_kubeconfig_file_and_half_the_in_cluster_variables() {
    assert_config_error(
        &[
            ("HOME", "/nonexistent"),
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ],
        &[
            "KUBECONFIG=/nonexistent/kubeconfig",
            "cannot read /nonexistent/kubeconfig: No such file or directory",
            "KUBERNETES_SERVICE_PORT is not set",
        ],
    );
}

#[test]
fn in_cluster_variables_without_a_service_account() {
    let namespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
    if Path::new(namespace).exists() {
        eprintln!("skipped: this test runs in a pod with a service account");
        return;
    }
    assert_config_error(
        &[
            ("HOME", "/nonexistent"),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", "6443"),
        ],
        &[&format!(
            "cannot read {namespace}: No such file or directory"
        )],
    );
}

#[test]
fn reboot_command_timeout_takes_a_go_duration() {
    for bad in [
        "--reboot-command-timeout=10",
        "--reboot-command-timeout=-1m",
    ] {
        let out = kured(&[bad], &[("HOME", "/nonexistent")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains("--reboot-command-timeout"),
            "{bad}: {stderr}"
        );
    }
    // Valid values (and the variable) pass validation and stop only at the absent cluster.
    for (args, env) in [
        (&["--reboot-command-timeout=0"][..], &[][..]),
        (&["--reboot-command-timeout=1h30m"][..], &[][..]),
        (&[][..], &[("KURED_REBOOT_COMMAND_TIMEOUT", "15m")][..]),
    ] {
        let mut env = env.to_vec();
        env.push(("HOME", "/nonexistent"));
        config_error(&kured(args, &env));
    }
}
