//! Unit tests of the watch stream.

use super::*;
use crate::resources::well_known::{NODES, PDBS, PODS};
use crate::server::state::ServerOptions;
use crate::store::StoreConfig;
use futures::StreamExt;

fn state(window: usize) -> ServerState {
    ServerState {
        store: Store::new(StoreConfig {
            watch_window: window,
            record_history: false,
        }),
        // Struct update so that options added later keep their defaults here.
        #[allow(clippy::needless_update)]
        options: Arc::new(ServerOptions {
            bookmark_interval: Duration::from_millis(200),
            ..ServerOptions::default()
        }),
    }
}

async fn lines(resp: Response, n: usize) -> Vec<Value> {
    let mut body = resp.into_body().into_data_stream();
    let mut out = Vec::new();
    while out.len() < n {
        let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("event within 5 s")
        else {
            break;
        };
        let chunk = chunk.unwrap();
        assert_eq!(chunk.last(), Some(&b'\n'));
        out.push(serde_json::from_slice(&chunk).unwrap());
    }
    out
}

#[tokio::test]
async fn from_rv_sends_only_later_events_of_the_type() {
    let st = state(100);
    st.store
        .create(NODES, json!({"metadata":{"name":"a"}}))
        .unwrap();
    let rv = st.store.current_rv();
    st.store
        .create(PODS, json!({"metadata":{"name":"p","namespace":"x"}}))
        .unwrap();
    st.store
        .create(NODES, json!({"metadata":{"name":"b"}}))
        .unwrap();
    let q = ListQuery {
        resource_version: Some(rv.to_string()),
        timeout_seconds: Some(1),
        ..ListQuery::default()
    };
    let got = lines(watch_response(st.clone(), NODES, None, q), 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "ADDED");
    assert_eq!(got[0]["object"]["metadata"]["name"], "b");
    assert_eq!(got[0]["object"]["kind"], "Node");
}

#[tokio::test]
async fn expired_rv_is_one_error_event() {
    let st = state(2);
    let rv = st.store.current_rv();
    for i in 0..4 {
        st.store
            .create(NODES, json!({"metadata":{"name":format!("n{i}")}}))
            .unwrap();
    }
    let q = ListQuery {
        resource_version: Some(rv.to_string()),
        ..ListQuery::default()
    };
    let got = lines(watch_response(st.clone(), NODES, None, q), 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "ERROR");
    assert_eq!(got[0]["object"]["code"], 410);
    assert_eq!(got[0]["object"]["reason"], "Expired");
    let oldest = st.store.oldest_watchable_rv();
    assert_eq!(
        got[0]["object"]["message"],
        format!("too old resource version: {rv} ({oldest})")
    );
}

#[tokio::test]
async fn initial_state_then_bookmark_for_streaming_lists() {
    let st = state(100);
    for n in ["a", "b"] {
        st.store
            .create(NODES, json!({"metadata":{"name":n}}))
            .unwrap();
    }
    let q = ListQuery {
        send_initial_events: Some(true),
        allow_watch_bookmarks: true,
        resource_version_match: Some("NotOlderThan".into()),
        timeout_seconds: Some(5),
        ..ListQuery::default()
    };
    let got = lines(watch_response(st.clone(), NODES, None, q), 3).await;
    let types: Vec<_> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "ADDED", "BOOKMARK"]);
    assert_eq!(
        got[2]["object"]["metadata"]["annotations"][INITIAL_EVENTS_END],
        "true"
    );
    assert_eq!(
        got[2]["object"]["metadata"]["resourceVersion"],
        st.store.current_rv().to_string()
    );
}

#[tokio::test]
async fn slow_watcher_overtaken_by_compaction_gets_410_then_eof() {
    let st = state(100);
    st.store
        .create(NODES, json!({"metadata":{"name":"a"}}))
        .unwrap();
    let rv = st.store.current_rv();
    let q = ListQuery {
        resource_version: Some(rv.to_string()),
        ..ListQuery::default()
    };
    // The body is not polled yet: the watcher has read nothing when the log is compacted.
    let resp = watch_response(st.clone(), NODES, None, q);
    st.store
        .create(NODES, json!({"metadata":{"name":"b"}}))
        .unwrap();
    st.store.compact();
    let got = lines(resp, 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "ERROR");
    assert_eq!(got[0]["object"]["code"], 410);
}

#[tokio::test]
async fn watch_counter_follows_stream_lifetime() {
    let st = state(100);
    let resp = watch_response(st.clone(), NODES, None, ListQuery::default());
    assert_eq!(active_watches(&st.store), 1);
    drop(resp);
    assert_eq!(active_watches(&st.store), 0);
}

#[tokio::test]
async fn timeout_ends_the_stream_even_while_events_keep_coming() {
    let st = state(100_000);
    st.store
        .create(NODES, json!({"metadata":{"name":"busy"}}))
        .unwrap();
    let q = ListQuery {
        resource_version: Some(st.store.current_rv().to_string()),
        timeout_seconds: Some(1),
        ..ListQuery::default()
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (st.store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                store
                    .update(NODES, "", "busy", |o| {
                        let mut o = o.clone();
                        o["metadata"]["labels"] = json!({"i": i.to_string()});
                        Ok(o)
                    })
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let started = Instant::now();
    let mut body = watch_response(st.clone(), NODES, None, q)
        .into_body()
        .into_data_stream();
    let mut events = 0;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("the stream ends by its deadline")
    {
        chunk.unwrap();
        events += 1;
    }
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert!(events > 10, "events flowed ({events})");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
}

#[test]
fn bookmark_is_an_empty_object_of_the_kind() {
    // The BOOKMARK recorded in watch-nodes-modify-delete-bookmarks.json.
    let recorded = r#"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"459"},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}"#;
    let line = bookmark(NODES, 459, false).encode(NODES);
    assert_eq!(std::str::from_utf8(&line).unwrap(), format!("{recorded}\n"));
    let pdb: Value = serde_json::from_slice(&bookmark(PDBS, 7, true).encode(PDBS)).unwrap();
    assert_eq!(
        pdb["object"],
        json!({"kind":"PodDisruptionBudget","apiVersion":"policy/v1",
               "metadata":{"resourceVersion":"7","annotations":{INITIAL_EVENTS_END:"true"}},
               "spec":{},
               "status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}})
    );
}

#[tokio::test]
async fn bad_selector_is_a_400_response() {
    let st = state(100);
    let q = ListQuery {
        label_selector: Some("app in (web".into()),
        ..ListQuery::default()
    };
    let resp = watch_response(st, NODES, None, q);
    assert_eq!(resp.status(), axum::http::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cut_after_n_events() {
    let st = state(100);
    for i in 0..5 {
        st.store
            .create(NODES, json!({"metadata":{"name":format!("n{i}")}}))
            .unwrap();
    }
    let resp = watch_response_with(
        st,
        NODES,
        None,
        ListQuery::default(),
        WatchLimits {
            max_events: Some(3),
        },
    );
    let got = lines(resp, 10).await;
    assert_eq!(got.len(), 3);
}
