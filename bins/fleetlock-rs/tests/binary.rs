//! Runs the real binary: bad input exits 2 naming the field; a good configuration serves
//! the lock protocol and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fleetlock-rs");

#[test]
fn bad_input_exits_2_and_names_the_field() {
    for (args, field) in [
        (vec!["--store", "nowhere"], "--store"),
        (vec!["--group", "workers=zero"], "--group"),
        (vec!["--listen", "localhost"], "--listen"),
        (vec!["--default-slots", "0"], "--default-slots"),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("invalid {field}")), "{args:?}: {err}");
    }
    // clap's own errors (unknown flag) also exit 2.
    let out = Command::new(BIN).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_kubernetes_credentials_exit_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--listen", "127.0.0.1:0", "--store", "kubernetes"],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--store",
            "memory",
            "--kubernetes-nodes",
            "true",
        ],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
            .env("HOME", dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("fleetlock-rs: kubernetes: no Kubernetes credentials"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn serves_with_file_store_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleetlock.db");
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--store",
            &format!("file:{}", db.display()),
            "--group",
            "default=1",
        ])
        .env("RUST_LOG", "info")
        .env_remove("FLEETLOCK_ADMIN_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the log on a thread so a server that never logs its address fails the test
    // instead of hanging it.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("local=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30));
    if addr.is_err() {
        let _ = child.kill();
    }
    let addr = addr.expect("server logged its listen address");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let a = fleetlock::Client::new(base.clone(), "node-a", "default", http.clone()).unwrap();
        let b = fleetlock::Client::new(base, "node-b", "default", http).unwrap();
        a.pre_reboot().await.unwrap();
        assert!(b.pre_reboot().await.is_err());
        a.steady_state().await.unwrap();
        b.pre_reboot().await.unwrap();
    });
    send_sigterm(child.id());
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let saved = std::fs::read_to_string(&db).unwrap();
    assert!(
        saved.contains("node-b") && !saved.contains("node-a"),
        "{saved}"
    );
}

fn send_sigterm(pid: u32) {
    let out = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(out.success());
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("server did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kubernetes_nodes_mode_cordons_before_granting() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        kubesim::cluster::install_crypto_provider();
        let cluster = kubesim::cluster::Cluster::builder()
            .nodes(2)
            .deployment("default", "web", 4, None)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        cluster.kubeconfig(&kubeconfig).unwrap();
        let mut child = Command::new(BIN)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--store",
                "memory",
                "--kubernetes-nodes",
                "true",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("local=").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap();
        if addr.is_err() {
            let _ = child.kill();
        }
        let addr = addr.expect("server logged its listen address");
        let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let client =
            fleetlock::Client::new(base, "node-0", "default", reqwest::Client::new()).unwrap();
        let first = client.pre_reboot().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut granted = false;
        while std::time::Instant::now() < deadline {
            if client.pre_reboot().await.is_ok() {
                granted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> =
            kube::Api::all(cluster.client().unwrap());
        let cordoned = nodes
            .get("node-0")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        client.steady_state().await.unwrap();
        let uncordoned = !nodes
            .get("node-0")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        send_sigterm(child.id());
        let status = wait_timeout(&mut child, Duration::from_secs(10));
        match first {
            Err(fleetlock::ClientError::Rejected { body, .. }) => {
                assert_eq!(body.kind, "drain_in_progress");
            }
            other => panic!("first pre-reboot should wait for the drain: {other:?}"),
        }
        assert!(granted, "never granted");
        assert!(cordoned, "granted while the node was schedulable");
        assert!(uncordoned);
        assert!(status.success());
        cluster.shutdown().await;
    });
}
