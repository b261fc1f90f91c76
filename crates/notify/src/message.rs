//! What is sent ([`Message`]) and the seam every backend implements ([`Notifier`]).

use async_trait::async_trait;

use crate::error::NotifyError;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Optional title (subject for e-mail; prepended or a separate field elsewhere).
    pub title: Option<String>,
    /// The text.
    pub text: String,
}

impl Message {
    /// A message without title.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            title: None,
            text: text.into(),
        }
    }
}

/// Something that delivers a message somewhere.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Service name for logs (`slack`, `smtp`, `fan-out`, …).
    fn service(&self) -> &'static str;

    /// Where messages go, with secrets redacted.
    fn target(&self) -> String;

    /// Sends one message, bounded by the notifier's timeout. Failures are logged by the
    /// backend (service, redacted target, HTTP status) and returned.
    async fn send(&self, message: &Message) -> Result<(), NotifyError>;

    /// How many backends this notifier stands for (1, or the size of a fan-out).
    fn backends(&self) -> usize {
        1
    }
}
