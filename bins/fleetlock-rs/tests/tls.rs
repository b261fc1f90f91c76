//! The real binary with `--tls-cert/--tls-key/--client-ca` and `--protocol-token-file`:
//! bad TLS input exits 2 naming the flag; a good one serves HTTPS, requires the client
//! certificate and the token, and never logs the token.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

const BIN: &str = env!("CARGO_BIN_EXE_fleetlock-rs");
const TOKEN: &str = "tok-Vd93kXq27PzLm58RtYw14NbHc60Js";

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_pem: String,
}

fn leaf(
    ca: &Issuer<'_, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].to_owned());
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap().pem();
    (cert, key.serialize_pem())
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "fleetlock-rs test CA");
    let key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&key).unwrap().pem();
    let ca = Issuer::new(params, key);
    let (server_cert, server_key) = leaf(
        &ca,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(&ca, &["node-a"], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca_pem,
        server_cert,
        server_key,
        client_pem: format!("{client_cert}{client_key}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bad_tls_input_exits_2_naming_the_flag() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "tls.crt", &pki.server_cert);
    let key = write(dir.path(), "tls.key", &pki.server_key);
    let garbage = write(dir.path(), "garbage", "nothing here\n");
    let cases: [(Vec<&str>, &str); 6] = [
        (vec!["--tls-cert", s(&cert)], "--tls-cert"),
        (vec!["--tls-key", s(&key)], "--tls-key"),
        (vec!["--client-ca", s(&cert)], "--client-ca"),
        (
            vec!["--tls-cert", s(&garbage), "--tls-key", s(&key)],
            "--tls-cert",
        ),
        (
            vec!["--tls-cert", s(&cert), "--tls-key", "/nonexistent/key"],
            "--tls-key",
        ),
        (
            vec![
                "--tls-cert",
                s(&cert),
                "--tls-key",
                s(&key),
                "--client-ca",
                s(&garbage),
            ],
            "--client-ca",
        ),
    ];
    for (args, flag) in cases {
        let out = Command::new(BIN)
            .args(["--store", "memory"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("invalid {flag}")), "{args:?}: {err}");
        assert!(
            !err.contains(pki.server_key.lines().nth(1).unwrap()),
            "{err}"
        );
    }
}

#[test]
fn serves_https_with_client_certificates_and_a_protocol_token() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "tls.crt", &pki.server_cert);
    let key = write(dir.path(), "tls.key", &pki.server_key);
    let ca = write(dir.path(), "ca.crt", &pki.ca_pem);
    let token = write(dir.path(), "token", &format!("{TOKEN}\n"));
    let (mut child, addr, log) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory",
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
        "--client-ca",
        s(&ca),
        "--protocol-token-file",
        s(&token),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let base = url::Url::parse(&format!("https://{addr}/")).unwrap();
        let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
        let with_cert = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .identity(reqwest::Identity::from_pem(pki.client_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let without_cert = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap();
        // No client certificate: refused at the handshake.
        let anon = fleetlock::Client::new(base.clone(), "node-a", "default", without_cert)
            .unwrap()
            .with_token(TOKEN);
        assert!(matches!(
            anon.pre_reboot().await,
            Err(fleetlock::ClientError::Http(_))
        ));
        // Certificate but no token (what Zincati sends): 401.
        let zincati =
            fleetlock::Client::new(base.clone(), "node-a", "default", with_cert.clone()).unwrap();
        match zincati.pre_reboot().await {
            Err(fleetlock::ClientError::Rejected { status, body, .. }) => {
                assert_eq!(status.as_u16(), 401);
                assert_eq!(body.kind, "failed_unauthorized");
            }
            other => panic!("expected 401, got {other:?}"),
        }
        // Both: granted, then released.
        let a = zincati.clone().with_token(TOKEN);
        a.pre_reboot().await.unwrap();
        let b = fleetlock::Client::new(base.clone(), "node-b", "default", with_cert.clone())
            .unwrap()
            .with_token(TOKEN);
        assert!(b.pre_reboot().await.is_err());
        a.steady_state().await.unwrap();
        b.pre_reboot().await.unwrap();
        // Plain HTTP to the same port gets no answer.
        let plain = reqwest::Client::new()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await;
        assert!(plain.is_err(), "{plain:?}");
    });
    // Close the pooled connections before asking for a graceful stop.
    drop(rt);
    send_sigterm(child.id());
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let log = log.join().unwrap();
    assert!(log.contains("HTTPS"), "{log}");
    assert!(log.contains("failed_unauthorized"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the token leaked into the log:\n{log}"
    );
}

/// Starts the binary; returns it, the address it logged and a thread collecting its log.
fn spawn(args: &[&str]) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "debug")
        .env_remove("FLEETLOCK_ADMIN_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("local=").nth(1) {
                let _ = addr_tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30));
    if addr.is_err() {
        let _ = child.kill();
    }
    (child, addr.expect("server logged its listen address"), log)
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
