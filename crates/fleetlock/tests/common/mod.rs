//! Test helpers: start a server on 127.0.0.1:0, talk to it like Zincati or over raw TCP.
#![allow(dead_code, clippy::missing_panics_doc, clippy::doc_markdown)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use fleetlock::{FleetLock, LockStore, ServerConfig, StoreSpec};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder().build().unwrap()
}

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<FleetLock>,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The HTTP client [`TestServer::client`] uses (trusts the test CA for HTTPS servers).
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("{}://{}/", self.scheme, self.addr)).unwrap()
    }

    pub fn client(&self, id: &str, group: &str) -> fleetlock::Client {
        fleetlock::Client::new(self.base(), id, group, self.http.clone()).unwrap()
    }

    /// Stops the server and waits until it no longer serves.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

pub fn config(groups: &[(&str, u32)]) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: StoreSpec::Memory,
        groups: groups
            .iter()
            .map(|(g, s)| ((*g).to_owned(), *s))
            .collect::<BTreeMap<_, _>>(),
        ..ServerConfig::default()
    }
}

pub async fn start_with(config: ServerConfig, store: Arc<dyn LockStore>) -> TestServer {
    start_app(FleetLock::new(config, store).unwrap()).await
}

/// Starts `app` on 127.0.0.1:0; HTTPS with `tls` (then `http` must trust its CA).
pub async fn spawn_server(
    app: FleetLock,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: reqwest::Client,
) -> TestServer {
    install_crypto();
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = tokio::spawn({
        let app = Arc::clone(&app);
        async move {
            let shutdown = async {
                let _ = rx.await;
            };
            match tls {
                Some(tls) => fleetlock::serve_tls_on(listener, tls, app, shutdown).await,
                None => fleetlock::serve_on(listener, app, shutdown).await,
            }
            .unwrap();
        }
    });
    TestServer {
        addr,
        app,
        scheme,
        http,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn start(config: ServerConfig) -> TestServer {
    let store = fleetlock::open_store(&config.store, None).await.unwrap();
    start_with(config, store).await
}

/// Sends raw bytes, returns (status, headers+body text).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// A raw HTTP/1.1 POST (connection: close).
pub fn raw_post(path: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: fleetlock\r\nConnection: close\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// POSTs a FleetLock body like Zincati (no Content-Type); returns (status, kind).
pub async fn post(server: &TestServer, path: &str, id: &str, group: &str) -> (u16, Option<String>) {
    let c = server.client(id, group);
    let result = if path == "pre-reboot" {
        c.pre_reboot().await
    } else {
        c.steady_state().await
    };
    match result {
        Ok(()) => (200, None),
        Err(fleetlock::ClientError::Rejected { status, body, .. }) => {
            (status.as_u16(), Some(body.kind))
        }
        Err(e) => panic!("transport error: {e}"),
    }
}

pub async fn holders(server: &TestServer, group: &str) -> Vec<String> {
    server
        .app
        .store()
        .get(group)
        .await
        .unwrap()
        .state
        .holders
        .into_iter()
        .map(|h| h.id)
        .collect()
}

/// 20 distinct ids ask at once; returns how many were granted.
pub async fn herd(server: &TestServer, group: &str, n: usize) -> usize {
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = server.client(&format!("node-{i:02}"), group);
        tasks.push(tokio::spawn(async move { c.pre_reboot().await.is_ok() }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap() {
            granted += 1;
        }
    }
    granted
}

/// The protocol rules every store must satisfy.
pub async fn protocol_suite(server: &TestServer) {
    // Fresh group "one" (1 slot) and "two" (2 slots) are configured by the caller.
    assert_eq!(post(server, "pre-reboot", "a", "one").await, (200, None));
    // A holder re-asking gets 200 without a second slot.
    assert_eq!(post(server, "pre-reboot", "a", "one").await, (200, None));
    assert_eq!(holders(server, "one").await, ["a"]);
    // Ids are case-sensitive: "A" is someone else, and the slot is taken.
    assert_eq!(
        post(server, "pre-reboot", "A", "one").await,
        (409, Some("failed_lock_semaphore_full".into()))
    );
    // steady-state by a non-holder: 200, changes nothing.
    assert_eq!(post(server, "steady-state", "A", "one").await, (200, None));
    assert_eq!(holders(server, "one").await, ["a"]);
    // The holder releases; twice is fine.
    assert_eq!(post(server, "steady-state", "a", "one").await, (200, None));
    assert_eq!(post(server, "steady-state", "a", "one").await, (200, None));
    assert!(holders(server, "one").await.is_empty());
    assert_eq!(post(server, "pre-reboot", "A", "one").await, (200, None));
    assert_eq!(post(server, "steady-state", "A", "one").await, (200, None));
    // Unknown group.
    assert_eq!(
        post(server, "pre-reboot", "a", "nope").await,
        (404, Some("failed_unknown_group".into()))
    );
    assert_eq!(
        post(server, "steady-state", "a", "nope").await,
        (404, Some("failed_unknown_group".into()))
    );
    // Concurrency: exactly 1 and 2 granted.
    assert_eq!(herd(server, "one", 20).await, 1);
    assert_eq!(herd(server, "two", 20).await, 2);
    assert_eq!(holders(server, "one").await.len(), 1);
    assert_eq!(holders(server, "two").await.len(), 2);
    for h in holders(server, "two").await {
        assert_eq!(post(server, "steady-state", &h, "two").await, (200, None));
    }
    for h in holders(server, "one").await {
        assert_eq!(post(server, "steady-state", &h, "one").await, (200, None));
    }
    assert!(holders(server, "one").await.is_empty());
    assert!(holders(server, "two").await.is_empty());
}

/// Starts a server around a ready-made service.
pub async fn start_app(app: FleetLock) -> TestServer {
    spawn_server(app, None, http()).await
}

/// A real `etcd` (Debian package `etcd-server`) on free loopback ports with a temporary data
/// directory; killed when dropped.
pub struct Etcd {
    child: Child,
    pub client_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts etcd and waits until it answers.
pub async fn start_etcd() -> Etcd {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new("etcd")
        .args([
            "--name",
            "fleetlock-test",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            &format!("fleetlock-test={peer_url}"),
            "--log-level",
            "error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `etcd` ({e}); install it: apt-get install -y etcd-server")
        });
    let etcd = Etcd {
        child,
        client_url,
        _dir: dir,
    };
    let http = http();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = http
            .post(format!("{}/v3/kv/range", etcd.client_url))
            .body(r#"{"key":"AA=="}"#)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return etcd;
        }
        assert!(Instant::now() < deadline, "etcd did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether an `etcd` binary is on the PATH.
pub fn etcd_installed() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
