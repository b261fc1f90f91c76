//! Kubernetes store: one `coordination.k8s.io/v1` Lease per group, holders in an annotation,
//! compare-and-swap on `metadata.resourceVersion` (create for an absent group, PUT carrying the
//! read resourceVersion otherwise; 409 = someone else won). Any number of server replicas may
//! share it: every change of a group is one CAS of the group's whole holder list.
//!
//! # Why not crates/lock's `LeaseLock`
//!
//! Issue 8 suggests the Lease backend of crates/lock. It was read and does not fit the FleetLock
//! semantics, for reasons that are properties of its design, not missing options:
//!
//! - **Slots that shrink.** `LeaseLock` keeps one Lease per slot (`<name>-0 … <name>-(c-1)`).
//!   FleetLock's configured slot count wins but must never evict a holder: after a change from
//!   3 slots to 1 with three holders, nobody may be granted until two have left. `LeaseLock`
//!   counts the holders of higher slots since commit 96d84c5, but its count spans several Leases
//!   and a grant writes one of them, so (as its own docs say) two replicas granting different
//!   free slots at the same moment may both pass the count and briefly exceed the smaller slot
//!   count. Here the group's whole holder list is one object: count and grant are one CAS, and
//!   [`crate::semaphore`] checks it against the configured slots on every request.
//! - **Holders that are not nodes.** `LeaseLock` treats a holder whose Node no longer exists as
//!   gone (its slot is free). FleetLock holders are Zincati ids: app-specific machine ids, or
//!   machines outside Kubernetes altogether; every one of them would read as "gone".
//! - **Kured's record and TTL.** Its holder record is kured's (`nodeID`, `created`, `ttl`,
//!   `unschedulable`); a FleetLock slot has no TTL and is released only by steady-state or the
//!   admin endpoint.
//! - **Groups.** FleetLock needs a lock per (case-sensitive) group and the list of groups for
//!   `/v1/status` and `/metrics`; `LeaseLock` is one lock with no enumeration.
//! - **One semaphore for every store.** The memory, file, etcd and Kubernetes stores implement
//!   the same [`LockStore`] CAS primitive and share [`crate::semaphore`] and the protocol test
//!   suite; a higher-level lock would bypass both for one store.
//!
//! Safety with two replicas is tested on kubesim (`tests/kubernetes.rs`: 20 ids racing through
//! two servers with separate clients, and a node cycle spread over two replicas).

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use super::{GroupState, LockStore, StoreError, Version, Versioned};

/// Annotation with the group's [`GroupState`] JSON.
pub const ANNOTATION_STATE: &str = "fleetlock-rs.kured-rs.dev/state";
/// Annotation with the (case-preserved) group name.
pub const ANNOTATION_GROUP: &str = "fleetlock-rs.kured-rs.dev/group";
/// Label on every Lease this store manages.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "fleetlock-rs");

/// Leases in one namespace (`--store kubernetes[:NAMESPACE]`).
#[derive(Clone)]
pub struct KubernetesStore {
    api: Api<Lease>,
}

impl std::fmt::Debug for KubernetesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesStore").finish_non_exhaustive()
    }
}

/// The Lease name of a group: `fleetlock-<lowercased group>`, plus a hash of the original
/// name when it has upper-case letters (Lease names are lower-case; groups are case-sensitive).
pub fn lease_name(group: &str) -> String {
    let lower = group.to_ascii_lowercase();
    if lower == group {
        format!("fleetlock-{lower}")
    } else {
        // FNV-1a: stable across releases and platforms.
        let hash = group.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("fleetlock-{lower}-{:08x}", hash & 0xffff_ffff)
    }
}

fn unavailable(e: &kube::Error) -> StoreError {
    StoreError::Unavailable(format!("kubernetes: {}", crate::kube_nodes::api_message(e)))
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl KubernetesStore {
    /// A store over Leases in `namespace`.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
        }
    }

    fn lease(
        group: &str,
        version: Option<Version>,
        state: &GroupState,
    ) -> Result<Lease, StoreError> {
        let json = serde_json::to_string(state)
            .map_err(|e| StoreError::Corrupt(format!("encoding state: {e}")))?;
        Ok(Lease {
            metadata: ObjectMeta {
                name: Some(lease_name(group)),
                resource_version: version.map(|v| v.0.to_string()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY.0.to_owned(),
                    MANAGED_BY.1.to_owned(),
                )])),
                annotations: Some(BTreeMap::from([
                    (ANNOTATION_GROUP.to_owned(), group.to_owned()),
                    (ANNOTATION_STATE.to_owned(), json),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: (!state.holders.is_empty()).then(|| {
                    state
                        .holders
                        .iter()
                        .map(|h| h.id.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                }),
                ..LeaseSpec::default()
            }),
        })
    }
}

fn decode(group: &str, lease: &Lease) -> Result<Versioned, StoreError> {
    let rv = lease
        .metadata
        .resource_version
        .as_deref()
        .unwrap_or_default();
    let version = rv.parse::<u64>().map(Version).map_err(|_| {
        StoreError::Corrupt(format!(
            "Lease {} has a non-numeric resourceVersion {rv:?}",
            lease_name(group)
        ))
    })?;
    let state = match lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_STATE))
    {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("Lease {} state: {e}", lease_name(group))))?,
        None => GroupState::default(),
    };
    Ok(Versioned { version, state })
}

#[async_trait]
impl LockStore for KubernetesStore {
    async fn get(&self, group: &str) -> Result<Versioned, StoreError> {
        match self.api.get_opt(&lease_name(group)).await {
            Ok(Some(lease)) => decode(group, &lease),
            Ok(None) => Ok(Versioned::default()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn compare_and_swap(
        &self,
        group: &str,
        expected: Version,
        new: &GroupState,
    ) -> Result<bool, StoreError> {
        let result = if expected == Version::ABSENT {
            let lease = Self::lease(group, None, new)?;
            self.api.create(&PostParams::default(), &lease).await
        } else {
            let lease = Self::lease(group, Some(expected), new)?;
            self.api
                .replace(&lease_name(group), &PostParams::default(), &lease)
                .await
        };
        match result {
            Ok(_) => Ok(true),
            // 409: AlreadyExists (create) or Conflict (stale resourceVersion); 404: deleted
            // since we read it. Either way: re-read and decide again.
            Err(e) if matches!(status_code(&e), Some(409 | 404)) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn groups(&self) -> Result<Vec<String>, StoreError> {
        let list = self
            .api
            .list(&ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)))
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(list
            .items
            .iter()
            .filter_map(|l| {
                l.metadata
                    .annotations
                    .as_ref()?
                    .get(ANNOTATION_GROUP)
                    .cloned()
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.api
            .list_metadata(&ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names() {
        assert_eq!(lease_name("default"), "fleetlock-default");
        assert_eq!(lease_name("a.b-c"), "fleetlock-a.b-c");
        let upper = lease_name("Workers");
        assert!(upper.starts_with("fleetlock-workers-"), "{upper}");
        assert_ne!(upper, lease_name("WORKERS"));
        assert_ne!(upper, lease_name("workers"));
        assert_eq!(upper, lease_name("Workers"));
    }
}
