//! [`Prometheus`]: a real Prometheus server (Debian package `prometheus`; `.ci/run` installs
//! it; set `PROMETHEUS` to use another binary) on a free loopback port, for the tests of
//! everything that queries one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Prometheus child process, killed (and reaped) on drop, with its data in a temp dir.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT` plus the route prefix, without a trailing slash.
    pub url: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
}

impl Prometheus {
    /// Starts Prometheus evaluating `rules` every second (no rules if `None`), under an
    /// optional route prefix (`/prom`), and waits until `/-/ready` answers. Tries another port
    /// if the process exits (the chosen one was taken).
    pub async fn start(rules: Option<&str>, prefix: &str) -> Prometheus {
        let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        // reqwest is built without a crypto provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let mut config = String::from("global:\n  evaluation_interval: 1s\n");
            if let Some(rules) = rules {
                std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
                config.push_str("rule_files:\n  - rules.yml\n");
            }
            std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
            let port = crate::free_port();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let mut command = Command::new(&binary);
            command
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
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            if !prefix.is_empty() {
                command.arg(format!(
                    "--web.external-url=http://127.0.0.1:{port}{prefix}/"
                ));
            }
            let child = command.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot run {binary:?} ({e}); install it with \
                     `apt-get update && apt-get install -y prometheus`"
                )
            });
            let mut server = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}{prefix}"),
                dir,
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                if server.child.try_wait().unwrap().is_some() {
                    last_log = server.log();
                    break; // exited (port taken?): try again
                }
                let ready = client
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
                    server.log()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("prometheus did not start:\n{last_log}");
    }

    /// What the server wrote to its log so far.
    pub fn log(&self) -> String {
        log_of(self.dir.path())
    }
}
