//! FleetLock for Zincati (Fedora CoreOS, Flatcar): protocol types, an axum server, a client
//! that sends exactly what Zincati sends, and compare-and-swap lock stores (memory, embedded
//! file, etcd, Kubernetes Leases).
//!
//! Every "not yet" answer is a non-2xx with a `{"kind", "value"}` JSON body: Zincati reboots
//! on any 2xx.
//!
//! Cargo features (additive): none by default — the protocol types ([`protocol`]) and the
//! [`Client`]; `server` — the axum server, TLS, metrics, configuration and the memory and file
//! stores; `etcd` — the etcd store; `kubernetes` — the Lease store, node handling (cordon
//! and drain before granting) and stop-the-line (`rollout`: the health gate at steady-state,
//! failures and the halt, kept in the group's store by `halt`). Without `etcd`/`kubernetes`,
//! such a `StoreSpec` still parses and opening it reports the missing feature.
//!
//! With `server`: a server on a free loopback port with the (non-persistent) memory store, and two clients
//! competing for the one slot of group `default`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use fleetlock::{Client, ClientError, FleetLock, ServerConfig, StoreSpec};
//!
//! // reqwest is built with rustls and no default crypto provider: pick ring.
//! let _ = rustls::crypto::ring::default_provider().install_default();
//!
//! // One group, `default`, with 1 slot.
//! let config = ServerConfig { store: StoreSpec::Memory, ..ServerConfig::default() };
//! let store = fleetlock::open_store(&config.store, None).await?;
//! let app = Arc::new(FleetLock::new(config, store)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let base = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(fleetlock::serve_on(listener, app, async {
//!     let _ = stopped.await;
//! }));
//!
//! let http = reqwest::Client::new();
//! let a = Client::new(base.clone(), "node-a", "default", http.clone())?;
//! let b = Client::new(base, "node-b", "default", http)?;
//! a.pre_reboot().await?; // 200: node-a may reboot
//! a.pre_reboot().await?; // asking again while holding the slot is fine
//! match b.pre_reboot().await {
//!     Err(ClientError::Rejected { status, body, .. }) => {
//!         assert_eq!(status.as_u16(), 409); // "not yet" is never a 2xx
//!         assert_eq!(body.kind, "failed_lock_semaphore_full");
//!     }
//!     other => panic!("node-b must wait: {other:?}"),
//! }
//! a.steady_state().await?; // node-a rebooted and is back: its slot is free
//! b.pre_reboot().await?;
//! b.steady_state().await?;
//!
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! `serve` does the same from a `ServerConfig` (store, listen address, optional TLS from
//! `TlsFiles`, tokens), as the `fleetlock-rs` binary does; the binary builds one Kubernetes
//! client and passes it in when the Lease store or node handling needs it.

// FleetLock, Zincati and OpenMetrics are product names in prose, not code identifiers.
#![allow(clippy::doc_markdown)]

pub mod client;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod halt;
#[cfg(feature = "kubernetes")]
pub mod kube_nodes;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "kubernetes")]
pub mod node_id;
pub mod protocol;
#[cfg(feature = "kubernetes")]
pub mod rollout;
#[cfg(feature = "server")]
pub mod rollout_config;
#[cfg(feature = "server")]
pub mod semaphore;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod tls;

pub use client::{Client, ClientError};
#[cfg(feature = "server")]
pub use config::{ConfigError, FileConfig, ServerConfig, TlsFiles};
pub use protocol::{ErrorBody, ErrorKind, LockRequest, ProtocolError};
#[cfg(feature = "server")]
pub use rollout_config::RolloutConfig;
#[cfg(feature = "server")]
pub use server::{
    FleetLock, KubeClient, ServeError, Status, open_store, router, serve, serve_on, serve_tls_on,
};
#[cfg(feature = "server")]
pub use store::{LockStore, StoreError, StoreSpec};
