//! The HTTP client the OIDC flow talks to the provider with: reqwest over
//! rustls as `harbor_core::tls` configures it (Mozilla's roots and the
//! system's trust store, or any certificate when `oidc_verify_cert` is
//! off); no redirects followed (as `openidconnect` requires, so a provider
//! cannot point the server at another host).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::error::AuthError;

/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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
    /// A client verifying certificates against
    /// [`harbor_core::tls::trusted_roots`], or accepting any when
    /// `verify_cert` is false.
    pub fn new(verify_cert: bool) -> Result<OidcHttp, AuthError> {
        let tls = harbor_core::tls::client_config(verify_cert)
            .map_err(|e| AuthError::crypto_because("TLS setup", e))?;
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
