//! [`PodBlocker`]: blocks while pods matching a blocking selector run on the node.

use async_trait::async_trait;
use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::{BlockReason, BlockerError, PodMatch, RebootBlocker};

/// The blocker name / metric label (kured's).
pub(crate) const LABEL: &str = "blocker_pod";

/// Pods listed per selector (kured's page size); more are reported as "…".
const PAGE: u32 = 10;

/// Phases of pods that no longer run, excluded server-side (kured excludes `Unknown` too).
const EXCLUDED_PHASES: [&str; 3] = ["Succeeded", "Failed", "Unknown"];

/// Blocks while pods matching any of the blocking selectors (`--blocking-pod-selector`) run on
/// the node.
///
/// Each check lists pods in all namespaces once per selector (the lists run concurrently),
/// with the selector as `labelSelector` and
/// `fieldSelector=spec.nodeName=<node>,status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown`,
/// so only the node's non-terminal pods are transferred, at most 10 per selector (the reason
/// then ends with "…"). Selectors are combined with OR; the requirements inside one selector
/// (`app=db,tier=primary`) are combined with AND by the API server.
///
/// A failed list blocks (fail safe): with no match elsewhere the check returns the error;
/// next to a match the failure is reported as an extra
/// [`BlockReason::CheckFailed`].
#[derive(Clone)]
pub struct PodBlocker {
    pods: Api<Pod>,
    selectors: Vec<String>,
}

impl std::fmt::Debug for PodBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodBlocker")
            .field("selectors", &self.selectors)
            .finish_non_exhaustive()
    }
}

/// Escapes a value for a field selector (`\`, `,` and `=` are special there).
fn escape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The field selector for the non-terminal pods bound to `node`.
pub(crate) fn node_field_selector(node: &str) -> String {
    let mut selector = format!("spec.nodeName={}", escape_field_value(node));
    for phase in EXCLUDED_PHASES {
        selector.push_str(",status.phase!=");
        selector.push_str(phase);
    }
    selector
}

impl PodBlocker {
    /// A blocker for `selectors` (label selectors in the API server's syntax, e.g. `app=db`,
    /// `tier in (batch),!canary`). An empty selector would match every pod and is refused.
    pub fn new(
        client: kube::Client,
        selectors: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, BlockerError> {
        let selectors: Vec<String> = selectors.into_iter().map(Into::into).collect();
        if let Some(i) = selectors.iter().position(|s| s.trim().is_empty()) {
            return Err(BlockerError::Config(format!(
                "blocking pod selector #{} is empty; it would match every pod",
                i + 1
            )));
        }
        Ok(Self {
            pods: Api::all(client),
            selectors,
        })
    }

    /// The configured selectors.
    pub fn selectors(&self) -> &[String] {
        &self.selectors
    }

    async fn list(&self, node: &str, selector: &str) -> Result<Option<PodMatch>, BlockerError> {
        let params = ListParams::default()
            .labels(selector)
            .fields(&node_field_selector(node))
            .limit(PAGE);
        let list = self
            .pods
            .list(&params)
            .await
            .map_err(|source| BlockerError::Kube {
                what: format!("listing pods on {node} with blocking selector {selector:?}"),
                source,
            })?;
        let truncated = list
            .metadata
            .continue_
            .as_deref()
            .is_some_and(|c| !c.is_empty());
        let pods: Vec<String> = list
            .items
            .iter()
            .filter(|p| {
                // The field selector already excludes these; a server that ignored it must
                // not make finished pods block.
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                !phase.is_some_and(|ph| EXCLUDED_PHASES.contains(&ph))
            })
            .map(|p| {
                format!(
                    "{}/{}",
                    p.metadata.namespace.as_deref().unwrap_or_default(),
                    p.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        Ok((!pods.is_empty()).then(|| PodMatch {
            selector: selector.to_string(),
            pods,
            truncated,
        }))
    }
}

#[async_trait]
impl RebootBlocker for PodBlocker {
    fn name(&self) -> &'static str {
        LABEL
    }

    async fn check(&self, node: &str) -> Result<Option<BlockReason>, BlockerError> {
        if node.is_empty() {
            return Err(BlockerError::Config(
                "empty node name: the pod blocker would look at unscheduled pods".into(),
            ));
        }
        let results = join_all(self.selectors.iter().map(|s| self.list(node, s))).await;
        let mut matches = Vec::new();
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(Some(m)) => matches.push(m),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if matches.is_empty() {
            let mut errors = errors.into_iter();
            return match errors.next() {
                Some(first) => {
                    for other in errors {
                        tracing::warn!(blocker = LABEL, node, error = %other, "pod blocker list failed");
                    }
                    Err(first)
                }
                None => Ok(None),
            };
        }
        let reason = BlockReason::combine(std::iter::once(BlockReason::Pods(matches)).chain(
            errors.into_iter().map(|e| BlockReason::CheckFailed {
                blocker: LABEL.to_string(),
                error: e.to_string(),
            }),
        ));
        if let Some(reason) = &reason {
            tracing::info!(blocker = LABEL, node, reason = %reason, "reboot blocked");
        }
        Ok(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selector_escapes_and_excludes_terminal_phases() {
        assert_eq!(
            node_field_selector("node-0"),
            "spec.nodeName=node-0,status.phase!=Succeeded,status.phase!=Failed,\
             status.phase!=Unknown"
        );
        assert_eq!(escape_field_value(r"a,b=c\d"), r"a\,b\=c\\d");
    }
}
