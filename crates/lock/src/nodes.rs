//! Node existence for the stale-holder rule: the Kubernetes implementation and a cache that
//! keeps many blocked waiters from each asking about every holder on every change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};

use crate::decision::NodeDirectory;
use crate::error::LockError;

/// Default reuse time of a positive node-existence answer.
pub const DEFAULT_NODE_CACHE: Duration = Duration::from_secs(30);

/// [`NodeDirectory`] over the Kubernetes API: `GET /api/v1/nodes/{name}`, 404 = gone.
#[derive(Clone)]
pub struct KubeNodeDirectory {
    api: Api<Node>,
}

impl KubeNodeDirectory {
    /// A directory using `client`.
    pub fn new(client: Client) -> Self {
        Self {
            api: Api::all(client),
        }
    }
}

impl std::fmt::Debug for KubeNodeDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeDirectory").finish_non_exhaustive()
    }
}

#[async_trait]
impl NodeDirectory for KubeNodeDirectory {
    async fn node_exists(&self, name: &str) -> Result<bool, LockError> {
        self.api
            .get_opt(name)
            .await
            .map(|n| n.is_some())
            .map_err(LockError::Api)
    }
}

/// Reuses "exists" answers for a while; "gone" and errors are never cached (a gone node stays
/// gone, and an error must be asked again).
pub struct CachedNodeDirectory {
    inner: Arc<dyn NodeDirectory>,
    ttl: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl CachedNodeDirectory {
    /// Caches `inner`'s positive answers for `ttl` (zero disables the cache).
    pub fn new(inner: Arc<dyn NodeDirectory>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl std::fmt::Debug for CachedNodeDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedNodeDirectory")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl NodeDirectory for CachedNodeDirectory {
    async fn node_exists(&self, name: &str) -> Result<bool, LockError> {
        if !self.ttl.is_zero() {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if seen.get(name).is_some_and(|at| at.elapsed() < self.ttl) {
                return Ok(true);
            }
        }
        let exists = self.inner.node_exists(name).await?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if exists && !self.ttl.is_zero() {
            // Bounded by the holders ever seen; drop stale entries as we go.
            seen.retain(|_, at| at.elapsed() < self.ttl);
            seen.insert(name.to_string(), Instant::now());
        } else {
            seen.remove(name);
        }
        Ok(exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::MockNodeDirectory;
    use mockall::predicate::eq;

    #[tokio::test]
    async fn positive_answers_are_reused_within_the_ttl() {
        let mut inner = MockNodeDirectory::new();
        inner
            .expect_node_exists()
            .with(eq("a"))
            .times(1)
            .returning(|_| Ok(true));
        let cache = CachedNodeDirectory::new(Arc::new(inner), Duration::from_secs(60));
        for _ in 0..5 {
            assert!(cache.node_exists("a").await.unwrap());
        }
    }

    #[tokio::test]
    async fn gone_and_errors_are_asked_again() {
        let mut inner = MockNodeDirectory::new();
        inner
            .expect_node_exists()
            .with(eq("gone"))
            .times(2)
            .returning(|_| Ok(false));
        inner
            .expect_node_exists()
            .with(eq("flaky"))
            .times(2)
            .returning(|_| Err(LockError::WatchEnded));
        let cache = CachedNodeDirectory::new(Arc::new(inner), Duration::from_secs(60));
        for _ in 0..2 {
            assert!(!cache.node_exists("gone").await.unwrap());
            assert!(cache.node_exists("flaky").await.is_err());
        }
    }

    #[tokio::test]
    async fn answers_expire_and_zero_ttl_disables_the_cache() {
        let mut inner = MockNodeDirectory::new();
        inner.expect_node_exists().times(2).returning(|_| Ok(true));
        let cache = CachedNodeDirectory::new(Arc::new(inner), Duration::from_millis(30));
        assert!(cache.node_exists("a").await.unwrap());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(cache.node_exists("a").await.unwrap());

        let mut inner = MockNodeDirectory::new();
        inner.expect_node_exists().times(3).returning(|_| Ok(true));
        let uncached = CachedNodeDirectory::new(Arc::new(inner), Duration::ZERO);
        for _ in 0..3 {
            assert!(uncached.node_exists("a").await.unwrap());
        }
    }
}
