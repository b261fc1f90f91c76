//! Which pods a drain evicts, skips or refuses: the rules of kubectl's drain filters
//! (`k8s.io/kubectl/pkg/drain/filters.go`), as pure functions.
//!
//! For each pod, in this order (the first rule that decides wins):
//!
//! 1. `Succeeded`/`Failed` pods are skipped (they hold no resources worth moving; kubectl would
//!    delete them, kured-rs leaves them to the pod garbage collector);
//! 2. pods terminating for longer than `skip_wait_for_delete_timeout` past their
//!    `deletionTimestamp` are skipped (kubectl's `skipDeletedFilter`);
//! 3. pods whose controller is a DaemonSet: skipped when `ignore_daemonsets`, refused otherwise;
//!    when the DaemonSet no longer exists the pod is an orphan: evicted with `force`, refused
//!    without; when the lookup failed the pod is refused with the error;
//! 4. mirror pods (annotation `kubernetes.io/config.mirror`) are skipped;
//! 5. pods with an `emptyDir` volume are refused unless `delete_emptydir_data`;
//! 6. pods with no controller are refused unless `force`;
//! 7. everything else is evicted.
//!
//! Refusals carry kubectl's messages and list every refused pod.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};

use crate::types::PodRef;

/// The annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// kubectl's message for DaemonSet pods without `--ignore-daemonsets`.
pub const DAEMONSET_FATAL: &str = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
/// kubectl's message for emptyDir pods without `--delete-emptydir-data`.
pub const LOCAL_STORAGE_FATAL: &str =
    "Pods with local storage (use --delete-emptydir-data to override)";
/// kubectl's message for controller-less pods without `--force`.
pub const UNMANAGED_FATAL: &str =
    "cannot delete Pods that declare no controller (use --force to override)";
/// kubectl's warning for ignored DaemonSet pods.
pub const DAEMONSET_WARNING: &str = "ignoring DaemonSet-managed Pods";
/// kubectl's warning for evicted emptyDir pods.
pub const LOCAL_STORAGE_WARNING: &str = "deleting Pods with local storage";
/// kubectl's warning for evicted controller-less pods.
pub const UNMANAGED_WARNING: &str = "deleting Pods that declare no controller";
/// Warning for evicted pods whose DaemonSet no longer exists.
pub const ORPHANED_DAEMONSET_WARNING: &str = "deleting Pods whose DaemonSet no longer exists";

/// The options that decide selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SelectionOptions {
    /// Skip DaemonSet pods instead of refusing to drain.
    pub ignore_daemonsets: bool,
    /// Evict pods with `emptyDir` volumes.
    pub delete_emptydir_data: bool,
    /// Evict pods with no controller (and orphaned DaemonSet pods).
    pub force: bool,
    /// Skip pods whose `deletionTimestamp` is more than this many seconds in the past
    /// (0 = off), as kubectl's `--skip-wait-for-delete-timeout`.
    pub skip_wait_for_delete_timeout_secs: u64,
}

/// Whether a pod's DaemonSet exists (see [`daemonset_owner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonSetLookup {
    /// The DaemonSet exists.
    Exists,
    /// The DaemonSet was not found.
    Missing,
    /// The lookup failed with this message.
    Failed(String),
}

/// Why a pod stays on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Its phase is `Succeeded` or `Failed`.
    Finished,
    /// It has been terminating for longer than the skip-wait timeout.
    DeletedLongAgo,
    /// Managed by a DaemonSet (ignored).
    DaemonSet,
    /// A mirror pod of a static pod.
    Mirror,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Finished => "finished (Succeeded or Failed)",
            Self::DeletedLongAgo => "terminating for longer than the skip-wait timeout",
            Self::DaemonSet => DAEMONSET_WARNING,
            Self::Mirror => "mirror pod",
        })
    }
}

/// A group of pods refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// kubectl's message (e.g. [`UNMANAGED_FATAL`]).
    pub reason: String,
    /// Every pod refused for it, in input order.
    pub pods: Vec<PodRef>,
}

/// `cannot delete <reason>: ns/a, ns/b` (kubectl's wording).
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pods = self
            .pods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if self.reason.to_lowercase().starts_with("cannot delete") {
            write!(f, "{}: {pods}", self.reason)
        } else {
            write!(f, "cannot delete {}: {pods}", self.reason)
        }
    }
}

/// The outcome of selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Pods to evict, in input order.
    pub evict: Vec<Pod>,
    /// Pods left alone, with the reason.
    pub skipped: Vec<(PodRef, SkipReason)>,
    /// Warnings (message → pods), as kubectl prints them.
    pub warnings: BTreeMap<String, Vec<PodRef>>,
    /// Refused pods, grouped by reason in the order first seen. Non-empty = do not drain.
    pub refusals: Vec<Refusal>,
}

impl Selection {
    /// kubectl's one-line warning text: `msg: ns/a, ns/b; msg2: …`.
    pub fn warning_text(&self) -> String {
        self.warnings
            .iter()
            .map(|(msg, pods)| {
                let list = pods
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{msg}: {list}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn refuse(&mut self, reason: &str, pod: PodRef) {
        if let Some(r) = self.refusals.iter_mut().find(|r| r.reason == reason) {
            r.pods.push(pod);
        } else {
            self.refusals.push(Refusal {
                reason: reason.to_string(),
                pods: vec![pod],
            });
        }
    }

    fn warn(&mut self, msg: &str, pod: PodRef) {
        self.warnings.entry(msg.to_string()).or_default().push(pod);
    }
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// `(namespace, name)` of the DaemonSet controlling `pod`, if one does.
pub fn daemonset_owner(pod: &Pod) -> Option<(String, String)> {
    let c = controller_of(pod)?;
    (c.kind == "DaemonSet").then(|| {
        (
            pod.metadata.namespace.clone().unwrap_or_default(),
            c.name.clone(),
        )
    })
}

/// Whether the pod's phase is `Succeeded` or `Failed`.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether the pod has an `emptyDir` volume.
pub fn has_local_storage(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|vs| vs.iter().any(|v| v.empty_dir.is_some()))
}

/// Whether the pod is a mirror pod.
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
}

/// Whether the pod has been terminating for more than `timeout_secs` past its
/// `deletionTimestamp` at `now` (never when `timeout_secs` is 0).
pub fn deleted_long_ago(deletion: Option<Timestamp>, timeout_secs: u64, now: Timestamp) -> bool {
    let Some(deleted) = deletion else {
        return false;
    };
    if timeout_secs == 0 {
        return false;
    }
    let overdue = now.as_second() - deleted.as_second();
    u64::try_from(overdue).is_ok_and(|s| s > timeout_secs)
}

/// The pod's `deletionTimestamp`.
pub fn deletion_timestamp(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.deletion_timestamp.as_ref().map(|t| t.0)
}

/// Whether a label selector matches `labels` (`matchLabels` and `matchExpressions` with `In`,
/// `NotIn`, `Exists`, `DoesNotExist`; an unknown operator matches nothing). A missing or empty
/// selector matches everything, as a `policy/v1` PodDisruptionBudget's does.
pub fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(sel) = selector else {
        return true;
    };
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// Applies the selection rules (module docs) to `pods`. `daemonsets` answers for every
/// `(namespace, name)` returned by [`daemonset_owner`] of a pod that is not finished; a missing
/// entry counts as a failed lookup.
pub fn select_pods(
    pods: &[Pod],
    options: &SelectionOptions,
    daemonsets: &BTreeMap<(String, String), DaemonSetLookup>,
    now: Timestamp,
) -> Selection {
    let mut out = Selection::default();
    for pod in pods {
        let r = PodRef::of(pod);
        if is_finished(pod) {
            out.skipped.push((r, SkipReason::Finished));
            continue;
        }
        if deleted_long_ago(
            deletion_timestamp(pod),
            options.skip_wait_for_delete_timeout_secs,
            now,
        ) {
            out.skipped.push((r, SkipReason::DeletedLongAgo));
            continue;
        }
        if let Some(ds) = daemonset_owner(pod) {
            match daemonsets.get(&ds) {
                Some(DaemonSetLookup::Exists) if options.ignore_daemonsets => {
                    out.warn(DAEMONSET_WARNING, r.clone());
                    out.skipped.push((r, SkipReason::DaemonSet));
                    continue;
                }
                Some(DaemonSetLookup::Exists) => {
                    out.refuse(DAEMONSET_FATAL, r);
                    continue;
                }
                Some(DaemonSetLookup::Missing) if options.force => {
                    out.warn(ORPHANED_DAEMONSET_WARNING, r);
                    out.evict.push(pod.clone());
                    continue;
                }
                Some(DaemonSetLookup::Missing) => {
                    let msg = format!(
                        "Pods of DaemonSet {}/{} that no longer exists (use --force to override)",
                        ds.0, ds.1
                    );
                    out.refuse(&msg, r);
                    continue;
                }
                Some(DaemonSetLookup::Failed(e)) => {
                    out.refuse(&format!("Pods of DaemonSet {}/{} ({e})", ds.0, ds.1), r);
                    continue;
                }
                None => {
                    let msg = format!("Pods of DaemonSet {}/{} (not looked up)", ds.0, ds.1);
                    out.refuse(&msg, r);
                    continue;
                }
            }
        }
        if is_mirror(pod) {
            out.skipped.push((r, SkipReason::Mirror));
            continue;
        }
        if has_local_storage(pod) {
            if !options.delete_emptydir_data {
                out.refuse(LOCAL_STORAGE_FATAL, r);
                continue;
            }
            out.warn(LOCAL_STORAGE_WARNING, r.clone());
        }
        if controller_of(pod).is_none() {
            if !options.force {
                out.refuse(UNMANAGED_FATAL, r);
                continue;
            }
            out.warn(UNMANAGED_WARNING, r);
        }
        out.evict.push(pod.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, extra: &serde_json::Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: &serde_json::Value) {
        if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
            for (k, v) in b {
                if v.is_object() && a.get(k).is_some_and(serde_json::Value::is_object) {
                    merge(a.get_mut(k).unwrap(), v);
                } else {
                    a.insert(k.clone(), v.clone());
                }
            }
        }
    }

    fn owned(kind: &str, name: &str) -> serde_json::Value {
        json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "o", "controller": true}
        ]}})
    }

    fn fixture() -> Vec<Pod> {
        vec![
            pod("rs", &owned("ReplicaSet", "web-1")),
            pod("bare", &json!({})),
            pod("ds", &owned("DaemonSet", "kured")),
            pod(
                "mirror",
                &json!({"metadata": {"annotations": {MIRROR_POD_ANNOTATION: "x"},
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n",
                                             "uid": "n", "controller": true}]}}),
            ),
            {
                let mut extra = owned("ReplicaSet", "cache-1");
                merge(
                    &mut extra,
                    &json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
                );
                pod("empty", &extra)
            },
            pod("done", &json!({"status": {"phase": "Succeeded"}})),
            pod("failed", &json!({"status": {"phase": "Failed"}})),
        ]
    }

    fn names(pods: &[Pod]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    fn ds_exists() -> BTreeMap<(String, String), DaemonSetLookup> {
        BTreeMap::from([(("ns".into(), "kured".into()), DaemonSetLookup::Exists)])
    }

    fn now() -> Timestamp {
        Timestamp::now()
    }

    #[test]
    fn kured_defaults_evict_all_but_daemonset_mirror_and_finished() {
        let opts = SelectionOptions {
            ignore_daemonsets: true,
            delete_emptydir_data: true,
            force: true,
            skip_wait_for_delete_timeout_secs: 0,
        };
        let s = select_pods(&fixture(), &opts, &ds_exists(), now());
        assert!(s.refusals.is_empty(), "{:?}", s.refusals);
        assert_eq!(names(&s.evict), ["rs", "bare", "empty"]);
        let skipped: Vec<_> = s
            .skipped
            .iter()
            .map(|(p, r)| (p.name.as_str(), *r))
            .collect();
        assert_eq!(
            skipped,
            [
                ("ds", SkipReason::DaemonSet),
                ("mirror", SkipReason::Mirror),
                ("done", SkipReason::Finished),
                ("failed", SkipReason::Finished),
            ]
        );
        assert_eq!(
            s.warning_text(),
            "deleting Pods that declare no controller: ns/bare; deleting Pods with local \
             storage: ns/empty; ignoring DaemonSet-managed Pods: ns/ds"
        );
    }

    #[test]
    fn strict_options_refuse_and_name_every_pod() {
        let mut pods = fixture();
        pods.push(pod("bare2", &json!({})));
        let s = select_pods(&pods, &SelectionOptions::default(), &ds_exists(), now());
        let text: Vec<String> = s.refusals.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "cannot delete Pods that declare no controller (use --force to override): \
                 ns/bare, ns/bare2",
                "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ns/ds",
                "cannot delete Pods with local storage (use --delete-emptydir-data to override): \
                 ns/empty",
            ]
        );
        assert_eq!(names(&s.evict), ["rs"]);
    }

    #[test]
    fn emptydir_without_controller_is_refused_once_for_local_storage() {
        let p = pod(
            "solo",
            &json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        );
        let s = select_pods(&[p], &SelectionOptions::default(), &BTreeMap::new(), now());
        assert_eq!(s.refusals.len(), 1);
        assert_eq!(s.refusals[0].reason, LOCAL_STORAGE_FATAL);
    }

    #[test]
    fn orphaned_daemonset_pod_needs_force() {
        let pods = vec![pod("ds", &owned("DaemonSet", "gone"))];
        let missing = BTreeMap::from([(("ns".into(), "gone".into()), DaemonSetLookup::Missing)]);
        let mut opts = SelectionOptions {
            ignore_daemonsets: true,
            ..SelectionOptions::default()
        };
        let s = select_pods(&pods, &opts, &missing, now());
        assert_eq!(s.refusals.len(), 1);
        assert!(s.refusals[0].to_string().contains("ns/ds"));
        opts.force = true;
        let s = select_pods(&pods, &opts, &missing, now());
        assert!(s.refusals.is_empty());
        assert_eq!(names(&s.evict), ["ds"]);
        let failed = BTreeMap::from([(
            ("ns".into(), "gone".into()),
            DaemonSetLookup::Failed("boom".into()),
        )]);
        let s = select_pods(&pods, &opts, &failed, now());
        assert!(s.refusals[0].reason.contains("boom"));
        let s = select_pods(&pods, &opts, &BTreeMap::new(), now());
        assert_eq!(s.refusals.len(), 1);
    }

    #[test]
    fn label_selectors_match_as_kubernetes_does() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["x"]},
            ]
        }))
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        assert!(selector_matches(
            Some(&sel),
            &labels(&[("app", "web"), ("tier", "a")])
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("app", "web"), ("tier", "c")])
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("app", "db"), ("tier", "a")])
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])
        ));
        assert!(!selector_matches(
            Some(&sel),
            &labels(&[("app", "web"), ("tier", "a"), ("zone", "x")])
        ));
        let exists: LabelSelector = serde_json::from_value(
            json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
        )
        .unwrap();
        assert!(selector_matches(Some(&exists), &labels(&[("app", "")])));
        assert!(!selector_matches(Some(&exists), &labels(&[])));
        assert!(selector_matches(None, &labels(&[])));
        assert!(selector_matches(
            Some(&LabelSelector::default()),
            &labels(&[("a", "b")])
        ));
    }

    #[test]
    fn long_terminating_pods_are_skipped_only_past_the_timeout() {
        let now = now();
        let at = |secs_ago: i64| {
            let t = now - jiff::SignedDuration::from_secs(secs_ago);
            pod(
                &format!("t{secs_ago}"),
                &json!({"metadata": {"deletionTimestamp": t.to_string(),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": "r", "uid": "r", "controller": true}]}}),
            )
        };
        let pods = vec![at(100), at(5), at(-30)];
        let opts = SelectionOptions {
            skip_wait_for_delete_timeout_secs: 10,
            ..SelectionOptions::default()
        };
        let s = select_pods(&pods, &opts, &BTreeMap::new(), now);
        assert_eq!(names(&s.evict), ["t5", "t-30"]);
        assert_eq!(s.skipped[0].1, SkipReason::DeletedLongAgo);
        let off = SelectionOptions::default();
        assert_eq!(
            select_pods(&pods, &off, &BTreeMap::new(), now).evict.len(),
            3
        );
        assert!(!deleted_long_ago(None, 10, now));
    }
}
