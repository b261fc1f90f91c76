//! The real binary against kubesim: serves `/metrics` and `/healthz`, stops cleanly on
//! SIGTERM; a rejected flag writes nothing to the cluster.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubesim::cluster::Cluster;

fn kured(kubeconfig: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kured-rs"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KURED_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("KURED_NODE_ID", "node-0")
        .args(args);
    cmd
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_and_stops_on_sigterm() {
    let cluster = Cluster::builder()
        .nodes(1)
        .daemonset("kube-system", "kured")
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.kubeconfig(&kubeconfig).unwrap();
    let sentinel = dir.path().join("reboot-required");
    let mut child = kured(
        &kubeconfig,
        &[
            "--metrics-host=127.0.0.1",
            "--metrics-port=0",
            &format!("--reboot-sentinel={}", sentinel.display()),
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("addr=").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("the metrics address is logged");
    // The first sentinel check runs right after start-up.
    let metrics = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            let start = Instant::now();
            loop {
                let m = http_get(&addr, "/metrics");
                if m.contains("kured_reboot_required{node=\"node-0\"} 0")
                    || start.elapsed() > Duration::from_secs(10)
                {
                    return m;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    })
    .await
    .unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("kured_reboot_required{node=\"node-0\"} 0"),
        "{metrics}"
    );
    let health = tokio::task::spawn_blocking(move || http_get(&addr, "/healthz"))
        .await
        .unwrap();
    assert!(health.ends_with("ok"), "{health}");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || {
        let status = wait_exit(&mut child, Duration::from_secs(10));
        if status.is_none() {
            let _ = child.kill();
        }
        status
    })
    .await
    .unwrap()
    .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_flag_writes_nothing_to_the_cluster() {
    let cluster = Cluster::builder()
        .nodes(1)
        .daemonset("kube-system", "kured")
        .record_history(true)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.kubeconfig(&kubeconfig).unwrap();
    let before = cluster.requests_by_verb();
    let writes_before = cluster.history().len();
    let out = tokio::task::spawn_blocking(move || {
        kured(&kubeconfig, &["--concurrency=0"]).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        cluster.requests_by_verb(),
        before,
        "the cluster was contacted"
    );
    assert_eq!(
        cluster.history().len(),
        writes_before,
        "something was written"
    );
}
