//! The state every request handler shares: the store and the server's behaviour switches.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Server behaviour switches.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Interval between watch BOOKMARK events when the client asked for them (real: ~1 min).
    pub bookmark_interval: Duration,
    /// Apply the first writes the cluster's controllers make to a new object (the TTL
    /// annotation of a Node, a `DaemonSet`'s first status) before answering its create, so that
    /// the resourceVersion in the create response is already stale (default off: a bare API
    /// server; [`crate::Cluster`] turns it on with its controllers).
    pub controller_writes_after_create: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
            controller_writes_after_create: false,
        }
    }
}

/// State shared by every request handler.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The object store.
    pub store: Arc<Store>,
    /// Behaviour switches.
    pub options: Arc<ServerOptions>,
}

impl ServerState {
    /// State over `store` with default options.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            options: Arc::new(ServerOptions::default()),
        }
    }
}
