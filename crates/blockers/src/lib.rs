//! Reasons not to reboot a node now.
//!
//! kured-rs asks its blockers before it takes the reboot lock. Each blocker implements
//! [`RebootBlocker`]; a check answers `Ok(None)` (go ahead), `Ok(Some(reason))` (wait), or an
//! error — and an error **blocks** too (fail safe): use [`check_or_block`], or put the
//! blockers in a [`CompositeBlocker`], which does that for each of them.
//!
//! | blocker | kured flag(s) | blocks while |
//! |---|---|---|
//! | [`PrometheusBlocker`] | `--prometheus-url`, `--alert-filter-regexp`, `--alert-filter-match-only`, `--alert-firing-only` | the `ALERTS` query has alerts that count |
//! | [`PodBlocker`] | `--blocking-pod-selector` (repeatable) | a non-terminal pod matching a selector runs on the node |
//! | [`OptOutBlocker`] | (kured-rs only) | the node carries the opt-out label or annotation |
//! | [`CompositeBlocker`] | | any of its blockers blocks; reports every reason |
//!
//! ```
//! use async_trait::async_trait;
//! use blockers::{BlockReason, BlockerError, CompositeBlocker, RebootBlocker};
//!
//! /// A blocker of your own: here, one that never lets `db-0` reboot.
//! struct NotTheDatabase;
//!
//! #[async_trait]
//! impl RebootBlocker for NotTheDatabase {
//!     fn name(&self) -> &'static str {
//!         "not_the_database"
//!     }
//!     async fn check(&self, node: &str) -> Result<Option<BlockReason>, BlockerError> {
//!         Ok((node == "db-0").then(|| BlockReason::Other {
//!             blocker: self.name().into(),
//!             message: "the database node reboots by hand".into(),
//!         }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let blockers = CompositeBlocker::new().with(NotTheDatabase);
//! assert_eq!(blockers.check("web-3").await.unwrap(), None);
//! let reason = blockers.check("db-0").await.unwrap().unwrap();
//! assert_eq!(reason.label(), "not_the_database");
//! # }
//! ```
//!
//! The real blockers need a Prometheus server and a cluster:
//!
//! ```no_run
//! use blockers::{
//!     CompositeBlocker, DEFAULT_OPT_OUT_KEY, OptOutBlocker, OptOutSource, PodBlocker,
//!     PrometheusBlocker, RebootBlocker,
//! };
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let blockers = CompositeBlocker::new()
//!     .with(
//!         PrometheusBlocker::new("http://prometheus.monitoring:9090")?
//!             .filter(Some(blockers::regex::Regex::new("^(RebootRequired|Watchdog)$")?))
//!             .firing_only(true),
//!     )
//!     .with(PodBlocker::new(client.clone(), ["app=backup", "kured/blocking=true"])?)
//!     .with(OptOutBlocker::new(client, DEFAULT_OPT_OUT_KEY, OptOutSource::LabelOrAnnotation)?);
//! if let Some(reason) = blockers.check("node-0").await? {
//!     println!("not rebooting node-0: {reason}");
//! }
//! # Ok(()) }
//! ```

mod composite;
mod error;
mod opt_out;
mod pods;
mod prometheus;
mod reason;
mod spec;

use async_trait::async_trait;

pub use composite::CompositeBlocker;
pub use error::BlockerError;
pub use opt_out::{DEFAULT_OPT_OUT_KEY, OptOutBlocker, OptOutSource};
pub use pods::PodBlocker;
pub use prometheus::{DEFAULT_TIMEOUT, PrometheusBlocker, PrometheusQuery, QuerySample};
pub use reason::{BlockReason, MetadataKind, PodMatch};
/// The `regex` crate of [`PrometheusBlocker::filter`] (so callers need not match its version).
pub use regex;
/// The `reqwest` crate of [`PrometheusBlocker::with_client`] and [`BlockerError`].
pub use reqwest;
pub use spec::BlockerSpec;

/// A reason not to reboot a node now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RebootBlocker: Send + Sync {
    /// A short name for logs and metrics (`prometheus_alert`, `blocker_pod`, `opt_out`, …);
    /// the `blocker` of the [`BlockReason::CheckFailed`] reported when the check fails.
    fn name(&self) -> &'static str;

    /// Whether `node` must not reboot now: `Ok(None)` lets it, `Ok(Some(reason))` blocks it.
    /// An `Err` means the blocker could not tell, and **must be treated as blocking** (see
    /// [`check_or_block`]).
    async fn check(&self, node: &str) -> Result<Option<BlockReason>, BlockerError>;
}

/// Runs `blocker`'s check and fails safe: an error becomes a blocking
/// [`BlockReason::CheckFailed`] naming the blocker (and is logged as a warning).
pub async fn check_or_block(blocker: &dyn RebootBlocker, node: &str) -> Option<BlockReason> {
    match blocker.check(node).await {
        Ok(reason) => reason,
        Err(error) => {
            tracing::warn!(
                blocker = blocker.name(),
                node,
                error = %error,
                "reboot blocked: blocker check failed"
            );
            Some(BlockReason::CheckFailed {
                blocker: blocker.name().to_string(),
                error: error.to_string(),
            })
        }
    }
}

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
