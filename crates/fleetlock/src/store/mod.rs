//! Lock stores: where the holders of each group live, with compare-and-swap updates.
//!
//! A store knows nothing about slots: the configured slot count is applied by
//! [`crate::semaphore`] on every request, so it always wins over anything stored.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "etcd")]
mod etcd;
mod file;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod memory;
mod rollout;

#[cfg(feature = "etcd")]
pub use etcd::EtcdStore;
pub use file::FileStore;
#[cfg(feature = "kubernetes")]
pub use kubernetes::{KubernetesStore, lease_name};
pub use memory::MemoryStore;
pub use rollout::{Failure, Gating, Halt};

/// One holder of a reboot slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The client id (case-sensitive).
    pub id: String,
    /// When the slot was taken (RFC 3339).
    pub since: String,
}

/// The stored state of one group: its holders, oldest first, and its rollout (halt, failures,
/// holders waiting for the health gate). The rollout fields are left out of the JSON while
/// empty, so a group that never used them is stored exactly as before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// Current holders.
    pub holders: Vec<Holder>,
    /// Set while the group's rollout is halted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
    /// Failures counted against the budget since the last clear (one per id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Holders whose slot is kept while their health gate runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gating: Vec<Gating>,
}

impl GroupState {
    /// Whether `id` holds a slot.
    pub fn holds(&self, id: &str) -> bool {
        self.holders.iter().any(|h| h.id == id)
    }

    /// Whether `id`'s slot is kept for its health gate.
    pub fn is_gating(&self, id: &str) -> bool {
        self.gating.iter().any(|g| g.id == id)
    }
}

/// Opaque version of a stored group; [`Version::ABSENT`] means "never written".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u64);

impl Version {
    /// The version of a group that has never been written.
    pub const ABSENT: Self = Self(0);
}

/// A group's state together with the version a CAS must present to replace it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Versioned {
    /// Version to pass to [`LockStore::compare_and_swap`].
    pub version: Version,
    /// The state at that version.
    pub state: GroupState,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered badly; retrying later may work.
    #[error("lock store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded; needs an operator.
    #[error("lock store holds data that cannot be decoded: {0}")]
    Corrupt(String),
    /// Local I/O failure (file store).
    #[error("lock store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The store kind is not compiled into this build (a cargo feature is off).
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    /// Whether a retry may succeed without operator action.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Io(_))
    }
}

/// A versioned map of group → holders with compare-and-swap writes. Implementations must be
/// safe when several server processes share the same backing store.
#[async_trait]
pub trait LockStore: Send + Sync + std::fmt::Debug {
    /// Reads a group (absent groups read as empty with [`Version::ABSENT`]).
    async fn get(&self, group: &str) -> Result<Versioned, StoreError>;

    /// Replaces the group's state with `new` if its current version is still `expected`.
    /// Returns `Ok(false)` when another writer got there first.
    async fn compare_and_swap(
        &self,
        group: &str,
        expected: Version,
        new: &GroupState,
    ) -> Result<bool, StoreError>;

    /// Names of all groups ever written.
    async fn groups(&self) -> Result<Vec<String>, StoreError>;

    /// Checks that the store is reachable (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Which store to use, as written on the command line: `memory`, `file:PATH` or
/// `etcd://HOST:PORT[/PREFIX]` (several endpoints separated by commas).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// In-process only: NOT persistent, NOT shared between replicas. For tests.
    Memory,
    /// A single JSON file, replaced atomically under an advisory lock file (`PATH.lock`).
    File(std::path::PathBuf),
    /// One Lease per group in a namespace (`kubernetes` = the client's default namespace,
    /// `kubernetes:NAMESPACE`).
    Kubernetes {
        /// Namespace; `None` = the kubeconfig / in-cluster default.
        namespace: Option<String>,
    },
    /// etcd v3 through its JSON gateway.
    Etcd {
        /// Base URLs, e.g. `http://127.0.0.1:2379`.
        endpoints: Vec<url::Url>,
        /// Key prefix (default `/fleetlock`).
        prefix: String,
    },
}

impl std::str::FromStr for StoreSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            return Ok(Self::Memory);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file store needs a path: file:PATH".into());
            }
            return Ok(Self::File(path.into()));
        }
        if let Some(rest) = s.strip_prefix("etcd://") {
            let (hosts, prefix) = match rest.split_once('/') {
                Some((h, p)) if !p.is_empty() => (h, format!("/{}", p.trim_end_matches('/'))),
                Some((h, _)) => (h, "/fleetlock".to_owned()),
                None => (rest, "/fleetlock".to_owned()),
            };
            let mut endpoints = Vec::new();
            for host in hosts.split(',') {
                let url = url::Url::parse(&format!("http://{host}"))
                    .map_err(|e| format!("bad etcd endpoint {host:?}: {e}"))?;
                if !url.username().is_empty() || url.password().is_some() {
                    // Never echo the endpoint: it holds a credential.
                    return Err("etcd endpoints take no user or password (HOST:PORT only)".into());
                }
                if host.is_empty() || url.host_str().is_none() || url.port().is_none() {
                    return Err(format!("etcd endpoint {host:?} must be HOST:PORT"));
                }
                endpoints.push(url);
            }
            return Ok(Self::Etcd { endpoints, prefix });
        }
        if s == "kubernetes" {
            return Ok(Self::Kubernetes { namespace: None });
        }
        if let Some(ns) = s.strip_prefix("kubernetes:") {
            if ns.is_empty() {
                return Err("kubernetes store namespace is empty: kubernetes:NAMESPACE".into());
            }
            return Ok(Self::Kubernetes {
                namespace: Some(ns.to_owned()),
            });
        }
        Err(format!(
            "unknown store {s:?}: expected memory, file:PATH, kubernetes[:NAMESPACE] or etcd://HOST:PORT[/PREFIX]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("memory".parse::<StoreSpec>().unwrap(), StoreSpec::Memory);
        assert_eq!(
            "file:./x.db".parse::<StoreSpec>().unwrap(),
            StoreSpec::File("./x.db".into())
        );
        let StoreSpec::Etcd { endpoints, prefix } = "etcd://127.0.0.1:2379,h2:2380/a/b/"
            .parse::<StoreSpec>()
            .unwrap()
        else {
            panic!("not etcd")
        };
        assert_eq!(endpoints.len(), 2);
        assert_eq!(endpoints[1].as_str(), "http://h2:2380/");
        assert_eq!(prefix, "/a/b");
        assert_eq!(
            "kubernetes:ops".parse::<StoreSpec>().unwrap(),
            StoreSpec::Kubernetes {
                namespace: Some("ops".into())
            }
        );
        assert_eq!(
            "kubernetes".parse::<StoreSpec>().unwrap(),
            StoreSpec::Kubernetes { namespace: None }
        );
        let e = "etcd://root:hunter2@127.0.0.1:2379"
            .parse::<StoreSpec>()
            .unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        for bad in [
            "",
            "file:",
            "etcd://",
            "etcd://host",
            "redis://x",
            "kubernetes:",
        ] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad}");
        }
    }
}
