//! Error types of the crate, classified for callers that retry.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::termination::Termination;

/// Why a host command could not be built or run to completion.
///
/// Shared by [`SentinelError`] and [`RebootError`]: both the sentinel command and the reboot
/// command are host commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command string could not be split into words like a shell would (an unclosed quote
    /// or a trailing backslash).
    #[error("cannot split command {command:?} into words: unclosed quote or trailing backslash")]
    Parse {
        /// The command string as given.
        command: String,
    },
    /// The command has no words at all.
    #[error("the command is empty")]
    Empty,
    /// The program could not be started (for example it does not exist or is not executable).
    ///
    /// `program` is the binary that the operating system was asked to execute: the nsenter
    /// binary when the command is wrapped, the command's own program otherwise.
    #[error("cannot start `{program}` (command `{command}`): {source}")]
    Spawn {
        /// The binary that could not be executed.
        program: String,
        /// The whole command line, wrapper included.
        command: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The nsenter wrapper ran but could not enter the host mount namespace or could not execute
    /// the program there (nsenter exits 1, 126 or 127 and says so on stderr).
    #[error(
        "`{nsenter}` could not run `{program}` in the host mount namespace ({termination}): {message}"
    )]
    HostNamespace {
        /// The nsenter binary.
        nsenter: String,
        /// The program that was to run in the host namespace.
        program: String,
        /// How nsenter ended.
        termination: Termination,
        /// nsenter's own message (first line of its stderr).
        message: String,
    },
    /// The command did not finish in time; it (and its process group) was killed.
    #[error("command `{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The whole command line, wrapper included.
        command: String,
        /// The time limit that was exceeded.
        timeout: Duration,
    },
    /// Waiting for the started command failed.
    #[error("waiting for command `{command}` failed: {source}")]
    Wait {
        /// The whole command line, wrapper included.
        command: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}

impl CommandError {
    /// Whether trying again later may succeed without a configuration change.
    ///
    /// A missing or non-executable program, a parse error or a namespace that cannot be entered
    /// are permanent; a timeout or a transient resource shortage at spawn time are retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Parse { .. } | Self::Empty | Self::HostNamespace { .. } => false,
            Self::Spawn { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
            ),
            Self::Timeout { .. } | Self::Wait { .. } => true,
        }
    }
}

/// Why a [`RebootSentinel`](crate::RebootSentinel) could not tell whether a reboot is required.
///
/// This is never "reboot required": a caller that cannot check must not reboot (kured issue
/// #976, where a sentinel command that could not be started made kured restart and reboot in a
/// loop).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SentinelError {
    /// The sentinel command could not be built or run.
    #[error("sentinel command: {0}")]
    Command(#[from] CommandError),
    /// The sentinel file's existence could not be determined (other than "it does not exist").
    #[error("cannot check sentinel file {}: {source}", path.display())]
    File {
        /// The sentinel file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}

impl SentinelError {
    /// Whether checking again later may succeed without a configuration change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Command(e) => e.is_retryable(),
            Self::File { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
            ),
        }
    }
}

/// Why a [`Rebooter`](crate::Rebooter) could not trigger a reboot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebootError {
    /// The reboot command could not be built or run.
    #[error("reboot command: {0}")]
    Command(#[from] CommandError),
    /// The reboot command ran but did not succeed.
    #[error("reboot command `{command}` failed ({termination}): {stderr}")]
    CommandFailed {
        /// The whole command line, wrapper included.
        command: String,
        /// How it ended.
        termination: Termination,
        /// What it wrote to stderr (possibly truncated).
        stderr: String,
    },
    /// The signal number cannot be sent (0, out of range, or reserved by the C library).
    #[error("invalid reboot signal {signal}: not a signal number this system can send")]
    InvalidSignal {
        /// The rejected signal number.
        signal: i32,
    },
    /// The target process id is not a single positive pid.
    #[error("invalid reboot signal target pid {pid}: must be a positive process id")]
    InvalidPid {
        /// The rejected pid.
        pid: i32,
    },
    /// `kill(2)` failed.
    #[error("cannot send signal {signal} to pid {pid}: {source}")]
    Signal {
        /// The signal number.
        signal: i32,
        /// The target pid.
        pid: i32,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}

impl RebootError {
    /// Whether trying again later may succeed without a configuration change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Command(e) => e.is_retryable(),
            Self::CommandFailed { .. } => true,
            // kill(2) fails only with EINVAL, EPERM or ESRCH: retrying will not help either.
            Self::InvalidSignal { .. } | Self::InvalidPid { .. } | Self::Signal { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_error(kind: io::ErrorKind) -> CommandError {
        CommandError::Spawn {
            program: "p".into(),
            command: "p".into(),
            source: io::Error::from(kind),
        }
    }

    #[test]
    fn command_errors_are_classified() {
        assert!(!spawn_error(io::ErrorKind::NotFound).is_retryable());
        assert!(!spawn_error(io::ErrorKind::PermissionDenied).is_retryable());
        // fork/exec may fail for lack of resources (EAGAIN, ENOMEM): try again later.
        assert!(spawn_error(io::ErrorKind::WouldBlock).is_retryable());
        assert!(spawn_error(io::ErrorKind::OutOfMemory).is_retryable());
        let timeout = CommandError::Timeout {
            command: "c".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_retryable());
        assert!(!CommandError::Empty.is_retryable());
        let namespace = CommandError::HostNamespace {
            nsenter: "/usr/bin/nsenter".into(),
            program: "c".into(),
            termination: Termination::Exited(1),
            message: "nsenter: cannot open".into(),
        };
        assert!(!namespace.is_retryable());
        assert!(!SentinelError::from(namespace).is_retryable());
        assert!(RebootError::from(spawn_error(io::ErrorKind::WouldBlock)).is_retryable());
    }

    #[test]
    fn file_errors_are_classified() {
        let file = |kind| SentinelError::File {
            path: PathBuf::from("/sentinel/reboot-required"),
            source: io::Error::from(kind),
        };
        assert!(!file(io::ErrorKind::PermissionDenied).is_retryable());
        assert!(file(io::ErrorKind::Other).is_retryable());
        let shown = file(io::ErrorKind::Other).to_string();
        assert!(shown.contains("/sentinel/reboot-required"), "{shown}");
    }
}
