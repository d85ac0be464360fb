//! `wss://`: TLS with rustls (feature `tls`).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::{Error, Result};

/// The server's TLS settings: serve `wss://` (and `https://` for GET routes) with
/// rustls. Set with [`Config::tls`](crate::Config::tls). The TLS handshake counts
/// toward the handshake timeout.
///
/// ```no_run
/// # fn run() -> wsframe::Result<()> {
/// use wsframe::{Config, TlsConfig};
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let config = Config::default().tls(tls);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A certificate chain and its private key from PEM files (the chain's first
    /// certificate is the server's); TLS 1.2 and 1.3 with rustls' safe defaults.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let certs = CertificateDer::pem_file_iter(cert_chain)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::custom(format!("TLS certificates in {}: {e}", cert_chain.display()))
            })?;
        if certs.is_empty() {
            return Err(Error::custom(format!(
                "TLS: no certificate in {} (expected PEM `BEGIN CERTIFICATE` blocks)",
                cert_chain.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::custom(format!("TLS private key in {}: {e}", key.display())))?;
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
                .map_err(|e| Error::custom(format!("TLS: {e}")))?;
        Ok(TlsConfig::from_rustls(Arc::new(config)))
    }

    /// A rustls configuration of your own (client certificates, other key types,
    /// ALPN...). Leave ALPN empty or offer `http/1.1`: WebSockets upgrade from HTTP/1.1.
    pub fn from_rustls(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig {
            acceptor: TlsAcceptor::from(config),
        }
    }
}
