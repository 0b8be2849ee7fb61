//! TLS for the HTTP adapters and webhook deliveries: Mozilla's bundled
//! roots and the system's trust store, or, with an endpoint's `insecure`
//! switch, any certificate at all.

use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::error::{ReplicateError, Result};

/// The roots server certificates are verified against: Mozilla's, bundled,
/// and the system's trust store (`SSL_CERT_FILE` or `SSL_CERT_DIR` when
/// set), where an administrator adds a company's own CA, as Harbor trusts
/// the system's store. Read once: the first call reads files, so a server
/// makes it before serving (see `harbor-server`'s start).
pub fn trusted_roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: std::sync::OnceLock<Arc<rustls::RootCertStore>> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let system = rustls_native_certs::load_native_certs();
            for e in &system.errors {
                tracing::warn!(error = %e, "reading the system's trusted certificates");
            }
            let (added, ignored) = roots.add_parsable_certificates(system.certs);
            tracing::debug!(added, ignored, "the system's trusted certificates");
            Arc::new(roots)
        })
        .clone()
}

/// An HTTP and HTTPS connector (HTTP/1.1 and HTTP/2) that verifies
/// certificates against [`trusted_roots`] unless `insecure`.
pub(crate) fn connector(insecure: bool) -> Result<HttpsConnector<HttpConnector>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ReplicateError::invalid_because("TLS setup", e))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(trusted_roots())
            .with_no_client_auth()
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build())
}

/// Accepts any server certificate: the `insecure` switch for self-signed
/// registries. Signatures are still checked, so the handshake itself is sound;
/// only who signed the certificate goes unchecked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
