//! reboot-sim: a whole rolling reboot of a simulated cluster.
//!
//! [`simulate`] starts kubesim with a realistic cluster (Deployments with
//! `PodDisruptionBudgets`, a `kured` `DaemonSet`, pods on every node), runs one real
//! [`agent::Agent`] per node (the code the kured-rs `DaemonSet` runs), marks every node
//! "reboot required" and waits until every node rebooted once. A "reboot" stops the node's
//! agent, flips the node `NotReady` with a new `bootID` in kubesim, and starts a fresh agent once
//! the node is Ready again: the agent finishes the cycle (uncordon, release) from what the
//! cluster tells it, as after a real reboot.
//!
//! The [`Report`] is computed from kubesim's recorded write history (cordons, PDB-covered
//! pods) and from the times the simulator observed each node's phase.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let options = reboot_sim::SimOptions { nodes: 5, concurrency: 2, ..Default::default() };
//! let report = reboot_sim::simulate(&options, std::sync::Arc::new(|_: &reboot_sim::Transition| {})).await?;
//! assert!(report.violations.is_empty());
//! # Ok(()) }
//! ```

pub mod chaos;
mod gate_report;
mod options;
mod phase;
mod report;
mod rollout;
mod sim;

pub use gate_report::{GateReport, NodeFailure};
pub use options::{CrashRecovery, FaultSpec, SimOptions};
pub use phase::{Phase, Transition};
pub use report::{Handoff, Report, pdb_healthy, percentile};
pub use sim::simulate;
