//! The annotations fleetlock-rs keeps on a node it prepares for a reboot: what it did, for
//! whom, so that a restarted server or another replica knows whether to uncordon.

/// Annotation holding `true`/`false`: was the node unschedulable before we cordoned it?
/// Its presence also means "fleetlock-rs is preparing this node for a reboot".
pub const ANNOTATION_WAS_UNSCHEDULABLE: &str = "fleetlock-rs.kured-rs.dev/was-unschedulable";
/// Annotation holding the FleetLock id that holds the reboot slot for this node.
pub const ANNOTATION_HOLDER: &str = "fleetlock-rs.kured-rs.dev/holder";
/// The original reboot manager's status annotation (`Ready` / `Rebooting`), maintained with
/// [`KubeNodeHandler::with_seed_annotations`](super::KubeNodeHandler::with_seed_annotations).
pub const ANNOTATION_SEED_STATUS: &str = "rebootmanager/status";
/// Annotation holding the node's [`DrainRecord`](super::DrainRecord) (JSON): which replica
/// drains the node, its heartbeat and what it reports, so that one replica drains a node at a
/// time and the others answer from it.
pub const ANNOTATION_DRAIN: &str = "fleetlock-rs.kured-rs.dev/drain";
