//! TLS for the HTTP adapters and webhook deliveries: Mozilla's bundled
//! roots and the system's trust store, or, with an endpoint's `insecure`
//! switch, any certificate at all.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::error::{ReplicateError, Result};

/// An HTTP and HTTPS connector (HTTP/1.1 and HTTP/2) that verifies
/// certificates against [`harbor_core::tls::trusted_roots`] unless
/// `insecure`.
pub(crate) fn connector(insecure: bool) -> Result<HttpsConnector<HttpConnector>> {
    let config = harbor_core::tls::client_config(!insecure)
        .map_err(|e| ReplicateError::invalid_because("TLS setup", e))?;
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build())
}
