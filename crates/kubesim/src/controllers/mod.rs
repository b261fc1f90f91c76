//! Simulated cluster behaviour: a kubelet for every node, the ReplicaSet/Deployment, DaemonSet
//! and PodDisruptionBudget controllers, and a minimal scheduler.
//!
//! Every controller is one tokio task that follows the [`Store`]'s event log
//! ([`Store::subscribe`] + [`Store::events_since`]; a full resync when the log was compacted
//! past it), collects the keys an event makes "dirty", and reconciles them by reading the
//! current state from the store and writing straight to it (not over HTTP). Delays (pod start,
//! shutdown, rescheduling) are timers inside the task. [`Controllers`] starts them and stops them
//! (explicitly with [`Controllers::stop`] or by being dropped).
//!
//! The first writes the TTL and DaemonSet controllers make to a new Node or DaemonSet are
//! applied by the server before it answers the create (`after_create`), so that a client's
//! creation resourceVersion is stale at once, as on a real cluster.
//!
//! The kubelet is one task for all nodes: per node it behaves as a kubelet would (pods bound to
//! a Ready node start, terminating pods stop), see [`kubelet`].

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]
// `ApiError` (the crate-wide error type, ~144 bytes) is returned unboxed everywhere.
#![allow(clippy::result_large_err)]

mod after_create;
mod config;
pub(crate) mod daemonset;
pub(crate) mod kubelet;
mod objects;
pub(crate) mod pdb;
mod reconciler;
pub(crate) mod replicaset;
mod running;
pub(crate) mod sched;
#[cfg(test)]
mod tests;

pub(crate) use after_create::after_create;
pub(crate) use config::ControllerConfig;
#[cfg(test)]
pub(crate) use objects::{node_ready, pod_ready};
pub(crate) use running::Controllers;
