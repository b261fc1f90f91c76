//! How a finished command ended: an exit code or a signal.
//!
//! Shared by the command runner ([`HostCommand::run`](crate::HostCommand::run)) and the error
//! types that report a failed command, so neither has to import the other.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl Termination {
    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }
}

impl From<ExitStatus> for Termination {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Exited(code),
            (None, Some(signal)) => Self::Signaled(signal),
            // wait(2) only reports terminated children here (not stopped ones), so one of the
            // two above always holds; keep the raw status rather than inventing a value.
            (None, None) => Self::Exited(status.into_raw()),
        }
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exit code {code}"),
            Self::Signaled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_reads_well() {
        assert_eq!(Termination::Exited(3).to_string(), "exit code 3");
        assert_eq!(Termination::Signaled(9).to_string(), "killed by signal 9");
        assert!(Termination::Exited(0).success());
        assert!(!Termination::Exited(1).success());
        assert!(!Termination::Signaled(39).success());
    }
}
