//! The shared HTTP client (reqwest over rustls with the `ring` provider).

use std::sync::Arc;
use std::time::Duration;

use crate::error::BuildError;

/// Builds the shared HTTP client: rustls with the `ring` provider and the OS trust store
/// (rustls-platform-verifier), independent of any process-wide default provider.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| BuildError::Http(e.to_string()))?
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("kured-rs-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Http(e.without_url().to_string()))
}
