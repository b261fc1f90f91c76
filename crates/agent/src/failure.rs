//! A node's failed attempt, recorded on its Node ([`REBOOT_FAILURE_ANNOTATION`]), so that the
//! node is not drained again for the same failure: kured retries a failed reboot command every
//! period, draining the node each time, forever. The agent tries again only after a change:
//! its configuration ([`crate::Config::fingerprint`]), the sentinel (it cleared and was set
//! again), or an operator removing the annotation
//! (`kubectl annotate node NODE kured-rs.dev/reboot-failure-`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The Node annotation holding the last failed attempt (JSON: reason, since, count, config).
pub const REBOOT_FAILURE_ANNOTATION: &str = "kured-rs.dev/reboot-failure";

/// The last failed attempt of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeFailure {
    /// What failed.
    pub reason: String,
    /// When (RFC 3339).
    pub since: Timestamp,
    /// Failed attempts in a row (across changes).
    pub count: u32,
    /// The configuration fingerprint of the agent that failed.
    pub config: String,
}

impl NodeFailure {
    /// The failure recorded in `annotations`; `None` when absent or unparsable (an
    /// unparsable record cannot say which configuration failed: it does not hold a retry).
    pub(crate) fn read(annotations: &BTreeMap<String, String>) -> Option<Self> {
        let raw = annotations.get(REBOOT_FAILURE_ANNOTATION)?;
        match serde_json::from_str(raw) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(annotation = REBOOT_FAILURE_ANNOTATION, error = %e, "ignoring an unparsable failure record");
                None
            }
        }
    }

    /// The record after one more failure (`previous` counted).
    pub(crate) fn next(
        previous: Option<&Self>,
        reason: &str,
        since: Timestamp,
        config: &str,
    ) -> Self {
        Self {
            reason: reason.to_string(),
            since,
            count: previous.map_or(0, |p| p.count).saturating_add(1),
            config: config.to_string(),
        }
    }

    /// Whether this failure still holds the node back under configuration `config`.
    pub(crate) fn holds(&self, config: &str) -> bool {
        self.config == config
    }

    /// The annotation to write.
    pub(crate) fn annotation(&self) -> BTreeMap<String, String> {
        let json = serde_json::to_string(self).unwrap_or_default();
        [(REBOOT_FAILURE_ANNOTATION.to_string(), json)]
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_holds_until_the_configuration_changes_and_counts_in_a_row() {
        let t: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let first = NodeFailure::next(None, "reboot command failed", t, "cfg-a");
        assert_eq!(first.count, 1);
        assert!(first.holds("cfg-a"));
        assert!(!first.holds("cfg-b"));
        let second = NodeFailure::next(Some(&first), "again", t, "cfg-b");
        assert_eq!(second.count, 2);
        let read = NodeFailure::read(&second.annotation()).unwrap();
        assert_eq!(read, second);
    }

    #[test]
    fn an_unparsable_record_holds_nothing() {
        let annotations = [(REBOOT_FAILURE_ANNOTATION.to_string(), "{oops".to_string())]
            .into_iter()
            .collect();
        assert_eq!(NodeFailure::read(&annotations), None);
    }
}
