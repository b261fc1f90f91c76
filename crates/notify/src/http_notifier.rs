//! Sending one HTTP service's requests: the service builds them ([`ServiceConfig`]), this
//! notifier sends them in order with the shared client and turns failures into [`SendError`]s
//! with secrets scrubbed.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use crate::error::{NotifyError, SendError, SendFailure, with_sources};
use crate::message::{Message, Notifier};
use crate::request::{Body, Check, HttpCall};
use crate::secret::{Secret, scrub};
use crate::services::ServiceConfig;

/// A notifier for one HTTP service URL.
#[derive(Debug)]
pub struct HttpNotifier {
    config: ServiceConfig,
    client: reqwest::Client,
    timeout: Duration,
    secrets: Vec<Secret>,
    base_url: Option<Url>,
}

impl HttpNotifier {
    /// Wraps a parsed configuration. `None` for SMTP (use [`crate::SmtpNotifier`]).
    pub fn new(config: ServiceConfig, client: reqwest::Client, timeout: Duration) -> Option<Self> {
        if matches!(config, ServiceConfig::Smtp(_)) {
            return None;
        }
        let secrets = config.secrets();
        Some(Self {
            config,
            client,
            timeout,
            secrets,
            base_url: None,
        })
    }

    /// Sends every request to `base` (scheme, host and port) instead of the service's host; the
    /// path and query stay. For tests against a local server.
    #[cfg(test)]
    pub(crate) fn with_base_url(mut self, base: Url) -> Self {
        self.base_url = Some(base);
        self
    }

    fn target(&self) -> String {
        self.config.to_string()
    }

    fn fail(&self, failure: SendFailure) -> SendError {
        let err = SendError {
            service: self.config.service(),
            target: self.target(),
            failure,
        };
        tracing::warn!(
            service = err.service,
            target = %err.target,
            status = err.status(),
            error = %err.failure,
            "notification failed"
        );
        err
    }

    async fn send_call(&self, mut call: HttpCall) -> Result<(), SendFailure> {
        if let Some(base) = &self.base_url {
            let _ = call.url.set_scheme(base.scheme());
            let _ = call.url.set_host(base.host_str());
            let _ = call.url.set_port(base.port());
        }
        let mut req = self.client.request(call.method, call.url);
        let mut has_content_type = false;
        for (k, v) in &call.headers {
            has_content_type |= k.eq_ignore_ascii_case("content-type");
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((user, password)) = &call.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(token) = &call.bearer {
            req = req.bearer_auth(token);
        }
        req = match call.body {
            Body::Json(v) if has_content_type => req.body(v.to_string()),
            Body::Json(v) => req.json(&v),
            Body::Text(t) => req.body(t),
        };
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(SendFailure::Status(status.as_u16()));
        }
        if call.check == Check::SlackOk {
            let body: Value = resp.json().await.map_err(|e| self.transport(e))?;
            if body.get("ok").and_then(Value::as_bool) != Some(true) {
                let reason = body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(SendFailure::Rejected(scrub(reason, &self.secrets)));
            }
        }
        Ok(())
    }

    fn transport(&self, e: reqwest::Error) -> SendFailure {
        if e.is_timeout() {
            return SendFailure::Timeout(self.timeout);
        }
        let e = e.without_url();
        SendFailure::Transport(scrub(&with_sources(&e), &self.secrets))
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    fn service(&self) -> &'static str {
        self.config.service()
    }

    fn target(&self) -> String {
        self.target()
    }

    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        let Some(calls) = self.config.http_calls(message) else {
            return Ok(());
        };
        let all = async {
            for call in calls {
                self.send_call(call).await?;
            }
            Ok::<(), SendFailure>(())
        };
        match tokio::time::timeout(self.timeout, all).await {
            Ok(Ok(())) => {
                tracing::debug!(service = self.config.service(), target = %self.target(), "notification sent");
                Ok(())
            }
            Ok(Err(f)) => Err(self.fail(f).into()),
            Err(_) => Err(self.fail(SendFailure::Timeout(self.timeout)).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_client::http_client;
    use crate::message::Notifier;
    use crate::parse::parse_url;
    use crate::test_support::{capture_logs, msg, notifier, server};
    use wiremock::ResponseTemplate;

    #[tokio::test]
    async fn failures_name_service_and_status_and_never_leak_secrets() {
        let (logs, _guard) = capture_logs();
        let s = server(ResponseTemplate::new(500)).await;
        let n = notifier("slack://hook:T0001-B0002-S3CRETC@webhook", Some(&s));
        let err = n.send(&msg("x")).await.unwrap_err();
        assert_eq!(err.failures.len(), 1);
        assert_eq!(err.failures[0].service, "slack");
        assert_eq!(err.failures[0].status(), Some(500));
        let text = format!("{err} {err:?}");
        assert!(text.contains("HTTP status 500"), "{text}");
        let log = logs.text();
        assert!(
            log.contains("slack") && log.contains("500") && log.contains("notification failed"),
            "{log}"
        );
        for secret in ["S3CRETC", "B0002"] {
            assert!(!text.contains(secret), "error leaks {secret}: {text}");
            assert!(!log.contains(secret), "log leaks {secret}: {log}");
        }
    }

    #[tokio::test]
    async fn refused_connection_error_is_scrubbed() {
        let (logs, _guard) = capture_logs();
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url =
            format!("generic+http://user:PWS3CRET@127.0.0.1:{port}/path/PATHS3CRET?token=QS3CRET");
        let n = notifier(&url, None);
        let err = n.send(&msg("x")).await.unwrap_err();
        assert!(
            matches!(err.failures[0].failure, SendFailure::Transport(_)),
            "{err:?}"
        );
        let text = format!("{err} {err:?} {}", logs.text());
        assert!(text.contains("generic"), "{text}");
        for secret in ["PWS3CRET", "PATHS3CRET", "QS3CRET"] {
            assert!(!text.contains(secret), "leaks {secret}: {text}");
        }
    }

    #[tokio::test]
    async fn slow_server_times_out_quickly() {
        let s = server(ResponseTemplate::new(200).set_delay(Duration::from_secs(10))).await;
        let config = parse_url("discord://TOKS3CRET@42").unwrap();
        let timeout = Duration::from_millis(300);
        let n = HttpNotifier::new(config, http_client(timeout).unwrap(), timeout)
            .unwrap()
            .with_base_url(Url::parse(&s.uri()).unwrap());
        let start = std::time::Instant::now();
        let err = n.send(&msg("x")).await.unwrap_err();
        assert_eq!(err.failures[0].failure, SendFailure::Timeout(timeout));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        assert!(!err.to_string().contains("TOKS3CRET"));
    }

    #[tokio::test]
    async fn tokens_are_path_encoded_and_cannot_redirect_the_request() {
        let s = server(ResponseTemplate::new(200)).await;
        // A `#` or `?` decoded from the URL stays inside the path segment.
        let n = notifier("slack://hook:T0-B0-C%23x%3Fy@webhook", Some(&s));
        n.send(&msg("m")).await.unwrap();
        let got = s.received_requests().await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].url.path(), "/services/T0/B0/C%23x%3Fy");
        assert_eq!(got[0].url.query(), None);
    }

    #[test]
    fn notifier_debug_hides_secrets() {
        let n = notifier("telegram://12345:AAS3CRET@telegram?chats=1", None);
        let shown = format!("{n:?} {}", n.target());
        assert!(!shown.contains("AAS3CRET"), "{shown}");
        assert!(shown.contains("telegram://***@telegram?chats=1"), "{shown}");
    }
}
