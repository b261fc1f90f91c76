//! The process-wide TLS crypto provider.

/// Install rustls' `ring` provider as the process default.
///
/// One TLS stack everywhere: kube, reqwest and lettre use rustls with `ring`, and kube's client
/// panics when no process-wide provider is installed. Call it at the top of `main`; calling it
/// again (or after another provider was installed) changes nothing.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what was wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_a_provider_and_a_second_call_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
