//! Bad input to the `kured-rs` binary, beyond the malformed flags of `cli.rs`: bad
//! `KURED_*` values, duplicated and conflicting flags, a rejected configuration that would
//! otherwise write to the cluster, the agent's own Node missing its `spec` and `status`, and
//! secrets in notification URLs never reaching the logs. The table in `docs/bad-input.md`
//! points at each test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubesim::cluster::{Cluster, RunningCluster};
use kubesim::resources::well_known::NODES;
use serde_json::{Value, json};

/// The binary with a clean `KURED_*` environment plus `env`.
fn kured(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kured-rs"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KURED_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .env("HOME", "/nonexistent")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs against no cluster at all: a run that passes validation fails with code 1 at the
/// (absent) Kubernetes configuration.
fn offline(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out: Output = kured(Path::new("/nonexistent/kubeconfig"), args, env)
        .output()
        .expect("run kured-rs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_rejected(args: &[&str], env: &[(&str, &str)], names: &str) {
    let (code, stderr) = offline(args, env);
    assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
    assert!(
        stderr.contains(names),
        "{args:?} {env:?}: error does not name {names}: {stderr}"
    );
    assert!(
        !stderr.contains("Kubernetes configuration"),
        "{args:?} {env:?}: got as far as the client: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn assert_accepted(args: &[&str], env: &[(&str, &str)]) -> String {
    let (code, stderr) = offline(args, env);
    assert_eq!(code, Some(1), "{args:?} {env:?}: {stderr}");
    assert!(stderr.contains("Kubernetes configuration"), "{stderr}");
    stderr
}

#[test]
fn bad_environment_values_name_the_flag() {
    let cases: &[(&str, &str, &str)] = &[
        ("KURED_REBOOT_DAYS", "funday", "--reboot-days"),
        ("KURED_START_TIME", "25:00", "--start-time"),
        ("KURED_END_TIME", "noon", "--end-time"),
        ("KURED_TIME_ZONE", "Mars/Olympus_Mons", "--time-zone"),
        ("KURED_CONCURRENCY", "-1", "--concurrency"),
        ("KURED_CONCURRENCY", "99999999999999", "--concurrency"),
        ("KURED_PERIOD", "", "--period"),
        ("KURED_LOCK_TTL", "forever", "--lock-ttl"),
        ("KURED_FORCE_REBOOT", "maybe", "--force-reboot"),
        ("KURED_METRICS_PORT", "70000", "--metrics-port"),
        ("KURED_NOTIFY_URL", "slack://hook:@webhook", "--notify-url"),
        (
            "KURED_BLOCKING_POD_SELECTOR",
            "c in (",
            "--blocking-pod-selector",
        ),
        (
            "KURED_PRE_REBOOT_NODE_LABELS",
            "rebooting",
            "--pre-reboot-node-labels",
        ),
        ("KURED_REBOOT_METHOD", "kexec", "--reboot-method"),
        ("KURED_REBOOT_COMMAND", "", "--reboot-command"),
        (
            "KURED_REBOOT_SENTINEL_COMMAND",
            "\"unclosed",
            "--reboot-sentinel-command",
        ),
        ("KURED_LOG_FORMAT", "xml", "--log-format"),
        ("KURED_LOCK_BACKEND", "zookeeper", "--lock-backend"),
    ];
    for (var, value, flag) in cases {
        assert_rejected(&["--node-id=n1"], &[(var, value)], flag);
    }
    // An empty or blank node id from the downward API is "missing", not a node called "".
    assert_rejected(&[], &[("KURED_NODE_ID", "")], "--node-id");
    assert_rejected(&[], &[("KURED_NODE_ID", "  ")], "--node-id");
}

#[test]
fn duplicated_single_value_flags_keep_the_last_value_and_list_flags_accumulate() {
    // As Go's flag package (kustomize overlays often append args): the last value wins.
    let stderr = assert_accepted(
        &["--node-id=n1", "--start-time=1am", "--start-time=2am"],
        &[],
    );
    assert!(stderr.contains("between 02:00"), "{stderr}");
    // Every occurrence is still parsed (as Go's flag package does): a bad one is an error even
    // when a later one would replace it.
    assert_rejected(
        &["--node-id=n1", "--period=nope", "--period=2h"],
        &[],
        "--period",
    );
    // Slice flags may repeat, as in kured: the values add up.
    let stderr = assert_accepted(
        &["--node-id=n1", "--reboot-days=mon", "--reboot-days=fri,sa"],
        &[],
    );
    assert!(stderr.contains("window=mon,fri,sat between"), "{stderr}");
}

#[test]
fn unknown_flags_and_positional_arguments_are_rejected() {
    assert_rejected(&["--node-id=n1", "--no-such-flag"], &[], "--no-such-flag");
    assert_rejected(&["--node-id=n1", "stray"], &[], "stray");
}

#[test]
fn conflicting_settings_resolve_as_kured_does() {
    // --notify-url wins over the deprecated --slack-hook-url, which is then not even parsed.
    assert_accepted(
        &[
            "--node-id=n1",
            "--slack-hook-url=https://hooks.slack.com/services/A/B",
            "--notify-url=ntfy://ntfy.example/reboots",
        ],
        &[],
    );
    // ... but a bad --notify-url is reported even when a good --slack-hook-url is given.
    assert_rejected(
        &[
            "--node-id=n1",
            "--slack-hook-url=https://hooks.slack.com/services/A/B/C",
            "--notify-url=nope://x",
        ],
        &[],
        "--notify-url",
    );
    // The environment wins over a conflicting flag (both directions are in cli.rs); a
    // variable set to a valid value hides an invalid flag entirely.
    assert_accepted(
        &["--node-id=n1", "--reboot-days=funday"],
        &[("KURED_REBOOT_DAYS", "mon")],
    );
    // An explicitly empty day list is a window that never opens (as in kured): accepted,
    // and the start-up line says so.
    let stderr = assert_accepted(&["--node-id=n1", "--reboot-days="], &[]);
    assert!(stderr.contains("window=no days"), "{stderr}");
}

/// A cluster with one node and kured's `DaemonSet`, recording history, with a kubeconfig file.
async fn cluster(dir: &Path) -> (RunningCluster, std::path::PathBuf) {
    let cluster = Cluster::builder()
        .nodes(1)
        .daemonset("kube-system", "kured")
        .record_history(true)
        .start()
        .await
        .expect("start kubesim");
    let kubeconfig = dir.join("kubeconfig");
    cluster.kubeconfig(&kubeconfig).expect("write kubeconfig");
    (cluster, kubeconfig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_environment_value_writes_nothing_even_when_a_reboot_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubeconfig) = cluster(dir.path()).await;
    let sentinel = dir.path().join("reboot-required");
    std::fs::write(&sentinel, "").unwrap();
    let before = cluster.requests_by_verb();
    let writes_before = cluster.history().len();
    for (var, value) in [
        (
            "KURED_NOTIFY_URL",
            "smtp://u:p@127.0.0.1:1/?fromAddress=bad",
        ),
        ("KURED_POST_REBOOT_NODE_LABELS", "=x"),
        ("KURED_PERIOD", "0s"),
    ] {
        let args = [
            "--node-id=node-0".to_string(),
            format!("--reboot-sentinel={}", sentinel.display()),
            "--metrics-port=0".to_string(),
        ];
        let kubeconfig = kubeconfig.clone();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kured(&kubeconfig, &args, &[(var, value)]).output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert_eq!(
            cluster.requests_by_verb(),
            before,
            "{var}: the cluster was contacted"
        );
        assert_eq!(
            cluster.history().len(),
            writes_before,
            "{var}: something was written"
        );
    }
    cluster.shutdown().await;
}

/// A fake webhook that answers every request with 401 and echoes the whole request (path,
/// query, headers, body) in its response body, the worst case for secrets in error texts.
fn echoing_webhook() -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                if request.windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    break;
                }
            }
            *counter.lock().unwrap() += 1;
            let body = String::from_utf8_lossy(&request).into_owned();
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, hits)
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with stderr collected into a shared string.
fn spawn_collecting(cmd: &mut Command) -> (Child, Arc<Mutex<String>>) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn kured-rs");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, log)
}

/// Sends SIGTERM and waits (bounded) for the exit; kills on timeout.
fn stop(child: &mut Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Waits until `cond` holds on the cluster, up to `limit`.
/// The first write in the history that cordoned `node`, if any.
fn first_cordon(cluster: &RunningCluster, node: &str) -> Option<Value> {
    cluster.history().iter().find_map(|e| {
        (e.resource.kind == "Node"
            && e.object["metadata"]["name"] == node
            && e.object["spec"]["unschedulable"] == Value::Bool(true))
        .then(|| (*e.object).clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::result_large_err)] // kubesim's Store::update takes a closure returning its ApiError
async fn a_node_without_spec_and_status_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubeconfig) = cluster(dir.path()).await;
    // The agent's own Node as a minimal object: metadata only.
    cluster
        .store()
        .update(NODES, "", "node-0", |n| {
            Ok(json!({"metadata": {"name": "node-0", "labels": n["metadata"]["labels"].clone()}}))
        })
        .unwrap();
    let stripped = cluster.store().get(NODES, "", "node-0").unwrap();
    assert!(stripped.get("spec").is_none() && stripped.get("status").is_none());
    let sentinel = dir.path().join("reboot-required");
    std::fs::write(&sentinel, "").unwrap();
    let (mut child, log) = spawn_collecting(&mut kured(
        &kubeconfig,
        &[
            "--node-id=node-0",
            "--metrics-host=127.0.0.1",
            "--metrics-port=0",
            "--period=1s",
            &format!("--reboot-sentinel={}", sentinel.display()),
            // Fails harmlessly: the reboot is attempted, fails, and is abandoned.
            "--reboot-command=/bin/false",
        ],
        &[],
    ));
    let cordoned = testkit::wait_until(Duration::from_secs(20), || {
        first_cordon(&cluster, "node-0").is_some()
    })
    .await;
    let failed = testkit::wait_until(Duration::from_secs(20), || {
        log.lock().unwrap().contains("reboot failed")
    })
    .await;
    let still_running = child.try_wait().unwrap().is_none();
    let status = tokio::task::spawn_blocking(move || stop(&mut child))
        .await
        .unwrap();
    let log = log.lock().unwrap().clone();
    assert!(cordoned, "the node was never cordoned: {log}");
    // The node still had no status when kured-rs cordoned it (nothing filled it in first).
    let cordon = first_cordon(&cluster, "node-0").unwrap();
    assert!(cordon.get("status").is_none(), "{cordon}");
    assert!(failed, "the reboot was never attempted: {log}");
    assert!(still_running, "kured-rs exited: {log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {log}");
    // After the failed reboot the node is uncordoned again (we cordoned it).
    let node = cluster.store().get(NODES, "", "node-0").unwrap();
    assert_ne!(node["spec"]["unschedulable"], Value::Bool(true), "{node}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_secrets_never_appear_in_the_logs() {
    const TOKEN: &str = "Tok3nNeverLoggedA1b2C3";
    const PASSWORD: &str = "SmtpPassw0rdNeverLoggedZ9";
    const HEADER: &str = "HeaderS3cretNeverLoggedQ7";
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubeconfig) = cluster(dir.path()).await;
    let (webhook, hits) = echoing_webhook();
    let smtp_port = closed_port();
    let urls = format!(
        "generic+http://{webhook}/hooks/{TOKEN}?@Authorization=Bearer%20{HEADER} \
         smtp://kured:{PASSWORD}@127.0.0.1:{smtp_port}/?fromAddress=kured@example.com&toAddresses=ops@example.com&encryption=None"
    );
    let sentinel = dir.path().join("reboot-required");
    std::fs::write(&sentinel, "").unwrap();
    for format in ["text", "json"] {
        let before = *hits.lock().unwrap();
        let (mut child, log) = spawn_collecting(&mut kured(
            &kubeconfig,
            &[
                "--node-id=node-0",
                "--metrics-host=127.0.0.1",
                "--metrics-port=0",
                "--period=1s",
                &format!("--log-format={format}"),
                &format!("--reboot-sentinel={}", sentinel.display()),
                "--reboot-command=/bin/false",
                // The failed reboot must not halt the rollout: the second format's run
                // attempts again (its configuration differs, so the failure does not hold).
                "--max-failed-nodes=100",
            ],
            &[("KURED_NOTIFY_URL", &urls), ("RUST_LOG", "debug")],
        ));
        // Both notifications of one attempt (drain, reboot) were tried and failed.
        let tried = testkit::wait_until(Duration::from_secs(30), || {
            *hits.lock().unwrap() >= before + 2
                && log.lock().unwrap().matches("notification failed").count() >= 2
        })
        .await;
        let status = tokio::task::spawn_blocking(move || stop(&mut child))
            .await
            .unwrap();
        let log = log.lock().unwrap().clone();
        assert!(tried, "{format}: notifications were not attempted: {log}");
        assert!(status.is_some(), "{format}: did not stop: {log}");
        for secret in [TOKEN, PASSWORD, HEADER] {
            assert!(!log.contains(secret), "{format}: {secret} logged:\n{log}");
        }
        // The failures are still explained: service and status are named.
        assert!(
            log.contains("401") && log.contains("smtp"),
            "{format}: {log}"
        );
    }
    cluster.shutdown().await;
}
