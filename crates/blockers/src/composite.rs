//! [`CompositeBlocker`]: runs several blockers concurrently and reports every reason.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;

use crate::{BlockReason, BlockerError, RebootBlocker, check_or_block};

/// Runs all its blockers concurrently on every check and reports every reason, so that an
/// operator sees at once that both an alert fires and the node opted out.
///
/// A blocker whose check fails contributes a [`BlockReason::CheckFailed`] naming it (fail
/// safe), so [`RebootBlocker::check`] of a composite never returns an error. Reasons come in
/// the order the blockers were added. With no blockers nothing blocks.
#[derive(Clone, Default)]
pub struct CompositeBlocker {
    blockers: Vec<Arc<dyn RebootBlocker>>,
}

impl std::fmt::Debug for CompositeBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeBlocker")
            .field(
                "blockers",
                &self.blockers.iter().map(|b| b.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CompositeBlocker {
    /// An empty composite (blocks nothing until blockers are added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blocker.
    pub fn with(mut self, blocker: impl RebootBlocker + 'static) -> Self {
        self.blockers.push(Arc::new(blocker));
        self
    }

    /// Adds a shared blocker.
    pub fn push(&mut self, blocker: Arc<dyn RebootBlocker>) {
        self.blockers.push(blocker);
    }

    /// Number of blockers.
    pub fn len(&self) -> usize {
        self.blockers.len()
    }

    /// True without blockers.
    pub fn is_empty(&self) -> bool {
        self.blockers.is_empty()
    }
}

impl FromIterator<Arc<dyn RebootBlocker>> for CompositeBlocker {
    fn from_iter<I: IntoIterator<Item = Arc<dyn RebootBlocker>>>(iter: I) -> Self {
        Self {
            blockers: iter.into_iter().collect(),
        }
    }
}

#[async_trait]
impl RebootBlocker for CompositeBlocker {
    fn name(&self) -> &'static str {
        "composite"
    }

    async fn check(&self, node: &str) -> Result<Option<BlockReason>, BlockerError> {
        let reasons = join_all(self.blockers.iter().map(|b| check_or_block(&**b, node))).await;
        Ok(BlockReason::combine(reasons.into_iter().flatten()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::Barrier;

    use super::*;
    use crate::MockRebootBlocker;

    fn mock(
        name: &'static str,
        result: fn() -> Result<Option<BlockReason>, BlockerError>,
    ) -> MockRebootBlocker {
        let mut m = MockRebootBlocker::new();
        m.expect_name().return_const(name);
        m.expect_check()
            .withf(|node| node == "node-1")
            .times(1)
            .returning(move |_| result());
        m
    }

    #[tokio::test]
    async fn reports_every_reason_in_order_and_folds_errors() {
        let composite = CompositeBlocker::new()
            .with(mock("prometheus_alert", || {
                Ok(Some(BlockReason::Alerts(vec!["A".into()])))
            }))
            .with(mock("clear", || Ok(None)))
            .with(mock("blocker_pod", || {
                Err(BlockerError::Config("list failed".into()))
            }))
            .with(mock("composite-inner", || {
                Ok(Some(BlockReason::Multiple(vec![
                    BlockReason::Alerts(vec!["B".into()]),
                    BlockReason::Alerts(vec!["C".into()]),
                ])))
            }));
        assert_eq!(composite.len(), 4);
        let reason = composite.check("node-1").await.unwrap().unwrap();
        assert_eq!(
            reason,
            BlockReason::Multiple(vec![
                BlockReason::Alerts(vec!["A".into()]),
                BlockReason::CheckFailed {
                    blocker: "blocker_pod".into(),
                    error: "invalid blocker configuration: list failed".into(),
                },
                BlockReason::Alerts(vec!["B".into()]),
                BlockReason::Alerts(vec!["C".into()]),
            ])
        );
    }

    #[tokio::test]
    async fn nothing_blocks_when_all_clear_or_empty() {
        assert_eq!(CompositeBlocker::new().check("node-1").await.unwrap(), None);
        let composite: CompositeBlocker = [
            Arc::new(mock("a", || Ok(None))) as Arc<dyn RebootBlocker>,
            Arc::new(mock("b", || Ok(None))),
        ]
        .into_iter()
        .collect();
        assert_eq!(composite.check("node-1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_single_reason_is_not_wrapped() {
        let composite = CompositeBlocker::new()
            .with(mock("a", || Ok(None)))
            .with(mock("b", || {
                Ok(Some(BlockReason::Alerts(vec!["X".into()])))
            }));
        assert_eq!(
            composite.check("node-1").await.unwrap(),
            Some(BlockReason::Alerts(vec!["X".into()]))
        );
    }

    /// Meets the others at a barrier: only completes if all run at the same time.
    struct Rendezvous(Arc<Barrier>, &'static str);

    #[async_trait]
    impl RebootBlocker for Rendezvous {
        fn name(&self) -> &'static str {
            self.1
        }
        async fn check(&self, _node: &str) -> Result<Option<BlockReason>, BlockerError> {
            self.0.wait().await;
            Ok(Some(BlockReason::Alerts(vec![self.1.to_string()])))
        }
    }

    #[tokio::test]
    async fn runs_blockers_concurrently() {
        let barrier = Arc::new(Barrier::new(3));
        let composite = CompositeBlocker::new()
            .with(Rendezvous(barrier.clone(), "one"))
            .with(Rendezvous(barrier.clone(), "two"))
            .with(Rendezvous(barrier, "three"));
        // Run one after the other, the first would wait at the barrier forever.
        let reason = tokio::time::timeout(Duration::from_secs(30), composite.check("n"))
            .await
            .expect("blockers did not run concurrently")
            .unwrap()
            .unwrap();
        assert_eq!(reason.reasons().len(), 3);
        assert_eq!(
            reason.to_string(),
            "1 active alert: one; 1 active alert: two; 1 active alert: three"
        );
    }
}
