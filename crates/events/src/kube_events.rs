//! [`KubeNodeEvents`]: events.k8s.io/v1 Events about a Node through kube's own recorder.
//!
//! kube's [`Recorder`] creates the Event (in `default`, the namespace of events about
//! cluster-scoped objects) and, when the same type, reason and action are published again for
//! the same Node within its 6-minute cache, PATCHes it into a series (`series.count` 2, 3, …)
//! instead of creating another one. Its key does not include the note: a repeat keeps the first
//! occurrence's note (the API server refuses a changed note anyway).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::Api;
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder, Reporter};
use tokio::time::Instant;

use crate::NodeEvents;
use crate::event::{EventType, NodeEvent};

/// How long a Node's uid is trusted before it is read again (a node deleted and re-created
/// under the same name has a new uid).
const UID_TTL: Duration = Duration::from_secs(600);

/// How long one publish (the Node GET and the Event request) may take.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one warning per reason in this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Publishes [`NodeEvent`]s as events.k8s.io/v1 Events regarding the Node (`apiVersion v1`,
/// `kind Node`, its name and uid) in namespace `default`, with the given reporting controller
/// and instance.
///
/// The Node's uid (`kubectl describe node` looks events up by it) is read with one `GET` per
/// node and cached for 10 minutes; after a failed `GET` the event names the Node by name only,
/// and after a `404` or `409` from the events API the uid is read again on the next publish.
/// Needs `get` on `nodes` and `create`, `patch` on `events.k8s.io` `events`.
pub struct KubeNodeEvents {
    client: kube::Client,
    recorder: Recorder,
    uids: Mutex<HashMap<String, (String, Instant)>>,
    warned: Mutex<HashMap<&'static str, Instant>>,
}

impl std::fmt::Debug for KubeNodeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeNodeEvents").finish_non_exhaustive()
    }
}

impl KubeNodeEvents {
    /// Events through `client`, reported by `controller` (`kured-rs`, `fleetlock-rs`) and
    /// `instance` (the pod or host name).
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        let reporter = Reporter {
            controller: controller.to_string(),
            instance: Some(instance.to_string()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            uids: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the cached uid of `node` (read again on the next publish).
    pub fn forget_node(&self, node: &str) {
        self.uids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node);
    }

    /// The Node's uid: cached, or read now (`None` when the read fails).
    async fn uid(&self, node: &str) -> Option<String> {
        if let Some((uid, at)) = self
            .uids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            && at.elapsed() < UID_TTL
        {
            return Some(uid.clone());
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        match nodes.get(node).await {
            Ok(n) => {
                let uid = n.metadata.uid?;
                self.uids
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(node.to_string(), (uid.clone(), Instant::now()));
                Some(uid)
            }
            Err(e) => {
                tracing::debug!(node, "cannot read the Node for its Event's uid: {e}");
                None
            }
        }
    }

    async fn try_publish(&self, node: &str, event: &NodeEvent) -> Result<(), kube::Error> {
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            uid: self.uid(node).await,
            ..ObjectReference::default()
        };
        let ev = Event {
            type_: match event.kind {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: event.reason.to_string(),
            note: Some(event.note.clone()),
            action: event.action.to_string(),
            secondary: None,
        };
        self.recorder.publish(&ev, &regarding).await
    }

    /// Logs a failure, at most once per reason per [`WARN_EVERY`].
    fn warn(&self, node: &str, event: &NodeEvent, error: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match warned.get(event.reason) {
            Some(at) if now.duration_since(*at) < WARN_EVERY => {
                tracing::debug!(
                    node,
                    reason = event.reason,
                    "cannot publish the Event: {error}"
                );
            }
            _ => {
                warned.insert(event.reason, now);
                tracing::warn!(
                    node,
                    reason = event.reason,
                    "cannot publish the Event (further failures of this reason are logged at \
                     debug level for a minute): {error}"
                );
            }
        }
    }
}

#[async_trait]
impl NodeEvents for KubeNodeEvents {
    async fn publish(&self, node: &str, event: NodeEvent) {
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.try_publish(node, &event)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if let kube::Error::Api(s) = &e
                    && matches!(s.code, 404 | 409)
                {
                    self.forget_node(node);
                }
                self.warn(node, &event, &e.to_string());
            }
            Err(_) => self.warn(
                node,
                &event,
                &format!("no answer within {}s", PUBLISH_TIMEOUT.as_secs()),
            ),
        }
    }
}
