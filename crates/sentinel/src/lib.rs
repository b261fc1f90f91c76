//! The host side of the reboot agent: "is a reboot required?" and "reboot now".
//!
//! - [`RebootSentinel`] answers whether the host needs a reboot: [`FileSentinel`] (a file such
//!   as `/var/run/reboot-required` exists) or [`CommandSentinel`] (a command exits 0; 1 means
//!   no; anything else means no and is logged as a warning; a command that cannot be started or
//!   exceeds its time limit, 60 s by default, is an error, never "reboot").
//! - [`Rebooter`] reboots the host: [`CommandRebooter`] (default `/bin/systemctl reboot`) or
//!   [`SignalRebooter`] (default signal 39, `SIGRTMIN+5`, to PID 1).
//!
//! Commands are split into words like a shell would and, as in kured, run in the host's mount
//! namespace through `/usr/bin/nsenter -m/proc/1/ns/mnt --` (see [`Nsenter`]). A sentinel
//! command has a time limit ([`CommandSentinel::DEFAULT_TIMEOUT`]); a reboot command, as in
//! kured, has none unless one is set ([`CommandRebooter::with_timeout`]): it may take minutes
//! and the host may go down while it runs. When a limit is exceeded the command's whole
//! process group is killed.
//!
//! Both traits are object safe, so an agent can hold a `Box<dyn RebootSentinel>` chosen at
//! start-up.
//!
//! ```
//! use sentinel::{CommandSentinel, FileSentinel, RebootSentinel};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let file = FileSentinel::new(dir.path().join("reboot-required"));
//! assert!(!file.reboot_required().await?);
//! std::fs::write(dir.path().join("reboot-required"), b"")?;
//! assert!(file.reboot_required().await?);
//!
//! // Exit code 1: no reboot required. (Run directly here; by default it goes through nsenter.)
//! let command: Box<dyn RebootSentinel> =
//!     Box::new(CommandSentinel::parse("sh -c 'exit 1'")?.without_nsenter());
//! assert!(!command.reboot_required().await?);
//! # Ok(())
//! # }
//! ```

mod command;
mod command_wrapper;
mod error;
mod reboot;
mod sentinel;
mod termination;

use async_trait::async_trait;

pub use command::{CommandOutput, HostCommand, Nsenter};
pub use error::{CommandError, RebootError, SentinelError};
pub use reboot::{CommandRebooter, SignalRebooter};
pub use sentinel::{CommandSentinel, FileSentinel};
pub use termination::Termination;

/// Tells whether the host needs a reboot.
#[async_trait]
pub trait RebootSentinel: Send + Sync {
    /// `Ok(true)` if a reboot is required, `Ok(false)` if not; an error if it cannot be told
    /// (a caller must not reboot on an error).
    async fn reboot_required(&self) -> Result<bool, SentinelError>;
}

/// Reboots the host.
#[async_trait]
pub trait Rebooter: Send + Sync {
    /// Trigger the reboot. Success means the request was delivered; the host goes down some
    /// time later.
    async fn reboot(&self) -> Result<(), RebootError>;
}

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
