//! Secrets never leave the server: the admin and protocol tokens appear neither in its
//! tracing output (captured at TRACE/DEBUG level, including the configuration it logs at
//! start-up) nor in `/metrics`, `/v1/status` or any answer to a failing call.
//!
//! One test in its own binary, so the capturing subscriber can be the global one and sees
//! every thread of the multi-threaded runtime.

// FleetLock is a product name in prose.
#![allow(clippy::doc_markdown)]

mod common;

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetlock::StoreSpec;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn random_token(prefix: &str) -> String {
    let mut rng = fastrand::Rng::new();
    let tail: String = std::iter::repeat_with(|| rng.alphanumeric())
        .take(40)
        .collect();
    format!("{prefix}{tail}")
}

/// Everything a client can see of one answer: status, headers, body.
async fn seen(r: reqwest::Response) -> String {
    let mut out = format!("{}\n", r.status());
    for (k, v) in r.headers() {
        let _ = writeln!(out, "{k}: {}", String::from_utf8_lossy(v.as_bytes()));
    }
    out.push_str(&r.text().await.unwrap_or_default());
    out.push('\n');
    out
}

// One scenario, read top to bottom: every request kind in turn.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_appear_in_logs_metrics_status_or_errors() {
    common::install_crypto();
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,fleetlock=trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let admin = random_token("adm-");
    let protocol = random_token("pro-");
    // Non-trivial secrets, so "not found" means something.
    assert!(admin.len() >= 40 && protocol.len() >= 40 && admin != protocol);
    let near_miss = format!("{}X", &protocol[..protocol.len() - 1]);

    let mut config = common::config(&[("default", 1)]);
    config.store = StoreSpec::Memory;
    config.admin_token = Some(admin.clone());
    config.protocol_token = Some(protocol.clone());
    config.max_body_bytes = 1024;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fleetlock::serve(config, None, async {
        let _ = stopped.await;
    }));

    // The address comes from the server's own log line.
    let mut addr = None;
    for _ in 0..200 {
        addr = capture.text().lines().find_map(|l| {
            l.split("local=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
        });
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let addr = addr.expect("server logged its address");
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let url = |p: &str| base.join(p).unwrap();
    let http = common::http();
    let body = |id: &str| format!(r#"{{"client_params":{{"id":"{id}","group":"default"}}}}"#);
    let lock = |auth: Option<&str>, b: String| {
        let mut r = http
            .post(url("v1/pre-reboot"))
            .header("fleet-lock-protocol", "true")
            .body(b);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        r.send()
    };

    let mut answers = String::new();
    // Lock endpoints: no token, near miss, the admin token, the right token, slot full, bad
    // body, huge body, wrong method.
    for auth in [None, Some(near_miss.as_str()), Some(admin.as_str())] {
        answers += &seen(lock(auth, body("node-secret-a")).await.unwrap()).await;
    }
    let ok = lock(Some(&protocol), body("node-secret-a")).await.unwrap();
    assert_eq!(ok.status(), 200);
    answers += &seen(ok).await;
    let full = lock(Some(&protocol), body("node-secret-b")).await.unwrap();
    assert_eq!(full.status(), 409);
    answers += &seen(full).await;
    answers += &seen(lock(Some(&protocol), "{".into()).await.unwrap()).await;
    answers += &seen(lock(Some(&protocol), "x".repeat(4096)).await.unwrap()).await;
    answers += &seen(
        http.get(url("v1/pre-reboot"))
            .bearer_auth(&protocol)
            .send()
            .await
            .unwrap(),
    )
    .await;
    answers += &seen(
        http.get(url("no/such/path"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Admin: none, the protocol token, a near miss, bad body, then the real thing.
    let release = r#"{"group":"default","id":"node-secret-a"}"#;
    for auth in [
        None,
        Some(protocol.as_str()),
        Some(&admin[..admin.len() - 1]),
    ] {
        let mut r = http.post(url("v1/admin/release")).body(release);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401);
        answers += &seen(r).await;
    }
    answers += &seen(
        http.post(url("v1/admin/release"))
            .bearer_auth(&admin)
            .body("not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r = http
        .post(url("v1/admin/release"))
        .bearer_auth(&admin)
        .body(release)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    answers += &seen(r).await;

    // Read-only endpoints.
    for path in ["v1/status", "metrics", "healthz", "readyz"] {
        let r = http.get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        answers += &seen(r).await;
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let logs = capture.text();
    // The capture really holds the request traffic, so the absence checks below are not
    // vacuous: ids, refusals, the admin release and the redacted configuration are all there.
    for expected in [
        "node-secret-a",
        "failed_unauthorized",
        "pre-reboot refused",
        "admin release",
        "<redacted>",
        "failed_body_too_large",
    ] {
        assert!(
            logs.contains(expected) || answers.contains(expected),
            "{expected:?} missing from the capture:\n{logs}\n{answers}"
        );
    }
    assert!(answers.contains("fleetlock_requests_total"), "{answers}");
    assert!(answers.contains("node-secret-a") || answers.contains("holders"));
    for secret in [&admin, &protocol, &near_miss] {
        assert!(
            !logs.contains(secret.as_str()),
            "a token leaked into the log:\n{logs}"
        );
        assert!(
            !answers.contains(secret.as_str()),
            "a token leaked into an answer:\n{answers}"
        );
    }
}
