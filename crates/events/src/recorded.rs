//! [`NoEvents`] and [`RecordedEvents`]: a publisher that publishes nothing and a test double.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::NodeEvents;
use crate::event::NodeEvent;

/// Publishes nothing (events switched off).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

#[async_trait]
impl NodeEvents for NoEvents {
    async fn publish(&self, _node: &str, _event: NodeEvent) {}
}

/// Keeps every published event in memory, in order (for tests of the programs that publish).
#[derive(Debug, Default)]
pub struct RecordedEvents {
    events: Mutex<Vec<(String, NodeEvent)>>,
}

impl RecordedEvents {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `(node, event)` published so far, oldest first.
    pub fn events(&self) -> Vec<(String, NodeEvent)> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The reasons published for `node` so far, oldest first.
    pub fn reasons(&self, node: &str) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(n, _)| n == node)
            .map(|(_, e)| e.reason)
            .collect()
    }
}

#[async_trait]
impl NodeEvents for RecordedEvents {
    async fn publish(&self, node: &str, event: NodeEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((node.to_string(), event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_in_order_and_no_events_publishes_nothing() {
        let rec = RecordedEvents::new();
        rec.publish("n1", NodeEvent::lock_taken()).await;
        rec.publish("n2", NodeEvent::draining()).await;
        rec.publish("n1", NodeEvent::rebooting()).await;
        let all = rec.events();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1], ("n2".to_string(), NodeEvent::draining()));
        assert_eq!(rec.reasons("n1"), ["LockAcquired", "Rebooting"]);
        // Usable as a trait object, like the programs hold it.
        let shared: std::sync::Arc<dyn NodeEvents> = std::sync::Arc::new(NoEvents);
        shared.publish("n1", NodeEvent::node_back()).await;
        assert_eq!(format!("{shared:?}"), "NoEvents");
    }
}
