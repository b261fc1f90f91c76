//! Helpers for the unit tests that send to a local wiremock server: each service's tests check
//! method, path, query, headers and the exact body of its requests; `http_notifier`'s tests
//! check failures (status, refused connection, timeout) and redaction in errors and logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::http_client::http_client;
use crate::http_notifier::HttpNotifier;
use crate::message::Message;
use crate::parse::parse_url;

/// The timeout of [`notifier`]'s notifiers.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// One request the server should have received.
pub(crate) struct Expected<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
}

impl<'a> Expected<'a> {
    /// A request to `path` without query, with the JSON `body` (no header checked).
    pub(crate) fn json(path: &'a str, body: Value) -> Self {
        Self {
            path,
            query: None,
            headers: &[],
            body: Body::Json(body),
        }
    }
}

/// The expected body.
pub(crate) enum Body<'a> {
    Json(Value),
    Text(&'a str),
}

/// A server answering every request with `response`.
pub(crate) async fn server(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// The notifier for `url`, sending to `base` instead of the service's host when given.
pub(crate) fn notifier(url: &str, base: Option<&MockServer>) -> HttpNotifier {
    let config = parse_url(url).unwrap();
    let client = http_client(TIMEOUT).unwrap();
    let n = HttpNotifier::new(config, client, TIMEOUT).unwrap();
    match base {
        Some(s) => n.with_base_url(Url::parse(&s.uri()).unwrap()),
        None => n,
    }
}

/// The notifier for `url` where `{addr}` stands for the server's own address (services
/// reached over plain http, whose URL names the host directly).
pub(crate) fn notifier_at(server: &MockServer, url: &str) -> HttpNotifier {
    notifier(&url.replace("{addr}", &server.address().to_string()), None)
}

/// Checks the requests `server` received, in order.
pub(crate) async fn assert_requests(server: &MockServer, expected: &[Expected<'_>]) {
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), expected.len(), "request count: {got:?}");
    for (req, exp) in got.iter().zip(expected) {
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(req.url.path(), exp.path);
        assert_eq!(req.url.query(), exp.query, "query of {}", req.url);
        for (name, value) in exp.headers {
            let got = req
                .headers
                .get(*name)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), Some(*value), "header {name}");
        }
        match &exp.body {
            Body::Json(v) => {
                let ct = req.headers.get("content-type").unwrap().to_str().unwrap();
                assert_eq!(ct, "application/json");
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                assert_eq!(&body, v);
            }
            Body::Text(t) => assert_eq!(std::str::from_utf8(&req.body).unwrap(), *t),
        }
    }
}

/// A message without title.
pub(crate) fn msg(text: &str) -> Message {
    Message::text(text)
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Captures the `tracing` output of this thread until the guard is dropped.
pub(crate) fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}
