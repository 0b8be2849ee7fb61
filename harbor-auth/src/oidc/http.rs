//! The HTTP client the OIDC flow talks to the provider with: reqwest over
//! rustls with the workspace's one crypto provider (ring), Mozilla's roots
//! and the system's trust store, or any certificate when `oidc_verify_cert` is off; no redirects followed
//! (as `openidconnect` requires, so a provider cannot point the server at
//! another host).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::error::AuthError;

/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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

/// A provider client for `openidconnect`, cheap to clone.
#[derive(Debug, Clone)]
pub struct OidcHttp {
    client: reqwest::Client,
}

/// What a request to the provider failed with.
#[derive(Debug, thiserror::Error)]
#[error("request to the OIDC provider failed: {0}")]
pub struct HttpError(String);

impl OidcHttp {
    /// A client verifying certificates against [`trusted_roots`], or
    /// accepting any when `verify_cert` is false.
    pub fn new(verify_cert: bool) -> Result<OidcHttp, AuthError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| AuthError::crypto_because("TLS setup", e))?;
        let tls = if verify_cert {
            builder
                .with_root_certificates(trusted_roots())
                .with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth()
        };
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| AuthError::crypto_because("the OIDC HTTP client", e))?;
        Ok(OidcHttp { client })
    }

    /// A plain GET, for pings and discovery documents.
    pub async fn get(&self, url: &str) -> Result<(u16, Vec<u8>), HttpError> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| HttpError(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| HttpError(error_chain(&e)))?;
        Ok((status, body.to_vec()))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            let mut req = self.client.request(parts.method, url).body(body);
            for (name, value) in &parts.headers {
                req = req.header(name, value);
            }
            let resp = req.send().await.map_err(|e| HttpError(error_chain(&e)))?;
            let mut out = openidconnect::http::Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                out = out.header(name, value);
            }
            let body = resp.bytes().await.map_err(|e| HttpError(error_chain(&e)))?;
            out.body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// Accepts any server certificate (`oidc_verify_cert` off, for providers
/// with self-signed certificates); signatures are still checked.
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
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
