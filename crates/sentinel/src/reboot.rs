//! Reboot methods: a command on the host, or a signal to init.

use std::io;

use async_trait::async_trait;
use rustix_libc_wrappers::process::SignalExt as _;
use rustix_libc_wrappers::rustix::process::{Pid, Signal, kill_process};

use crate::Rebooter;
use crate::command::HostCommand;
use crate::command_wrapper;
use crate::error::RebootError;

/// Reboot by running a command on the host (kured's `--reboot-method=command` and
/// `--reboot-command`, default `/bin/systemctl reboot`).
///
/// Like kured, the command runs in the host's mount namespace through
/// `/usr/bin/nsenter -m/proc/1/ns/mnt --` unless built [`CommandRebooter::without_nsenter`],
/// and, like kured, without a time limit: a command that upgrades and then reboots
/// (`rpm-ostree upgrade --reboot`) or waits for a shutdown inhibitor may take minutes, and the
/// host may go down while it runs. [`CommandRebooter::with_timeout`] sets a limit, after which
/// the command's process group is killed and the reboot is an error.
/// A non-zero exit, a program that cannot be started or an exceeded limit is an error naming
/// the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRebooter {
    command: HostCommand,
}

impl CommandRebooter {
    /// kured's default reboot command.
    pub const DEFAULT_COMMAND: &'static str = "/bin/systemctl reboot";
}

command_wrapper::host_command_wrapper!(CommandRebooter, RebootError, None);

impl Default for CommandRebooter {
    /// `/bin/systemctl reboot` through [`Nsenter::host`](crate::Nsenter::host), no time limit.
    fn default() -> Self {
        Self::parse(Self::DEFAULT_COMMAND).unwrap_or_else(|_| {
            unreachable!("the default reboot command is two plain words and always parses")
        })
    }
}

#[async_trait]
impl Rebooter for CommandRebooter {
    async fn reboot(&self) -> Result<(), RebootError> {
        tracing::info!(command = %self.command, "invoking reboot command");
        let output = self.command.run().await?;
        if output.termination.success() {
            tracing::info!(
                command = %self.command,
                stdout = %output.stdout,
                stderr = %output.stderr,
                "reboot command succeeded"
            );
            Ok(())
        } else {
            Err(RebootError::CommandFailed {
                command: self.command.to_string(),
                termination: output.termination,
                stderr: output.stderr,
            })
        }
    }
}

/// Reboot by sending a signal to a process (kured's `--reboot-method=signal` and
/// `--reboot-signal`): by default signal 39 (`SIGRTMIN+5`, systemd's "reboot" request) to PID 1.
///
/// The signal number is sent as is; it must be a signal this system can send (1–31 or the C
/// library's real-time range, `SIGRTMIN`–`SIGRTMAX`). Sending needs `hostPID: true` and the
/// privilege to signal the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalRebooter {
    signal: i32,
    pid: i32,
}

impl SignalRebooter {
    /// `SIGRTMIN+5` with glibc: systemd reboots when PID 1 receives it.
    pub const DEFAULT_SIGNAL: i32 = 39;
    /// The host's init process.
    pub const DEFAULT_PID: i32 = 1;

    /// Send `signal` to process `pid`; both are checked here.
    pub fn new(signal: i32, pid: i32) -> Result<Self, RebootError> {
        to_signal(signal)?;
        to_pid(pid)?;
        Ok(Self { signal, pid })
    }

    /// The signal number.
    pub fn signal(&self) -> i32 {
        self.signal
    }

    /// The target process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Default for SignalRebooter {
    /// Signal 39 to PID 1.
    fn default() -> Self {
        Self {
            signal: Self::DEFAULT_SIGNAL,
            pid: Self::DEFAULT_PID,
        }
    }
}

fn to_signal(signal: i32) -> Result<Signal, RebootError> {
    Signal::from_raw(signal).ok_or(RebootError::InvalidSignal { signal })
}

fn to_pid(pid: i32) -> Result<Pid, RebootError> {
    // `Pid::from_raw` rejects 0 but asserts on negatives: filter those first.
    (pid > 0)
        .then(|| Pid::from_raw(pid))
        .flatten()
        .ok_or(RebootError::InvalidPid { pid })
}

#[async_trait]
impl Rebooter for SignalRebooter {
    async fn reboot(&self) -> Result<(), RebootError> {
        let signal = to_signal(self.signal)?;
        let pid = to_pid(self.pid)?;
        tracing::info!(
            signal = self.signal,
            pid = self.pid,
            "sending reboot signal"
        );
        kill_process(pid, signal).map_err(|errno| RebootError::Signal {
            signal: self.signal,
            pid: self.pid,
            source: io::Error::from(errno),
        })
    }
}
