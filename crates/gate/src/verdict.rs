//! What a gate check says: [`GateStatus`] for one evaluation, [`GateVerdict`] for a wait, and
//! the [`Unhealthy`] reasons, each Display-able for logs and Events.

use std::fmt;
use std::time::Duration;

/// One reason a rebooted node is not healthy yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// The Node's `Ready` condition is not `True`.
    NodeNotReady {
        /// The node.
        node: String,
    },
    /// The Node still reports the boot ID recorded when the lock was taken: it has not
    /// rebooted.
    BootIdUnchanged {
        /// The node.
        node: String,
    },
    /// A DaemonSet-managed pod on the node is not Ready.
    DaemonSetPodNotReady {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// A PodDisruptionBudget that covered an evicted pod is below its desired healthy count.
    PdbShort {
        /// The PDB's namespace.
        namespace: String,
        /// The PDB's name.
        name: String,
        /// `status.currentHealthy`.
        current_healthy: i32,
        /// `status.desiredHealthy`.
        desired_healthy: i32,
    },
    /// A workload whose pods were evicted has fewer ready replicas than it wants.
    WorkloadShort {
        /// `Deployment`, `StatefulSet` or `ReplicaSet`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// `status.readyReplicas`.
        ready: i32,
        /// `spec.replicas`.
        desired: i32,
    },
    /// The configured Prometheus query returned series (it must return none).
    QueryNotEmpty {
        /// The `PromQL` expression.
        query: String,
        /// How many series it returned.
        series: usize,
        /// The label sets of the first few (`{instance="a", job="x"}`).
        examples: Vec<String>,
    },
    /// A pod matched by the configured selector is not Ready.
    SelectedPodNotReady {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// A check could not be made (an API read or the Prometheus query failed): the gate keeps
    /// waiting; this is never a pass.
    CheckFailed(String),
}

impl Unhealthy {
    /// A short stable name for metrics labels and Event reasons (`node_not_ready`,
    /// `boot_id_unchanged`, `daemonset_pod_not_ready`, `pdb_short`, `workload_short`,
    /// `query_not_empty`, `selected_pod_not_ready`, `check_failed`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::NodeNotReady { .. } => "node_not_ready",
            Self::BootIdUnchanged { .. } => "boot_id_unchanged",
            Self::DaemonSetPodNotReady { .. } => "daemonset_pod_not_ready",
            Self::PdbShort { .. } => "pdb_short",
            Self::WorkloadShort { .. } => "workload_short",
            Self::QueryNotEmpty { .. } => "query_not_empty",
            Self::SelectedPodNotReady { .. } => "selected_pod_not_ready",
            Self::CheckFailed(_) => "check_failed",
        }
    }
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeNotReady { node } => write!(f, "node {node} is not Ready"),
            Self::BootIdUnchanged { node } => {
                write!(f, "node {node} has not rebooted (boot ID unchanged)")
            }
            Self::DaemonSetPodNotReady { namespace, name } => {
                write!(f, "daemonset pod {namespace}/{name} is not ready")
            }
            Self::PdbShort {
                namespace,
                name,
                current_healthy,
                desired_healthy,
            } => write!(
                f,
                "pdb {namespace}/{name}: {current_healthy} healthy of {desired_healthy} desired"
            ),
            Self::WorkloadShort {
                kind,
                namespace,
                name,
                ready,
                desired,
            } => write!(
                f,
                "{} {namespace}/{name}: {ready} of {desired} replicas ready",
                kind.to_lowercase()
            ),
            Self::QueryNotEmpty {
                query,
                series,
                examples,
            } => {
                write!(f, "prometheus query `{query}` returned {series} series")?;
                if !examples.is_empty() {
                    write!(f, ": {}", examples.join(", "))?;
                    if *series > examples.len() {
                        f.write_str(", …")?;
                    }
                }
                Ok(())
            }
            Self::SelectedPodNotReady { namespace, name } => {
                write!(f, "pod {namespace}/{name} (gate pod selector) is not ready")
            }
            Self::CheckFailed(message) => write!(f, "check failed: {message}"),
        }
    }
}

/// At most `max` reasons joined with `; `, then how many more (`…; and 3 more`): one line for
/// a log field or an Event note.
pub fn describe(reasons: &[Unhealthy], max: usize) -> String {
    let shown = reasons
        .iter()
        .take(max)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > max {
        format!("{shown}; and {} more", reasons.len() - max)
    } else {
        shown
    }
}

/// The outcome of one gate evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateStatus {
    /// Every check passed.
    Passed,
    /// Not yet: every reason found, in check order (never empty).
    Waiting(Vec<Unhealthy>),
}

/// The outcome of waiting for the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    /// The gate passed after `waited` (counted from the `since` given to the wait).
    Passed {
        /// Time from `since` to the passing check.
        waited: Duration,
    },
    /// The gate did not pass within its timeout: a **gate failure**.
    Failed {
        /// Time from `since` to giving up.
        waited: Duration,
        /// The reasons of the last evaluation.
        last: Vec<Unhealthy>,
    },
}

impl GateVerdict {
    /// Whether the gate passed.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed { .. })
    }

    /// How long was waited.
    pub fn waited(&self) -> Duration {
        match self {
            Self::Passed { waited } | Self::Failed { waited, .. } => *waited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_well_in_logs_and_events() {
        let cases = [
            (
                Unhealthy::BootIdUnchanged {
                    node: "node-3".into(),
                },
                "node node-3 has not rebooted (boot ID unchanged)",
            ),
            (
                Unhealthy::NodeNotReady {
                    node: "node-3".into(),
                },
                "node node-3 is not Ready",
            ),
            (
                Unhealthy::PdbShort {
                    namespace: "web".into(),
                    name: "web-pdb".into(),
                    current_healthy: 1,
                    desired_healthy: 2,
                },
                "pdb web/web-pdb: 1 healthy of 2 desired",
            ),
            (
                Unhealthy::WorkloadShort {
                    kind: "Deployment".into(),
                    namespace: "web".into(),
                    name: "web".into(),
                    ready: 1,
                    desired: 2,
                },
                "deployment web/web: 1 of 2 replicas ready",
            ),
            (
                Unhealthy::DaemonSetPodNotReady {
                    namespace: "kube-system".into(),
                    name: "proxy-x".into(),
                },
                "daemonset pod kube-system/proxy-x is not ready",
            ),
            (
                Unhealthy::QueryNotEmpty {
                    query: "up == 0".into(),
                    series: 3,
                    examples: vec![r#"{job="a"}"#.into(), r#"{job="b"}"#.into()],
                },
                r#"prometheus query `up == 0` returned 3 series: {job="a"}, {job="b"}, …"#,
            ),
            (
                Unhealthy::SelectedPodNotReady {
                    namespace: "db".into(),
                    name: "db-0".into(),
                },
                "pod db/db-0 (gate pod selector) is not ready",
            ),
            (
                Unhealthy::CheckFailed("reading node node-3: timeout".into()),
                "check failed: reading node node-3: timeout",
            ),
        ];
        for (reason, text) in &cases {
            assert_eq!(reason.to_string(), *text);
        }
        let labels: std::collections::BTreeSet<_> = cases.iter().map(|(r, _)| r.label()).collect();
        assert_eq!(labels.len(), cases.len(), "labels are distinct");
    }

    #[test]
    fn describe_caps_the_list() {
        let reasons: Vec<_> = (0..4)
            .map(|i| Unhealthy::NodeNotReady {
                node: format!("n{i}"),
            })
            .collect();
        assert_eq!(
            describe(&reasons, 2),
            "node n0 is not Ready; node n1 is not Ready; and 2 more"
        );
        assert_eq!(describe(&reasons[..1], 2), "node n0 is not Ready");
        assert_eq!(describe(&[], 2), "");
    }
}
