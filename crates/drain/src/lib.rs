//! Cordon, taint and drain a node before a reboot.
//!
//! - [`NodeOps`] ([`KubeNodeOps`]): cordon/uncordon reporting the prior state (leave an
//!   admin-cordoned node cordoned after the reboot), a `PreferNoSchedule` taint added and removed
//!   by read-modify-write with the read `resourceVersion` (safe under concurrent writers), node
//!   labels and annotations; [`parse_labels`] for `key=value` flags.
//! - [`Drainer`] ([`DrainEngine`]): kubectl's pod selection ([`select`]), evictions through the
//!   Eviction API so PodDisruptionBudgets are honoured, many in flight at once (bounded by
//!   [`DrainOptions::max_in_flight`]), 429 and 5xx retried with jittered capped backoff — and an
//!   eviction a PDB refused retried as soon as a watch on the PDBs shows the budget allows it —,
//!   waiting by uid on one watch instead of polling each pod, a timeout that lists what is left,
//!   [`DrainEvent`]s for progress (callback or channel), a report of the PDBs that keep the
//!   drain stuck ([`DrainOptions::pdb_stuck_after`], [`PdbStuck`]), and an opt-in escalation
//!   that deletes the pods a PDB keeps blocking — only those matching a selector
//!   ([`PdbEscalation`]).
//!
//! Against the real `kubectl drain` on identical kubesim clusters (110 pods, 10 of them under
//! PDBs), this engine takes about 0.06× kubectl's wall time with about 0.55× its API requests:
//! see `examples/drain_vs_kubectl.rs` and the workspace `BENCHMARKS.md`.
//!
//! Cordon and drain a node of a cluster — here kubesim, the workspace's in-memory API server
//! (a dev-dependency), with a Deployment of 4 pods under a PodDisruptionBudget that allows one
//! pod down at a time. With a real cluster, take the config from `kube::Config::infer()`.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use drain::{DrainEngine, DrainEvent, DrainOptions, Drainer, KubeNodeOps, NodeOps, SkipReason};
//! use k8s_openapi::api::core::v1::{Node, Pod};
//! use kube::api::{Api, ListParams};
//! use kubesim::cluster::{Cluster, IntOrPercent, PdbSpec};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder()
//!     .nodes(2)
//!     .deployment("shop", "web", 4, Some(PdbSpec::MaxUnavailable(IntOrPercent::Int(1))))
//!     .daemonset("kube-system", "kured")
//!     .shutdown_time(Duration::from_millis(50))
//!     .reschedule_delay(Duration::from_millis(20))
//!     .kubelet_start_delay(Duration::from_millis(20))
//!     .start()
//!     .await?;
//! let node = "node-0";
//! let pods: Api<Pod> = Api::all(cluster.client()?);
//! let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
//! let before = pods.list(&on_node).await?.items.len();
//!
//! let ops = KubeNodeOps::new(cluster.client()?);
//! let was_cordoned = ops.cordon(node).await?;
//! assert!(!was_cordoned, "an admin had not cordoned it");
//!
//! let refusals = Arc::new(Mutex::new(Vec::new()));
//! let seen = refusals.clone();
//! let drainer = DrainEngine::for_config(
//!     cluster.kube_config(),
//!     DrainOptions {
//!         grace_period_seconds: 30,
//!         timeout: Duration::from_secs(30),
//!         ..DrainOptions::default()
//!     },
//! )?
//! .on_event(move |e| {
//!     if let DrainEvent::BlockedByPdb { pod, message, .. } = e {
//!         seen.lock().unwrap().push(format!("{pod}: {message}"));
//!     }
//! });
//! let report = drainer.drain(node).await?;
//!
//! // Every pod but the DaemonSet's was evicted (and waited for); the budget was honoured:
//! // the second pod of `web` had to wait until the first one was replaced on node-1.
//! assert_eq!(report.evicted.len() + report.skipped.len(), before);
//! assert!(report.skipped.iter().all(|(_, why)| *why == SkipReason::DaemonSet));
//! assert_eq!(report.evicted.len(), 2, "{report:?}");
//! assert!(!refusals.lock().unwrap().is_empty(), "the PDB never refused an eviction");
//! let left = pods.list(&on_node).await?.items;
//! assert!(left.iter().all(|p| p.metadata.name.as_deref().unwrap_or("").starts_with("kured")));
//!
//! // … reboot; after boot, uncordon only if we cordoned it.
//! if !was_cordoned {
//!     ops.uncordon(node).await?;
//! }
//! let n = Api::<Node>::all(cluster.client()?).get(node).await?;
//! assert_ne!(n.spec.and_then(|s| s.unschedulable), Some(true));
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Two kube 5 pitfalls this crate avoids (see [`api`]): `Api::evict` sends its options as
//! `delete_options`, which the API server drops (`Warning: 299 unknown field`), so a grace
//! period set there never arrives — the Eviction is POSTed as hand-built JSON instead; and the
//! default client retries every 429 up to 15 times inside the request, hiding PDB refusals —
//! [`DrainEngine::for_config`] builds its client with `default_retry` off.

// Kubernetes kind names (DaemonSet, PodDisruptionBudget, …) read better unquoted in prose.
#![allow(clippy::doc_markdown)]

pub mod api;
mod engine;
mod error;
mod label_selector;
mod labels;
mod node;
mod retry;
pub mod select;
mod types;

#[cfg(any(test, feature = "mock"))]
pub use api::MockPodApi;
pub use api::{EvictResponse, KubePodApi, PodApi, PodEvent, PodEventStream, PodList};
pub use backoff::{Backoff, Jitter};
#[cfg(any(test, feature = "mock"))]
pub use engine::MockDrainer;
pub use engine::{
    DEFAULT_MAX_IN_FLIGHT, DrainEngine, DrainEvent, DrainOptions, DrainReport, Drainer, EventSink,
    PdbEscalation, PdbStuck,
};
pub use error::{
    DrainError, EvictionFailure, LabelParseError, NodeOpsError, PendingPod, PendingState,
};
pub use label_selector::{SelectorError, check_label_selector};
pub use labels::{InvalidLabel, check_label, parse_labels};
#[cfg(any(test, feature = "mock"))]
pub use node::MockNodeOps;
pub use node::{KubeNodeOps, NodeOps, NodeState, PREFER_NO_SCHEDULE};
pub use retry::DEFAULT_RETRY;
pub use select::{Refusal, SkipReason};
pub use types::PodRef;

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
