//! The sentinels against real files and real processes.

mod common;

use std::ffi::OsString;
use std::time::Duration;

use common::{sh_quote, wait_for_file, with_logs};
use sentinel::{
    CommandError, CommandSentinel, FileSentinel, HostCommand, Nsenter, RebootSentinel,
    SentinelError, Termination,
};

/// A sentinel that runs `command` directly (no nsenter).
fn direct(command: &str) -> CommandSentinel {
    CommandSentinel::parse(command).unwrap().without_nsenter()
}

/// nsenter into our own mount namespace: exercises the real wrapper without leaving the sandbox.
fn own_namespace() -> Nsenter {
    Nsenter::for_pid(std::process::id())
}

// ---------------------------------------------------------------------------------------------
// file sentinel

#[tokio::test]
async fn file_sentinel_follows_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reboot-required");
    let sentinel = FileSentinel::new(&path);
    assert_eq!(sentinel.path(), path);

    assert!(!sentinel.reboot_required().await.unwrap(), "absent");
    std::fs::write(&path, b"").unwrap();
    assert!(sentinel.reboot_required().await.unwrap(), "created");
    std::fs::remove_file(&path).unwrap();
    assert!(!sentinel.reboot_required().await.unwrap(), "removed");
    std::fs::create_dir(&path).unwrap();
    assert!(
        sentinel.reboot_required().await.unwrap(),
        "a directory exists too"
    );
}

#[tokio::test]
async fn file_sentinel_absent_forms() {
    let dir = tempfile::tempdir().unwrap();
    // A path component is a regular file (ENOTDIR): the sentinel cannot exist.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let under_file = FileSentinel::new(plain.join("reboot-required"));
    assert!(!under_file.reboot_required().await.unwrap());

    // A dangling symbolic link counts as absent; once its target exists, as present.
    let target = dir.path().join("target");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let linked = FileSentinel::new(&link);
    assert!(!linked.reboot_required().await.unwrap());
    std::fs::write(&target, b"").unwrap();
    assert!(linked.reboot_required().await.unwrap());
}

#[tokio::test]
async fn file_sentinel_empty_path_is_an_error() {
    let error = FileSentinel::new("").reboot_required().await.unwrap_err();
    assert!(matches!(error, SentinelError::File { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

// ---------------------------------------------------------------------------------------------
// command sentinel: exit codes

#[tokio::test]
async fn exit_zero_means_required() {
    assert!(direct("sh -c 'exit 0'").reboot_required().await.unwrap());
}

#[tokio::test]
async fn exit_one_means_not_required() {
    assert!(!direct("sh -c 'exit 1'").reboot_required().await.unwrap());
}

#[test]
fn other_exit_code_means_not_required_with_a_warning() {
    let (result, logs) = with_logs(|| async {
        direct("sh -c 'echo checked-updates; exit 3'")
            .reboot_required()
            .await
    });
    assert!(!result.unwrap());
    let warning = logs
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(warning.contains("exit code 3"), "{warning}");
    assert!(warning.contains("checked-updates"), "{warning}");
}

#[test]
fn exit_one_logs_no_warning() {
    let (result, logs) = with_logs(|| async { direct("sh -c 'exit 1'").reboot_required().await });
    assert!(!result.unwrap());
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn killed_by_a_signal_means_not_required_with_a_warning() {
    let (result, logs) =
        with_logs(|| async { direct("sh -c 'kill -9 $$'").reboot_required().await });
    assert!(!result.unwrap());
    let warning = logs
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(warning.contains("killed by signal 9"), "{warning}");
}

#[test]
fn output_is_logged_at_debug() {
    let (result, logs) = with_logs(|| async {
        direct("sh -c 'echo to-stdout; echo to-stderr >&2; exit 0'")
            .reboot_required()
            .await
    });
    assert!(result.unwrap());
    let line = logs
        .lines()
        .find(|l| l.contains("DEBUG") && l.contains("to-stdout"))
        .unwrap_or_else(|| panic!("stdout not logged at debug: {logs}"));
    assert!(line.contains("to-stderr"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// command sentinel: errors

#[tokio::test]
async fn missing_binary_is_an_error_naming_it() {
    let error = direct("/nonexistent/check-reboot --now")
        .reboot_required()
        .await
        .unwrap_err();
    match &error {
        SentinelError::Command(CommandError::Spawn {
            program, source, ..
        }) => {
            assert_eq!(program, "/nonexistent/check-reboot");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
    assert!(
        error.to_string().contains("/nonexistent/check-reboot"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn non_executable_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let sentinel =
        CommandSentinel::new(HostCommand::from_words([script.to_str().unwrap()]).unwrap());
    let error = sentinel.reboot_required().await.unwrap_err();
    assert!(
        matches!(&error, SentinelError::Command(CommandError::Spawn { source, .. })
            if source.kind() == std::io::ErrorKind::PermissionDenied),
        "{error:?}"
    );
    assert!(error.to_string().contains("not-executable"), "{error}");
}

#[tokio::test]
async fn quoted_words_are_kept_together() {
    let command = HostCommand::parse(r#"sh -c 'test "a b" = "a b"'"#).unwrap();
    assert_eq!(command.words(), ["sh", "-c", r#"test "a b" = "a b""#]);
    assert!(
        CommandSentinel::new(command)
            .reboot_required()
            .await
            .unwrap()
    );
    // The same test with different words must fail, so the check above means something.
    assert!(
        !direct(r#"sh -c 'test "a b" = "a  b"'"#)
            .reboot_required()
            .await
            .unwrap()
    );
    // Double quotes and backslashes, too.
    let command = HostCommand::parse(r#"printf "%s|" one\ word "two words""#).unwrap();
    assert_eq!(command.words(), ["printf", "%s|", "one word", "two words"]);
}

#[test]
fn unclosed_quote_is_a_construction_error() {
    for bad in ["sh -c 'exit 0", r#"sh -c "exit 0"#, "sh -c exit\\"] {
        let error = CommandSentinel::parse(bad).unwrap_err();
        assert!(
            matches!(&error, SentinelError::Command(CommandError::Parse { command }) if command == bad),
            "{bad}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
}

#[test]
fn empty_command_is_a_construction_error() {
    for empty in ["", "   "] {
        let error = CommandSentinel::parse(empty).unwrap_err();
        assert!(
            matches!(error, SentinelError::Command(CommandError::Empty)),
            "{error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// command sentinel: time limit

/// A script that creates `direct_file` after 1 s from the shell itself and `background_file`
/// after 1 s from a background subshell (a second process of the same process group).
fn late_writer(direct_file: &std::path::Path, background_file: &std::path::Path) -> String {
    format!(
        "sh -c '(sleep 1; touch {bg}) & sleep 1; touch {direct}; wait'",
        bg = sh_quote(background_file),
        direct = sh_quote(direct_file),
    )
}

#[test]
fn only_parsed_sentinel_commands_get_the_default_time_limit() {
    let parsed = CommandSentinel::parse("true").unwrap();
    assert_eq!(
        parsed.command().timeout(),
        Some(CommandSentinel::DEFAULT_TIMEOUT)
    );
    assert_eq!(parsed.without_timeout().command().timeout(), None);
    // A command built by hand keeps what it was given: none unless set.
    assert_eq!(HostCommand::parse("true").unwrap().timeout(), None);
    let built = CommandSentinel::new(HostCommand::parse("true").unwrap());
    assert_eq!(built.command().timeout(), None);
}

#[tokio::test]
async fn timeout_kills_the_command_and_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let (direct_file, background_file) = (dir.path().join("direct"), dir.path().join("background"));
    let sentinel = direct(&late_writer(&direct_file, &background_file))
        .with_timeout(Duration::from_millis(200));
    assert_eq!(
        sentinel.command().timeout(),
        Some(Duration::from_millis(200))
    );

    let error = sentinel.reboot_required().await.unwrap_err();
    match &error {
        SentinelError::Command(CommandError::Timeout { timeout, command }) => {
            assert_eq!(*timeout, Duration::from_millis(200));
            assert!(command.starts_with("sh -c"), "{command}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.is_retryable());

    // Both writers would have written by now had they survived.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !direct_file.exists(),
        "the command itself survived the timeout"
    );
    assert!(
        !background_file.exists(),
        "its background process survived the timeout"
    );
}

#[tokio::test]
async fn without_a_timeout_the_late_writer_writes() {
    // Control for the test above: the same script, given time, creates both files.
    let dir = tempfile::tempdir().unwrap();
    let (direct_file, background_file) = (dir.path().join("direct"), dir.path().join("background"));
    let sentinel = direct(&late_writer(&direct_file, &background_file));
    assert_eq!(
        sentinel.command().timeout(),
        Some(CommandSentinel::DEFAULT_TIMEOUT)
    );
    assert!(sentinel.reboot_required().await.unwrap());
    assert!(direct_file.exists() && background_file.exists());
}

#[tokio::test]
async fn dropping_the_check_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let (direct_file, background_file) = (dir.path().join("direct"), dir.path().join("background"));
    let sentinel = direct(&late_writer(&direct_file, &background_file));
    // Cancel the check from outside (as an agent shutting down would).
    let cancelled =
        tokio::time::timeout(Duration::from_millis(200), sentinel.reboot_required()).await;
    assert!(
        cancelled.is_err(),
        "the check should still have been running"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!direct_file.exists(), "the command survived cancellation");
    assert!(
        !background_file.exists(),
        "its background process survived cancellation"
    );
}

#[tokio::test]
async fn background_process_holding_stdout_does_not_block() {
    // The background `sleep` keeps stdout open long after the shell exits.
    let command = HostCommand::parse("sh -c 'sleep 30 & echo $!; exit 0'").unwrap();
    let run = tokio::time::timeout(Duration::from_secs(20), command.run()).await;
    let output = run
        .expect("run() waited for the background process")
        .unwrap();
    assert_eq!(output.termination, Termination::Exited(0));
    let pid = output.stdout.trim().to_owned();
    assert!(pid.parse::<u32>().is_ok(), "stdout: {:?}", output.stdout);
    // The shell's builtin `kill`: no dependency on a procps binary.
    let killed = std::process::Command::new("sh")
        .args(["-c", &format!("kill {pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
}

#[tokio::test]
async fn large_output_is_truncated_not_blocking() {
    let command =
        HostCommand::parse("sh -c 'head -c 1000000 /dev/zero | tr \"\\0\" x; exit 1'").unwrap();
    let output = command.run().await.unwrap();
    assert_eq!(output.termination, Termination::Exited(1));
    assert!(
        output.stdout.ends_with("…[truncated]"),
        "{}",
        output.stdout.len()
    );
    assert!(output.stdout.len() < 70_000, "{}", output.stdout.len());
}

// ---------------------------------------------------------------------------------------------
// nsenter wrapper

#[test]
fn parse_wraps_in_nsenter_like_kured() {
    let sentinel = CommandSentinel::parse("test -f '/var/run/reboot required'").unwrap();
    let argv: Vec<OsString> = sentinel.command().argv();
    let expected: Vec<OsString> = [
        "/usr/bin/nsenter",
        "-m/proc/1/ns/mnt",
        "--",
        "test",
        "-f",
        "/var/run/reboot required",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    assert_eq!(argv, expected);
    assert_eq!(sentinel.command().program(), "test");
    assert_eq!(
        sentinel.command().to_string(),
        "/usr/bin/nsenter -m/proc/1/ns/mnt -- test -f '/var/run/reboot required'"
    );

    let custom = sentinel.with_nsenter(Some(
        Nsenter::for_pid(42)
            .with_program("/sbin/nsenter")
            .with_mount_namespace("/host/proc/1/ns/mnt"),
    ));
    assert_eq!(
        custom.command().argv()[..3],
        [
            OsString::from("/sbin/nsenter"),
            OsString::from("-m/host/proc/1/ns/mnt"),
            OsString::from("--"),
        ]
    );
    assert_eq!(Nsenter::default(), Nsenter::host());
    assert_eq!(
        Nsenter::host().mount_namespace(),
        std::path::Path::new("/proc/1/ns/mnt")
    );
    assert_eq!(
        custom.without_nsenter().command().argv()[0],
        OsString::from("test")
    );
}

#[tokio::test]
async fn real_nsenter_passes_exit_codes_through() {
    for (script, expected) in [("exit 0", true), ("exit 1", false), ("exit 3", false)] {
        let sentinel = CommandSentinel::parse(&format!("sh -c '{script}'"))
            .unwrap()
            .with_nsenter(Some(own_namespace()));
        assert_eq!(
            sentinel.reboot_required().await.unwrap(),
            expected,
            "{script}"
        );
    }
}

#[tokio::test]
async fn real_nsenter_missing_program_is_an_error_naming_it() {
    let sentinel = CommandSentinel::parse("/nonexistent/check-reboot")
        .unwrap()
        .with_nsenter(Some(own_namespace()));
    let error = sentinel.reboot_required().await.unwrap_err();
    match &error {
        SentinelError::Command(CommandError::HostNamespace {
            program,
            termination,
            message,
            ..
        }) => {
            assert_eq!(program, "/nonexistent/check-reboot");
            assert_eq!(*termination, Termination::Exited(127));
            assert!(message.starts_with("nsenter: "), "{message}");
        }
        other => panic!("expected a host namespace error, got {other:?}"),
    }
    assert!(
        error.to_string().contains("/nonexistent/check-reboot"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn real_nsenter_that_cannot_enter_is_an_error_not_a_no() {
    // nsenter exits 1 here, which would otherwise read as "no reboot required".
    let sentinel = CommandSentinel::parse("sh -c 'exit 0'")
        .unwrap()
        .with_nsenter(Some(
            Nsenter::host().with_mount_namespace("/nonexistent/ns/mnt"),
        ));
    let error = sentinel.reboot_required().await.unwrap_err();
    assert!(
        matches!(&error, SentinelError::Command(CommandError::HostNamespace { termination, .. })
            if *termination == Termination::Exited(1)),
        "{error:?}"
    );
    assert!(error.to_string().contains("/nonexistent/ns/mnt"), "{error}");
}

#[tokio::test]
async fn missing_nsenter_binary_is_an_error_naming_it() {
    let sentinel = CommandSentinel::parse("sh -c 'exit 0'")
        .unwrap()
        .with_nsenter(Some(Nsenter::host().with_program("/nonexistent/nsenter")));
    let error = sentinel.reboot_required().await.unwrap_err();
    assert!(
        matches!(&error, SentinelError::Command(CommandError::Spawn { program, .. })
            if program == "/nonexistent/nsenter"),
        "{error:?}"
    );
}

#[tokio::test]
async fn sentinels_work_as_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reboot-required");
    std::fs::write(&file, b"").unwrap();
    let ready = dir.path().join("ready");
    let sentinels: Vec<Box<dyn RebootSentinel>> = vec![
        Box::new(FileSentinel::new(&file)),
        Box::new(direct(&format!(
            "sh -c 'touch {}; exit 0'",
            sh_quote(&ready)
        ))),
    ];
    for sentinel in &sentinels {
        assert!(sentinel.reboot_required().await.unwrap());
    }
    assert!(wait_for_file(&ready).await);
}
