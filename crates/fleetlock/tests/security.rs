//! Transport security and authentication: HTTPS with certificates made in the test, client
//! certificate authentication, the protocol bearer token and the admin token.

mod common;

use std::path::{Path, PathBuf};

use common::{config, holders, post, spawn_server, start};
use fleetlock::{FleetLock, ServeError, StoreSpec, TlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

/// A test CA, a server certificate for 127.0.0.1 and client certificates.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    ca: Issuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self {
            dir: tempfile::tempdir().unwrap(),
            ca_pem,
            ca: Issuer::new(params, key),
        }
    }

    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].to_owned());
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap().pem();
        Leaf {
            cert,
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Leaf {
        self.leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Server files; with `client_ca`, client certificates must chain to this CA.
    fn server_files(&self, client_ca: bool) -> TlsFiles {
        let leaf = self.server();
        TlsFiles {
            cert: self.write("server.crt", &leaf.cert),
            key: self.write("server.key", &leaf.key),
            client_ca: client_ca.then(|| self.write("ca.crt", &self.ca_pem)),
        }
    }

    /// An HTTPS client that trusts this CA and presents `identity` if given.
    fn https(&self, identity: Option<&Leaf>) -> reqwest::Client {
        common::install_crypto();
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .timeout(std::time::Duration::from_secs(10));
        if let Some(leaf) = identity {
            let pem = format!("{}{}", leaf.cert, leaf.key);
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    }
}

async fn tls_server(files: &TlsFiles, http: reqwest::Client) -> common::TestServer {
    let tls = fleetlock::tls::server_config(files).unwrap();
    let c = config(&[("default", 1)]);
    let store = fleetlock::open_store(&StoreSpec::Memory, None)
        .await
        .unwrap();
    spawn_server(FleetLock::new(c, store).unwrap(), Some(tls), http).await
}

#[tokio::test]
async fn https_serves_the_protocol_and_plain_http_fails() {
    let pki = Pki::new("server");
    let server = tls_server(&pki.server_files(false), pki.https(None)).await;
    assert_eq!(server.base().scheme(), "https");
    assert_eq!(
        post(&server, "pre-reboot", "node-a", "default").await,
        (200, None)
    );
    assert_eq!(
        post(&server, "pre-reboot", "node-b", "default").await,
        (409, Some("failed_lock_semaphore_full".into()))
    );
    let health = server
        .http
        .get(server.base().join("healthz").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = format!("http://{}/healthz", server.addr);
    let r = common::http().get(&plain).send().await;
    assert!(r.is_err(), "plain HTTP answered: {r:?}");
    // A client that does not trust the server's CA refuses the connection.
    let other = Pki::new("other");
    let r = other
        .https(None)
        .get(server.base().join("healthz").unwrap())
        .send()
        .await;
    assert!(r.is_err(), "untrusted server accepted: {r:?}");

    assert_eq!(
        post(&server, "steady-state", "node-a", "default").await,
        (200, None)
    );
    assert!(holders(&server, "default").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn client_ca_refuses_clients_without_a_trusted_certificate() {
    let pki = Pki::new("fleet");
    let files = pki.server_files(true);
    let good = pki.client("node-a");
    let server = tls_server(&files, pki.https(Some(&good))).await;
    let url = server.base().join("healthz").unwrap();

    // No certificate: refused during the handshake (no HTTP status at all).
    let r = pki.https(None).get(url.clone()).send().await;
    assert!(r.is_err(), "no client certificate accepted: {r:?}");
    // A certificate from another CA: refused too.
    let rogue_ca = Pki::new("rogue");
    let rogue = rogue_ca.client("node-a");
    let r = pki.https(Some(&rogue)).get(url.clone()).send().await;
    assert!(r.is_err(), "foreign client certificate accepted: {r:?}");
    // The protocol endpoints are not reachable either.
    let c = fleetlock::Client::new(server.base(), "node-x", "default", pki.https(None)).unwrap();
    assert!(matches!(
        c.pre_reboot().await,
        Err(fleetlock::ClientError::Http(_))
    ));
    assert!(holders(&server, "default").await.is_empty());

    // A certificate from the configured CA works.
    let r = server.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        post(&server, "pre-reboot", "node-a", "default").await,
        (200, None)
    );
    assert_eq!(holders(&server, "default").await, ["node-a"]);
    server.stop().await;
}

/// The DER of the certificate the server presents on a fresh connection.
async fn served_cert(pki: &Pki, url: url::Url) -> Vec<u8> {
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .build()
        .unwrap();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Replaces a file and moves its modification time forward, as a Secret update does.
fn replace(path: &Path, text: &str, bump: u64) {
    std::fs::write(path, text).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(bump))
        .unwrap();
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_restart() {
    let pki = Pki::new("renewal");
    let first = pki.server();
    let files = TlsFiles {
        cert: pki.write("server.crt", &first.cert),
        key: pki.write("server.key", &first.key),
        client_ca: None,
    };
    let tls =
        fleetlock::tls::server_config_reloading_every(&files, std::time::Duration::ZERO).unwrap();
    let store = fleetlock::open_store(&StoreSpec::Memory, None)
        .await
        .unwrap();
    let app = FleetLock::new(config(&[("default", 1)]), store).unwrap();
    let server = spawn_server(app, Some(tls), pki.https(None)).await;
    let url = server.base().join("healthz").unwrap();
    assert_eq!(served_cert(&pki, url.clone()).await, der_of(&first.cert));

    // Renewal: new key and certificate.
    let second = pki.server();
    replace(&files.key, &second.key, 10);
    replace(&files.cert, &second.cert, 10);
    assert_eq!(served_cert(&pki, url.clone()).await, der_of(&second.cert));

    // A broken update (certificate without its key) keeps the last good certificate.
    let third = pki.server();
    replace(&files.cert, &third.cert, 20);
    assert_eq!(served_cert(&pki, url.clone()).await, der_of(&second.cert));
    replace(&files.cert, "garbage", 30);
    assert_eq!(served_cert(&pki, url).await, der_of(&second.cert));
    server.stop().await;
}

fn field_of(files: &TlsFiles) -> String {
    fleetlock::tls::server_config(files).unwrap_err().field
}

#[test]
fn bad_tls_files_name_the_field() {
    let pki = Pki::new("files");
    let good = pki.server_files(true);
    let missing = Path::new("/nonexistent/fleetlock/x.pem").to_path_buf();
    let garbage = pki.write("garbage.pem", "not a PEM file\n");
    let other_key = pki.write("other.key", &pki.server().key);

    let cases = [
        (
            TlsFiles {
                cert: missing.clone(),
                ..good.clone()
            },
            "tls_cert",
        ),
        (
            TlsFiles {
                cert: garbage.clone(),
                ..good.clone()
            },
            "tls_cert",
        ),
        (
            TlsFiles {
                key: missing.clone(),
                ..good.clone()
            },
            "tls_key",
        ),
        (
            TlsFiles {
                key: garbage.clone(),
                ..good.clone()
            },
            "tls_key",
        ),
        // A key that belongs to another certificate.
        (
            TlsFiles {
                key: other_key,
                ..good.clone()
            },
            "tls_key",
        ),
        // The key file given as the certificate (no CERTIFICATE block).
        (
            TlsFiles {
                cert: good.key.clone(),
                ..good.clone()
            },
            "tls_cert",
        ),
        (
            TlsFiles {
                client_ca: Some(missing),
                ..good.clone()
            },
            "client_ca",
        ),
        (
            TlsFiles {
                client_ca: Some(garbage),
                ..good.clone()
            },
            "client_ca",
        ),
    ];
    for (files, field) in cases {
        assert_eq!(field_of(&files), field, "{files:?}");
    }
    // The error text never carries key material.
    let key_text = std::fs::read_to_string(&good.key).unwrap();
    let body = key_text.lines().nth(1).unwrap();
    let err = fleetlock::tls::server_config(&TlsFiles {
        cert: good.key.clone(),
        ..good.clone()
    })
    .unwrap_err();
    assert!(!err.to_string().contains(body), "{err}");
    assert!(fleetlock::tls::server_config(&good).is_ok());
}

#[tokio::test]
async fn serve_refuses_bad_tls_files_before_binding() {
    let mut c = config(&[("default", 1)]);
    c.tls = Some(TlsFiles {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
        client_ca: None,
    });
    match fleetlock::serve(c, None, async {}).await {
        Err(ServeError::Config(e)) => assert_eq!(e.field, "tls_cert"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

const PROTOCOL_TOKEN: &str = "p-7Qm2xV9rLk4Tz8Wn3Hs6Jd1Fb5Gc0Ya";

#[tokio::test]
async fn protocol_token_is_required_when_configured() {
    let mut c = config(&[("default", 1)]);
    c.protocol_token = Some(PROTOCOL_TOKEN.into());
    c.admin_token = Some("a-admin-token-that-differs-from-the-other".into());
    let server = start(c).await;
    let http = common::http();
    let url = server.base().join("v1/pre-reboot").unwrap();

    // Zincati's request (no token) and wrong tokens: 401 with the JSON body.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer p-7Qm2xV9rLk4Tz8Wn3Hs6Jd1Fb5Gc0Y"),
        Some("Basic cC03UW0yeFY5ckxrNFR6OFduM0hzNkpkMUZiNUdjMFlh"),
        Some("Bearer a-admin-token-that-differs-from-the-other"),
    ] {
        let mut req = http
            .post(url.clone())
            .header("fleet-lock-protocol", "true")
            .body(r#"{"client_params":{"id":"n1","group":"default"}}"#);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: fleetlock::ErrorBody = r.json().await.unwrap();
        assert_eq!(body.kind, "failed_unauthorized", "{auth:?}");
    }
    // The token is checked before anything else: no protocol header, still 401.
    let r = http.post(url.clone()).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(holders(&server, "default").await.is_empty());
    assert_eq!(
        post(&server, "steady-state", "n1", "default").await,
        (401, Some("failed_unauthorized".into()))
    );

    // The right token, through the client and with a lower-case scheme.
    let c = server.client("n1", "default").with_token(PROTOCOL_TOKEN);
    assert!(!format!("{c:?}").contains(PROTOCOL_TOKEN));
    c.pre_reboot().await.unwrap();
    assert_eq!(holders(&server, "default").await, ["n1"]);
    let r = http
        .post(server.base().join("v1/steady-state").unwrap())
        .header("fleet-lock-protocol", "true")
        .header("authorization", format!("bearer {PROTOCOL_TOKEN}"))
        .body(r#"{"client_params":{"id":"n1","group":"default"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(holders(&server, "default").await.is_empty());

    // The protocol token is not an admin token.
    c.pre_reboot().await.unwrap();
    let r = http
        .post(server.base().join("v1/admin/release").unwrap())
        .bearer_auth(PROTOCOL_TOKEN)
        .body(r#"{"group":"default","id":"n1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(holders(&server, "default").await, ["n1"]);

    // Refusals are counted under their kind.
    let metrics = http
        .get(server.base().join("metrics").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"fleetlock_requests_total{endpoint="pre-reboot",outcome="failed_unauthorized"} 6"#
        ),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_endpoint_refuses_unauthenticated_calls_and_is_off_without_a_token() {
    let body = r#"{"group":"default","id":"stuck"}"#;
    let mut c = config(&[("default", 1)]);
    c.admin_token = Some("admin-9f8e7d6c5b4a39281706f5e4d3c2b1a0".into());
    let server = start(c).await;
    assert_eq!(
        post(&server, "pre-reboot", "stuck", "default").await,
        (200, None)
    );
    let url = server.base().join("v1/admin/release").unwrap();
    let http = common::http();
    for auth in [
        None,
        Some("Bearer "),
        Some("Bearer admin-9f8e7d6c5b4a39281706f5e4d3c2b1a"),
        Some("admin-9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ] {
        let mut req = http.post(url.clone()).body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let e: fleetlock::ErrorBody = r.json().await.unwrap();
        assert_eq!(e.kind, "failed_unauthorized");
    }
    assert_eq!(holders(&server, "default").await, ["stuck"]);
    server.stop().await;

    // No admin token configured: disabled, whatever is presented.
    let server = start(config(&[("default", 1)])).await;
    assert_eq!(
        post(&server, "pre-reboot", "stuck", "default").await,
        (200, None)
    );
    for token in ["", "anything"] {
        let r = http
            .post(server.base().join("v1/admin/release").unwrap())
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let e: fleetlock::ErrorBody = r.json().await.unwrap();
        assert_eq!(e.kind, "failed_admin_disabled");
        assert!(e.value.contains("no admin token configured"), "{}", e.value);
    }
    assert_eq!(holders(&server, "default").await, ["stuck"]);
    server.stop().await;
}

#[test]
fn config_debug_redacts_tokens() {
    let mut c = config(&[("default", 1)]);
    c.admin_token = Some("admin-secret-value-123456".into());
    c.protocol_token = Some(PROTOCOL_TOKEN.into());
    let text = format!("{c:?}");
    assert!(!text.contains("admin-secret-value-123456"), "{text}");
    assert!(!text.contains(PROTOCOL_TOKEN), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}
