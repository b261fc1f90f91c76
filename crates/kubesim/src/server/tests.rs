//! Unit tests of the HTTP API: requests through `dispatch`, without a socket.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::continue_token::ContinueToken;
use super::normalize::normalize;
use super::query::{ListQuery, parse_query};
use super::request_info::request_info;
use super::routing::dispatch;
use super::state::ServerState;
use crate::resources::well_known::{LEASES, NAMESPACES, NODES, PODS};
use crate::store::{Store, StoreConfig};

pub(super) fn state() -> ServerState {
    ServerState::new(Store::new(StoreConfig {
        watch_window: 1000,
        record_history: false,
    }))
}

pub(super) async fn call(
    state: &ServerState,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    }
    let resp = dispatch(
        state,
        &method.parse().unwrap(),
        &uri.parse().unwrap(),
        &headers,
        body.as_bytes(),
    );
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn node(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"pool": "a"}}, "spec": {}})
}

#[test]
fn request_info_classifies_like_the_apiserver() {
    let get = |m: &str, u: &str| request_info(&m.parse().unwrap(), &u.parse().unwrap());
    let i = get("GET", "/api/v1/namespaces/default/pods/p1/status");
    assert_eq!(i.verb, "get");
    assert_eq!(i.resource, Some(PODS));
    assert_eq!(i.namespace.as_deref(), Some("default"));
    assert_eq!(i.name.as_deref(), Some("p1"));
    assert_eq!(i.subresource.as_deref(), Some("status"));
    let i = get("GET", "/api/v1/namespaces/kube-system");
    assert_eq!(i.resource, Some(NAMESPACES));
    assert_eq!(i.name.as_deref(), Some("kube-system"));
    let i = get("GET", "/api/v1/pods?watch=1");
    assert_eq!(i.verb, "watch");
    assert_eq!(get("GET", "/api/v1/nodes").verb, "list");
    assert_eq!(get("DELETE", "/api/v1/nodes").verb, "deletecollection");
    let i = get("POST", "/apis/policy/v1/namespaces/d/poddisruptionbudgets");
    assert_eq!(i.verb, "create");
    assert_eq!(i.group.as_deref(), Some("policy"));
    let i = get("GET", "/apis/example.com/v1/widgets");
    assert_eq!(i.resource, None);
    assert_eq!(i.resource_name.as_deref(), Some("widgets"));
    assert_eq!(get("GET", "/version").resource_name, None);
}

#[test]
fn continue_tokens_round_trip_in_the_real_format() {
    let t = ContinueToken {
        rv: 323,
        start: "kube-node-lease\u{0}".into(),
    };
    assert_eq!(
        t.encode(),
        "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MzIzLCJzdGFydCI6Imt1YmUtbm9kZS1sZWFzZVx1MDAwMCJ9"
    );
    assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
    assert_eq!(ContinueToken::decode("not-a-token").unwrap_err().code, 400);
}

#[test]
fn query_strings_are_form_decoded() {
    let q = ListQuery::from_pairs(&parse_query(Some(
        "labelSelector=app+in+%28web%29&fieldSelector=spec.nodeName%3Dn&limit=0&watch=1",
    )))
    .unwrap();
    assert_eq!(q.label_selector.as_deref(), Some("app in (web)"));
    assert_eq!(q.field_selector.as_deref(), Some("spec.nodeName=n"));
    assert_eq!(q.limit, None);
    assert!(q.watch);
    assert_eq!(
        ListQuery::from_pairs(&parse_query(Some("limit=x")))
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn normalisation_drops_what_the_real_server_omits() {
    let mut n = json!({"spec": {"unschedulable": false, "taints": []},
        "metadata": {"annotations": {}, "labels": {"a": "b"}, "name": "n"},
        "apiVersion": "v1", "kind": "Node", "status": {"x": null}});
    normalize(NODES, &mut n);
    assert_eq!(
        n,
        json!({"kind": "Node", "apiVersion": "v1", "metadata": {"labels": {"a": "b"}, "name": "n"},
            "spec": {}, "status": {}})
    );
    let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "kind");
    let mut p = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    normalize(PODS, &mut p);
    assert!(p["status"]["conditions"][0]["lastProbeTime"].is_null());
    assert!(p["status"]["conditions"][0].get("lastProbeTime").is_some());
}

#[tokio::test]
async fn exact_lists_and_continue_tokens_read_a_consistent_snapshot() {
    let st = state();
    for n in ["a", "b", "c"] {
        st.store.create(NODES, node(n)).unwrap();
    }
    let rv = st.store.current_rv();
    let (s, page1) = call(&st, "GET", "/api/v1/nodes?limit=2", None, "").await;
    assert_eq!(s, 200);
    assert_eq!(page1["metadata"]["remainingItemCount"], 1);
    assert!(page1["items"][0].get("kind").is_none());
    // Changes after page 1 do not show on page 2 (same snapshot).
    st.store.delete(NODES, "", "c", |_| Ok(())).unwrap();
    st.store.create(NODES, node("d")).unwrap();
    let token = page1["metadata"]["continue"].as_str().unwrap();
    let (s, page2) = call(
        &st,
        "GET",
        &format!("/api/v1/nodes?limit=2&continue={token}"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2["items"][0]["metadata"]["name"], "c");
    assert_eq!(page2["metadata"]["resourceVersion"], rv.to_string());
    assert!(page2["metadata"].get("continue").is_none());
    let (s, exact) = call(
        &st,
        "GET",
        &format!("/api/v1/nodes?resourceVersion={rv}&resourceVersionMatch=Exact"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = exact["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/nodes?resourceVersion=999999&resourceVersionMatch=Exact",
        None,
        "",
    )
    .await;
    assert_eq!(s, 504);
    st.store.compact();
    let (s, gone) = call(
        &st,
        "GET",
        &format!("/api/v1/nodes?limit=2&continue={token}"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 410);
    assert!(gone["metadata"]["continue"].is_string());
}

#[tokio::test]
async fn writes_respect_preconditions_and_the_status_split() {
    let st = state();
    let (s, created) = call(
        &st,
        "POST",
        "/api/v1/nodes",
        Some("application/json"),
        &node("n1").to_string(),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        created["spec"]["taints"][0]["key"],
        "node.kubernetes.io/not-ready"
    );
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    // PUT with the current RV: spec applies, status is ignored on the main resource.
    let mut put = created.clone();
    put["spec"]["unschedulable"] = json!(true);
    put["status"] = json!({"phase": "x"});
    let (s, updated) = call(
        &st,
        "PUT",
        "/api/v1/nodes/n1",
        Some("application/json"),
        &put.to_string(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(updated["spec"]["unschedulable"], true);
    assert_eq!(updated["status"], created["status"]);
    // The same RV again is stale now.
    let (s, conflict) = call(
        &st,
        "PUT",
        "/api/v1/nodes/n1",
        Some("application/json"),
        &put.to_string(),
    )
    .await;
    assert_eq!((s, conflict["reason"].clone()), (409, json!("Conflict")));
    // /status: spec dropped, labels applied, status applied.
    let patch = json!({"spec": {"unschedulable": false}, "metadata": {"labels": {"x": "1"}}, "status": {"phase": "y"}});
    let (s, st_obj) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n1/status",
        Some("application/merge-patch+json"),
        &patch.to_string(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(st_obj["spec"]["unschedulable"], true);
    assert_eq!(st_obj["metadata"]["labels"]["x"], "1");
    assert_eq!(st_obj["status"]["phase"], "y");
    // Uncordon through a merge patch: `false` is omitted.
    let (s, un) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n1",
        Some("application/merge-patch+json"),
        r#"{"spec":{"unschedulable":false}}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert!(un["spec"].get("unschedulable").is_none());
    assert_ne!(un["metadata"]["resourceVersion"], json!(rv));
    let (s, e) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n1",
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(
        (s, e["message"].clone()),
        (415, json!("415: Unsupported Media Type"))
    );
    let (s, _) = call(
        &st,
        "POST",
        "/api/v1/nodes/n1",
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn apply_creates_dry_run_stores_nothing_and_delete_answers_status() {
    let st = state();
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
    let path = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
    let (s, created) = call(
        &st,
        "PATCH",
        path,
        Some("application/apply-patch+yaml"),
        &lease.to_string(),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(created["metadata"]["namespace"], "ns");
    let (s, _) = call(
        &st,
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases?dryRun=All",
        Some("application/json"),
        &json!({"metadata": {"name": "dry"}, "spec": {}}).to_string(),
    )
    .await;
    assert_eq!(s, 201);
    assert!(st.store.get(LEASES, "ns", "dry").is_none());
    let (s, status) = call(&st, "DELETE", path, None, "").await;
    assert_eq!(s, 200);
    assert_eq!(status["status"], "Success");
    assert_eq!(status["details"]["group"], "coordination.k8s.io");
    assert_eq!(status["details"]["kind"], "leases");
    let (s, _) = call(&st, "DELETE", path, None, "").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn delete_collection_removes_what_the_selector_matches() {
    let st = state();
    st.store.create(NODES, node("a")).unwrap();
    let mut other = node("b");
    other["metadata"]["labels"]["pool"] = json!("b");
    st.store.create(NODES, other).unwrap();
    let (s, list) = call(
        &st,
        "DELETE",
        "/api/v1/nodes?labelSelector=pool%3Da",
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["kind"], "NodeList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(st.store.get(NODES, "", "a").is_none());
    assert!(st.store.get(NODES, "", "b").is_some());
}

#[tokio::test]
async fn unknown_paths_and_cluster_paths_of_namespaced_types() {
    let st = state();
    let (s, e) = call(&st, "GET", "/api/v1/services", None, "").await;
    assert_eq!((s, e["reason"].clone()), (404, json!("NotFound")));
    let (s, _) = call(&st, "GET", "/api/v1/namespaces/x/nodes", None, "").await;
    assert_eq!(s, 404);
    let (s, _) = call(&st, "POST", "/api/v1/pods", Some("application/json"), "{}").await;
    assert_eq!(s, 405);
    let (s, _) = call(&st, "GET", "/nope", None, "").await;
    assert_eq!(s, 404);
    let (s, e) = call(
        &st,
        "POST",
        "/api/v1/namespaces/a/pods",
        Some("application/json"),
        "[1]",
    )
    .await;
    assert_eq!((s, e["reason"].clone()), (400, json!("BadRequest")));
}

#[tokio::test]
async fn unknown_fields_warn_by_default_and_fail_under_strict() {
    let st = state();
    let body = json!({"metadata": {"name": "n", "bogus": 1}, "spec": {}, "spek": {}}).to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let resp = dispatch(
        &st,
        &Method::POST,
        &"/api/v1/nodes".parse().unwrap(),
        &headers,
        body.as_bytes(),
    );
    assert_eq!(resp.status(), StatusCode::CREATED);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all(header::WARNING)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            r#"299 - "unknown field \"spek\"""#,
            r#"299 - "unknown field \"metadata.bogus\"""#
        ]
    );
    let stored = st.store.get(NODES, "", "n").unwrap();
    assert!(stored.get("spek").is_none() && stored["metadata"].get("bogus").is_none());
    let (s, e) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n?fieldValidation=Strict",
        Some("application/merge-patch+json"),
        r#"{"spek":{"a":1}}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        e["message"],
        "Node in version \"v1\" cannot be handled as a Node: strict decoding error: unknown field \"spek\""
    );
    let (s, _) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n?fieldValidation=Ignore",
        Some("application/merge-patch+json"),
        r#"{"spek":{"a":1}}"#,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn bad_list_options_are_a_422_on_list_options() {
    let st = state();
    let (s, e) = call(
        &st,
        "GET",
        "/api/v1/nodes?resourceVersionMatch=Exact",
        None,
        "",
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        e["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    );
    assert_eq!(e["details"]["kind"], "ListOptions");
    assert!(e["details"].get("name").is_none());
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/nodes?resourceVersion=0&resourceVersionMatch=Exact",
        None,
        "",
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/nodes?resourceVersion=1&resourceVersionMatch=Newest",
        None,
        "",
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = call(
        &st,
        "GET",
        "/api/v1/nodes?resourceVersion=0&resourceVersionMatch=NotOlderThan",
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn dry_runs_check_but_store_nothing() {
    let st = state();
    st.store.create(NODES, node("n")).unwrap();
    let rv = st.store.current_rv();
    let (s, o) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/n?dryRun=All",
        Some("application/merge-patch+json"),
        r#"{"spec":{"unschedulable":true}}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(o["spec"]["unschedulable"], true);
    let mut put = (*st.store.get(NODES, "", "n").unwrap()).clone();
    put["metadata"]["labels"]["x"] = json!("y");
    let (s, o) = call(
        &st,
        "PUT",
        "/api/v1/nodes/n?dryRun=All",
        Some("application/json"),
        &put.to_string(),
    )
    .await;
    assert_eq!((s, o["metadata"]["labels"]["x"].clone()), (200, json!("y")));
    let (s, o) = call(&st, "DELETE", "/api/v1/nodes/n?dryRun=All", None, "").await;
    assert_eq!((s, o["status"].clone()), (200, json!("Success")));
    let (s, _) = call(
        &st,
        "DELETE",
        "/api/v1/nodes/n",
        Some("application/json"),
        r#"{"dryRun":["All"],"preconditions":{"uid":"other"}}"#,
    )
    .await;
    assert_eq!(s, 409);
    assert_eq!(st.store.current_rv(), rv);
    let stored = st.store.get(NODES, "", "n").unwrap();
    assert!(stored["spec"].get("unschedulable").is_none());
    assert!(stored["metadata"]["labels"].get("x").is_none());
}

#[tokio::test]
async fn put_rules_follow_the_registry_strategies() {
    let st = state();
    let path = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
    let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
    let (s, created) = call(
        &st,
        "PUT",
        path,
        Some("application/json"),
        &lease.to_string(),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(created["metadata"]["namespace"], "ns");
    let (s, e) = call(
        &st,
        "PUT",
        path,
        Some("application/json"),
        &lease.to_string(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        e["message"],
        "leases.coordination.k8s.io \"l\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
    let (s, _) = call(
        &st,
        "PUT",
        "/api/v1/nodes/missing",
        Some("application/json"),
        &node("missing").to_string(),
    )
    .await;
    assert_eq!(s, 404);
    st.store.create(NODES, node("n")).unwrap();
    let (s, _) = call(
        &st,
        "PUT",
        "/api/v1/nodes/n",
        Some("application/json"),
        &node("n").to_string(),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn odd_shapes_are_answered_not_panicked_on() {
    let st = state();
    st.store
        .create(PODS, json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
    st.store.create(NODES, node("n")).unwrap();
    let bodies = [
        r#"{"metadata":"x"}"#,
        r#"{"metadata":{"name":"q"},"spec":5}"#,
        r#"{"metadata":{"name":"q"},"spec":{"containers":"x"},"status":"x"}"#,
        r#"{"metadata":{"name":"q","labels":[1]}}"#,
        r#"{"metadata":{"name":"q"},"spec":{"containers":[5,{"name":1}]}}"#,
        "[]",
        "null",
    ];
    for body in bodies {
        for (method, uri, ct) in [
            ("POST", "/api/v1/namespaces/d/pods", "application/json"),
            ("POST", "/api/v1/nodes", "application/json"),
            ("PUT", "/api/v1/namespaces/d/pods/p", "application/json"),
            (
                "PATCH",
                "/api/v1/namespaces/d/pods/p",
                "application/merge-patch+json",
            ),
            (
                "PATCH",
                "/api/v1/namespaces/d/pods/p/status",
                "application/strategic-merge-patch+json",
            ),
            ("PATCH", "/api/v1/nodes/n", "application/merge-patch+json"),
            ("PATCH", "/api/v1/nodes/n", "application/json-patch+json"),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/d/leases/l",
                "application/json",
            ),
        ] {
            let (s, _) = call(&st, method, uri, Some(ct), body).await;
            assert!((200..600).contains(&s), "{method} {uri} {body}: {s}");
        }
    }
    // The stored objects are still well-formed.
    let (s, list) = call(&st, "GET", "/api/v1/pods", None, "").await;
    assert_eq!(s, 200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["metadata"].is_object())
    );
}

#[tokio::test]
async fn partial_object_metadata_is_served_on_request() {
    let st = state();
    st.store.create(NODES, node("n")).unwrap();
    let accept =
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    let resp = dispatch(
        &st,
        &Method::GET,
        &"/api/v1/nodes".parse().unwrap(),
        &headers,
        b"",
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "n");
    assert!(list["items"][0].get("spec").is_none());
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
    );
    let resp = dispatch(
        &st,
        &Method::GET,
        &"/api/v1/nodes/n".parse().unwrap(),
        &headers,
        b"",
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let one: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert_eq!(one["apiVersion"], "meta.k8s.io/v1");
}

#[tokio::test]
async fn unknown_spec_fields_fail_under_strict_and_are_dropped_with_a_warning_by_default() {
    let st = state();
    let ds = json!({"metadata": {"name": "kured"},
        "spec": {"bogus": 1, "selector": {"matchLabels": {"name": "kured"}},
            "template": {"metadata": {"labels": {"name": "kured"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    .to_string();
    let (s, e) = call(
        &st,
        "POST",
        "/apis/apps/v1/namespaces/kube-system/daemonsets?fieldValidation=Strict",
        Some("application/json"),
        &ds,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        e["message"],
        "DaemonSet in version \"v1\" cannot be handled as a DaemonSet: strict decoding error: unknown field \"spec.bogus\""
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let resp = dispatch(
        &st,
        &Method::POST,
        &"/apis/apps/v1/namespaces/kube-system/daemonsets"
            .parse()
            .unwrap(),
        &headers,
        ds.as_bytes(),
    );
    assert_eq!(resp.status(), StatusCode::CREATED);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all(header::WARNING)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.bogus\"""#]);
    let stored = st
        .store
        .get(
            crate::resources::well_known::DAEMONSETS,
            "kube-system",
            "kured",
        )
        .unwrap();
    assert!(stored["spec"].get("bogus").is_none());
    assert_eq!(stored["spec"]["selector"]["matchLabels"]["name"], "kured");
}

#[tokio::test]
async fn an_unknown_api_group_or_version_is_a_plain_404_page() {
    let st = state();
    for path in [
        "/apis/nosuch.example.com",
        "/apis/nosuch.example.com/v1",
        "/apis/nosuch.example.com/v1/namespaces/a/things",
        "/apis/apps/v9/daemonsets",
        "/api/v2/nodes",
    ] {
        let resp = dispatch(
            &st,
            &Method::GET,
            &path.parse().unwrap(),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8",
            "{path}"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"404 page not found\n", "{path}");
    }
    // A served group/version with an unknown resource is still the JSON Status.
    let (s, e) = call(&st, "GET", "/apis/apps/v1/things", None, "").await;
    assert_eq!((s, e["kind"].as_str()), (404, Some("Status")));
}

#[tokio::test]
async fn node_status_capacity_without_allocatable_gets_allocatable() {
    let st = state();
    let mut n = node("cap");
    n["status"] = json!({"capacity": {"cpu": "4", "pods": "110"}});
    let (s, created) = call(
        &st,
        "POST",
        "/api/v1/nodes",
        Some("application/json"),
        &n.to_string(),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        created["status"]["allocatable"],
        json!({"cpu": "4", "pods": "110"})
    );
    let (s, patched) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/cap/status",
        Some("application/merge-patch+json"),
        r#"{"status":{"capacity":{"cpu":"8"},"allocatable":null}}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        patched["status"]["allocatable"],
        json!({"cpu": "8", "pods": "110"})
    );
    let (_, kept) = call(
        &st,
        "PATCH",
        "/api/v1/nodes/cap/status",
        Some("application/merge-patch+json"),
        r#"{"status":{"allocatable":{"cpu":"7"}}}"#,
    )
    .await;
    // A client-set allocatable is kept (not overwritten from capacity, cpu 8).
    assert_eq!(
        kept["status"]["allocatable"],
        json!({"cpu": "7", "pods": "110"})
    );
}
