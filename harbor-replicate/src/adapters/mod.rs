//! The built-in adapters: [`DockerRegistry`] for any OCI distribution
//! registry, [`Harbor`] for a Harbor (distribution plus projects), and
//! [`Local`] for the embedded engine. The HTTP plumbing the two remote ones
//! share (TLS, challenges and tokens, paging, chunked pushes) is in `http`.

mod docker_registry;
mod harbor;
mod http;
mod local;

pub use docker_registry::DockerRegistry;
pub use harbor::Harbor;
pub use local::{collect, Local, PrepareHook};

/// An HTTP client for the server's other outgoing calls (webhook
/// deliveries): HTTP/1.1 and HTTP/2 over the same TLS setup as the
/// adapters, certificates checked against Mozilla's roots unless
/// `insecure`.
pub type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// A new [`HttpsClient`].
pub fn https_client(insecure: bool) -> crate::Result<HttpsClient> {
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(http::tls::connector(insecure)?),
    )
}
