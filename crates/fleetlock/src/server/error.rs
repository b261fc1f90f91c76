//! [`ServeError`]: why the server could not start or stopped serving.

use std::net::SocketAddr;

use crate::store::StoreError;

/// Server start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
    #[error("opening the lock store: {0}")]
    Store(#[from] StoreError),
    /// Kubernetes mode could not start.
    #[error("kubernetes: {0}")]
    Kubernetes(String),
    /// Binding or serving failed.
    #[error("serving on {addr}: {source}")]
    Io {
        /// The listen address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}
