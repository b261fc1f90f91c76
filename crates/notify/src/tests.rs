//! Every HTTP backend against a local wiremock server: method, path, query, headers, exact JSON
//! body; failures (status, refused connection, timeout) with redaction checked on errors and logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::config::parse_url;
use crate::error::SendFailure;
use crate::http::{HttpNotifier, http_client};
use crate::{Message, Notifier};

const TIMEOUT: Duration = Duration::from_secs(5);

struct Expected<'a> {
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
    body: Body<'a>,
}

enum Body<'a> {
    Json(Value),
    Text(&'a str),
}

async fn server(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

fn notifier(url: &str, base: Option<&MockServer>) -> HttpNotifier {
    let config = parse_url(url).unwrap();
    let client = http_client(TIMEOUT).unwrap();
    let n = HttpNotifier::new(config, client, TIMEOUT).unwrap();
    match base {
        Some(s) => n.with_base_url(Url::parse(&s.uri()).unwrap()),
        None => n,
    }
}

async fn assert_requests(server: &MockServer, expected: &[Expected<'_>]) {
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

fn msg(text: &str) -> Message {
    Message::text(text)
}

#[tokio::test]
async fn slack_webhook_new_format() {
    let s = server(ResponseTemplate::new(200)).await;
    let n = notifier(
        "slack://hook:T0001-B0002-S3CRETC@webhook?botname=kured&icon=:ghost:",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    let body = json!({ "text": "Draining node n1", "username": "kured", "icon_emoji": ":ghost:" });
    assert_requests(
        &s,
        &[Expected {
            path: "/services/T0001/B0002/S3CRETC",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn slack_legacy_format_with_channel_and_color() {
    let s = server(ResponseTemplate::new(200)).await;
    let n = notifier(
        "slack://kured@T0001/B0002/S3CRETC?channel=%23ops&color=good&title=Kured",
        Some(&s),
    );
    n.send(&msg("Rebooting node n1")).await.unwrap();
    let body = json!({
        "text": "Kured",
        "attachments": [{ "text": "Rebooting node n1", "color": "good" }],
        "username": "kured",
        "channel": "#ops",
    });
    assert_requests(
        &s,
        &[Expected {
            path: "/services/T0001/B0002/S3CRETC",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn slack_bot_token_uses_chat_post_message_and_checks_ok() {
    let s = server(ResponseTemplate::new(200).set_body_json(json!({ "ok": true }))).await;
    let n = notifier("slack://xoxb:123-456-S3CRET@C0123?title=Kured", Some(&s));
    n.send(&msg("Node n1 rebooted")).await.unwrap();
    let body = json!({ "text": "*Kured*\nNode n1 rebooted", "channel": "C0123" });
    assert_requests(
        &s,
        &[Expected {
            path: "/api/chat.postMessage",
            query: None,
            headers: &[("authorization", "Bearer xoxb-123-456-S3CRET")],
            body: Body::Json(body),
        }],
    )
    .await;

    let bad = server(
        ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": "invalid_auth" })),
    )
    .await;
    let n = notifier("slack://xoxb:123-456-S3CRET@C0123", Some(&bad));
    let err = n.send(&msg("x")).await.unwrap_err();
    assert_eq!(
        err.failures[0].failure,
        SendFailure::Rejected("invalid_auth".into())
    );
    assert!(!err.to_string().contains("S3CRET"), "{err}");
}

#[tokio::test]
async fn teams_connector_message_card() {
    let s = server(ResponseTemplate::new(200)).await;
    let n = notifier(
        "teams://grp@tnt/ALTSECRET/owner/EXTRASECRET?host=example.webhook.office.com&color=FF0000",
        Some(&s),
    );
    n.send(&Message {
        title: Some("kured".into()),
        text: "Draining node n1".into(),
    })
    .await
    .unwrap();
    let body = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": "kured",
        "title": "kured",
        "text": "Draining node n1",
        "themeColor": "FF0000",
    });
    assert_requests(
        &s,
        &[Expected {
            path: "/webhookb2/grp@tnt/IncomingWebhook/ALTSECRET/owner/EXTRASECRET",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn teams_workflow_adaptive_card() {
    let s = server(ResponseTemplate::new(202)).await;
    let n = notifier(
        "teams+https://prod-01.westus.logic.azure.com:443/workflows/WFID/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIGS3CRET",
        Some(&s),
    );
    n.send(&msg("Rebooting node n1")).await.unwrap();
    let body = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{ "type": "TextBlock", "text": "Rebooting node n1", "wrap": true }],
            }
        }]
    });
    assert_requests(
        &s,
        &[Expected {
            path: "/workflows/WFID/triggers/manual/paths/invoke",
            query: Some("api-version=2016-06-01&sig=SIGS3CRET"),
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
    assert!(
        !n.target().contains("SIGS3CRET") && !n.target().contains("WFID"),
        "{}",
        n.target()
    );
}

#[tokio::test]
async fn rocketchat_webhook() {
    let s = server(ResponseTemplate::new(200)).await;
    let n = notifier(
        "rocketchat://kured@chat.example.com/TOKA/TOKBS3CRET/ops",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    let body = json!({ "text": "Draining node n1", "username": "kured", "channel": "#ops" });
    assert_requests(
        &s,
        &[Expected {
            path: "/hooks/TOKA/TOKBS3CRET",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn discord_webhook() {
    let s = server(ResponseTemplate::new(204)).await;
    let n = notifier(
        "discord://TOKS3CRET@123456789?username=kured&title=Kured",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    let body = json!({ "content": "**Kured**\nDraining node n1", "username": "kured" });
    assert_requests(
        &s,
        &[Expected {
            path: "/api/webhooks/123456789/TOKS3CRET",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn mattermost_webhook_over_plain_http() {
    let s = server(ResponseTemplate::new(200)).await;
    let addr = s.address();
    let url = format!(
        "mattermost://kured@{addr}/TOKS3CRET/town-square?disabletls=yes&icon=https://x.example/i.png"
    );
    let n = notifier(&url, None);
    n.send(&msg("Draining node n1")).await.unwrap();
    let body = json!({
        "text": "Draining node n1",
        "username": "kured",
        "channel": "town-square",
        "icon_url": "https://x.example/i.png",
    });
    assert_requests(
        &s,
        &[Expected {
            path: "/hooks/TOKS3CRET",
            query: None,
            headers: &[],
            body: Body::Json(body),
        }],
    )
    .await;
}

#[tokio::test]
async fn telegram_one_request_per_chat() {
    let s = server(ResponseTemplate::new(200).set_body_json(json!({ "ok": true }))).await;
    let n = notifier(
        "telegram://12345:AAS3CRET@telegram?chats=@kured,-100200&notification=no&parsemode=HTML",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    let body = |chat: &str| json!({ "chat_id": chat, "text": "Draining node n1", "parse_mode": "HTML", "disable_notification": true });
    assert_requests(
        &s,
        &[
            Expected {
                path: "/bot12345:AAS3CRET/sendMessage",
                query: None,
                headers: &[],
                body: Body::Json(body("@kured")),
            },
            Expected {
                path: "/bot12345:AAS3CRET/sendMessage",
                query: None,
                headers: &[],
                body: Body::Json(body("-100200")),
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn googlechat_webhook() {
    let s = server(ResponseTemplate::new(200)).await;
    let n = notifier(
        "googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=KEYS3CRET&token=TOKS3CRET",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    assert_requests(
        &s,
        &[Expected {
            path: "/v1/spaces/FOO/messages",
            query: Some("key=KEYS3CRET&token=TOKS3CRET"),
            headers: &[],
            body: Body::Json(json!({ "text": "Draining node n1" })),
        }],
    )
    .await;
}

#[tokio::test]
async fn gotify_message_with_key_header() {
    let s = server(ResponseTemplate::new(200)).await;
    let url = format!(
        "gotify://{}/sub/AS3CRETTOKEN?priority=5&title=kured&disabletls=yes",
        s.address()
    );
    let n = notifier(&url, None);
    n.send(&msg("Draining node n1")).await.unwrap();
    assert_requests(
        &s,
        &[Expected {
            path: "/sub/message",
            query: None,
            headers: &[("x-gotify-key", "AS3CRETTOKEN")],
            body: Body::Json(
                json!({ "message": "Draining node n1", "title": "kured", "priority": 5 }),
            ),
        }],
    )
    .await;
}

#[tokio::test]
async fn ntfy_json_publish_with_basic_auth() {
    let s = server(ResponseTemplate::new(200)).await;
    let url = format!(
        "ntfy://alice:PASSS3CRET@{}/reboots?scheme=http&priority=high&tags=warning,skull&title=kured",
        s.address()
    );
    let n = notifier(&url, None);
    n.send(&msg("Draining node n1")).await.unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:PASSS3CRET")
    );
    assert_requests(
        &s,
        &[Expected {
            path: "/",
            query: None,
            headers: &[("authorization", &auth)],
            body: Body::Json(json!({
                "topic": "reboots",
                "message": "Draining node n1",
                "title": "kured",
                "priority": 4,
                "tags": ["warning", "skull"],
            })),
        }],
    )
    .await;
}

#[tokio::test]
async fn pushover_message() {
    let s = server(ResponseTemplate::new(200).set_body_json(json!({ "status": 1 }))).await;
    let n = notifier(
        "pushover://shoutrrr:APIS3CRET@USERS3CRET/?devices=phone,tablet&priority=1&title=kured",
        Some(&s),
    );
    n.send(&msg("Draining node n1")).await.unwrap();
    assert_requests(
        &s,
        &[Expected {
            path: "/1/messages.json",
            query: None,
            headers: &[],
            body: Body::Json(json!({
                "token": "APIS3CRET",
                "user": "USERS3CRET",
                "message": "Draining node n1",
                "title": "kured",
                "priority": 1,
                "device": "phone,tablet",
            })),
        }],
    )
    .await;
}

#[tokio::test]
async fn generic_raw_body_with_forwarded_query_and_header() {
    let s = server(ResponseTemplate::new(200)).await;
    let url = format!(
        "generic+http://{}/hook?x=1&@X-Api-Key=HDRS3CRET",
        s.address()
    );
    let n = notifier(&url, None);
    n.send(&msg("Draining node n1")).await.unwrap();
    assert_requests(
        &s,
        &[Expected {
            path: "/hook",
            query: Some("x=1"),
            headers: &[
                ("x-api-key", "HDRS3CRET"),
                ("content-type", "application/json"),
            ],
            body: Body::Text("Draining node n1"),
        }],
    )
    .await;
}

#[tokio::test]
async fn generic_json_template() {
    let s = server(ResponseTemplate::new(200)).await;
    let url = format!(
        "generic://{}/api/notify?template=json&disabletls=yes&$cluster=prod&titlekey=subject&_title=forwarded",
        s.address()
    );
    let n = notifier(&url, None);
    n.send(&Message {
        title: Some("kured".into()),
        text: "Draining node n1".into(),
    })
    .await
    .unwrap();
    assert_requests(
        &s,
        &[Expected {
            path: "/api/notify",
            query: Some("title=forwarded"),
            headers: &[],
            body: Body::Json(
                json!({ "subject": "kured", "message": "Draining node n1", "cluster": "prod" }),
            ),
        }],
    )
    .await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

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
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

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
