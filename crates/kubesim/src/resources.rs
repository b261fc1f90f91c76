//! The resource types kubesim serves: one static table that discovery, routing, the store and
//! the controllers all read.

/// One served resource type (a REST collection).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group, e.g. `v1`.
    pub version: &'static str,
    /// Plural resource name used in URLs, e.g. `pods`.
    pub plural: &'static str,
    /// Singular name, e.g. `pod`.
    pub singular: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names advertised in discovery (`po`, `no`, …).
    pub short_names: &'static [&'static str],
    /// Subresources served under an item URL (`status`, `eviction`).
    pub subresources: &'static [&'static str],
    /// Whether the object has `metadata.generation` (bumped on spec changes).
    pub has_generation: bool,
}

impl ResourceType {
    /// `apiVersion` value of objects of this type (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `<plural>` for the core group, `<plural>.<group>` otherwise, as error messages name it.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the list type, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The type whose objects this one serves: itself, except for `events.k8s.io/v1` events,
    /// which are a second API over the core/v1 Events (one stored object, two shapes, as on
    /// the real server; [`crate::event_conversion`] converts between them). The store keeps,
    /// stamps and logs objects under their storage type, in its shape.
    pub fn storage(&self) -> &'static ResourceType {
        if self.group == "events.k8s.io" && self.plural == "events" {
            well_known::EVENTS
        } else {
            &RESOURCES[self.index()]
        }
    }

    /// Whether this type is a second API over another type's objects (see [`Self::storage`]).
    pub fn is_view(&self) -> bool {
        self.storage().index() != self.index()
    }

    /// Index of this type in [`RESOURCES`] (a dense id the store uses).
    pub fn index(&self) -> usize {
        RESOURCES
            .iter()
            .position(|r| r.group == self.group && r.plural == self.plural)
            .expect("every ResourceType is an entry of RESOURCES (the only constructor is private)")
    }
}

#[allow(clippy::too_many_arguments)] // a table row: positional reads best in RESOURCES
const fn rt(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
    has_generation: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        subresources,
        has_generation,
    }
}

/// Every resource type kubesim serves. `well_known::*` point into this very table, so a
/// pointer comparison with an entry found by [`lookup`] also holds.
pub static RESOURCES: &[ResourceType] = &TABLE;

static TABLE: [ResourceType; 10] = [
    rt(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status"],
        false,
    ),
    rt(
        "",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &["status"],
        false,
    ),
    rt(
        "",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["eviction", "status"],
        true,
    ),
    rt("", "events", "event", "Event", true, &["ev"], &[], false),
    rt(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        &["status"],
        true,
    ),
    rt(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["status"],
        true,
    ),
    rt(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["status"],
        true,
    ),
    rt(
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
        false,
    ),
    rt(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
        true,
    ),
    rt(
        "events.k8s.io",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        &[],
        false,
    ),
];

/// Fields of `metav1.ObjectMeta`, for unknown-field detection under `metadata`.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Looks a resource type up by group, version and plural (as in a URL).
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource type up by its kind (`Pod`, `DaemonSet`).
pub fn by_kind(kind: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// Shorthand for the built-in types, for controllers and tests.
pub mod well_known {
    use super::{ResourceType, TABLE};
    /// core/v1 namespaces
    pub static NAMESPACES: &ResourceType = &TABLE[0];
    /// core/v1 nodes
    pub static NODES: &ResourceType = &TABLE[1];
    /// core/v1 pods
    pub static PODS: &ResourceType = &TABLE[2];
    /// core/v1 events
    pub static EVENTS: &ResourceType = &TABLE[3];
    /// apps/v1 daemonsets
    pub static DAEMONSETS: &ResourceType = &TABLE[4];
    /// apps/v1 deployments
    pub static DEPLOYMENTS: &ResourceType = &TABLE[5];
    /// apps/v1 replicasets
    pub static REPLICASETS: &ResourceType = &TABLE[6];
    /// coordination.k8s.io/v1 leases
    pub static LEASES: &ResourceType = &TABLE[7];
    /// policy/v1 poddisruptionbudgets
    pub static PDBS: &ResourceType = &TABLE[8];
    /// events.k8s.io/v1 events (served from the core/v1 events' storage)
    pub static EVENTS_V1: &ResourceType = &TABLE[9];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_entries_match_their_names() {
        assert_eq!(well_known::PODS.plural, "pods");
        assert_eq!(well_known::PDBS.kind, "PodDisruptionBudget");
        assert_eq!(well_known::LEASES.api_version(), "coordination.k8s.io/v1");
        assert_eq!(well_known::DAEMONSETS.qualified_plural(), "daemonsets.apps");
        assert_eq!(well_known::NODES.index(), 1);
        for r in RESOURCES {
            let found = lookup(r.group, r.version, r.plural).unwrap();
            assert!(
                std::ptr::eq(found, r),
                "{} must be one table entry",
                r.plural
            );
        }
        assert!(std::ptr::eq(
            lookup("", "v1", "pods").unwrap(),
            well_known::PODS
        ));
        assert!(lookup("apps", "v1", "replicasets").is_some());
        assert!(lookup("", "v1", "services").is_none());
        assert!(std::ptr::eq(
            well_known::EVENTS_V1.storage(),
            well_known::EVENTS
        ));
        assert!(well_known::EVENTS_V1.is_view());
        assert!(!well_known::EVENTS.is_view());
        assert!(std::ptr::eq(well_known::PODS.storage(), well_known::PODS));
    }
}
