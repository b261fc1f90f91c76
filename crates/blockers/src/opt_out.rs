//! [`OptOutBlocker`]: a node label or annotation that keeps that node from rebooting.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

use crate::{BlockReason, BlockerError, MetadataKind, RebootBlocker};

/// The blocker name / metric label.
pub(crate) const LABEL: &str = "opt_out";

/// The opt-out key used when none is configured.
pub const DEFAULT_OPT_OUT_KEY: &str = "kured.dev/reboot-opt-out";

/// Where [`OptOutBlocker`] looks for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OptOutSource {
    /// Only `metadata.labels`.
    Label,
    /// Only `metadata.annotations`.
    Annotation,
    /// Labels, then annotations (the default).
    #[default]
    LabelOrAnnotation,
}

/// Blocks reboots of a node that carries the opt-out key as a label and/or annotation.
///
/// Value semantics: the node is opted out when the key is present with **any** value
/// (including the empty string) **except** `false` (ASCII case-insensitive, surrounding
/// whitespace ignored). So `kubectl label node n1 kured.dev/reboot-opt-out=true` (or `=yes`,
/// `=maintenance`, `=""`) stops reboots of `n1`, and either removing the key or setting it to
/// `false` allows them again. Anything ambiguous blocks, as a safety switch should.
///
/// Each check is one `GET` of the node. A failed `GET` (including "node not found") blocks
/// (fail safe).
#[derive(Clone)]
pub struct OptOutBlocker {
    nodes: Api<Node>,
    key: String,
    source: OptOutSource,
}

impl std::fmt::Debug for OptOutBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptOutBlocker")
            .field("key", &self.key)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Whether a present key with this value opts the node out.
pub(crate) fn opts_out(value: &str) -> bool {
    !value.trim().eq_ignore_ascii_case("false")
}

impl OptOutBlocker {
    /// A blocker for `key` (e.g. [`DEFAULT_OPT_OUT_KEY`]) looked up in `source`. An empty key
    /// is refused.
    pub fn new(
        client: kube::Client,
        key: impl Into<String>,
        source: OptOutSource,
    ) -> Result<Self, BlockerError> {
        let key = key.into();
        if key.trim().is_empty() {
            return Err(BlockerError::Config("the opt-out key is empty".into()));
        }
        Ok(Self {
            nodes: Api::all(client),
            key,
            source,
        })
    }

    /// The key looked for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where the key is looked for.
    pub fn source(&self) -> OptOutSource {
        self.source
    }

    /// The opt-out found on `node`'s metadata, if any.
    fn find(&self, node: &Node) -> Option<BlockReason> {
        let meta = &node.metadata;
        let places: &[(MetadataKind, _)] = &[
            (MetadataKind::Label, meta.labels.as_ref()),
            (MetadataKind::Annotation, meta.annotations.as_ref()),
        ];
        places
            .iter()
            .filter(|(kind, _)| match self.source {
                OptOutSource::Label => *kind == MetadataKind::Label,
                OptOutSource::Annotation => *kind == MetadataKind::Annotation,
                OptOutSource::LabelOrAnnotation => true,
            })
            .find_map(|(kind, map)| {
                let value = (*map)?.get(&self.key)?;
                opts_out(value).then(|| BlockReason::OptOut {
                    kind: *kind,
                    key: self.key.clone(),
                    value: value.clone(),
                })
            })
    }
}

#[async_trait]
impl RebootBlocker for OptOutBlocker {
    fn name(&self) -> &'static str {
        LABEL
    }

    async fn check(&self, node: &str) -> Result<Option<BlockReason>, BlockerError> {
        let found = self
            .nodes
            .get(node)
            .await
            .map_err(|source| BlockerError::Kube {
                what: format!("reading node {node} for opt-out key {:?}", self.key),
                source,
            })?;
        let reason = self.find(&found);
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
    fn only_false_disables() {
        for v in ["", "true", "yes", "1", "maintenance", "0", "no"] {
            assert!(opts_out(v), "{v:?}");
        }
        for v in ["false", "FALSE", " False "] {
            assert!(!opts_out(v), "{v:?}");
        }
    }
}
