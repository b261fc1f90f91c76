//! The health gate after a reboot: a rebooted node keeps its lock (or FleetLock slot) until it
//! is healthy again, so a rolling reboot stops by itself instead of spreading a bad kernel or
//! a broken node image to the next node.
//!
//! Two parts:
//!
//! - **The attempt record** ([`Attempt`]): when the lock is taken, before the drain,
//!   [`prepare_attempt`] reads the Node and its pods — the node's boot ID, the workloads whose
//!   pods the drain will evict (a ReplicaSet resolved to its Deployment), the
//!   PodDisruptionBudgets covering those pods — and [`record_attempt`] keeps it in the Node
//!   annotation [`ATTEMPT_ANNOTATION`] (never in kured's lock JSON, which Go kured rewrites).
//!   After the reboot, also in a restarted agent, [`read_attempt`] gives it back; the boot ID
//!   tells whether the node rebooted at all ([`node_boot`], [`NodeBoot::rebooted_since`]).
//! - **The gate** ([`HealthGate`]): [`HealthGate::check`] evaluates, in this order, the Node
//!   Ready with a new boot ID; every DaemonSet pod on the node Ready; every recorded PDB back
//!   to its desired healthy count; every recorded workload with all replicas ready;
//!   optionally a Prometheus query that must return nothing ([`PromCheck`], through the
//!   `blockers` crate's client) and a pod selector whose pods must all be Ready.
//!   [`HealthGate::wait`] re-checks until everything passes or the timeout is reached: a
//!   [`GateVerdict::Failed`] is a **gate failure**, which should stop the rollout.
//!
//! A failed API read is never a pass: it is an [`Unhealthy::CheckFailed`] reason and the gate
//! keeps waiting. Every reason displays as one line for logs and Events.
//!
//! On kubesim (the workspace's in-memory API server, a dev-dependency): the gate holds while
//! the node has not rebooted, and passes once it is back and its pods are Ready. With a real
//! cluster, build the client from `kube::Config::infer()`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use gate::{GateConfig, GateStatus, GateVerdict, HealthGate, Unhealthy};
//! use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder()
//!     .nodes(2)
//!     .deployment("shop", "web", 2, Some(PdbSpec::MinAvailable(IntOrPercent::Int(2))))
//!     .daemonset("kube-system", "proxy")
//!     .kubelet_start_delay(Duration::from_millis(100))
//!     .start()
//!     .await?;
//! let client = cluster.client()?;
//!
//! // When the lock is taken: what will the reboot of node-0 disturb?
//! let attempt = gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now()).await?;
//! assert_eq!(attempt.workloads[0].to_string(), "deployment shop/web");
//! assert_eq!(attempt.pdbs[0].to_string(), "shop/web-pdb");
//! gate::record_attempt(&client, "node-0", &attempt).await?;
//!
//! let gate = HealthGate::for_client(client.clone(), GateConfig {
//!     timeout: Duration::from_secs(30),
//!     poll: Duration::from_millis(50),
//!     ..GateConfig::default()
//! })?;
//! // Not rebooted yet: the gate holds.
//! assert_eq!(
//!     gate.check("node-0", &attempt).await?,
//!     GateStatus::Waiting(vec![Unhealthy::BootIdUnchanged { node: "node-0".into() }])
//! );
//!
//! // The reboot; after it (also in a restarted agent) the record is read back.
//! cluster.reboot_node("node-0", Duration::from_millis(100))?;
//! let attempt = gate::read_attempt(&client, "node-0").await?.expect("recorded");
//! let verdict = gate.wait("node-0", &attempt, Instant::now()).await;
//! assert!(matches!(verdict, GateVerdict::Passed { .. }), "{verdict:?}");
//! assert!(gate::node_boot(&client, "node-0").await?.rebooted_since(&attempt));
//! gate::clear_attempt(&client, "node-0").await?;
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]

mod attempt;
mod checks;
mod config;
mod error;
mod gate;
mod prepare;
mod status;
mod verdict;

pub use attempt::{
    ATTEMPT_ANNOTATION, Attempt, NodeBoot, ObjectRef, WorkloadRef, clear_attempt, node_boot,
    read_attempt, record_attempt,
};
pub use config::{DEFAULT_POLL, DEFAULT_TIMEOUT, GateConfig, PromCheck};
pub use error::GateError;
pub use gate::HealthGate;
pub use prepare::prepare_attempt;
pub use verdict::{GateStatus, GateVerdict, Unhealthy, describe};

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
