//! "Is a reboot required?" checks: a sentinel file or a sentinel command.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use crate::RebootSentinel;
use crate::command::HostCommand;
use crate::command_wrapper;
use crate::error::SentinelError;
use crate::termination::Termination;

/// A reboot is required iff a file exists (kured's `--reboot-sentinel`; in kured's `DaemonSet` the
/// host's `/var/run` is mounted at `/sentinel`).
///
/// Symbolic links are followed: a dangling link counts as absent. A path that cannot be
/// checked for another reason (for example permission denied on a parent directory) is an
/// error, not "no reboot".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSentinel {
    path: PathBuf,
}

impl FileSentinel {
    /// Watch for this file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl RebootSentinel for FileSentinel {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        if self.path.as_os_str().is_empty() {
            return Err(SentinelError::File {
                path: self.path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "empty sentinel file path"),
            });
        }
        match tokio::fs::metadata(&self.path).await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(false)
            }
            Err(source) => Err(SentinelError::File {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// A reboot is required iff a command exits 0 (kured's `--reboot-sentinel-command`).
///
/// Exit code 1 means "not required"; any other exit code, or death by a signal, also means "not
/// required" and is logged as a warning with the command's output (a broken sentinel must not
/// cause reboots). A command that cannot be started, a namespace that cannot be entered, or a
/// command that exceeds its time limit (by default [`CommandSentinel::DEFAULT_TIMEOUT`] from
/// [`CommandSentinel::parse`]; none from [`CommandSentinel::new`] unless the command has one;
/// the command's process group is killed) is an error.
///
/// Like kured, [`CommandSentinel::parse`] runs the command in the host's mount namespace through
/// `/usr/bin/nsenter -m/proc/1/ns/mnt --`; use [`CommandSentinel::without_nsenter`] to run it
/// directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSentinel {
    command: HostCommand,
}

impl CommandSentinel {
    /// The time limit [`CommandSentinel::parse`] gives the command: a question must answer,
    /// and a check that hangs is reported (as an error, never "reboot") instead of blocking its
    /// caller. kured has no limit; kured-rs sets its `--period` instead.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
}

command_wrapper::host_command_wrapper!(
    CommandSentinel,
    SentinelError,
    Some(CommandSentinel::DEFAULT_TIMEOUT)
);

#[async_trait]
impl RebootSentinel for CommandSentinel {
    async fn reboot_required(&self) -> Result<bool, SentinelError> {
        let output = self.command.run().await?;
        match output.termination {
            Termination::Exited(0) => Ok(true),
            Termination::Exited(1) => Ok(false),
            termination => {
                tracing::warn!(
                    command = %self.command,
                    %termination,
                    stdout = %output.stdout,
                    stderr = %output.stderr,
                    "sentinel command ended unexpectedly (expected exit code 0 or 1); \
                     assuming no reboot is required"
                );
                Ok(false)
            }
        }
    }
}
