//! TLS for the clients the other crates open to servers an administrator
//! names (OIDC providers, registries, webhook receivers): which
//! certificates are trusted, and the switch that trusts any. Behind the
//! `tls` feature, so that an embedding without those clients builds no
//! rustls.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The roots server certificates are verified against: Mozilla's, bundled,
/// and the system's trust store (`SSL_CERT_FILE` or `SSL_CERT_DIR` when
/// set), where an administrator adds a company's own CA, as Harbor trusts
/// the system's store. Read once: the first call reads files, so a server
/// makes it before its runtime starts (as `harbor-server` does).
pub fn trusted_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots =
                RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
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

/// A client configuration on ring (the workspace's one crypto provider)
/// verifying server certificates against [`trusted_roots`], or, when
/// `verify` is false (a registry's `insecure`, `oidc_verify_cert` off),
/// accepting any certificate; handshake signatures are checked either way.
pub fn client_config(verify: bool) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    Ok(if verify {
        builder
            .with_root_certificates(trusted_roots())
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    })
}

/// Accepts any server certificate, for servers with self-signed ones the
/// administrator chose not to verify. Signatures are still checked, so the
/// handshake itself is sound; only who signed the certificate goes
/// unchecked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_hold_mozillas_and_both_configurations_build() {
        assert!(trusted_roots().len() >= webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(client_config(true).is_ok());
        assert!(client_config(false).is_ok());
    }
}
