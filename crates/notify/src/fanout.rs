//! Fan-out over several notifiers, and construction from a URL list.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{BuildError, NotifyError, SendError};
use crate::http_client::http_client;
use crate::http_notifier::HttpNotifier;
use crate::message::{Message, Notifier};
use crate::parse::parse_urls;
use crate::services::{ServiceConfig, SmtpNotifier};

/// Default per-send timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends every message to all backends concurrently; one failing backend does not stop the
/// others.
#[derive(Debug, Clone, Default)]
pub struct FanOut {
    notifiers: Vec<Arc<dyn Notifier>>,
}

impl FanOut {
    /// A fan-out over the given notifiers.
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>) -> Self {
        Self { notifiers }
    }

    /// Parses a `--notify-url` list (comma or space separated) and builds one backend per URL,
    /// each with the given per-send timeout. An empty list gives a fan-out that sends nothing.
    pub fn from_urls(list: &str, timeout: Duration) -> Result<Self, BuildError> {
        let configs = parse_urls(list)?;
        Self::from_configs(configs, timeout)
    }

    /// Builds one backend per parsed configuration.
    pub fn from_configs(
        configs: Vec<ServiceConfig>,
        timeout: Duration,
    ) -> Result<Self, BuildError> {
        let mut client = None;
        let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::with_capacity(configs.len());
        for config in configs {
            if let ServiceConfig::Smtp(c) = config {
                notifiers.push(Arc::new(SmtpNotifier::new(c, timeout)?));
                continue;
            }
            let client = if let Some(c) = &client {
                Clone::clone(c)
            } else {
                let c = http_client(timeout)?;
                client = Some(c.clone());
                c
            };
            if let Some(n) = HttpNotifier::new(config, client, timeout) {
                notifiers.push(Arc::new(n));
            }
        }
        Ok(Self { notifiers })
    }

    /// The backends.
    pub fn notifiers(&self) -> &[Arc<dyn Notifier>] {
        &self.notifiers
    }

    /// Whether there is no backend at all.
    pub fn is_empty(&self) -> bool {
        self.notifiers.is_empty()
    }
}

#[async_trait]
impl Notifier for FanOut {
    fn service(&self) -> &'static str {
        "fan-out"
    }

    fn target(&self) -> String {
        self.notifiers
            .iter()
            .map(|n| n.target())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Sends to all backends concurrently; `Err` lists each failed backend (the others received
    /// the message).
    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        let results =
            futures::future::join_all(self.notifiers.iter().map(|n| n.send(message))).await;
        let mut total = 0;
        let mut failures: Vec<SendError> = Vec::new();
        for (n, r) in self.notifiers.iter().zip(results) {
            match r {
                Ok(()) => total += n.backends(),
                Err(e) => {
                    total += e.total;
                    failures.extend(e.failures);
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NotifyError { total, failures })
        }
    }

    fn backends(&self) -> usize {
        self.notifiers.iter().map(|n| n.backends()).sum()
    }
}
