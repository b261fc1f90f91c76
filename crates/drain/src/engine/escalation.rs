//! [`PdbEscalation`]: the opt-in deletion of pods a PodDisruptionBudget keeps blocking — only
//! those matching a label selector — and the drain's lookup of which pods match.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::api::PodApi;
use crate::label_selector::{SelectorError, check_label_selector};
use crate::types::PodRef;

/// Delete (not evict) a pod whose eviction PodDisruptionBudgets have refused for `after`, if
/// it matches `selector`; pods that do not match are never deleted (they are retried until the
/// drain's timeout).
///
/// Built by [`PdbEscalation::new`], which checks the selector: an empty one (it would match
/// every pod) or one the API server would refuse is an error.
///
/// ```
/// use std::time::Duration;
/// use drain::PdbEscalation;
///
/// let e = PdbEscalation::new(Duration::from_secs(600), "kured.dev/may-delete=true").unwrap();
/// assert_eq!(e.selector(), "kured.dev/may-delete=true");
/// let err = PdbEscalation::new(Duration::from_secs(600), " ").unwrap_err();
/// assert!(err.to_string().contains("would match every pod"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbEscalation {
    after: Duration,
    selector: String,
}

impl PdbEscalation {
    /// Escalation after `after` for the pods matching `selector` (the API server's label
    /// selector grammar, see [`crate::check_label_selector`]; empty is refused).
    pub fn new(after: Duration, selector: impl Into<String>) -> Result<Self, SelectorError> {
        let selector = selector.into();
        check_label_selector(&selector)
            .map_err(|e| SelectorError::new(format!("drain escalation pod selector: {e}")))?;
        Ok(Self { after, selector })
    }

    /// How long the budgets must have refused a pod before it is deleted.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// The label selector a pod must match to be deleted.
    pub fn selector(&self) -> &str {
        &self.selector
    }
}

/// Which of the node's pods the escalation may delete: one `LIST` of the node's pods with the
/// selector (the API server matches, exactly as for `--drain-pod-selector`), made when the
/// first pod is due and kept for the rest of the drain; a failed list is tried again by the
/// next pod that is due, and until it succeeds nothing is deleted.
#[derive(Debug, Default)]
pub(super) struct Matched {
    uids: OnceCell<HashSet<String>>,
}

impl Matched {
    /// Whether `pod` matches `escalation`'s selector on `node` (by uid).
    pub(super) async fn contains<A: PodApi + ?Sized>(
        &self,
        api: &A,
        node: &str,
        escalation: &PdbEscalation,
        pod: &PodRef,
    ) -> Result<bool, kube::Error> {
        let uids = self
            .uids
            .get_or_try_init(|| async {
                let list = api
                    .list_pods_on_node(node, Some(escalation.selector.clone()))
                    .await?;
                Ok::<_, kube::Error>(
                    list.pods
                        .iter()
                        .filter_map(|p| p.metadata.uid.clone())
                        .collect::<HashSet<String>>(),
                )
            })
            .await?;
        Ok(uids.contains(&pod.uid))
    }
}
