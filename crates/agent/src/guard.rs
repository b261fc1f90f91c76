//! The autoscaler guard (`--autoscaler-guard`, kured #1309): while this node holds the reboot
//! lock, the annotations that keep the cluster autoscaler and Karpenter from removing it.
//!
//! Each guard annotation is set (to `"true"`) only where it is absent, and the keys this agent
//! set are listed in [`AUTOSCALER_GUARD_MARKER_ANNOTATION`] on the same Node, so that the agent
//! started after the reboot (a new process) removes exactly those. A key that was there before
//! the lock was taken (someone else's) is never removed.

use std::collections::{BTreeMap, BTreeSet};

use drain::{NodeOps, NodeOpsError};

/// The cluster autoscaler's annotation that keeps it from scaling the node down.
pub const SCALE_DOWN_DISABLED_ANNOTATION: &str =
    "cluster-autoscaler.kubernetes.io/scale-down-disabled";
/// Karpenter's annotation that keeps it from disrupting the node.
pub const DO_NOT_DISRUPT_ANNOTATION: &str = "karpenter.sh/do-not-disrupt";
/// The annotations the guard sets, each to `"true"`.
pub const AUTOSCALER_GUARD_ANNOTATIONS: [&str; 2] =
    [SCALE_DOWN_DISABLED_ANNOTATION, DO_NOT_DISRUPT_ANNOTATION];
/// The marker listing (comma separated) the guard annotations this agent set, hence may remove.
pub const AUTOSCALER_GUARD_MARKER_ANNOTATION: &str = "kured-rs.dev/autoscaler-guard";

/// The guard keys a marker value lists (unknown keys ignored: never remove anything else).
fn marked(annotations: &BTreeMap<String, String>) -> Option<BTreeSet<&'static str>> {
    let marker = annotations.get(AUTOSCALER_GUARD_MARKER_ANNOTATION)?;
    Some(
        marker
            .split(',')
            .map(str::trim)
            .filter_map(|k| AUTOSCALER_GUARD_ANNOTATIONS.into_iter().find(|g| *g == k))
            .collect(),
    )
}

/// What to write on a Node with `annotations`: each absent guard key set to `"true"` and the
/// marker listing them (together with those an earlier marker lists); empty: nothing to write.
pub(crate) fn to_set(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let absent: Vec<&str> = AUTOSCALER_GUARD_ANNOTATIONS
        .into_iter()
        .filter(|k| !annotations.contains_key(*k))
        .collect();
    if absent.is_empty() {
        return BTreeMap::new();
    }
    let mut ours = marked(annotations).unwrap_or_default();
    ours.extend(absent.iter().copied());
    let marker = ours.into_iter().collect::<Vec<_>>().join(",");
    absent
        .into_iter()
        .map(|k| (k.to_string(), "true".to_string()))
        .chain([(AUTOSCALER_GUARD_MARKER_ANNOTATION.to_string(), marker)])
        .collect()
}

/// What to remove from a Node with `annotations`: the guard keys the marker lists, and the
/// marker; empty when there is no marker (nothing of ours).
pub(crate) fn to_remove(annotations: &BTreeMap<String, String>) -> Vec<String> {
    let Some(ours) = marked(annotations) else {
        return Vec::new();
    };
    ours.into_iter()
        .map(str::to_string)
        .chain([AUTOSCALER_GUARD_MARKER_ANNOTATION.to_string()])
        .collect()
}

/// Sets the absent guard annotations and the marker (one Node read, at most one write).
/// Returns the annotations written.
pub(crate) async fn set(
    nodes: &dyn NodeOps,
    node: &str,
) -> Result<BTreeMap<String, String>, NodeOpsError> {
    let state = nodes.node_state(node).await?;
    let write = to_set(&state.annotations);
    if !write.is_empty() {
        nodes.add_annotations(node, &write).await?;
    }
    Ok(write)
}

/// Removes the guard annotations the marker lists, and the marker (one Node read, at most one
/// write). Returns the keys removed.
pub(crate) async fn clear(nodes: &dyn NodeOps, node: &str) -> Result<Vec<String>, NodeOpsError> {
    let state = nodes.node_state(node).await?;
    let remove = to_remove(&state.annotations);
    if !remove.is_empty() {
        nodes.remove_annotations(node, &remove).await?;
    }
    Ok(remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn sets_only_absent_keys_and_marks_them() {
        let set = to_set(&annotations(&[(DO_NOT_DISRUPT_ANNOTATION, "true")]));
        assert_eq!(
            set,
            annotations(&[
                (SCALE_DOWN_DISABLED_ANNOTATION, "true"),
                (
                    AUTOSCALER_GUARD_MARKER_ANNOTATION,
                    SCALE_DOWN_DISABLED_ANNOTATION
                ),
            ])
        );
    }

    #[test]
    fn nothing_to_set_when_both_are_someone_elses() {
        let both = annotations(&[
            (DO_NOT_DISRUPT_ANNOTATION, "true"),
            (SCALE_DOWN_DISABLED_ANNOTATION, "false"),
        ]);
        assert!(to_set(&both).is_empty());
        assert!(to_remove(&both).is_empty(), "no marker: nothing is ours");
    }

    #[test]
    fn removes_what_the_marker_lists_and_nothing_else() {
        let node = annotations(&[
            (DO_NOT_DISRUPT_ANNOTATION, "true"),
            (SCALE_DOWN_DISABLED_ANNOTATION, "true"),
            (
                AUTOSCALER_GUARD_MARKER_ANNOTATION,
                "cluster-autoscaler.kubernetes.io/scale-down-disabled,example.com/other",
            ),
        ]);
        assert_eq!(
            to_remove(&node),
            [
                SCALE_DOWN_DISABLED_ANNOTATION,
                AUTOSCALER_GUARD_MARKER_ANNOTATION
            ]
        );
    }

    #[test]
    fn a_second_set_keeps_the_keys_an_earlier_marker_lists() {
        let node = annotations(&[
            (DO_NOT_DISRUPT_ANNOTATION, "true"),
            (
                AUTOSCALER_GUARD_MARKER_ANNOTATION,
                DO_NOT_DISRUPT_ANNOTATION,
            ),
        ]);
        let set = to_set(&node);
        assert_eq!(
            set.get(AUTOSCALER_GUARD_MARKER_ANNOTATION)
                .map(String::as_str),
            Some(
                "cluster-autoscaler.kubernetes.io/scale-down-disabled,karpenter.sh/do-not-disrupt"
            )
        );
    }
}
