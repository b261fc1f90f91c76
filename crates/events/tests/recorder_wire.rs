//! What [`events::KubeNodeEvents`] sends, captured by a tiny HTTP server on 127.0.0.1 and
//! compared with the requests recorded from a real kube-apiserver v1.36
//! (`shared/k8s-reference/events-v1-create-kube-rs-recorder-201.json` and
//! `patch-event-v1-kube-rs-recorder-series-merge-patch-200.json`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use events::{EventType, NodeEvent, NodeEvents};
use serde_json::{Value, json};

const UID: &str = "8060aa93-b9fb-452f-97d4-704bd6373a39";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

#[derive(Debug, Clone)]
struct Captured {
    method: Method,
    path: String,
    content_type: String,
    body: Value,
}

/// How the fake API server answers.
#[derive(Clone)]
struct Fake {
    /// Status of `GET /api/v1/nodes/ev-a` (200 with the uid, or an error).
    node_status: u16,
    /// Status of Event creates and patches (201/200, or an error).
    event_status: Option<u16>,
    captured: Arc<Mutex<Vec<Captured>>>,
}

fn status_body(code: u16) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "scripted",
           "reason": "Scripted", "code": code})
    .to_string()
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.captured.lock().unwrap().push(Captured {
        method: method.clone(),
        path: uri.path().to_string(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: body_json.clone(),
    });
    let json_type = [(header::CONTENT_TYPE, "application/json")];
    let reply = |code: u16, body: String| (StatusCode::from_u16(code).unwrap(), json_type, body);
    if uri.path() == "/api/v1/nodes/ev-a" && method == Method::GET {
        if fake.node_status != 200 {
            return reply(fake.node_status, status_body(fake.node_status));
        }
        let node = json!({"apiVersion": "v1", "kind": "Node",
                          "metadata": {"name": "ev-a", "uid": UID}});
        return reply(200, node.to_string());
    }
    if uri.path().starts_with(EVENTS_PATH) {
        let ok = if method == Method::POST { 201 } else { 200 };
        let code = fake.event_status.unwrap_or(ok);
        if code >= 300 {
            return reply(code, status_body(code));
        }
        let mut stored = body_json;
        stored["metadata"]["namespace"] = json!("default");
        return reply(code, stored.to_string());
    }
    reply(404, status_body(404))
}

/// Starts the fake server; returns a client for it and the captured requests.
async fn serve(node_status: u16, event_status: Option<u16>) -> (kube::Client, Fake) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Fake {
        node_status,
        event_status,
        captured: Arc::default(),
    };
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The server task ends with the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(config).unwrap(), fake)
}

fn captured(fake: &Fake) -> Vec<Captured> {
    fake.captured.lock().unwrap().clone()
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-reference")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("recorded request {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The recorded request of the fixture with the values that vary per run (event name, times)
/// taken from `sent`, so the rest must be equal field by field.
fn expected(fixture: &Value, sent: &Value) -> Value {
    let mut want = fixture["request"]["body"].clone();
    want["metadata"]["name"] = sent["metadata"]["name"].clone();
    want["eventTime"] = sent["eventTime"].clone();
    if want.get("series").is_some() {
        want["series"]["lastObservedTime"] = sent["series"]["lastObservedTime"].clone();
    }
    want
}

fn is_micro_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok() && s.ends_with('Z'))
}

#[tokio::test]
async fn first_publish_creates_and_a_repeat_patches_a_series_like_the_recorded_requests() {
    let (client, fake) = serve(200, None).await;
    let events = events::KubeNodeEvents::new(client, "kured-rs", "kured-rs-7d9f8-abcde");
    // The fields of the recorded event (kube-rs 5.0.0's Recorder, same reason/action/note).
    let rebooting = NodeEvent {
        kind: EventType::Normal,
        reason: "Rebooting",
        action: "Reboot",
        note: "Rebooting node ev-a".into(),
    };
    events.publish("ev-a", rebooting.clone()).await;
    events.publish("ev-a", rebooting).await;

    let reqs = captured(&fake);
    let shape: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    let name = reqs[1].body["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        shape,
        [
            ("GET".into(), "/api/v1/nodes/ev-a".into()),
            ("POST".into(), EVENTS_PATH.into()),
            ("PATCH".into(), format!("{EVENTS_PATH}/{name}")),
        ],
        "one Node GET (the uid is cached), a create, then a series patch"
    );

    let create = fixture("events-v1-create-kube-rs-recorder-201.json");
    let sent = &reqs[1];
    assert_eq!(sent.content_type, "application/json");
    assert_eq!(sent.body, expected(&create, &sent.body));
    assert!(name.starts_with("ev-a."), "{name}");
    assert!(is_micro_time(&sent.body["eventTime"]), "{}", sent.body);
    assert!(
        sent.body["metadata"].get("namespace").is_none(),
        "from the URL"
    );

    let patch = fixture("patch-event-v1-kube-rs-recorder-series-merge-patch-200.json");
    let sent = &reqs[2];
    assert_eq!(sent.content_type, "application/merge-patch+json");
    assert_eq!(sent.body, expected(&patch, &sent.body));
    assert_eq!(sent.body["series"]["count"], 2);
    assert_eq!(
        sent.body["eventTime"], reqs[1].body["eventTime"],
        "the first occurrence's"
    );
    assert!(is_micro_time(&sent.body["series"]["lastObservedTime"]));
}

#[tokio::test]
async fn a_warning_carries_its_type_and_a_different_reason_is_a_new_event() {
    let (client, fake) = serve(200, None).await;
    let events = events::KubeNodeEvents::new(client, "fleetlock-rs", "fleetlock-rs-0");
    events.publish("ev-a", NodeEvent::lock_taken()).await;
    events
        .publish("ev-a", NodeEvent::gate_failed("node not Ready"))
        .await;
    let reqs = captured(&fake);
    let posts: Vec<&Captured> = reqs.iter().filter(|r| r.method == Method::POST).collect();
    assert_eq!(posts.len(), 2, "{reqs:?}");
    let warning = &posts[1].body;
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["reason"], "HealthGateFailed");
    assert_eq!(warning["action"], "Gate");
    assert_eq!(warning["note"], "Health gate failed: node not Ready");
    assert_eq!(warning["reportingController"], "fleetlock-rs");
    assert_eq!(warning["reportingInstance"], "fleetlock-rs-0");
    assert_eq!(warning["regarding"]["uid"], UID);
}

#[tokio::test]
async fn without_the_node_the_event_names_it_and_the_uid_is_read_again_next_time() {
    let (client, fake) = serve(404, None).await;
    let events = events::KubeNodeEvents::new(client, "kured-rs", "pod-1");
    events.publish("ev-a", NodeEvent::draining()).await;
    events.publish("ev-a", NodeEvent::draining()).await;
    let reqs = captured(&fake);
    let gets = reqs.iter().filter(|r| r.method == Method::GET).count();
    assert_eq!(gets, 2, "a failed GET is not cached: {reqs:?}");
    let create = reqs.iter().find(|r| r.method == Method::POST).unwrap();
    assert_eq!(
        create.body["regarding"],
        json!({"apiVersion": "v1", "kind": "Node", "name": "ev-a"})
    );
}

#[tokio::test]
async fn failures_are_swallowed_and_a_404_makes_the_uid_read_again() {
    let (client, fake) = serve(200, Some(404)).await;
    let events = events::KubeNodeEvents::new(client, "kured-rs", "pod-1");
    // Best effort: returns although every Event request fails.
    events.publish("ev-a", NodeEvent::rebooting()).await;
    events.publish("ev-a", NodeEvent::rebooting()).await;
    let reqs = captured(&fake);
    let methods: Vec<String> = reqs.iter().map(|r| r.method.to_string()).collect();
    // The failed create is not cached as a series either: a fresh POST each time.
    assert_eq!(methods, ["GET", "POST", "GET", "POST"]);

    // A 403 (RBAC) leaves the cached uid alone.
    let (client, fake) = serve(200, Some(403)).await;
    let events = events::KubeNodeEvents::new(client, "kured-rs", "pod-1");
    events.publish("ev-a", NodeEvent::rebooting()).await;
    events.publish("ev-a", NodeEvent::rebooting()).await;
    let methods: Vec<String> = captured(&fake)
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "POST", "POST"]);
}
