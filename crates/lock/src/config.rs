//! One configuration for both backends ([`LockConfig`]) and the one constructor of a lock
//! from it ([`LockConfig::build`]): kured-rs, reboot-sim and the tests all build their lock here.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use backoff::Backoff;
use jiff::SignedDuration;
use kube::Client;

use crate::decision::LockPolicy;
use crate::error::LockError;
use crate::nodes::DEFAULT_NODE_CACHE;
use crate::retry::DEFAULT_RETRY;
use crate::{DaemonSetLock, LeaseLock, RebootLock};

/// kured's default namespace of the lock's `DaemonSet` (`--ds-namespace`).
pub const DEFAULT_NAMESPACE: &str = "kube-system";
/// kured's default name of the lock's `DaemonSet` (`--ds-name`).
pub const DEFAULT_NAME: &str = "kured";
/// kured's default lock annotation (`--lock-annotation`).
pub const DEFAULT_ANNOTATION: &str = "weave.works/kured-node-lock";

/// Which object holds the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// kured's annotation on its `DaemonSet` ([`DaemonSetLock`]): Go kured shares it.
    #[default]
    Annotation,
    /// `coordination.k8s.io/v1` Leases, one per slot ([`LeaseLock`]).
    Lease,
}

impl Backend {
    /// Every backend, in the order of their names.
    pub const ALL: [Self; 2] = [Self::Annotation, Self::Lease];

    /// The backend's name (`annotation`, `lease`), as flags spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Annotation => "annotation",
            Self::Lease => "lease",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = LockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                LockError::Config(format!(
                    "unknown lock backend {s:?} (expected annotation or lease)"
                ))
            })
    }
}

/// How the annotation backend writes (both with the read resourceVersion as a precondition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteMethod {
    /// PUT the object as read, with the new annotation (RBAC verb `update`, as Go kured).
    #[default]
    Update,
    /// JSON merge patch of the annotation and `metadata.resourceVersion` (RBAC verb `patch`).
    MergePatch,
}

/// Where the lock lives and how it behaves, for either backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfig {
    /// Which object holds the lock (`--lock-backend`, default the annotation).
    pub backend: Backend,
    /// Namespace of the `DaemonSet` or the Leases (`--ds-namespace`, default `kube-system`).
    pub namespace: String,
    /// The `DaemonSet`'s name, or the Leases' name prefix: slots are `<name>-0 … <name>-(c-1)`
    /// (`--ds-name`, default `kured`).
    pub name: String,
    /// The annotation holding kured-format records (`--lock-annotation`, default
    /// [`DEFAULT_ANNOTATION`]).
    pub annotation: String,
    /// `--concurrency` and `--lock-ttl`.
    pub policy: LockPolicy,
    /// Retries of a read-decide-write round after conflicts and transient errors
    /// (default [`DEFAULT_RETRY`](crate::DEFAULT_RETRY)).
    pub retry: Backoff,
    /// How the annotation backend writes (the Lease backend ignores it).
    pub write_method: WriteMethod,
    /// How long a "this holder's node exists" answer is reused before asking again (zero =
    /// always ask). Bounds the Node GETs of many blocked waiters; delays the detection of a
    /// deleted holder by at most this much.
    pub node_cache: Duration,
}

impl Default for LockConfig {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            namespace: DEFAULT_NAMESPACE.into(),
            name: DEFAULT_NAME.into(),
            annotation: DEFAULT_ANNOTATION.into(),
            policy: LockPolicy::default(),
            retry: DEFAULT_RETRY,
            write_method: WriteMethod::default(),
            node_cache: DEFAULT_NODE_CACHE,
        }
    }
}

impl LockConfig {
    /// Sets the backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets the concurrency (`--concurrency`).
    pub fn concurrency(mut self, concurrency: u32) -> Self {
        self.policy.concurrency = concurrency;
        self
    }

    /// Sets the configured TTL (`--lock-ttl`; zero = unset).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.policy.ttl = SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX);
        self
    }

    /// Sets how long a positive node-existence answer is reused.
    pub fn node_cache(mut self, ttl: Duration) -> Self {
        self.node_cache = ttl;
        self
    }

    /// The Lease names of the slots (Lease backend).
    pub fn slot_names(&self) -> Vec<String> {
        (0..self.policy.concurrency)
            .map(|i| format!("{}-{i}", self.name))
            .collect()
    }

    /// Checks what both backends need: a concurrency of at least 1, a name and an annotation.
    pub fn validate(&self) -> Result<(), LockError> {
        if self.policy.concurrency == 0 {
            return Err(LockError::Config("concurrency must be at least 1".into()));
        }
        if self.name.is_empty() || self.annotation.is_empty() {
            return Err(LockError::Config(
                match self.backend {
                    Backend::Annotation => "lock annotation and DaemonSet name must not be empty",
                    Backend::Lease => "lease name and annotation must not be empty",
                }
                .into(),
            ));
        }
        Ok(())
    }

    /// This configuration for `backend`, validated (what each backend's constructor takes).
    pub(crate) fn for_backend(self, backend: Backend) -> Result<Self, LockError> {
        let config = Self { backend, ..self };
        config.validate()?;
        Ok(config)
    }

    /// The lock this configuration describes, on `client`; stale holders are detected with
    /// [`KubeNodeDirectory`](crate::KubeNodeDirectory) on the same client.
    pub fn build(&self, client: Client) -> Result<Arc<dyn RebootLock>, LockError> {
        Ok(match self.backend {
            Backend::Annotation => Arc::new(DaemonSetLock::new(client, self.clone())?),
            Backend::Lease => Arc::new(LeaseLock::new(client, self.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_round_trip_their_names() {
        for b in Backend::ALL {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
        }
        let e = "etcd".parse::<Backend>().unwrap_err();
        assert!(e.to_string().contains("annotation or lease"), "{e}");
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(LockConfig::default().validate().is_ok());
        let e = LockConfig::default().concurrency(0).validate().unwrap_err();
        assert!(e.to_string().contains("concurrency"), "{e}");
        let mut c = LockConfig::default().backend(Backend::Lease);
        c.annotation.clear();
        assert!(c.validate().unwrap_err().to_string().contains("lease name"));
    }

    #[test]
    fn slot_names() {
        let c = LockConfig::default().concurrency(3);
        assert_eq!(c.slot_names(), ["kured-0", "kured-1", "kured-2"]);
    }
}
