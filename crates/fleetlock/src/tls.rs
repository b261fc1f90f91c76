//! HTTPS for the listener: rustls (ring provider) from PEM files, with optional client
//! certificate authentication.
//!
//! The handshake runs on its own task per connection, bounded by [`HANDSHAKE_TIMEOUT`], so a
//! slow or silent client never holds up the others; only connections that completed the
//! handshake reach the HTTP server.
//!
//! The certificate and key files are checked for a change at most every
//! [`RELOAD_CHECK_INTERVAL`] (on a handshake) and reloaded, so a renewed certificate (a
//! Kubernetes Secret updated by cert-manager, say) is served without a restart. A renewal that
//! cannot be loaded (half-written, mismatched) is logged and the current certificate is kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{ConfigError, TlsFiles};

/// Upper bound on one TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often (at most) the certificate and key files are checked for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(10);

fn read_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| ConfigError::new(field, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{}: no PEM CERTIFICATE block", path.display()),
        ));
    }
    Ok(certs)
}

/// Reads the certificate chain and key and checks that they belong together.
fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, ConfigError> {
    let certs = read_certs("tls_cert", cert)?;
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        ConfigError::new(
            "tls_key",
            format!("{}: no usable PEM private key: {e}", key.display()),
        )
    })?;
    CertifiedKey::from_der(certs, der, provider)
        .map(Arc::new)
        .map_err(|e| {
            ConfigError::new(
                "tls_key",
                format!("{} does not fit {}: {e}", key.display(), cert.display()),
            )
        })
}

/// Modification times of the two files (`None` if either cannot be read).
fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(cert)?, modified(key)?))
}

/// Serves the certificate of two PEM files and reloads it when they change.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    interval: Duration,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Option<(SystemTime, SystemTime)>,
    checked: Instant,
}

impl ReloadingCert {
    fn new(
        files: &TlsFiles,
        provider: Arc<CryptoProvider>,
        interval: Duration,
    ) -> Result<Self, ConfigError> {
        let stamp = stamp(&files.cert, &files.key);
        let key = load_certified_key(&files.cert, &files.key, &provider)?;
        Ok(Self {
            cert: files.cert.clone(),
            key: files.key.clone(),
            provider,
            interval,
            state: Mutex::new(Loaded {
                key,
                stamp,
                checked: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A panic while holding the lock cannot leave `Loaded` half-updated (each field is
        // assigned whole), so a poisoned lock is still usable.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.interval {
            state.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now.is_some() && now != state.stamp {
                match load_certified_key(&self.cert, &self.key, &self.provider) {
                    Ok(key) => {
                        state.key = key;
                        state.stamp = now;
                        tracing::info!(cert = %self.cert.display(), "reloaded the TLS certificate");
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "the TLS certificate files changed but cannot be loaded; keeping the current one"
                    ),
                }
            }
        }
        Some(Arc::clone(&state.key))
    }
}

/// Loads the PEM files into a rustls server configuration (HTTP/1.1 over TLS 1.2/1.3) whose
/// certificate is reloaded when the files change (checked every [`RELOAD_CHECK_INTERVAL`]).
///
/// Errors name the field: `tls_cert`, `tls_key` or `client_ca` (a caller that took the path
/// from a flag renames it). They never contain key material.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    server_config_reloading_every(files, RELOAD_CHECK_INTERVAL)
}

/// [`server_config`] with another reload check interval.
pub fn server_config_reloading_every(
    files: &TlsFiles,
    interval: Duration,
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(files, Arc::clone(&provider), interval)?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("tls_cert", e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs("client_ca", path)? {
                roots.add(cert).map_err(|e| {
                    ConfigError::new("client_ca", format!("{}: {e}", path.display()))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConfigError::new("client_ca", format!("{}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener yielding TLS streams whose handshake has completed (an [`axum::serve::Listener`]).
///
/// Dropping it stops accepting connections.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Wraps a bound TCP listener.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(Self {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
