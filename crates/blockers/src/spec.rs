//! [`BlockerSpec`]: which blockers a node agent runs, and the one place they are built.

use std::sync::Arc;

use crate::{
    BlockerError, CompositeBlocker, OptOutBlocker, OptOutSource, PodBlocker, PrometheusBlocker,
};

/// Which blockers to run: kured's `--prometheus-url` (with its filters, already applied to
/// the blocker), `--blocking-pod-selector` and the opt-out key. Validated parts that need no
/// cluster are built before any client exists ([`PrometheusBlocker::new`] checks its URL);
/// [`Self::build`] adds the ones that need the client.
#[derive(Debug, Clone, Default)]
pub struct BlockerSpec {
    /// The Prometheus alert blocker, if configured.
    pub prometheus: Option<PrometheusBlocker>,
    /// Label selectors of pods that block their node (empty: none).
    pub pod_selectors: Vec<String>,
    /// A node label or annotation that opts the node out (`None`: no opt-out).
    pub opt_out_key: Option<String>,
}

impl BlockerSpec {
    /// The blockers, in this order: Prometheus, pods, opt-out (a composite reports reasons in
    /// the order of its blockers). With nothing configured nothing blocks.
    pub fn build(&self, client: &kube::Client) -> Result<CompositeBlocker, BlockerError> {
        let mut blockers = CompositeBlocker::new();
        if let Some(p) = &self.prometheus {
            blockers.push(Arc::new(p.clone()));
        }
        if !self.pod_selectors.is_empty() {
            blockers.push(Arc::new(PodBlocker::new(
                client.clone(),
                self.pod_selectors.clone(),
            )?));
        }
        if let Some(key) = &self.opt_out_key {
            blockers.push(Arc::new(OptOutBlocker::new(
                client.clone(),
                key.clone(),
                OptOutSource::LabelOrAnnotation,
            )?));
        }
        Ok(blockers)
    }
}
