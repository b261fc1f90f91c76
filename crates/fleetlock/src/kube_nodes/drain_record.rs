//! [`DrainRecord`]: the drain of a node as every replica sees it, kept in the node's
//! [`ANNOTATION_DRAIN`] annotation and written only with compare-and-swap on the node's
//! resourceVersion.
//!
//! One replica owns a node's drain at a time. It renews its heartbeat while the drain runs
//! and publishes the progress or the PodDisruptionBudget refusal; the others answer from the
//! record. A record whose heartbeat is older than the takeover time is free: the next
//! replica asked takes the drain over (its owner was killed). Ending a claim that another
//! replica drains asks that replica to stop ([`DrainPhase::CancelRequested`]) and waits for
//! [`DrainPhase::Stopped`] (or a stale heartbeat) before the node is uncordoned.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::annotations::ANNOTATION_DRAIN;

/// Where a node's drain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrainPhase {
    /// Pods are being evicted.
    Running,
    /// A PodDisruptionBudget refuses an eviction; the drain keeps retrying.
    PdbBlocked,
    /// The node is drained.
    Done,
    /// The drain failed; the next request starts it again.
    Failed,
    /// The holder's claim ended on another replica: the owner must stop its drain.
    CancelRequested,
    /// The owner stopped its drain after [`DrainPhase::CancelRequested`].
    Stopped,
}

/// The drain record of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// The replica running the drain.
    pub owner: String,
    /// The owner's last heartbeat (RFC 3339).
    pub heartbeat: String,
    /// Where the drain is.
    pub phase: DrainPhase,
    /// The progress text (`1 of 2 pod(s) evicted, 1 left`), or the failure.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The pod a PodDisruptionBudget refuses (`namespace/name`) and the server's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<(String, String)>,
}

impl DrainRecord {
    /// A record of `owner` in `phase`, with a heartbeat of now.
    pub fn new(owner: &str, phase: DrainPhase, detail: impl Into<String>) -> Self {
        Self {
            owner: owner.to_owned(),
            heartbeat: jiff::Timestamp::now().to_string(),
            phase,
            detail: detail.into(),
            blocked: None,
        }
    }

    /// The record in a node's annotations (`None`: absent or unreadable, which frees it).
    pub fn read(annotations: Option<&BTreeMap<String, String>>) -> Option<Self> {
        let text = annotations?.get(ANNOTATION_DRAIN)?;
        match serde_json::from_str(text) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(error = %e, value = %text, "unreadable drain record, treated as absent");
                None
            }
        }
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        // A struct of strings and enums always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the owner's heartbeat is younger than `takeover_after`.
    pub fn is_live(&self, takeover_after: Duration) -> bool {
        let Ok(beat) = self.heartbeat.parse::<jiff::Timestamp>() else {
            return false;
        };
        let age = jiff::Timestamp::now().duration_since(beat);
        age.is_negative() || age.unsigned_abs() < takeover_after
    }

    /// Whether the owner is (or may still be) evicting pods: running, blocked or asked to stop,
    /// with a live heartbeat.
    pub fn is_draining(&self, takeover_after: Duration) -> bool {
        matches!(
            self.phase,
            DrainPhase::Running | DrainPhase::PdbBlocked | DrainPhase::CancelRequested
        ) && self.is_live(takeover_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_liveness_and_garbage() {
        let r = DrainRecord::new("replica-a", DrainPhase::PdbBlocked, "0 of 1 pod(s) evicted");
        let a = BTreeMap::from([(ANNOTATION_DRAIN.to_owned(), r.to_annotation())]);
        assert_eq!(DrainRecord::read(Some(&a)), Some(r.clone()));
        assert!(r.is_draining(Duration::from_secs(5)));
        let old = DrainRecord {
            heartbeat: "2020-01-01T00:00:00Z".into(),
            ..r.clone()
        };
        assert!(!old.is_live(Duration::from_secs(3600)));
        assert!(!old.is_draining(Duration::from_secs(3600)));
        let done = DrainRecord::new("replica-a", DrainPhase::Done, "");
        assert!(!done.is_draining(Duration::from_secs(5)));
        let garbage = BTreeMap::from([(ANNOTATION_DRAIN.to_owned(), "nope".to_owned())]);
        assert_eq!(DrainRecord::read(Some(&garbage)), None);
        assert_eq!(DrainRecord::read(None), None);
    }
}
