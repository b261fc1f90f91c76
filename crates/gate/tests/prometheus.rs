//! The gate's Prometheus check against a real Prometheus (Debian package `prometheus`; `.ci/run`
//! installs it, by hand: `apt-get update && apt-get install -y prometheus`; set `PROMETHEUS` to
//! use another binary), on a kubesim cluster whose node has "rebooted" (the attempt records an
//! old boot ID), so the query decides.
//!
//! The server has no scrape targets and no rules: the queries build their own answers
//! (`vector(1)`, `label_replace`), which needs no waiting for evaluations.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gate::{GateConfig, GateStatus, HealthGate, PromCheck, Unhealthy};
use kubesim::cluster::Cluster;

/// A Prometheus child process, killed (and reaped) on drop, with its data in a temp dir.
struct Prometheus {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
}

/// Starts a rule-less Prometheus on a free port and waits until `/-/ready` answers; tries
/// another port if the process exits (port taken).
async fn start_prometheus() -> Prometheus {
    let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut last_log = String::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prometheus.yml"), "global: {}\n").unwrap();
        let port = free_port();
        let out = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {binary:?} ({e}); install it with \
                     `apt-get update && apt-get install -y prometheus`"
                )
            });
        let mut server = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if server.child.try_wait().unwrap().is_some() {
                last_log = log(server.dir.path());
                break;
            }
            let ready = http
                .get(format!("{}/-/ready", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return server;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready after 60 s:\n{}",
                log(server.dir.path())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("prometheus did not start:\n{last_log}");
}

#[tokio::test]
async fn the_query_must_return_nothing() {
    let (server, cluster) = tokio::join!(start_prometheus(), async {
        Cluster::builder().nodes(1).start().await.unwrap()
    });
    let client = cluster.client().unwrap();
    let mut attempt = gate::prepare_attempt(&client, "node-0", jiff::Timestamp::now())
        .await
        .unwrap();
    attempt.boot_id = "a-boot-before-the-reboot".into();
    let gate_with = |url: &str, query: &str| {
        HealthGate::for_client(
            client.clone(),
            GateConfig {
                prometheus: Some(PromCheck {
                    url: url.into(),
                    query: query.into(),
                }),
                ..GateConfig::default()
            },
        )
        .unwrap()
    };

    // Nothing returned: passes.
    let quiet = gate_with(&server.url, "vector(1) > 2");
    assert_eq!(
        quiet.check("node-0", &attempt).await.unwrap(),
        GateStatus::Passed
    );

    // Series returned: holds, naming the query, the count and the label sets.
    let query = r#"label_replace(vector(1), "job", "node", "", "") or label_replace(vector(2), "job", "db", "", "")"#;
    let GateStatus::Waiting(reasons) = gate_with(&server.url, query)
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed with a non-empty query");
    };
    assert_eq!(
        reasons,
        vec![Unhealthy::QueryNotEmpty {
            query: query.into(),
            series: 2,
            examples: vec![r#"{job="node"}"#.into(), r#"{job="db"}"#.into()],
        }]
    );

    // A series whose value is 0 still counts (`up == 0` answers such series).
    let zero = gate_with(&server.url, "vector(0)");
    assert!(matches!(zero.check("node-0", &attempt).await.unwrap(),
            GateStatus::Waiting(r) if matches!(&r[..], [Unhealthy::QueryNotEmpty { series: 1, .. }])),);

    // A query Prometheus refuses, and a server that is not there: the gate holds.
    let GateStatus::Waiting(reasons) = gate_with(&server.url, "vector(")
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed with a broken query");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("bad_data")),
        "{reasons:?}"
    );
    let gone = format!("http://127.0.0.1:{}", free_port());
    let GateStatus::Waiting(reasons) = gate_with(&gone, "vector(1) > 2")
        .check("node-0", &attempt)
        .await
        .unwrap()
    else {
        panic!("passed without a Prometheus");
    };
    assert!(
        matches!(&reasons[..], [Unhealthy::CheckFailed(m)] if m.contains("request failed")),
        "{reasons:?}"
    );
    cluster.shutdown().await;
}
