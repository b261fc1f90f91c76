//! kubesim: an in-memory Kubernetes API server over HTTP, faithful to the API conventions that
//! kube-rs and `kubectl` rely on, for tests, benchmarks and the reboot simulator.
//!
//! The pieces:
//! - [`store`]: objects, one global resourceVersion, the watch event log and write history;
//! - [`server`]: the HTTP API (discovery, CRUD, patch, watch, eviction) over the store;
//! - [`controllers`]: simulated kubelet, `ReplicaSet`/`Deployment`, `DaemonSet` and PDB controllers;
//! - [`cluster`]: a builder that seeds a cluster and serves it on 127.0.0.1.
//!
//! ```
//! use k8s_openapi::api::core::v1::Node;
//! use kube::api::{Api, ListParams};
//! use kubesim::cluster::Cluster;
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

pub mod admission;
pub mod auth;
pub mod cluster;
pub mod controllers;
pub mod deletion;
pub mod discovery;
pub mod errors;
pub mod eviction;
pub mod faults;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod validation;
pub mod watch;

/// The README's example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
