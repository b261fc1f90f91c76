//! Process plumbing shared by the binaries (`kured-rs`, `fleetlock-rs`, `kubesim`,
//! `reboot-sim`), so that each `main` sets up its process the same way:
//!
//! - [`LogFormat`]: the `--log-format text|json` flag (a [`clap::ValueEnum`]).
//! - [`init_logging`]: a `tracing` subscriber writing to stderr, filtered by `RUST_LOG` (default
//!   `info`), with ANSI colours only when stderr is a terminal; [`init_logging_with_default`]
//!   takes another default, [`init_logging_with_filter`] takes the directives of a flag.
//!   A second call changes nothing.
//! - [`termination_signal`]: resolves on SIGTERM or SIGINT.
//! - [`install_crypto_provider`]: rustls' `ring` provider, process-wide (kube's client panics
//!   without one).
//!
//! Unix only.
//!
//! ```
//! use std::time::Duration;
//!
//! use daemon::{LogFormat, init_logging, install_crypto_provider, termination_signal};
//!
//! fn main() {
//!     install_crypto_provider();
//!     init_logging(LogFormat::Text);
//!     let runtime = tokio::runtime::Builder::new_current_thread()
//!         .enable_all()
//!         .build()
//!         .unwrap();
//!     runtime.block_on(async {
//!         tokio::select! {
//!             () = termination_signal() => tracing::info!("stopping"),
//!             () = tokio::time::sleep(Duration::from_millis(10)) => tracing::info!("work done"),
//!         }
//!     });
//! }
//! ```

mod crypto;
mod log_format;
mod logging;
mod signal;

pub use crypto::install_crypto_provider;
pub use log_format::LogFormat;
pub use logging::{init_logging, init_logging_with_default, init_logging_with_filter};
pub use signal::termination_signal;

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
