//! kubesim: an in-memory Kubernetes API server over HTTP, faithful to the API conventions that
//! kube-rs and `kubectl` rely on, for tests, benchmarks and the reboot simulator.
//!
//! The pieces:
//! - [`store`]: objects, one global resourceVersion, the watch event log and write history;
//! - [`server`]: the HTTP API (discovery, CRUD, patch, watch, eviction) over the store;
//! - `controllers`: simulated kubelet, `ReplicaSet`/`Deployment`, `DaemonSet` and PDB controllers;
//! - [`cluster`]: a builder that seeds a cluster and serves it on 127.0.0.1;
//! - [`faults`] and [`auth`]: middlewares that inject API faults and check bearer tokens;
//! - [`event_conversion`]: the core/v1 and events.k8s.io/v1 shapes of one stored Event.
//!
//! What tests and users need is re-exported here ([`Cluster`], [`RunningCluster`],
//! [`FaultConfig`], [`AuthConfig`], [`well_known`], …); the modules stay public as paths to the
//! same items. [`patch`] and [`selector`] are public for property tests and fuzzing.
//!
//! ```
//! use k8s_openapi::api::core::v1::Node;
//! use kube::api::{Api, ListParams};
//! use kubesim::Cluster;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Three Ready nodes served on 127.0.0.1 (a free port), controllers running.
//! let cluster = Cluster::builder().nodes(3).record_history(true).start().await?;
//! let nodes: Api<Node> = Api::all(cluster.client()?);
//! assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 3);
//! // With `record_history`, every write is kept, for invariant checks.
//! assert!(!cluster.history().is_empty());
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```

// `ApiError` carries a whole `Status` body; errors are the cold path of a test server, so the
// size of `Result<_, ApiError>` does not matter here.
#![allow(clippy::result_large_err)]

mod admission;
pub mod auth;
pub mod cluster;
mod controllers;
mod deletion;
pub mod errors;
pub mod event_conversion;
mod eviction;
pub mod faults;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod server;
pub mod store;
mod table;
mod validation;

pub use auth::{AuthConfig, Rule, auth_layer};
pub use cluster::{
    Cluster, ClusterBuilder, ClusterError, IntOrPercent, PdbSpec, RunningCluster,
    install_crypto_provider, matching_over_time,
};
pub use errors::ApiError;
pub use faults::{FaultConfig, FaultStats, Faults, fault_layer};
pub use patch::{json_patch, merge_patch, strategic_merge_patch};
pub use resources::{ResourceType, well_known};
pub use selector::{FieldSelector, LabelSelector};
pub use server::{RequestInfo, ServerOptions, ServerState, active_watches, request_info, router};
pub use store::{Event, EventType, Store, StoreConfig, object_key};

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
