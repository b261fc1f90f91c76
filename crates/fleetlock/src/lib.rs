//! FleetLock for Zincati (Fedora CoreOS, Flatcar): protocol types, an axum server, a client
//! that sends exactly what Zincati sends, and compare-and-swap lock stores (memory, embedded
//! file, etcd).
//!
//! Every "not yet" answer is a non-2xx with a `{"kind", "value"}` JSON body: Zincati reboots
//! on any 2xx.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fleetlock::ServeError> {
//! use fleetlock::{ServerConfig, StoreSpec};
//! let config = ServerConfig {
//!     store: StoreSpec::File("./fleetlock.db".into()),
//!     ..ServerConfig::default()
//! };
//! fleetlock::serve(config, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

// FleetLock, Zincati and OpenMetrics are product names in prose, not code identifiers.
#![allow(clippy::doc_markdown)]

pub mod client;
pub mod config;
pub mod kube_nodes;
pub mod metrics;
pub mod node_id;
pub mod protocol;
pub mod semaphore;
pub mod server;
pub mod store;
pub mod tls;

pub use client::{Client, ClientError};
pub use config::{ConfigError, FileConfig, ServerConfig, TlsFiles};
pub use protocol::{ErrorBody, ErrorKind, LockRequest, ProtocolError};
pub use server::{
    FleetLock, ServeError, Status, open_store, router, serve, serve_on, serve_tls_on,
};
pub use store::{LockStore, StoreError, StoreSpec};
