//! [`NodeEvent`]: one event about a node, built by one constructor per rollout phase.
//!
//! The reasons and actions are fixed here, so every program reports a phase the same way:
//!
//! | constructor                 | type    | reason              | action     |
//! |-----------------------------|---------|---------------------|------------|
//! | [`NodeEvent::reboot_required`] | Normal  | `RebootRequired`    | `Detect`   |
//! | [`NodeEvent::blocked`]         | Normal  | `RebootBlocked`     | `Wait`     |
//! | [`NodeEvent::lock_taken`]      | Normal  | `LockAcquired`      | `Lock`     |
//! | [`NodeEvent::draining`]        | Normal  | `Draining`          | `Drain`    |
//! | [`NodeEvent::drain_blocked`]   | Warning | `DrainBlockedByPdb` | `Drain`    |
//! | [`NodeEvent::drain_escalated`] | Warning | `DrainEscalated`    | `Delete`   |
//! | [`NodeEvent::drain_failed`]    | Warning | `DrainFailed`       | `Drain`    |
//! | [`NodeEvent::rebooting`]       | Normal  | `Rebooting`         | `Reboot`   |
//! | [`NodeEvent::node_back`]       | Normal  | `NodeBack`          | `Reboot`   |
//! | [`NodeEvent::gate_passed`]     | Normal  | `HealthGatePassed`  | `Gate`     |
//! | [`NodeEvent::gate_failed`]     | Warning | `HealthGateFailed`  | `Gate`     |
//! | [`NodeEvent::rollout_halted`]  | Warning | `RolloutHalted`     | `Halt`     |
//! | [`NodeEvent::reboot_failed`]   | Warning | `RebootFailed`      | `Reboot`   |
//! | [`NodeEvent::uncordoned`]      | Normal  | `Uncordoned`        | `Uncordon` |
//! | [`NodeEvent::lock_released`]   | Normal  | `LockReleased`      | `Release`  |
//!
//! The reasons are also constants in [`reason`], for code that matches on them.

use std::time::Duration;

/// The largest note the API server accepts, in bytes (a longer one is a 422 on `message`).
pub const MAX_NOTE_BYTES: usize = 1024;

/// What marks a truncated note.
const ELLIPSIS: &str = "…";

/// The reasons of [`NodeEvent`]s (CamelCase, as `kubectl describe` shows them).
pub mod reason {
    /// A reboot is required (sentinel present).
    pub const REBOOT_REQUIRED: &str = "RebootRequired";
    /// A reboot is required but something blocks it (window, blocker, pause…).
    pub const REBOOT_BLOCKED: &str = "RebootBlocked";
    /// The reboot lock (or FleetLock slot) was taken for this node.
    pub const LOCK_ACQUIRED: &str = "LockAcquired";
    /// The node is being drained.
    pub const DRAINING: &str = "Draining";
    /// PodDisruptionBudgets have refused evictions for the configured time.
    pub const DRAIN_BLOCKED_BY_PDB: &str = "DrainBlockedByPdb";
    /// Pods matching the escalation selector were deleted despite their budget.
    pub const DRAIN_ESCALATED: &str = "DrainEscalated";
    /// The drain failed.
    pub const DRAIN_FAILED: &str = "DrainFailed";
    /// The node is being rebooted.
    pub const REBOOTING: &str = "Rebooting";
    /// The node is back after its reboot.
    pub const NODE_BACK: &str = "NodeBack";
    /// The health gate passed.
    pub const HEALTH_GATE_PASSED: &str = "HealthGatePassed";
    /// The health gate failed.
    pub const HEALTH_GATE_FAILED: &str = "HealthGateFailed";
    /// The rollout is halted.
    pub const ROLLOUT_HALTED: &str = "RolloutHalted";
    /// The reboot command failed.
    pub const REBOOT_FAILED: &str = "RebootFailed";
    /// The node was uncordoned.
    pub const UNCORDONED: &str = "Uncordoned";
    /// The reboot lock (or slot) was released.
    pub const LOCK_RELEASED: &str = "LockReleased";
}

/// The type of an event, as `kubectl describe` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Progress: nothing to worry about.
    Normal,
    /// Something needs attention.
    Warning,
}

/// One event about a node: type, reason (CamelCase), action and a note of at most
/// [`MAX_NOTE_BYTES`] bytes (the constructors truncate longer ones on a character boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// Normal or Warning.
    pub kind: EventType,
    /// Why (`kubectl describe`'s `Reason` column); see the table in the module docs.
    pub reason: &'static str,
    /// What was done (`action` of the event).
    pub action: &'static str,
    /// Human-readable details (`kubectl describe`'s `Message`).
    pub note: String,
}

/// Cuts `note` to at most [`MAX_NOTE_BYTES`] bytes on a character boundary, ending in `…` when
/// anything was cut.
pub fn truncate_note(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_string();
    }
    let mut end = MAX_NOTE_BYTES - ELLIPSIS.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &note[..end])
}

/// `1h 2m 3s`-style duration, whole seconds (sub-second durations as milliseconds).
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

impl NodeEvent {
    fn new(kind: EventType, reason: &'static str, action: &'static str, note: &str) -> Self {
        Self {
            kind,
            reason,
            action,
            note: truncate_note(note),
        }
    }

    fn normal(reason: &'static str, action: &'static str, note: &str) -> Self {
        Self::new(EventType::Normal, reason, action, note)
    }

    fn warning(reason: &'static str, action: &'static str, note: &str) -> Self {
        Self::new(EventType::Warning, reason, action, note)
    }

    /// The node needs a reboot.
    pub fn reboot_required() -> Self {
        Self::normal(reason::REBOOT_REQUIRED, "Detect", "A reboot is required")
    }

    /// The reboot waits: `reason` says for what (window, blocker, pause, lock held…).
    pub fn blocked(reason: &str) -> Self {
        Self::normal(
            reason::REBOOT_BLOCKED,
            "Wait",
            &format!("Reboot blocked: {reason}"),
        )
    }

    /// The reboot lock (slot) is held for this node.
    pub fn lock_taken() -> Self {
        Self::normal(reason::LOCK_ACQUIRED, "Lock", "Took the reboot lock")
    }

    /// The node is cordoned and being drained.
    pub fn draining() -> Self {
        Self::normal(reason::DRAINING, "Drain", "Draining the node")
    }

    /// PodDisruptionBudgets `pdbs` (`namespace/name`) have refused the eviction of `pods`
    /// (`namespace/name`) for `for_` (Warning).
    pub fn drain_blocked(pdbs: &[String], pods: &[String], for_: Duration) -> Self {
        let budgets = if pdbs.is_empty() {
            "a PodDisruptionBudget".to_string()
        } else {
            format!("PodDisruptionBudget {}", pdbs.join(", "))
        };
        Self::warning(
            reason::DRAIN_BLOCKED_BY_PDB,
            "Drain",
            &format!(
                "{budgets} refused evictions for {}; pods it protects: {}",
                human(for_),
                pods.join(", ")
            ),
        )
    }

    /// The drain escalation deleted `pods` despite their PodDisruptionBudget (Warning).
    pub fn drain_escalated(pods: &[String]) -> Self {
        Self::warning(
            reason::DRAIN_ESCALATED,
            "Delete",
            &format!(
                "Deleted despite their PodDisruptionBudget (they match the drain escalation \
                 selector): {}",
                pods.join(", ")
            ),
        )
    }

    /// The drain failed with `error` (Warning).
    pub fn drain_failed(error: &str) -> Self {
        Self::warning(
            reason::DRAIN_FAILED,
            "Drain",
            &format!("Drain failed: {error}"),
        )
    }

    /// The reboot command is about to run.
    pub fn rebooting() -> Self {
        Self::normal(reason::REBOOTING, "Reboot", "Rebooting the node")
    }

    /// The node is back after its reboot.
    pub fn node_back() -> Self {
        Self::normal(
            reason::NODE_BACK,
            "Reboot",
            "The node is back after its reboot",
        )
    }

    /// The health gate passed after `waited`.
    pub fn gate_passed(waited: Duration) -> Self {
        Self::normal(
            reason::HEALTH_GATE_PASSED,
            "Gate",
            &format!("Health gate passed after {}", human(waited)),
        )
    }

    /// The health gate failed: `reasons` (Warning).
    pub fn gate_failed(reasons: &str) -> Self {
        Self::warning(
            reason::HEALTH_GATE_FAILED,
            "Gate",
            &format!("Health gate failed: {reasons}"),
        )
    }

    /// The rollout is halted at `node` because of `reason` (Warning).
    pub fn rollout_halted(node: &str, reason: &str) -> Self {
        Self::warning(
            reason::ROLLOUT_HALTED,
            "Halt",
            &format!("Rollout halted at node {node}: {reason}"),
        )
    }

    /// The reboot command failed with `error` (Warning).
    pub fn reboot_failed(error: &str) -> Self {
        Self::warning(
            reason::REBOOT_FAILED,
            "Reboot",
            &format!("Reboot command failed: {error}"),
        )
    }

    /// The node was uncordoned; `why` says why.
    pub fn uncordoned(why: &str) -> Self {
        Self::normal(
            reason::UNCORDONED,
            "Uncordon",
            &format!("Uncordoned: {why}"),
        )
    }

    /// The reboot lock (slot) was released.
    pub fn lock_released() -> Self {
        Self::normal(reason::LOCK_RELEASED, "Release", "Released the reboot lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        // 3-byte characters: 1024 is not a multiple of 3, so a naive cut would split one.
        let long = "€".repeat(400);
        let e = NodeEvent::drain_failed(&long);
        assert!(e.note.len() <= MAX_NOTE_BYTES, "{}", e.note.len());
        assert!(e.note.len() > MAX_NOTE_BYTES - 6, "{}", e.note.len());
        assert!(e.note.ends_with('…'));
        assert!(e.note.starts_with("Drain failed: €€"));
        // Exactly at the limit: kept whole.
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(truncate_note(&exact), exact);
        let over = "a".repeat(MAX_NOTE_BYTES + 1);
        let cut = truncate_note(&over);
        assert_eq!(cut.len(), MAX_NOTE_BYTES);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn constructors_fix_type_reason_and_action() {
        let e = NodeEvent::drain_blocked(
            &["shop/web-pdb".into()],
            &["shop/web-1".into(), "shop/web-2".into()],
            Duration::from_secs(330),
        );
        assert_eq!(e.kind, EventType::Warning);
        assert_eq!((e.reason, e.action), ("DrainBlockedByPdb", "Drain"));
        assert_eq!(
            e.note,
            "PodDisruptionBudget shop/web-pdb refused evictions for 5m 30s; pods it protects: \
             shop/web-1, shop/web-2"
        );
        let e = NodeEvent::gate_passed(Duration::from_millis(1500));
        assert_eq!(
            (e.kind, e.reason, e.note.as_str()),
            (
                EventType::Normal,
                "HealthGatePassed",
                "Health gate passed after 1s"
            )
        );
        let e = NodeEvent::rollout_halted("node-3", "not Ready 10m after the reboot");
        assert_eq!(e.kind, EventType::Warning);
        assert_eq!(
            e.note,
            "Rollout halted at node node-3: not Ready 10m after the reboot"
        );
        let warnings = [
            NodeEvent::drain_escalated(&[]),
            NodeEvent::drain_failed("x"),
            NodeEvent::gate_failed("x"),
            NodeEvent::reboot_failed("x"),
        ];
        assert!(warnings.iter().all(|e| e.kind == EventType::Warning));
        let normal = [
            NodeEvent::reboot_required(),
            NodeEvent::blocked("outside the window"),
            NodeEvent::lock_taken(),
            NodeEvent::draining(),
            NodeEvent::rebooting(),
            NodeEvent::node_back(),
            NodeEvent::uncordoned("we cordoned it"),
            NodeEvent::lock_released(),
        ];
        assert!(normal.iter().all(|e| e.kind == EventType::Normal));
        // Reasons are CamelCase and distinct.
        let mut reasons: Vec<&str> = warnings.iter().chain(&normal).map(|e| e.reason).collect();
        assert!(reasons.iter().all(|r| r.chars().all(char::is_alphanumeric)
            && r.starts_with(|c: char| c.is_ascii_uppercase())));
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), 12);
    }
}
