//! The agent-facing side: render the kured messages and send them without ever blocking a reboot.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{NotifyError, SendError, SendFailure};
use crate::fanout::DEFAULT_TIMEOUT;
use crate::message::{Message, Notifier};
use crate::template::{MessageTemplates, Template, TemplateContext};

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// About to drain.
    Drain,
    /// About to reboot.
    Reboot,
    /// Rebooted and uncordoned.
    Uncordon,
    /// A required reboot has been blocked for longer than `blocked_for`.
    Blocked {
        /// How long it has been blocked.
        blocked_for: Duration,
        /// The blockers' reasons.
        reason: &'a str,
    },
    /// The rollout halted because of this node's failure (kured-rs, issue 18).
    Halted {
        /// Why (the failure).
        reason: &'a str,
    },
}

/// Renders kured's messages and sends them to a [`Notifier`] (usually a [`crate::FanOut`]).
///
/// [`Notifications::notify`] never fails and never takes longer than the configured timeout
/// (plus scheduling): a broken notification target must not delay a reboot. Failures are
/// logged (with secrets redacted) by the backends.
#[derive(Debug, Clone)]
pub struct Notifications {
    notifier: Arc<dyn Notifier>,
    templates: MessageTemplates,
    cluster: String,
    title: Option<String>,
    timeout: Duration,
}

impl Notifications {
    /// Messages from `templates`, sent to `notifier`, bounded by the default 10 s timeout.
    pub fn new(notifier: Arc<dyn Notifier>, templates: MessageTemplates) -> Self {
        Self {
            notifier,
            templates,
            cluster: String::new(),
            title: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the cluster name used by `{cluster}`.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// Sets a title sent with every message (services without a title field ignore it or
    /// prepend it; SMTP uses it as the subject).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the overall bound on one notification (all backends run concurrently).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The message text for an event.
    pub fn render(&self, node: &str, event: Event<'_>) -> String {
        let (template, reason, duration): (&Template, &str, Option<Duration>) = match event {
            Event::Drain => (&self.templates.drain, "", None),
            Event::Reboot => (&self.templates.reboot, "", None),
            Event::Uncordon => (&self.templates.uncordon, "", None),
            Event::Blocked {
                blocked_for,
                reason,
            } => (&self.templates.blocked, reason, Some(blocked_for)),
            Event::Halted { reason } => (&self.templates.halted, reason, None),
        };
        template.render(&TemplateContext {
            node,
            cluster: &self.cluster,
            reason,
            duration,
        })
    }

    /// Renders and sends; returns the failures (for callers that count them) but never
    /// waits longer than the timeout.
    pub async fn try_notify(&self, node: &str, event: Event<'_>) -> Result<(), NotifyError> {
        let message = Message {
            title: self.title.clone(),
            text: self.render(node, event),
        };
        match tokio::time::timeout(self.timeout, self.notifier.send(&message)).await {
            Ok(r) => r,
            Err(_) => Err(NotifyError {
                total: self.notifier.backends(),
                failures: vec![SendError {
                    service: self.notifier.service(),
                    target: self.notifier.target(),
                    failure: SendFailure::Timeout(self.timeout),
                }],
            }),
        }
    }

    /// Renders and sends, logging (not returning) failures.
    pub async fn notify(&self, node: &str, event: Event<'_>) {
        if let Err(e) = self.try_notify(node, event).await {
            tracing::warn!(node, failed = e.failures.len(), total = e.total, error = %e, "notification failed; continuing");
        }
    }
}
