//! The rollout state both backends keep beside the lock: failed reboot attempts and the halt
//! ("stop the line") they lead to.
//!
//! When a node's reboot attempt fails (the health gate does not pass, the node is not back in
//! time, the reboot command fails), its agent records a [`RolloutFailure`] with
//! [`RebootLock::record_failure`](crate::RebootLock::record_failure). Once the failures reach
//! the budget (`max failed nodes`, at least 1), the rollout is **halted**: a [`RolloutHalt`]
//! names the node, the reason and the time, and no node takes a new lock slot
//! ([`AcquireOutcome::Halted`](crate::AcquireOutcome::Halted)) until an operator resumes. A
//! node that already holds a slot keeps it (its acquire stays idempotent), and the failed
//! node keeps its lock record (its agent does not release it), so at concurrency 1 even Go
//! kured agents sharing the lock stop.
//!
//! The state is the JSON value of the annotation [`ROLLOUT_ANNOTATION`]:
//!
//! ```json
//! {"failures":[{"node":"n1","reason":"gate failed","since":"2026-12-07T22:00:00Z"}],
//!  "halt":{"node":"n1","reason":"gate failed","since":"2026-12-07T22:00:00Z"}}
//! ```
//!
//! (`halt` is absent when the rollout is not halted; no annotation means no failures and no
//! halt). It lives on the lock `DaemonSet` for the annotation backend (beside kured's lock
//! annotation, which Go kured's writes keep) and on the Lease `<name>-0` for the Lease backend.
//!
//! **Fail safe.** An annotation that is not valid rollout JSON reads as a halt whose reason
//! names the annotation and the parse error: nobody reboots on a state nobody can read.
//! Resuming removes the annotation and so fixes it.
//!
//! **Resuming** is the operator's act, one line (or [`RebootLock::resume`](crate::RebootLock::resume)):
//!
//! ```text
//! kubectl -n kube-system annotate daemonset kured kured-rs.dev/rollout-   # annotation backend
//! kubectl -n kube-system annotate lease kured-0 kured-rs.dev/rollout-     # Lease backend
//! ```
//!
//! (with the lock's namespace and name if they are not kured's defaults). It removes the halt
//! and every recorded failure; the failed node's lock record stays until its agent releases it
//! (after its attempt succeeds) or an operator removes it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The annotation on the lock object holding the rollout state (JSON, see the
/// [module docs](self)).
pub const ROLLOUT_ANNOTATION: &str = "kured-rs.dev/rollout";

/// A node whose reboot attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFailure {
    /// The node's name.
    pub node: String,
    /// Why the attempt failed, for people.
    pub reason: String,
    /// When the failure was recorded (RFC 3339 in the JSON).
    #[serde(with = "rfc3339")]
    pub since: Timestamp,
}

/// The rollout is stopped: no node takes a new lock slot until an operator resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutHalt {
    /// The node whose failure halted the rollout (empty when the state could not be read).
    pub node: String,
    /// Why, for people.
    pub reason: String,
    /// Since when (RFC 3339 in the JSON).
    #[serde(with = "rfc3339")]
    pub since: Timestamp,
}

/// The failures recorded and the halt, if one stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    /// One entry per failed node (a node failing again replaces its entry).
    #[serde(default)]
    pub failures: Vec<RolloutFailure>,
    /// The halt, when the rollout is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<RolloutHalt>,
}

impl RolloutState {
    /// The state stored in an annotation value (`None`: the annotation is absent, so nothing
    /// failed). A value that is not rollout JSON reads as a halt naming `object` and the
    /// error (fail safe).
    pub fn from_annotation(text: Option<&str>, object: &str) -> Self {
        let Some(text) = text else {
            return Self::default();
        };
        serde_json::from_str(text).unwrap_or_else(|e| Self {
            failures: Vec::new(),
            halt: Some(RolloutHalt {
                node: String::new(),
                reason: format!(
                    "annotation {ROLLOUT_ANNOTATION} on {object} is not valid rollout state \
                     ({e}); remove it to resume"
                ),
                since: Timestamp::now(),
            }),
        })
    }

    /// The annotation value of this state; `None` (remove the annotation) when nothing failed
    /// and no halt stands.
    pub fn to_annotation(&self) -> Option<String> {
        if self.failures.is_empty() && self.halt.is_none() {
            return None;
        }
        // Plain strings and timestamps: serialization cannot fail.
        serde_json::to_string(self).ok()
    }

    /// Whether the rollout is halted.
    pub fn is_halted(&self) -> bool {
        self.halt.is_some()
    }

    /// This state with `failure` recorded (replacing an earlier failure of the same node);
    /// halted with the failure's node, reason and time when the failures now number at least
    /// `budget` (0 counts as 1) and no halt stood.
    #[must_use]
    pub fn with_failure(mut self, failure: RolloutFailure, budget: u32) -> Self {
        self.failures.retain(|f| f.node != failure.node);
        self.failures.push(failure.clone());
        let budget = usize::try_from(budget.max(1)).unwrap_or(usize::MAX);
        if self.halt.is_none() && self.failures.len() >= budget {
            self.halt = Some(RolloutHalt {
                node: failure.node,
                reason: failure.reason,
                since: failure.since,
            });
        }
        self
    }

    /// This state without `node`'s failure (a halt stays).
    #[must_use]
    pub fn without_failure(mut self, node: &str) -> Self {
        self.failures.retain(|f| f.node != node);
        self
    }
}

/// `Timestamp` as an RFC 3339 string (jiff's own format, UTC with `Z`).
mod rfc3339 {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(node: &str, reason: &str, secs: i64) -> RolloutFailure {
        RolloutFailure {
            node: node.into(),
            reason: reason.into(),
            since: Timestamp::from_second(secs).unwrap(),
        }
    }

    #[test]
    fn absent_annotation_is_no_failure_and_no_halt() {
        let state = RolloutState::from_annotation(None, "kube-system/kured");
        assert_eq!(state, RolloutState::default());
        assert!(!state.is_halted());
        assert_eq!(state.to_annotation(), None);
    }

    #[test]
    fn json_has_the_documented_shape_and_round_trips() {
        let state = RolloutState::default().with_failure(failure("n1", "gate failed", 0), 1);
        let text = state.to_annotation().unwrap();
        assert_eq!(
            text,
            r#"{"failures":[{"node":"n1","reason":"gate failed","since":"1970-01-01T00:00:00Z"}],"halt":{"node":"n1","reason":"gate failed","since":"1970-01-01T00:00:00Z"}}"#
        );
        assert_eq!(RolloutState::from_annotation(Some(&text), "x"), state);
        // Not halted: no `halt` key; `null` and unknown keys are read.
        let one = RolloutState::default().with_failure(failure("n1", "r", 1), 2);
        assert!(!one.to_annotation().unwrap().contains("halt"));
        let read =
            RolloutState::from_annotation(Some(r#"{"failures":[],"halt":null,"later":1}"#), "x");
        assert_eq!(read, RolloutState::default());
    }

    #[test]
    fn unparsable_annotation_is_a_halt_naming_it() {
        let state = RolloutState::from_annotation(Some("{not json"), "kube-system/kured");
        let halt = state.halt.expect("fail safe: halted");
        assert!(halt.reason.contains(ROLLOUT_ANNOTATION), "{}", halt.reason);
        assert!(halt.reason.contains("kube-system/kured"), "{}", halt.reason);
        let wrong_shape = RolloutState::from_annotation(Some(r#"{"failures":3}"#), "x");
        assert!(wrong_shape.is_halted());
        let bad_time = RolloutState::from_annotation(
            Some(r#"{"failures":[{"node":"a","reason":"r","since":"yesterday"}]}"#),
            "x",
        );
        assert!(bad_time.is_halted());
    }

    #[test]
    fn budget_counts_nodes_and_the_first_halt_stays() {
        let s = RolloutState::default().with_failure(failure("a", "first", 1), 2);
        assert!(!s.is_halted());
        // The same node failing again counts once (its entry is replaced).
        let s = s.with_failure(failure("a", "again", 2), 2);
        assert!(!s.is_halted());
        assert_eq!(s.failures, [failure("a", "again", 2)]);
        let s = s.with_failure(failure("b", "second", 3), 2);
        let halt = s.halt.clone().expect("two nodes failed");
        assert_eq!((halt.node.as_str(), halt.reason.as_str()), ("b", "second"));
        // A later failure does not move the halt.
        let s = s.with_failure(failure("c", "third", 4), 2);
        assert_eq!(s.halt, Some(halt));
        assert_eq!(s.failures.len(), 3);
        // Budget 0 is 1.
        assert!(
            RolloutState::default()
                .with_failure(failure("a", "r", 1), 0)
                .is_halted()
        );
    }

    #[test]
    fn clearing_a_failure_leaves_the_halt() {
        let s = RolloutState::default()
            .with_failure(failure("a", "r", 1), 1)
            .with_failure(failure("b", "r", 2), 1);
        let s = s.without_failure("a");
        assert_eq!(s.failures, [failure("b", "r", 2)]);
        assert!(s.is_halted());
        let s = RolloutState::default()
            .with_failure(failure("a", "r", 1), 2)
            .without_failure("a");
        assert_eq!(
            s.to_annotation(),
            None,
            "nothing left: remove the annotation"
        );
    }
}
