//! Watch streams, evictions and graceful deletes over real HTTP against `server::router` on
//! 127.0.0.1 (a raw HTTP/1.1 client, so the chunked framing is checked too).

// `ApiError` (owned by errors.rs) is larger than clippy's `result_large_err` threshold; the
// agreed interfaces return it by value (as do the store's), so the lint is allowed here until it
// is boxed or allowed crate-wide.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim::active_watches;
use kubesim::resources::well_known::{NODES, PDBS, PODS};
use kubesim::server::{ServerOptions, ServerState, router};
use kubesim::store::{Store, StoreConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A server on a free port; aborted when dropped.
struct Server {
    addr: SocketAddr,
    state: ServerState,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(bookmark_interval: Duration) -> Server {
    // Struct update so that options added to ServerOptions later keep their defaults here.
    #[allow(clippy::needless_update)]
    let options = ServerOptions {
        bookmark_interval,
        ..ServerOptions::default()
    };
    let state = ServerState {
        store: Store::new(StoreConfig::default()),
        options: Arc::new(options),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { addr, state, task }
}

impl Server {
    fn store(&self) -> &Arc<Store> {
        &self.state.store
    }
}

/// Response head: status and lower-cased headers.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> (Head, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let extra = body.map_or_else(String::new, |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n{extra}\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    if let Some(b) = body {
        stream.write_all(b).await.unwrap();
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    (Head { status, headers }, reader)
}

/// Reads one chunk of a chunked body; `None` at the terminating zero-length chunk.
async fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap(), 16)
        .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data).await.unwrap();
    assert_eq!(&data[size..], b"\r\n");
    data.truncate(size);
    (size > 0).then_some(data)
}

/// A whole response body (chunked or with Content-Length / close).
async fn read_body(head: &Head, reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    if head.chunked() {
        let mut out = Vec::new();
        while let Some(c) = read_chunk(reader).await {
            out.extend(c);
        }
        out
    } else {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        out
    }
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (Head, Value) {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    let (head, mut reader) = send(addr, method, path, bytes.as_deref()).await;
    let body = read_body(&head, &mut reader).await;
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    (head, v)
}

/// An open watch stream.
struct Watch {
    head: Head,
    reader: BufReader<TcpStream>,
}

impl Watch {
    async fn open(addr: SocketAddr, path: &str) -> Self {
        let (head, reader) = send(addr, "GET", path, None).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert!(head.chunked(), "watch responses are chunked");
        Self { head, reader }
    }

    /// The next event (each event is exactly one chunk holding one line), or `None` at the
    /// clean end of the stream. Panics when nothing arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let chunk = tokio::time::timeout(wait, read_chunk(&mut self.reader))
            .await
            .expect("a watch event or the end of the stream in time")?;
        assert_eq!(
            chunk.last(),
            Some(&b'\n'),
            "one event per chunk, newline-terminated"
        );
        assert!(
            !chunk[..chunk.len() - 1].contains(&b'\n'),
            "one line per chunk"
        );
        Some(serde_json::from_slice(&chunk).unwrap())
    }

    /// Asserts nothing arrives for `quiet`.
    async fn silent(&mut self, quiet: Duration) {
        if let Ok(got) = tokio::time::timeout(quiet, read_chunk(&mut self.reader)).await {
            panic!(
                "expected silence, got {:?}",
                got.map(|c| String::from_utf8_lossy(&c).into_owned())
            );
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

fn node(name: &str, labels: &Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}})
}

fn set_label(store: &Store, name: &str, key: &str, value: &str) -> u64 {
    store
        .update(NODES, "", name, |o| {
            let mut o = o.clone();
            o["metadata"]["labels"][key] = json!(value);
            Ok(o)
        })
        .unwrap();
    store.current_rv()
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn watch_from_rv_sees_exactly_the_later_events() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(NODES, node("old", &json!({}))).unwrap();
    let rv = s.current_rv();
    s.create(NODES, node("a", &json!({}))).unwrap();
    s.create(PODS, json!({"metadata":{"name":"p","namespace":"default"}}))
        .unwrap();
    let mut w = Watch::open(
        srv.addr,
        &format!("/api/v1/nodes?watch=1&resourceVersion={rv}&timeoutSeconds=30"),
    )
    .await;
    assert_eq!(w.head.header("cache-control"), Some("no-cache, private"));
    let added = w.next(WAIT).await.unwrap();
    assert_eq!(added["type"], "ADDED");
    assert_eq!(added["object"]["metadata"]["name"], "a");
    assert_eq!(added["object"]["kind"], "Node");
    assert_eq!(added["object"]["apiVersion"], "v1");
    let modified_rv = set_label(&s, "a", "x", "1");
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(rv_of(&ev["object"]), modified_rv);
    s.delete(NODES, "", "a", |_| Ok(())).unwrap();
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "DELETED");
    assert_eq!(ev["object"]["metadata"]["labels"]["x"], "1");
    assert_eq!(rv_of(&ev["object"]), s.current_rv());
    w.silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn watch_without_rv_sends_initial_state_then_live_events() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(NODES, node("a", &json!({}))).unwrap();
    s.create(NODES, node("b", &json!({}))).unwrap();
    for path in [
        "/api/v1/nodes?watch=true",
        "/api/v1/nodes?watch=1&resourceVersion=0",
    ] {
        let mut w = Watch::open(srv.addr, path).await;
        let first = w.next(WAIT).await.unwrap();
        let second = w.next(WAIT).await.unwrap();
        assert_eq!(
            (first["type"].as_str(), second["type"].as_str()),
            (Some("ADDED"), Some("ADDED"))
        );
        assert_eq!(first["object"]["metadata"]["name"], "a");
        assert_eq!(second["object"]["metadata"]["name"], "b");
        w.silent(Duration::from_millis(200)).await;
    }
    let mut w = Watch::open(srv.addr, "/api/v1/nodes?watch=true").await;
    w.next(WAIT).await.unwrap();
    w.next(WAIT).await.unwrap();
    s.create(NODES, node("c", &json!({}))).unwrap();
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("c"))
    );
}

#[tokio::test]
async fn label_selector_leave_is_deleted_with_previous_content_and_enter_is_added() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(NODES, node("node-l", &json!({"pool": "a"})))
        .unwrap();
    s.create(NODES, node("other", &json!({"pool": "b"})))
        .unwrap();
    let rv = s.current_rv();
    let mut w = Watch::open(
        srv.addr,
        &format!(
            "/api/v1/nodes?watch=1&resourceVersion={rv}&labelSelector=pool%3Da&timeoutSeconds=30"
        ),
    )
    .await;
    set_label(&s, "node-l", "example.com/x", "1");
    set_label(&s, "other", "example.com/x", "1");
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["metadata"]["name"], "node-l");

    let leave_rv = set_label(&s, "node-l", "pool", "b");
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "DELETED");
    assert_eq!(
        ev["object"]["metadata"]["labels"]["pool"], "a",
        "previous content"
    );
    assert_eq!(
        rv_of(&ev["object"]),
        leave_rv,
        "stamped with the new resourceVersion"
    );

    set_label(&s, "node-l", "example.com/x", "2");
    w.silent(Duration::from_millis(200)).await;

    let enter_rv = set_label(&s, "node-l", "pool", "a");
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["labels"]["example.com/x"], "2");
    assert_eq!(rv_of(&ev["object"]), enter_rv);

    s.delete(NODES, "", "node-l", |_| Ok(())).unwrap();
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "DELETED");
    assert_eq!(rv_of(&ev["object"]), s.current_rv());
}

#[tokio::test]
async fn field_selector_and_namespace_filter_pods() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    let rv = s.current_rv();
    let mut w = Watch::open(
        srv.addr,
        &format!(
            "/api/v1/namespaces/ns1/pods?watch=1&resourceVersion={rv}&fieldSelector=spec.nodeName%3Dnode-a"
        ),
    )
    .await;
    for (ns, name, node) in [
        ("ns2", "x", "node-a"),
        ("ns1", "y", "node-b"),
        ("ns1", "z", "node-a"),
    ] {
        s.create(
            PODS,
            json!({"metadata":{"name":name,"namespace":ns},"spec":{"nodeName":node}}),
        )
        .unwrap();
    }
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["object"]["metadata"]["name"], "z");
    w.silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn expired_resource_version_is_one_410_error_event_then_eof() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(NODES, node("a", &json!({}))).unwrap();
    let old = s.current_rv();
    set_label(&s, "a", "x", "1");
    set_label(&s, "a", "x", "2");
    s.compact();
    let mut w = Watch::open(
        srv.addr,
        &format!(
            "/api/v1/nodes?watch=1&resourceVersion={old}&allowWatchBookmarks=true&timeoutSeconds=30"
        ),
    )
    .await;
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(
        serde_json::to_string(&ev["object"]).unwrap(),
        format!(
            r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"too old resource version: {old} ({})","reason":"Expired","code":410}}"#,
            s.oldest_watchable_rv()
        )
    );
    assert!(
        w.next(WAIT).await.is_none(),
        "the stream ends after the ERROR event"
    );
}

#[tokio::test]
async fn future_resource_version_is_silent_until_events_pass_it() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    let rv = s.current_rv();
    let mut w = Watch::open(
        srv.addr,
        &format!("/api/v1/nodes?watch=1&resourceVersion={}", rv + 3),
    )
    .await;
    for name in ["a", "b", "c"] {
        s.create(NODES, node(name, &json!({}))).unwrap();
    }
    w.silent(Duration::from_millis(300)).await;
    s.create(NODES, node("d", &json!({}))).unwrap();
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["object"]["metadata"]["name"], "d");
    assert_eq!(rv_of(&ev["object"]), rv + 4);
}

#[tokio::test]
async fn bookmarks_arrive_periodically_and_before_the_timeout() {
    let srv = serve(Duration::from_millis(400)).await;
    let s = srv.store().clone();
    s.create(NODES, node("a", &json!({}))).unwrap();
    let rv = s.current_rv();
    let started = Instant::now();
    let mut w = Watch::open(
        srv.addr,
        &format!(
            "/api/v1/nodes?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3"
        ),
    )
    .await;
    let ev = w.next(WAIT).await.unwrap();
    assert_eq!(ev["type"], "BOOKMARK");
    assert_eq!(ev["object"]["kind"], "Node");
    assert_eq!(ev["object"]["apiVersion"], "v1");
    assert_eq!(
        ev["object"]["metadata"],
        json!({"resourceVersion": rv.to_string()}),
        "metadata carries the resourceVersion only"
    );
    assert_eq!(ev["object"]["spec"], json!({}), "an empty Node otherwise");
    set_label(&s, "a", "x", "1");
    let mut types = Vec::new();
    while let Some(ev) = w.next(WAIT).await {
        types.push(ev["type"].as_str().unwrap().to_string());
        if ev["type"] == "BOOKMARK" {
            assert!(rv_of(&ev["object"]) >= rv);
        }
    }
    assert!(types.contains(&"MODIFIED".to_string()));
    assert!(
        types.iter().filter(|t| *t == "BOOKMARK").count() >= 2,
        "{types:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "ends at timeoutSeconds"
    );
}

#[tokio::test]
async fn timeout_ends_a_silent_stream_cleanly() {
    let srv = serve(Duration::from_secs(60)).await;
    let started = Instant::now();
    let mut w = Watch::open(
        srv.addr,
        "/api/v1/nodes?watch=1&resourceVersion=999999999&timeoutSeconds=1",
    )
    .await;
    assert!(w.next(WAIT).await.is_none());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn streaming_list_sends_initial_events_and_an_end_bookmark() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(NODES, node("a", &json!({}))).unwrap();
    let mut w = Watch::open(
        srv.addr,
        "/api/v1/nodes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=30",
    )
    .await;
    assert_eq!(w.next(WAIT).await.unwrap()["type"], "ADDED");
    let bm = w.next(WAIT).await.unwrap();
    assert_eq!(bm["type"], "BOOKMARK");
    assert_eq!(
        bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(rv_of(&bm["object"]), s.current_rv());
}

#[tokio::test]
async fn bad_selector_on_watch_is_a_400_status() {
    let srv = serve(Duration::from_secs(60)).await;
    let (head, body) = call(
        srv.addr,
        "GET",
        "/api/v1/nodes?watch=1&labelSelector=app+in+%28web",
        None,
    )
    .await;
    assert_eq!(head.status, 400);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "BadRequest");
}

#[tokio::test]
async fn dropped_watch_clients_leave_no_stream_behind() {
    let srv = serve(Duration::from_secs(60)).await;
    let store = srv.store().clone();
    let mut watches = Vec::new();
    for _ in 0..20 {
        watches.push(Watch::open(srv.addr, "/api/v1/nodes?watch=1&resourceVersion=1").await);
    }
    assert_eq!(active_watches(&store), 20);
    drop(watches);
    let deadline = Instant::now() + WAIT;
    while active_watches(&store) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} watch streams still alive",
            active_watches(&store)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn seed_pods_and_pdb(store: &Store, pods: &[&str], allowed: i64) {
    for name in pods {
        store
            .create(
                PODS,
                json!({
                    "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                    "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "i"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                }),
            )
            .unwrap();
    }
    let healthy = i64::try_from(pods.len()).unwrap();
    store
        .create(
            PDBS,
            json!({
                "metadata": {"name": "web-pdb", "namespace": "default"},
                "spec": {"minAvailable": healthy - allowed, "selector": {"matchLabels": {"app": "web"}}},
                "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                           "currentHealthy": healthy, "desiredHealthy": healthy - allowed,
                           "expectedPods": healthy},
            }),
        )
        .unwrap();
}

fn eviction(name: &str) -> Value {
    json!({"apiVersion":"policy/v1","kind":"Eviction",
           "metadata":{"name":name,"namespace":"default"},"deleteOptions":{"gracePeriodSeconds":0}})
}

#[tokio::test]
async fn eviction_blocked_by_pdb_then_allowed_when_the_budget_allows() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    seed_pods_and_pdb(&s, &["web-1", "web-2"], 0);
    let path = "/api/v1/namespaces/default/pods/web-1/eviction";
    let (head, body) = call(srv.addr, "POST", path, Some(eviction("web-1"))).await;
    assert_eq!(head.status, 429);
    assert_eq!(head.header("retry-after"), None);
    assert_eq!(
        body,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message":"Cannot evict pod as it would violate the pod's disruption budget.",
               "reason":"TooManyRequests",
               "details":{"causes":[{"reason":"DisruptionBudget",
                   "message":"The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]},
               "code":429})
    );
    // The disruption controller (simulated here) recomputes the status.
    s.update(PDBS, "default", "web-pdb", |p| {
        let mut p = p.clone();
        p["status"]["disruptionsAllowed"] = json!(1);
        p["status"]["desiredHealthy"] = json!(1);
        Ok(p)
    })
    .unwrap();
    let (head, body) = call(srv.addr, "POST", path, Some(eviction("web-1"))).await;
    assert_eq!(head.status, 201);
    assert_eq!(
        body,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201})
    );
    let (head, _) = call(
        srv.addr,
        "GET",
        "/api/v1/namespaces/default/pods/web-1",
        None,
    )
    .await;
    assert_eq!(head.status, 404);
    let pdb = s.get(PDBS, "default", "web-pdb").unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"]["web-1"].is_string());
}

#[tokio::test]
async fn two_concurrent_evictions_against_one_allowed_disruption() {
    let srv = serve(Duration::from_secs(60)).await;
    seed_pods_and_pdb(srv.store(), &["web-1", "web-2"], 1);
    let addr = srv.addr;
    let tasks: Vec<_> = ["web-1", "web-2"]
        .into_iter()
        .map(|name| {
            tokio::spawn(async move {
                let path = format!("/api/v1/namespaces/default/pods/{name}/eviction");
                call(addr, "POST", &path, Some(eviction(name)))
                    .await
                    .0
                    .status
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, vec![201, 429]);
    assert_eq!(srv.store().list(PODS, Some("default"), |_| true).0.len(), 1);
}

#[tokio::test]
async fn eviction_unknown_field_warns_and_strict_rejects() {
    let srv = serve(Duration::from_secs(60)).await;
    seed_pods_and_pdb(srv.store(), &["solo"], 1);
    let body = json!({"apiVersion":"policy/v1","kind":"Eviction",
                      "metadata":{"name":"solo","namespace":"default"},
                      "delete_options":{"gracePeriodSeconds":0}});
    let path = "/api/v1/namespaces/default/pods/solo/eviction";
    let (head, status) = call(
        srv.addr,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(head.status, 400);
    assert_eq!(
        status["message"],
        "Eviction in version \"v1\" cannot be handled as a Eviction: strict decoding error: unknown field \"delete_options\""
    );
    let (head, _) = call(srv.addr, "POST", path, Some(body)).await;
    assert_eq!(head.status, 201);
    assert_eq!(
        head.all("warning"),
        vec![r#"299 - "unknown field \"delete_options\"""#]
    );
    let pod = srv.store().get(PODS, "default", "solo").unwrap();
    assert_eq!(
        pod["metadata"]["deletionGracePeriodSeconds"], 30,
        "the snake_case options were ignored"
    );
}

#[tokio::test]
async fn graceful_pod_delete_then_grace_zero_delete() {
    let srv = serve(Duration::from_secs(60)).await;
    let s = srv.store().clone();
    s.create(
        PODS,
        json!({"metadata":{"name":"del-1","namespace":"default"},
               "spec":{"nodeName":"node-a","containers":[{"name":"c","image":"i"}]},
               "status":{"phase":"Running"}}),
    )
    .unwrap();
    let path = "/api/v1/namespaces/default/pods/del-1";
    let (head, pod) = call(srv.addr, "DELETE", path, None).await;
    assert_eq!(head.status, 200);
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    let (head, again) = call(srv.addr, "DELETE", path, None).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        again["metadata"]["resourceVersion"],
        pod["metadata"]["resourceVersion"]
    );
    let (head, _) = call(srv.addr, "GET", path, None).await;
    assert_eq!(head.status, 200, "still terminating");
    let (head, last) = call(
        srv.addr,
        "DELETE",
        &format!("{path}?gracePeriodSeconds=0"),
        None,
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(last["metadata"]["deletionGracePeriodSeconds"], 0);
    let (head, _) = call(srv.addr, "GET", path, None).await;
    assert_eq!(head.status, 404);
}
