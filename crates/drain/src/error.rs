//! Error types, classified retryable vs permanent.

use std::fmt;
use std::time::Duration;

use crate::select::Refusal;
use crate::types::PodRef;

/// Whether an API error is worth retrying: transport failures, 429, 5xx and 409.
pub(crate) fn kube_error_is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => true,
        _ => false,
    }
}

/// The HTTP status code of an API error, if the server answered.
pub(crate) fn kube_error_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// A failure of a [`crate::NodeOps`] operation.
#[derive(Debug, thiserror::Error)]
pub enum NodeOpsError {
    /// The API call failed.
    #[error("node {node}: {action}: {source}")]
    Api {
        /// The node.
        node: String,
        /// What was being done (`cordon`, `add taint …`, …).
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// Every read-modify-write attempt met a concurrent writer (409 Conflict).
    #[error(
        "node {node}: {action}: still conflicting with other writers after {attempts} attempts"
    )]
    Conflict {
        /// The node.
        node: String,
        /// What was being done.
        action: String,
        /// How many writes were tried.
        attempts: u32,
    },
}

impl NodeOpsError {
    /// Whether calling again later may succeed (transport errors, 429, 5xx, conflicts).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { source, .. } => kube_error_is_retryable(source),
            Self::Conflict { .. } => true,
        }
    }
}

/// A `key=value` label (or annotation) argument that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelParseError {
    /// No `=` in the argument (kured #1281 panicked here).
    #[error("invalid label {0:?}: expected key=value (no '=' found)")]
    MissingEquals(String),
    /// Nothing before the `=`.
    #[error("invalid label {0:?}: the key before '=' is empty")]
    EmptyKey(String),
}

/// A pod that was still on the node when the drain gave up, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPod {
    /// The pod.
    pub pod: PodRef,
    /// What it was waiting for.
    pub state: PendingState,
}

/// Where a pending pod was stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingState {
    /// Its eviction had not been accepted (the last refusal message).
    NotEvicted(String),
    /// PodDisruptionBudgets refused its eviction.
    BlockedByPdb {
        /// The budgets whose selector matches the pod (`namespace/name`, sorted; empty when
        /// they could not be watched).
        pdbs: Vec<String>,
        /// The last refusal message.
        message: String,
    },
    /// Evicted, but still terminating.
    Terminating,
}

impl fmt::Display for PendingPod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            PendingState::NotEvicted(why) if why.is_empty() => {
                write!(f, "{} (not evicted yet)", self.pod)
            }
            PendingState::NotEvicted(why) => write!(f, "{} (not evicted: {why})", self.pod),
            PendingState::BlockedByPdb { pdbs, message } if pdbs.is_empty() => {
                write!(
                    f,
                    "{} (blocked by a PodDisruptionBudget: {message})",
                    self.pod
                )
            }
            PendingState::BlockedByPdb { pdbs, message } => write!(
                f,
                "{} (blocked by PodDisruptionBudget {}: {message})",
                self.pod,
                pdbs.join(", ")
            ),
            PendingState::Terminating => write!(f, "{} (evicted, still terminating)", self.pod),
        }
    }
}

/// A pod whose eviction failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionFailure {
    /// The pod.
    pub pod: PodRef,
    /// The HTTP status, when the server answered.
    pub code: Option<u16>,
    /// The server's (or client's) message.
    pub message: String,
}

fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn pending_text(pending: &[PendingPod]) -> String {
    if pending.is_empty() {
        "while listing its pods".to_string()
    } else {
        format!("{} pod(s) left: {}", pending.len(), join(pending, ", "))
    }
}

/// Why a drain failed.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// Pods that may not be deleted with the given options (nothing was evicted).
    #[error("cannot drain node {node}: {}", join(.refusals, "; "))]
    Refused {
        /// The node.
        node: String,
        /// Every refused pod, grouped by reason.
        refusals: Vec<Refusal>,
    },
    /// The drain timeout passed with pods left on the node (`pending` is empty when it passed
    /// before the pods were even listed).
    #[error(
        "drain of node {node} timed out after {}: {}",
        humanize(*.timeout), pending_text(.pending)
    )]
    Timeout {
        /// The node.
        node: String,
        /// The configured timeout.
        timeout: Duration,
        /// What was left, sorted by namespace/name.
        pending: Vec<PendingPod>,
    },
    /// Evictions the server refused for good (e.g. 403, 400, 422).
    #[error("drain of node {node}: {} eviction(s) failed: {}", .failures.len(), join(.failures, "; "))]
    Eviction {
        /// The node.
        node: String,
        /// The failures.
        failures: Vec<EvictionFailure>,
    },
    /// Listing pods, looking up DaemonSets or watching failed.
    #[error("drain of node {node}: {action}: {source}")]
    Api {
        /// The node.
        node: String,
        /// What was being done.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

impl fmt::Display for EvictionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(f, "{}: {} ({c})", self.pod, self.message),
            None => write!(f, "{}: {}", self.pod, self.message),
        }
    }
}

impl DrainError {
    /// Whether draining again later may succeed: timeouts and transient API errors are,
    /// refusals and rejected evictions are not (they need other options or a human).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Refused { .. } | Self::Eviction { .. } => false,
            Self::Api { source, .. } => kube_error_is_retryable(source),
        }
    }

    /// The PodDisruptionBudgets (`namespace/name`, sorted, once each) that were blocking pods
    /// left behind by a timeout.
    pub fn pdbs(&self) -> Vec<String> {
        let Self::Timeout { pending, .. } = self else {
            return Vec::new();
        };
        let mut out: Vec<String> = pending
            .iter()
            .filter_map(|p| match &p.state {
                PendingState::BlockedByPdb { pdbs, .. } => Some(pdbs.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The pods this error names (refused, left behind or failed).
    pub fn pods(&self) -> Vec<PodRef> {
        match self {
            Self::Refused { refusals, .. } => refusals
                .iter()
                .flat_map(|r| r.pods.iter().cloned())
                .collect(),
            Self::Timeout { pending, .. } => pending.iter().map(|p| p.pod.clone()).collect(),
            Self::Eviction { failures, .. } => failures.iter().map(|f| f.pod.clone()).collect(),
            Self::Api { .. } => Vec::new(),
        }
    }
}

/// `1m 30s`-style rendering of a duration (whole milliseconds).
pub(crate) fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        let s = ms / 1000;
        if s >= 60 && s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else if s >= 60 {
            format!("{}m{}s", s / 60, s % 60)
        } else {
            format!("{s}s")
        }
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_durations() {
        assert_eq!(humanize(Duration::from_secs(12)), "12s");
        assert_eq!(humanize(Duration::from_secs(120)), "2m");
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn timeout_error_lists_what_is_left() {
        let e = DrainError::Timeout {
            node: "n1".into(),
            timeout: Duration::from_secs(5),
            pending: vec![
                PendingPod {
                    pod: PodRef::new("web", "a", "u1"),
                    state: PendingState::NotEvicted("budget".into()),
                },
                PendingPod {
                    pod: PodRef::new("web", "b", "u2"),
                    state: PendingState::Terminating,
                },
                PendingPod {
                    pod: PodRef::new("web", "c", "u3"),
                    state: PendingState::BlockedByPdb {
                        pdbs: vec!["web/db-pdb".into(), "web/web-pdb".into()],
                        message: "would violate".into(),
                    },
                },
                PendingPod {
                    pod: PodRef::new("web", "d", "u4"),
                    state: PendingState::BlockedByPdb {
                        pdbs: vec!["web/web-pdb".into()],
                        message: "would violate".into(),
                    },
                },
            ],
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "drain of node n1 timed out after 5s: 4 pod(s) left: web/a (not evicted: budget), \
             web/b (evicted, still terminating), web/c (blocked by PodDisruptionBudget \
             web/db-pdb, web/web-pdb: would violate), web/d (blocked by PodDisruptionBudget \
             web/web-pdb: would violate)"
        );
        assert!(e.is_retryable());
        assert_eq!(e.pods().len(), 4);
        assert_eq!(e.pdbs(), ["web/db-pdb", "web/web-pdb"]);
        let early = DrainError::Timeout {
            node: "n1".into(),
            timeout: Duration::from_secs(1),
            pending: Vec::new(),
        };
        assert_eq!(
            early.to_string(),
            "drain of node n1 timed out after 1s: while listing its pods"
        );
    }
}
