//! The two Event APIs over one stored Event, through `dispatch`: each API reads, writes,
//! patches, watches, prints and deletes in its own shape what the other one wrote.

use serde_json::{Value, json};

use super::tests::{call, state};
use crate::resources::well_known::EVENTS;

const CORE: &str = "/api/v1/namespaces/default/events";
const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const JSON: Option<&str> = Some("application/json");

/// An events.k8s.io/v1 Event about node-a as kube-rs' Recorder posts it (no namespace).
fn recorder_event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2026-12-07T18:35:39.177368Z",
        "reportingController": "kured-rs", "reportingInstance": "kured-rs-node-a",
        "action": "Reboot", "reason": "Rebooting",
        "regarding": {"kind": "Node", "name": "node-a", "uid": "u-1", "apiVersion": "v1"},
        "note": "Rebooting node node-a", "type": "Normal"
    })
}

/// A kubelet-style core/v1 Event (no eventTime, involvedObject.uid = the node name).
fn legacy_event(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "node-a", "uid": "node-a"},
        "reason": "NodeReady", "message": "Node node-a status is now: NodeReady",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": "2026-12-07T18:36:11Z", "lastTimestamp": "2026-12-07T18:36:11Z",
        "count": 1, "type": "Normal"
    })
}

#[tokio::test]
async fn each_api_reads_the_other_ones_events_in_its_shape() {
    let s = state();
    let (code, created) = call(&s, "POST", V1, JSON, &recorder_event("a.1").to_string()).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["deprecatedSource"], json!({}));
    assert_eq!(created["deprecatedFirstTimestamp"], Value::Null);
    let (code, _) = call(&s, "POST", CORE, JSON, &legacy_event("a.2").to_string()).await;
    assert_eq!(code, 201);
    // One stored object per Event, in the core/v1 shape.
    let stored = s.store.get(EVENTS, "default", "a.1").unwrap();
    assert_eq!(stored["apiVersion"], "v1");
    assert_eq!(stored["message"], "Rebooting node node-a");

    let (_, as_core) = call(&s, "GET", &format!("{CORE}/a.1"), None, "").await;
    assert_eq!(as_core["involvedObject"]["uid"], "u-1");
    assert_eq!(as_core["reportingComponent"], "kured-rs");
    assert_eq!(as_core["source"], json!({}));
    assert!(as_core.get("count").is_none() && as_core.get("note").is_none());
    let (_, v1) = call(&s, "GET", &format!("{V1}/a.2"), None, "").await;
    assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
    assert_eq!(v1["regarding"]["uid"], "node-a");
    assert_eq!(v1["deprecatedSource"]["component"], "kubelet");
    assert_eq!(v1["deprecatedCount"], 1);
    assert_eq!(v1["eventTime"], Value::Null);
    assert!(v1.get("reportingController").is_none());

    let (_, list) = call(
        &s,
        "GET",
        &format!("{V1}?fieldSelector=regarding.uid=u-1"),
        None,
        "",
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.1"]);
    assert_eq!(list["apiVersion"], "events.k8s.io/v1");
    assert!(list["items"][0].get("kind").is_none());
    let (code, err) = call(
        &s,
        "GET",
        &format!("{V1}?fieldSelector=source=kubelet"),
        None,
        "",
    )
    .await;
    assert_eq!(
        (code, err["message"].as_str()),
        (400, Some("field label not supported: source"))
    );
}

#[tokio::test]
async fn writes_through_events_v1_patch_its_shape_and_keep_fields_immutable() {
    let s = state();
    call(&s, "POST", V1, JSON, &recorder_event("a.1").to_string()).await;
    let path = format!("{V1}/a.1");
    let series = json!({"count": 2, "lastObservedTime": "2026-12-07T18:35:40.000000Z"});
    let add = json!([{"op": "add", "path": "/series", "value": series}]).to_string();
    let (code, patched) = call(
        &s,
        "PATCH",
        &path,
        Some("application/json-patch+json"),
        &add,
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["series"], series);
    let note = json!([{"op": "replace", "path": "/note", "value": "changed"}]).to_string();
    let (code, err) = call(
        &s,
        "PATCH",
        &path,
        Some("application/json-patch+json"),
        &note,
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(err["details"]["causes"][0]["field"], "message");
    // Through core/v1 the legacy rules apply: a recorder's count/message update passes.
    let smp = json!({"count": 2, "message": "again"}).to_string();
    let (code, via_core) = call(
        &s,
        "PATCH",
        &format!("{CORE}/a.1"),
        Some("application/strategic-merge-patch+json"),
        &smp,
    )
    .await;
    assert_eq!((code, via_core["count"].clone()), (200, json!(2)));

    // PUT creates a missing Event (201) and updates metadata of an existing one.
    let (code, _) = call(
        &s,
        "PUT",
        &format!("{V1}/a.3"),
        JSON,
        &recorder_event("a.3").to_string(),
    )
    .await;
    assert_eq!(code, 201);
    let (_, mut current) = call(&s, "GET", &format!("{V1}/a.3"), None, "").await;
    current["metadata"]["labels"] = json!({"k": "v"});
    let (code, updated) = call(&s, "PUT", &format!("{V1}/a.3"), JSON, &current.to_string()).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["labels"]["k"], "v");
    assert_eq!(updated["regarding"]["name"], "node-a");

    let (code, deleted) = call(&s, "DELETE", V1, None, "").await;
    assert_eq!(code, 200);
    assert_eq!(deleted["apiVersion"], "events.k8s.io/v1");
    assert_eq!(deleted["items"].as_array().unwrap().len(), 2);
    assert_eq!(deleted["items"][0]["note"], "again");
    assert!(s.store.list(EVENTS, None, |_| true).0.is_empty());
}

#[tokio::test]
async fn watches_of_either_api_see_writes_of_the_other() {
    let s = state();
    call(&s, "POST", CORE, JSON, &legacy_event("a.2").to_string()).await;
    let rv = s.store.current_rv();
    call(&s, "POST", V1, JSON, &recorder_event("a.1").to_string()).await;
    let uri = format!(
        "{V1}?watch=1&resourceVersion={}&timeoutSeconds=1&fieldSelector=regarding.name=node-a",
        rv - 1
    );
    let resp = super::routing::dispatch(
        &s,
        &axum::http::Method::GET,
        &uri.parse().unwrap(),
        &axum::http::HeaderMap::new(),
        b"",
    );
    assert_eq!(resp.status().as_u16(), 200);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l["type"], "ADDED");
        assert_eq!(l["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(l["object"]["regarding"]["name"], "node-a");
    }
    assert_eq!(
        lines[0]["object"]["deprecatedSource"]["component"],
        "kubelet"
    );
}

#[tokio::test]
async fn tables_print_event_columns_for_both_apis() {
    let s = state();
    call(&s, "POST", V1, JSON, &recorder_event("a.1").to_string()).await;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::ACCEPT,
        "application/json;as=Table;v=v1;g=meta.k8s.io"
            .parse()
            .unwrap(),
    );
    for base in [CORE, V1] {
        let uri = format!("{base}?includeObject=Object");
        let resp = super::routing::dispatch(
            &s,
            &axum::http::Method::GET,
            &uri.parse().unwrap(),
            &headers,
            b"",
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let t: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 10);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[3], "node/node-a");
        assert_eq!(cells[5], "kured-rs, kured-rs-node-a");
        assert_eq!(cells[8], 1);
        let object = &t["rows"][0]["object"];
        let expected = if base == V1 { "events.k8s.io/v1" } else { "v1" };
        assert_eq!(object["apiVersion"], expected);
    }
}
