//! The rebooters against real processes.

mod common;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use common::{sh_quote, wait_for_file};
use sentinel::{CommandError, CommandRebooter, RebootError, Rebooter, SignalRebooter, Termination};

fn direct(command: &str) -> CommandRebooter {
    CommandRebooter::parse(command).unwrap().without_nsenter()
}

// ---------------------------------------------------------------------------------------------
// command rebooter

#[test]
fn default_command_is_systemctl_reboot_through_nsenter() {
    let rebooter = CommandRebooter::default();
    let expected: Vec<OsString> = [
        "/usr/bin/nsenter",
        "-m/proc/1/ns/mnt",
        "--",
        "/bin/systemctl",
        "reboot",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    assert_eq!(rebooter.command().argv(), expected);
    assert_eq!(rebooter.command().timeout(), None);
}

#[test]
fn reboot_commands_have_no_time_limit_unless_given_one() {
    // As kured (Go's `exec.Command(...).Run()`): a command that upgrades and then reboots
    // takes minutes, and killing it must not hand the lock on while the host may go down.
    for command in ["/bin/systemctl reboot", "rpm-ostree upgrade --reboot"] {
        let rebooter = CommandRebooter::parse(command).unwrap();
        assert_eq!(rebooter.command().timeout(), None, "{command}");
        let limited = rebooter.with_timeout(Duration::from_secs(600));
        assert_eq!(limited.command().timeout(), Some(Duration::from_secs(600)));
        assert_eq!(limited.without_timeout().command().timeout(), None);
    }
}

/// `sh -c 'sleep 1; touch <marker>'`: writes the marker after 1 s unless killed before.
fn slow_reboot(marker: &std::path::Path) -> CommandRebooter {
    direct(&format!("sh -c 'sleep 1; touch {}'", sh_quote(marker)))
}

#[tokio::test]
async fn without_a_limit_a_slow_command_runs_to_its_end_and_with_one_it_is_killed() {
    let dir = tempfile::tempdir().unwrap();

    // The default: a command slower than the limit below runs to its end.
    let finished = dir.path().join("finished");
    slow_reboot(&finished).reboot().await.unwrap();
    assert!(finished.exists(), "the command did not run to its end");

    // The same command with a limit shorter than it needs is killed and is an error.
    let killed = dir.path().join("killed");
    let error = slow_reboot(&killed)
        .with_timeout(Duration::from_millis(200))
        .reboot()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RebootError::Command(CommandError::Timeout { timeout, .. })
            if *timeout == Duration::from_millis(200)),
        "{error:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!killed.exists(), "the command survived its time limit");
}

#[tokio::test]
async fn true_succeeds() {
    direct("true").reboot().await.unwrap();
}

#[tokio::test]
async fn the_command_really_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("rebooted");
    direct(&format!("touch {}", sh_quote(&marker)))
        .reboot()
        .await
        .unwrap();
    assert!(marker.exists());
}

#[tokio::test]
async fn false_is_an_error_naming_the_command() {
    let error = direct("false").reboot().await.unwrap_err();
    match &error {
        RebootError::CommandFailed {
            command,
            termination,
            ..
        } => {
            assert_eq!(command, "false");
            assert_eq!(*termination, Termination::Exited(1));
        }
        other => panic!("expected a failed command, got {other:?}"),
    }
    assert!(error.to_string().contains("`false`"), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn failure_reports_stderr() {
    let error = direct("sh -c 'echo no-permission >&2; exit 2'")
        .reboot()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RebootError::CommandFailed { termination: Termination::Exited(2), stderr, .. }
            if stderr.contains("no-permission")),
        "{error:?}"
    );
}

#[tokio::test]
async fn missing_binary_is_an_error_naming_it() {
    let error = direct("/nonexistent/systemctl reboot")
        .reboot()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RebootError::Command(CommandError::Spawn { program, .. })
            if program == "/nonexistent/systemctl"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/nonexistent/systemctl"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn hanging_command_times_out() {
    let error = direct("sleep 30")
        .with_timeout(Duration::from_millis(100))
        .reboot()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RebootError::Command(CommandError::Timeout { .. })),
        "{error:?}"
    );
}

#[test]
fn unclosed_quote_is_a_construction_error() {
    let error = CommandRebooter::parse("systemctl 'reboot").unwrap_err();
    assert!(
        matches!(error, RebootError::Command(CommandError::Parse { .. })),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// signal rebooter

#[test]
fn signal_defaults_and_validation() {
    let default = SignalRebooter::default();
    assert_eq!((default.signal(), default.pid()), (39, 1));
    assert_eq!(
        SignalRebooter::new(39, 1).unwrap(),
        default,
        "the default is valid"
    );
    assert_eq!(SignalRebooter::new(15, 1234).unwrap().signal(), 15);

    // 0 is "check only", 32 is reserved by the C library (glibc and musl), 65 is out of range.
    for signal in [0, -1, 32, 65] {
        let error = SignalRebooter::new(signal, 1).unwrap_err();
        assert!(
            matches!(error, RebootError::InvalidSignal { signal: s } if s == signal),
            "{signal}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
    // A single positive pid only: 0 and negatives would signal whole process groups.
    for pid in [0, -1, -1234] {
        let error = SignalRebooter::new(39, pid).unwrap_err();
        assert!(
            matches!(error, RebootError::InvalidPid { pid: p } if p == pid),
            "{pid}: {error:?}"
        );
    }
}

fn child_pid(child: &tokio::process::Child) -> i32 {
    i32::try_from(child.id().unwrap()).unwrap()
}

#[tokio::test]
async fn signal_39_reaches_the_target_process() {
    // Default disposition of a real-time signal is to terminate: the exit status shows which.
    let mut child = tokio::process::Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let rebooter = SignalRebooter::new(SignalRebooter::DEFAULT_SIGNAL, child_pid(&child)).unwrap();
    rebooter.reboot().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the child did not die from the signal")
        .unwrap();
    assert_eq!(status.signal(), Some(39), "{status:?}");
}

#[tokio::test]
async fn signal_39_is_rtmin_plus_5_for_a_trap() {
    let dir = tempfile::tempdir().unwrap();
    let (ready, got) = (dir.path().join("ready"), dir.path().join("got"));
    let script = format!(
        "trap 'echo got > {got}; exit 0' RTMIN+5; touch {ready}; \
         i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 7",
        got = sh_quote(&got),
        ready = sh_quote(&ready),
    );
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&ready).await,
        "the child never installed its trap"
    );

    SignalRebooter::new(39, child_pid(&child))
        .unwrap()
        .reboot()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the child did not react to the signal")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "got\n");
}

#[tokio::test]
async fn signal_to_a_missing_process_is_an_error() {
    // No process can have a pid above pid_max.
    let pid_max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rebooter: Box<dyn Rebooter> = Box::new(SignalRebooter::new(39, pid_max + 1).unwrap());
    let error = rebooter.reboot().await.unwrap_err();
    assert!(
        matches!(&error, RebootError::Signal { signal: 39, pid, .. } if *pid == pid_max + 1),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}
