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
//!    [`LockWaitMode::Wait`], wake when the lock shows a free slot instead of sleeping a
//!    whole period — re-checking window and blockers and reading the Node before trying
//!    again; each period without a free slot re-checks window, sentinel and blockers only
//!    (no Node or lock request). The taint is removed when no reboot is needed or the window
//!    is closed (once: the agent remembers that it is gone).
//! 3. **Holding the lock**: pre-reboot labels → drain delay → notify "drain" → cordon → drain;
//!    on failure without `--force-reboot`: uncordon (if we cordoned) and release; otherwise
//!    reboot delay (and drain again) → notify "reboot" → reboot. A sentinel that cannot tell
//!    is logged and retried, never a reboot. With [`Config::autoscaler_guard`], right after
//!    the lock is taken (before cordoning) the node gets the cluster autoscaler's and
//!    Karpenter's "do not remove" annotations where absent (kured #1309); the keys it set are
//!    recorded on the Node and removed again before every release — after the post-reboot
//!    uncordon (step 1) or when the attempt is abandoned.
//!
//! 4. **Beyond kured (issue 18)**: every attempt is recorded on the Node
//!    ([`gate::ATTEMPT_ANNOTATION`]: the boot ID when the lock was taken, and with the health
//!    gate what the drain disturbs). At start, a held lock with the boot ID unchanged and the
//!    sentinel still set resumes the attempt instead of releasing. With
//!    [`Config::health_gate`], after the reboot the node keeps the lock (uncordoned) until it
//!    is healthy ([`gate::HealthGate`]). A failed attempt — gate failure, reboot command
//!    failed, or (noticed by the waiting agents) a node not back within
//!    [`Config::not_back_timeout`] — is recorded on the Node ([`REBOOT_FAILURE_ANNOTATION`]:
//!    no new attempt without a change) and in the lock's rollout state; at
//!    [`Config::max_failed_nodes`] the rollout halts: the failed node keeps its lock record,
//!    no agent takes the lock until an operator removes the halt. A node cordoned by us
//!    ([`CORDONED_BY_ANNOTATION`]) that is Ready, holds no lock and is not the halted node is
//!    uncordoned. Each phase is a Kubernetes Event about the Node (`Parts::events`).
//!
//! Cancellation (SIGTERM) is honoured at every await point, and the agent never releases the
//! lock while the node is cordoned by it.
//!
//! One node's agent on kubesim (the workspace's in-memory API server, a dev-dependency), with
//! the real lock, node and drain implementations over HTTP and kured's sentinel file. The
//! [`Rebooter`](sentinel::Rebooter) is a double that records the call and stops the agent, as
//! the host going down would; a fresh agent then finishes the cycle, as the restarted
//! `DaemonSet` pod does after boot. In a cluster, `kube::Client::try_default()` gives the client
//! and [`sentinel::CommandRebooter`] or [`sentinel::SignalRebooter`] reboots the host.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use agent::{Agent, CancellationToken, Config, Deps, Metrics, Outcome, Parts};
//! use k8s_openapi::api::core::v1::Node;
//! use kube::Api;
//! use kubesim::cluster::Cluster;
//! use lock::RebootLock as _;
//!
//! /// Records the reboot and stops the agent (the host would go down here).
//! struct RecordingRebooter {
//!     calls: Arc<Mutex<u32>>,
//!     stop: CancellationToken,
//! }
//!
//! #[async_trait::async_trait]
//! impl sentinel::Rebooter for RecordingRebooter {
//!     async fn reboot(&self) -> Result<(), sentinel::RebootError> {
//!         *self.calls.lock().unwrap() += 1;
//!         self.stop.cancel();
//!         Ok(())
//!     }
//! }
//!
//! fn deps(client: &kube::Client, sentinel: &std::path::Path, rebooter: RecordingRebooter)
//!     -> Deps {
//!     let parts = Parts {
//!         lock: lock::LockConfig::default(), // kured's annotation on kube-system/kured
//!         drain: drain::DrainOptions::default(),
//!         blockers: blockers::BlockerSpec::default(),
//!         sentinel: Arc::new(sentinel::FileSentinel::new(sentinel)),
//!         rebooter: Arc::new(rebooter),
//!         notifications: None,
//!         gate: None,   // no health gate: release once uncordoned, as kured
//!         events: None, // no Kubernetes Events
//!     };
//!     Deps::for_client(client, parts, Metrics::new()).expect("the default parts are valid")
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder()
//!     .nodes(2)
//!     .daemonset("kube-system", "kured") // the lock lives on kured's DaemonSet
//!     .pods_per_node(2)
//!     .shutdown_time(Duration::from_millis(20))
//!     .start()
//!     .await?;
//! let client = cluster.client()?;
//! let mut config = Config::new("node-0");
//! config.period = Duration::from_millis(200); // kured's default is 1 h
//!
//! // The host needs a reboot: the sentinel file exists (`touch /var/run/reboot-required`).
//! let sentinel = std::env::temp_dir().join(format!("reboot-required-{}", std::process::id()));
//! std::fs::write(&sentinel, "")?;
//!
//! let calls = Arc::new(Mutex::new(0));
//! let stop = CancellationToken::new();
//! let rebooter = RecordingRebooter { calls: calls.clone(), stop: stop.clone() };
//! let agent = Agent::new(config.clone(), deps(&client, &sentinel, rebooter));
//! let outcome = tokio::time::timeout(Duration::from_secs(20), agent.run(stop)).await?;
//! assert_eq!(outcome, Outcome::Rebooted);
//! assert_eq!(*calls.lock().unwrap(), 1);
//!
//! // Before the reboot it took the lock, cordoned and drained node-0.
//! let nodes: Api<Node> = Api::all(client.clone());
//! let cordoned = |n: Node| n.spec.and_then(|s| s.unschedulable) == Some(true);
//! assert!(cordoned(nodes.get("node-0").await?));
//! let lock = lock::LockConfig::default().build(client.clone())?;
//! assert_eq!(lock.holders().await?[0].node_id, "node-0");
//!
//! // After boot (the sentinel is gone), a fresh agent uncordons the node, then releases.
//! std::fs::remove_file(&sentinel)?;
//! let stop = CancellationToken::new();
//! let rebooter = RecordingRebooter { calls: calls.clone(), stop: stop.clone() };
//! let agent = Agent::new(config, deps(&client, &sentinel, rebooter));
//! let after_boot = tokio::spawn(agent.run(stop.clone()));
//! tokio::time::timeout(Duration::from_secs(20), async {
//!     while !lock.holders().await.is_ok_and(|h| h.is_empty()) {
//!         tokio::time::sleep(Duration::from_millis(50)).await;
//!     }
//! })
//! .await?;
//! assert!(!cordoned(nodes.get("node-0").await?));
//! stop.cancel();
//! assert_eq!(after_boot.await?, Outcome::Cancelled);
//! assert_eq!(*calls.lock().unwrap(), 1, "no second reboot");
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod agent;
mod attempt;
mod clock;
mod config;
mod deps;
mod failure;
mod guard;
mod metrics;

#[cfg(test)]
mod mock_tests;

pub use agent::{Agent, Outcome};
pub use attempt::{AttemptGate, KubeAttemptGate};
pub use clock::{Clock, ManualClock, SystemClock, first_tick_delay};
pub use config::{
    CORDONED_BY_ANNOTATION, Config, DEFAULT_PERIOD, LockWaitMode,
    MOST_RECENT_REBOOT_NEEDED_ANNOTATION, REBOOT_IN_PROGRESS_ANNOTATION,
};
pub use deps::{Deps, DepsError, EVENT_CONTROLLER, Parts};
pub use failure::REBOOT_FAILURE_ANNOTATION;
pub use guard::{
    AUTOSCALER_GUARD_ANNOTATIONS, AUTOSCALER_GUARD_MARKER_ANNOTATION, DO_NOT_DISRUPT_ANNOTATION,
    SCALE_DOWN_DISABLED_ANNOTATION,
};
pub use metrics::{Metrics, NodeLabel, PdbLabel, ReasonLabel, bind, router, serve};
/// The cancellation token type [`Agent::run`] takes.
pub use tokio_util::sync::CancellationToken;

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
