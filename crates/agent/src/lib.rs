//! The kured reboot loop, made testable.
//!
//! [`Agent`] composes the other crates of the workspace into kured 1.23's sequence for one
//! node; every external effect is injected through [`Deps`] (clock, node reads and writes,
//! drain, lock, sentinel, rebooter, blockers, notifications, metrics):
//!
//! 1. **Start**: if this node holds the lock, its reboot has happened: uncordon (unless it
//!    was cordoned before the lock was taken), set the post-reboot labels, remove the
//!    in-progress annotation, notify "uncordon", THEN wait the release delay and release
//!    (uncordon first: kured #1409).
//! 2. **Every period** (first check jittered uniformly in `[period/2, 3·period/2)` like kured):
//!    window open? → reboot required? → annotate (`--annotate-nodes`) → blockers → lock. While
//!    the lock is held by others: add the `PreferNoSchedule` taint (if configured) and, in
//!    [`LockWaitMode::Wait`], wake on a lock change instead of sleeping a whole period —
//!    re-checking window and blockers before trying again. The taint is removed when no
//!    reboot is needed or the window is closed.
//! 3. **Holding the lock**: pre-reboot labels → drain delay → notify "drain" → cordon → drain;
//!    on failure without `--force-reboot`: uncordon (if we cordoned) and release; otherwise
//!    reboot delay (and drain again) → notify "reboot" → reboot. A sentinel that cannot tell
//!    is logged and retried, never a reboot.
//!
//! Cancellation (SIGTERM) is honoured at every await point, and the agent never releases the
//! lock while the node is cordoned by it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use agent::{Agent, Config, Deps, KubeNodeReader, Metrics, SystemClock};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let lock = lock::DaemonSetLock::new(client.clone(), lock::DaemonSetLockConfig::default())?;
//! let deps = Deps {
//!     nodes: Arc::new(drain::KubeNodeOps::new(client.clone())),
//!     node_reader: Arc::new(KubeNodeReader::new(client.clone())),
//!     drainer: Arc::new(drain::DrainEngine::for_client(client, drain::DrainOptions::default())),
//!     lock: Arc::new(lock),
//!     sentinel: Arc::new(sentinel::FileSentinel::new("/sentinel/reboot-required")),
//!     rebooter: Arc::new(sentinel::CommandRebooter::default()),
//!     blockers: Arc::new(blockers::CompositeBlocker::new()),
//!     notifications: None,
//!     clock: Arc::new(SystemClock),
//!     metrics: Metrics::new(),
//! };
//! let cancel = CancellationToken::new();
//! let outcome = Agent::new(Config::new("node-1"), deps).run(cancel).await;
//! println!("{outcome:?}");
//! # Ok(()) }
//! ```

mod agent;
mod clock;
mod config;
mod metrics;
mod node;

#[cfg(test)]
mod mock_tests;

pub use agent::{Agent, Deps, Outcome};
pub use clock::{Clock, ManualClock, SystemClock, first_tick_delay};
pub use config::{
    Config, LockWaitMode, MOST_RECENT_REBOOT_NEEDED_ANNOTATION, REBOOT_IN_PROGRESS_ANNOTATION,
};
pub use metrics::{Metrics, NodeLabel, ReasonLabel, bind, router, serve};
pub use node::{KubeNodeReader, NodeReader, NodeState};
/// The cancellation token type [`Agent::run`] takes.
pub use tokio_util::sync::CancellationToken;
