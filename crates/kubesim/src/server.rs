//! The HTTP API over the [`Store`]: routing, discovery, CRUD, patch, and the glue to
//! [`crate::watch`], [`crate::eviction`] and [`crate::deletion`].
//!
//! SKELETON: the shared types below are the agreed interface between the modules; the router
//! is being built.

use std::sync::Arc;
use std::time::Duration;

use crate::resources::ResourceType;
use crate::store::Store;

/// Server behaviour switches.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Interval between watch BOOKMARK events when the client asked for them (real: ~1 min).
    pub bookmark_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
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

/// The list/watch query parameters (`?labelSelector=…&watch=true…`), unparsed values.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `resourceVersion`
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`
    pub resource_version_match: Option<String>,
    /// `limit`
    pub limit: Option<usize>,
    /// `continue`
    pub continue_token: Option<String>,
    /// `watch` (true for `watch=true` or `watch=1`)
    pub watch: bool,
    /// `timeoutSeconds`
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`
    pub send_initial_events: Option<bool>,
}

/// What a request is, in RBAC terms: verb, resource, subresource, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; for non-resource URLs the
    /// lowercase HTTP method.
    pub verb: String,
    /// The resource type, when the path names a served one.
    pub resource: Option<&'static ResourceType>,
    /// `status`, `eviction`, …
    pub subresource: Option<String>,
    /// The namespace in the path.
    pub namespace: Option<String>,
    /// The object name in the path.
    pub name: Option<String>,
    /// The plural resource name in the path, even when kubesim does not serve it.
    pub resource_name: Option<String>,
    /// The API group in the path (`""` for core).
    pub group: Option<String>,
}
