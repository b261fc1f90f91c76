//! Unit tests of `prometheus`.

//! The HTTP corner cases a real Prometheus does not produce on demand, against a scripted
//! local server. The alert semantics are tested against a real Prometheus in
//! `tests/prometheus.rs`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::*;
use crate::check_or_block;

/// What the scripted server saw: method, path, query, content type, body.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Option<String>, String)>>>;

#[derive(Clone)]
struct Script {
    seen: Seen,
    /// Status to answer a POST with when it is not 200 (405, 501, …).
    post_status: Option<u16>,
    status: u16,
    body: String,
}

async fn handle(
    State(script): State<Script>,
    method: Method,
    uri: axum::http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.seen.lock().unwrap().push((
        method.to_string(),
        uri.path().to_string(),
        query,
        headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string()),
        String::from_utf8(body.to_vec()).unwrap(),
    ));
    if method == Method::POST
        && let Some(code) = script.post_status
    {
        return (AxStatus::from_u16(code).unwrap(), "no POST here").into_response();
    }
    (
        AxStatus::from_u16(script.status).unwrap(),
        [("content-type", "application/json")],
        script.body.clone(),
    )
        .into_response()
}

struct Fake {
    url: String,
    seen: Seen,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn fake(post_status: Option<u16>, status: u16, body: impl Into<String>) -> Fake {
    let seen: Seen = Arc::default();
    let script = Script {
        seen: seen.clone(),
        post_status,
        status,
        body: body.into(),
    };
    let app = Router::new().fallback(any(handle)).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Fake {
        url: format!("http://127.0.0.1:{}", addr.port()),
        seen,
        _shutdown: tx,
    }
}

fn vector(samples: &[(&[(&str, &str)], &str)]) -> String {
    let result: Vec<Value> = samples
        .iter()
        .map(|(labels, value)| {
            let metric: serde_json::Map<String, Value> = labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), json!(v)))
                .collect();
            json!({"metric": metric, "value": [1_700_000_000.123, value]})
        })
        .collect();
    json!({"status": "success", "data": {"resultType": "vector", "result": result}}).to_string()
}

fn alert(name: &'static str, state: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("__name__", "ALERTS"),
        ("alertname", name),
        ("alertstate", state),
    ]
}

#[tokio::test]
async fn posts_a_form_and_parses_alerts() {
    let b = alert("Beta", "firing");
    let a = alert("Alpha", "pending");
    let a2 = {
        let mut a2 = alert("Alpha", "firing");
        a2.push(("severity", "critical"));
        a2
    };
    let zero = alert("Zero", "firing");
    let nameless: Vec<(&str, &str)> = vec![("__name__", "ALERTS"), ("alertstate", "firing")];
    let body = vector(&[
        (&b, "1"),
        (&a, "1"),
        (&a2, "1"),
        (&zero, "0"),
        (&nameless, "1"),
    ]);
    let server = fake(None, 200, body).await;
    let blocker = PrometheusBlocker::new(&format!("{}/prom/", server.url)).unwrap();
    assert_eq!(
        blocker.query_url(),
        format!("{}/prom/api/v1/query", server.url)
    );
    let reason = blocker.check("node-0").await.unwrap();
    assert_eq!(
        reason,
        Some(BlockReason::Alerts(vec!["Alpha".into(), "Beta".into()]))
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            "POST".to_string(),
            "/prom/api/v1/query".to_string(),
            None,
            Some("application/x-www-form-urlencoded".to_string()),
            "query=ALERTS".to_string(),
        )]
    );

    let firing = PrometheusBlocker::new(&server.url)
        .unwrap()
        .firing_only(true);
    assert_eq!(
        firing.active_alerts().await.unwrap(),
        vec!["Alpha".to_string(), "Beta".to_string()],
        "Alpha also fires (with another label set)"
    );
    let filtered = PrometheusBlocker::new(&server.url)
        .unwrap()
        .filter(Some(Regex::new("^Al").unwrap()));
    assert_eq!(filtered.active_alerts().await.unwrap(), vec!["Beta"]);
    let only = filtered.filter_match_only(true);
    assert_eq!(only.active_alerts().await.unwrap(), vec!["Alpha"]);
}

#[tokio::test]
async fn falls_back_to_get_on_405_and_501() {
    for code in [405, 501] {
        let only = alert("OnlyViaGet", "firing");
        let server = fake(Some(code), 200, vector(&[(&only, "1")])).await;
        let blocker = PrometheusBlocker::new(&server.url).unwrap();
        assert_eq!(
            blocker.active_alerts().await.unwrap(),
            vec!["OnlyViaGet"],
            "after {code}"
        );
        let seen = server.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[1].0, "GET");
        assert_eq!(seen[1].1, "/api/v1/query");
        assert_eq!(seen[1].2.as_deref(), Some("query=ALERTS"));
    }
}

#[tokio::test]
async fn other_refusals_do_not_fall_back() {
    let server = fake(Some(404), 200, vector(&[])).await;
    let err = PrometheusBlocker::new(&server.url)
        .unwrap()
        .active_alerts()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BlockerError::PrometheusStatus { status: 404, body, .. } if body == "no POST here"),
        "{err}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn api_error_envelope_blocks_with_its_message() {
    let body = json!({"status": "error", "errorType": "bad_data",
                      "error": "invalid parameter \"query\": 1:1: parse error"})
    .to_string();
    let server = fake(None, 400, body).await;
    let blocker = PrometheusBlocker::new(&server.url).unwrap();
    let err = blocker.check("n").await.unwrap_err();
    match &err {
        BlockerError::PrometheusApi {
            status,
            error_type,
            error,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error_type, "bad_data");
            assert!(error.contains("parse error"), "{error}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let reason = check_or_block(&blocker, "n").await.unwrap();
    assert_eq!(reason.label(), "prometheus_alert");
    assert!(reason.is_check_failure());
    assert!(reason.to_string().contains("bad_data"), "{reason}");
}

#[tokio::test]
async fn unexpected_answers_are_errors() {
    let cases = [
        (200, "not json".to_string(), "not a Prometheus API response"),
        (
            200,
            json!({"status": "success", "data": {"resultType": "matrix", "result": []}})
                .to_string(),
            "result type \"matrix\"",
        ),
        (
            200,
            json!({"status": "success"}).to_string(),
            "success without \"data\"",
        ),
        (
            200,
            json!({"status": "success", "data": {"resultType": "vector",
                   "result": [{"metric": {"alertname": "H"}, "histogram": [1, {}]}]}})
            .to_string(),
            "without a float value",
        ),
        (
            200,
            json!({"status": "success", "data": {"resultType": "vector",
                   "result": [{"metric": {"alertname": "H"}, "value": [1, "one"]}]}})
            .to_string(),
            "sample value \"one\"",
        ),
        (502, "<html>bad gateway</html>".to_string(), "HTTP 502"),
        (
            503,
            json!({"status": "success", "data": {"resultType": "vector", "result": []}})
                .to_string(),
            "HTTP 503",
        ),
    ];
    for (status, body, expected) in cases {
        let server = fake(None, status, body.clone()).await;
        let err = PrometheusBlocker::new(&server.url)
            .unwrap()
            .check("n")
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{status} {body}: {err}");
    }
}

#[tokio::test]
async fn nan_and_inf_count_as_non_zero() {
    let nan = alert("NotANumber", "firing");
    let inf = alert("Infinite", "firing");
    let server = fake(None, 200, vector(&[(&nan, "NaN"), (&inf, "+Inf")])).await;
    let names = PrometheusBlocker::new(&server.url)
        .unwrap()
        .active_alerts()
        .await
        .unwrap();
    assert_eq!(names, vec!["Infinite", "NotANumber"]);
}

#[tokio::test]
async fn empty_vector_does_not_block() {
    let server = fake(None, 200, vector(&[])).await;
    let blocker = PrometheusBlocker::new(&server.url).unwrap();
    assert_eq!(blocker.check("n").await.unwrap(), None);
    assert_eq!(check_or_block(&blocker, "n").await, None);
}

#[tokio::test]
async fn slow_server_times_out_and_blocks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts connections and never answers.
    let holder = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            open.push(socket);
        }
    });
    let blocker = PrometheusBlocker::new(&format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_millis(300));
    let err = blocker.active_alerts().await.unwrap_err();
    match &err {
        BlockerError::PrometheusTransport { source, .. } => {
            assert!(source.is_timeout(), "{err:?}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    holder.abort();
}

#[tokio::test]
async fn passwords_never_show() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let blocker =
        PrometheusBlocker::new(&format!("http://kured:s3cr3t@127.0.0.1:{port}/")).unwrap();
    assert_eq!(
        blocker.query_url(),
        format!("http://kured:***@127.0.0.1:{port}/api/v1/query")
    );
    let err = blocker.active_alerts().await.unwrap_err();
    let text = format!("{err} {err:?} {blocker:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("kured:***@"), "{text}");
}

#[test]
fn bad_urls_fail_at_construction() {
    for url in [
        "",
        "prometheus:9090",
        "ftp://host/",
        "not a url",
        "mailto:x@y",
    ] {
        let err = PrometheusBlocker::new(url).unwrap_err();
        assert!(matches!(err, BlockerError::Config(_)), "{url}: {err}");
    }
    let err = PrometheusBlocker::new("ftp://u:pw@host/").unwrap_err();
    assert!(!err.to_string().contains("pw@"), "{err}");
}

#[test]
fn sample_values() {
    assert_eq!(parse_sample_value("1"), Some(1.0));
    assert_eq!(parse_sample_value("0"), Some(0.0));
    assert_eq!(parse_sample_value("-Inf"), Some(f64::NEG_INFINITY));
    assert!(parse_sample_value("NaN").unwrap().is_nan());
    assert_eq!(parse_sample_value("x"), None);
}
