//! Protocol rules over HTTP, on the memory and file stores, with a Zincati-identical client and
//! a raw TCP client.

mod common;

use common::{config, herd, holders, post, raw, raw_post, start, start_with};
use fleetlock::{ServerConfig, StoreSpec};

const ZINCATI_BODY: &str = "{\n  \"client_params\": {\n    \"id\": \"c988d2509fdf5cdcbed39037c56406fb\",\n    \"group\": \"default\"\n  }\n}";

#[tokio::test]
async fn memory_store_protocol_suite() {
    let server = start(config(&[("one", 1), ("two", 2)])).await;
    common::protocol_suite(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn file_store_protocol_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&[("one", 1), ("two", 2)]);
    c.store = StoreSpec::File(dir.path().join("fleetlock.db"));
    let server = start(c).await;
    common::protocol_suite(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn client_sends_exactly_what_zincati_sends() {
    // Capture what our client puts on the wire with a one-shot raw listener.
    common::install_crypto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let capture = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .unwrap()
                    .parse()
                    .unwrap();
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(buf).unwrap()
    });
    // A base URL with a path but no trailing slash: Url::join drops "base", as in Zincati.
    let base = url::Url::parse(&format!("http://{addr}/base")).unwrap();
    let client = fleetlock::Client::new(
        base,
        "c988d2509fdf5cdcbed39037c56406fb",
        "default",
        common::http(),
    )
    .unwrap();
    assert_eq!(client.body(), ZINCATI_BODY);
    client.pre_reboot().await.unwrap();
    let wire = capture.await.unwrap();
    let (head, body) = wire.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("POST /v1/pre-reboot HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nfleet-lock-protocol: true"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-type"),
        "{head}"
    );
    assert_eq!(body, ZINCATI_BODY);
}

#[tokio::test]
async fn raw_tcp_clients_any_content_type_and_header_case() {
    let server = start(config(&[("default", 1)])).await;
    // curl -d sends application/x-www-form-urlencoded; the body is still JSON.
    let req = raw_post(
        "/v1/pre-reboot",
        "FLEET-LOCK-PROTOCOL: true\r\nContent-Type: application/x-www-form-urlencoded\r\n",
        ZINCATI_BODY,
    );
    let (status, _) = raw(server.addr, &req).await;
    assert_eq!(status, 200);
    assert_eq!(
        holders(&server, "default").await,
        ["c988d2509fdf5cdcbed39037c56406fb"]
    );
    // No Content-Type at all, compact JSON with unknown fields.
    let body = r#"{"client_params":{"id":"other","group":"default","zone":"x"},"v":2}"#;
    let (status, text) = raw(
        server.addr,
        &raw_post("/v1/pre-reboot", "fleet-lock-protocol: true\r\n", body),
    )
    .await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["kind"], "failed_lock_semaphore_full");
    assert!(
        v["value"]
            .as_str()
            .unwrap()
            .contains("c988d2509fdf5cdcbed39037c56406fb")
    );
    let (status, _) = raw(
        server.addr,
        &raw_post(
            "/v1/steady-state",
            "fleet-lock-protocol: true\r\n",
            ZINCATI_BODY,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(holders(&server, "default").await.is_empty());
    server.stop().await;
}

async fn expect_error(server: &common::TestServer, request: &[u8], status: u16, kind: &str) {
    let (got, text) = raw(server.addr, request).await;
    assert_eq!(got, status, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["kind"], kind, "{text}");
    assert!(!v["value"].as_str().unwrap().is_empty());
}

/// Ids over 256 bytes (300 characters; 60 KB, inside the body limit) and ids with control
/// characters are refused with 400 `failed_invalid_id` (issue 17: they were granted and stored).
async fn refuses_bad_ids(server: &common::TestServer, path: &str) {
    let hdr = "fleet-lock-protocol: true\r\n";
    for id in [
        "f".repeat(300),
        "f".repeat(60 * 1024),
        r"node\u0000a".to_owned(),
        r"node\nb".to_owned(),
    ] {
        let body = format!(r#"{{"client_params":{{"id":"{id}","group":"default"}}}}"#);
        expect_error(
            server,
            &raw_post(path, hdr, &body),
            400,
            "failed_invalid_id",
        )
        .await;
    }
}

#[tokio::test]
async fn every_refusal_is_non_2xx_json() {
    let server = start(config(&[("default", 1)])).await;
    let hdr = "fleet-lock-protocol: true\r\n";
    for path in ["/v1/pre-reboot", "/v1/steady-state"] {
        expect_error(
            &server,
            &raw_post(path, "", ZINCATI_BODY),
            400,
            "failed_protocol_header",
        )
        .await;
        expect_error(
            &server,
            &raw_post(path, "fleet-lock-protocol: false\r\n", ZINCATI_BODY),
            400,
            "failed_protocol_header",
        )
        .await;
        expect_error(
            &server,
            &raw_post(path, hdr, "id=a&group=b"),
            400,
            "failed_parse_body",
        )
        .await;
        expect_error(&server, &raw_post(path, hdr, ""), 400, "failed_parse_body").await;
        expect_error(
            &server,
            &raw_post(
                path,
                hdr,
                r#"{"client_params":{"id":"","group":"default"}}"#,
            ),
            400,
            "failed_invalid_id",
        )
        .await;
        refuses_bad_ids(&server, path).await;
        expect_error(
            &server,
            &raw_post(
                path,
                hdr,
                r#"{"client_params":{"id":"a","group":"de fault"}}"#,
            ),
            400,
            "failed_invalid_group",
        )
        .await;
        expect_error(
            &server,
            &raw_post(path, hdr, r#"{"client_params":{"id":"a","group":""}}"#),
            400,
            "failed_invalid_group",
        )
        .await;
        let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        expect_error(&server, get.as_bytes(), 405, "failed_method_not_allowed").await;
        // 64 KiB cap: one byte over → 413 (the body is otherwise valid JSON).
        let big = format!(
            r#"{{"client_params":{{"id":"a","group":"default"}},"pad":"{}"}}"#,
            "x".repeat(64 * 1024)
        );
        expect_error(
            &server,
            &raw_post(path, hdr, &big),
            413,
            "failed_body_too_large",
        )
        .await;
    }
    // Just under the cap is accepted.
    let pad = 64 * 1024 - r#"{"client_params":{"id":"a","group":"default"},"pad":""}"#.len();
    let ok = format!(
        r#"{{"client_params":{{"id":"a","group":"default"}},"pad":"{}"}}"#,
        "x".repeat(pad)
    );
    assert_eq!(ok.len(), 64 * 1024);
    assert_eq!(
        raw(server.addr, &raw_post("/v1/pre-reboot", hdr, &ok))
            .await
            .0,
        200
    );
    expect_error(
        &server,
        &raw_post("/v1/nothing", hdr, ZINCATI_BODY),
        404,
        "failed_not_found",
    )
    .await;
    assert!(holders(&server, "default").await == ["a"]);
    server.stop().await;
}

#[tokio::test]
async fn auto_create_groups_uses_default_slots_and_configured_slots_win() {
    let mut c = config(&[("small", 1)]);
    c.auto_create_groups = true;
    c.default_slots = 3;
    let server = start(c).await;
    assert_eq!(herd(&server, "fresh", 10).await, 3);
    assert_eq!(herd(&server, "small", 10).await, 1);
    server.stop().await;

    // Configured slots win over what the store holds: 3 holders stored, config says 2.
    let store: std::sync::Arc<dyn fleetlock::LockStore> =
        std::sync::Arc::new(fleetlock::store::MemoryStore::new());
    let s1 = start_with(config(&[("g", 3)]), store.clone()).await;
    assert_eq!(herd(&s1, "g", 5).await, 3);
    s1.stop().await;
    let s2 = start_with(config(&[("g", 2)]), store.clone()).await;
    let held = holders(&s2, "g").await;
    assert_eq!(
        held.len(),
        3,
        "a smaller configuration never evicts holders"
    );
    assert_eq!(post(&s2, "steady-state", &held[0], "g").await, (200, None));
    assert_eq!(
        post(&s2, "pre-reboot", "newcomer", "g").await.0,
        409,
        "2 holders left, 2 slots configured: still full"
    );
    assert_eq!(post(&s2, "steady-state", &held[1], "g").await, (200, None));
    assert_eq!(post(&s2, "pre-reboot", "newcomer", "g").await, (200, None));
    s2.stop().await;
}

#[tokio::test]
async fn file_store_restart_keeps_holders() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&[("default", 2)]);
    c.store = StoreSpec::File(dir.path().join("state.db"));
    let s = start(c.clone()).await;
    assert_eq!(post(&s, "pre-reboot", "n1", "default").await, (200, None));
    assert_eq!(post(&s, "pre-reboot", "n2", "default").await, (200, None));
    s.stop().await;
    let s = start(c).await;
    assert_eq!(holders(&s, "default").await, ["n1", "n2"]);
    assert_eq!(post(&s, "pre-reboot", "n3", "default").await.0, 409);
    assert_eq!(post(&s, "pre-reboot", "n1", "default").await, (200, None));
    assert_eq!(post(&s, "steady-state", "n1", "default").await, (200, None));
    assert_eq!(holders(&s, "default").await, ["n2"]);
    s.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_file_never_exceed_slots() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&[("one", 1), ("two", 2)]);
    c.store = StoreSpec::File(dir.path().join("shared.db"));
    // Two independent store instances (as two processes would have) on one file.
    let a = start(c.clone()).await;
    let b = start(c).await;
    for (group, slots) in [("one", 1), ("two", 2)] {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let server = if i % 2 == 0 { &a } else { &b };
            let client = server.client(&format!("id-{i}"), group);
            tasks.push(tokio::spawn(
                async move { client.pre_reboot().await.is_ok() },
            ));
        }
        let mut granted = 0;
        for t in tasks {
            granted += usize::from(t.await.unwrap());
        }
        assert_eq!(granted, slots, "group {group}");
        assert_eq!(holders(&a, group).await, holders(&b, group).await);
        assert_eq!(holders(&a, group).await.len(), slots);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn ops_endpoints_and_admin_release() {
    let mut c = config(&[("default", 1)]);
    c.admin_token = Some("s3cret".into());
    let server = start(c).await;
    let http = common::http();
    let base = server.base();
    assert_eq!(
        post(&server, "pre-reboot", "stuck", "default").await,
        (200, None)
    );

    let r = http
        .get(base.join("healthz").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(base.join("readyz").unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let status: fleetlock::Status = http
        .get(base.join("v1/status").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.groups.len(), 1);
    assert_eq!(status.groups[0].slots, Some(1));
    assert_eq!(status.groups[0].holders[0].id, "stuck");
    assert!(
        status.groups[0].holders[0]
            .since
            .parse::<jiff::Timestamp>()
            .is_ok()
    );

    let metrics = http
        .get(base.join("metrics").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"fleetlock_holders{group="default"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fleetlock_slots{group="default"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fleetlock_requests_total{endpoint="pre-reboot",outcome="granted"} 1"#),
        "{metrics}"
    );

    let url = base.join("v1/admin/release").unwrap();
    let body = r#"{"group":"default","id":"stuck"}"#;
    let r = http.post(url.clone()).body(body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(url.clone())
        .bearer_auth("wrong!")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(holders(&server, "default").await, ["stuck"]);
    let r = http
        .post(url.clone())
        .bearer_auth("s3cret")
        .body(r#"{"group":"a b","id":"stuck"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(url.clone())
        .bearer_auth("s3cret")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(holders(&server, "default").await.is_empty());
    server.stop().await;

    // Without a configured token the admin endpoint is disabled.
    let server = start(config(&[("default", 1)])).await;
    let r = common::http()
        .post(server.base().join("v1/admin/release").unwrap())
        .bearer_auth("")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn serve_rejects_invalid_config_naming_the_field() {
    let mut c = ServerConfig {
        store: StoreSpec::Memory,
        ..config(&[("default", 1)])
    };
    c.default_slots = 0;
    let err = fleetlock::serve(c, None, async {}).await.unwrap_err();
    assert!(err.to_string().contains("default_slots"), "{err}");
}
