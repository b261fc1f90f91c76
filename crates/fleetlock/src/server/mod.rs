//! The HTTP server: FleetLock endpoints plus health, readiness, metrics, status and admin.
//!
//! - `service`: the [`FleetLock`] service (configuration, store, metrics, node handler) and its
//!   lock operations;
//! - `http`: the axum handlers, the [`router`] and the JSON error answers, with the bearer-token
//!   checks in `auth`;
//! - `serve`: opening the store, building the node handler, binding, TLS, [`serve()`];
//! - `error`: [`ServeError`].

mod auth;
mod error;
mod http;
mod serve;
mod service;

pub use self::error::ServeError;
pub use self::http::{AdminClearHalt, AdminRelease, router};
#[cfg(feature = "kubernetes")]
pub use self::serve::kubernetes_node_handler;
pub use self::serve::{KubeClient, open_store, serve, serve_on, serve_tls_on};
pub use self::service::{FleetLock, GroupStatus, HaltCleared, Status};
