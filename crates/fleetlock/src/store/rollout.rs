//! What a group's stored state says about its rollout besides the holders: a halt (the line
//! stopped), the failures counted against the budget, and the holders whose slot is kept while
//! the post-reboot health gate runs. Every field is optional in the JSON, so state written by
//! an older server reads as "not halted, no failures".

use serde::{Deserialize, Serialize};

/// The group's rollout is stopped: no machine that does not hold a slot is granted one until
/// an operator clears it (`POST /v1/admin/clear-halt`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// The FleetLock id whose failure stopped the line.
    pub id: String,
    /// Its Node, when it maps to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why (the failure that reached the budget).
    pub reason: String,
    /// When the line stopped (RFC 3339).
    pub since: String,
}

/// One failed reboot counted against the budget (`--max-failed-nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The FleetLock id.
    pub id: String,
    /// Its Node, when it maps to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What went wrong: the gate's last reasons, or the node not back in time.
    pub reason: String,
    /// When it was counted (RFC 3339).
    pub at: String,
}

/// A holder whose machine is back (its steady-state was answered) and whose slot is kept until
/// the health gate passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gating {
    /// The holder id.
    pub id: String,
    /// When the gate started (RFC 3339): its timeout counts from here.
    pub since: String,
}
