//! The HTTP client the remote adapters share, one per endpoint: it holds the
//! hyper client (TLS set up by [`tls`]), the base URL and the authentication
//! state ([`challenge`]); it sends requests, answering one challenge, turns
//! unexpected answers into [`ReplicateError`]s and reads bodies.
//!
//! Beside it: [`paging`] follows listings page by page, and [`chunked`]
//! pushes blobs in resumable chunks.

pub(crate) mod challenge;
pub(crate) mod chunked;
pub(crate) mod paging;
pub(crate) mod tls;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use harbor_core::ByteStream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::adapter::Endpoint;
use crate::error::{BoxError, ReplicateError, Result};
use challenge::Auth;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;
type HyperClient =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// The most of an error body read to explain a failure.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A request body: replayable ones may be sent again after a challenge.
pub(crate) enum Payload {
    Empty,
    Bytes(Bytes),
    Stream(ByteStream),
}

impl Payload {
    /// The bytes to send again if the first attempt meets a challenge; a
    /// stream cannot be replayed.
    fn replayable(&self) -> Option<Bytes> {
        match self {
            Payload::Empty => Some(Bytes::new()),
            Payload::Bytes(b) => Some(b.clone()),
            Payload::Stream(_) => None,
        }
    }

    fn into_body(self) -> Body {
        match self {
            Payload::Empty => Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
            Payload::Bytes(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
            Payload::Stream(s) => BodyExt::boxed_unsync(StreamBody::new(s.map_ok(Frame::data))),
        }
    }
}

/// An HTTP(S) client for one registry endpoint.
pub(crate) struct Client {
    base: String,
    hyper: HyperClient,
    auth: Auth,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Client {
    /// A client for `endpoint`; fails if its URL does not parse or TLS
    /// cannot be set up.
    pub(crate) fn new(endpoint: &Endpoint) -> Result<Self> {
        let base = endpoint.url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| ReplicateError::invalid_because(format!("registry URL {base:?}"), e))?;
        let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build(tls::connector(endpoint.insecure)?);
        Ok(Client {
            base,
            hyper,
            auth: Auth::new(endpoint.credential.clone()),
        })
    }

    /// The base URL, without a trailing `/`; it names the registry in errors.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `Location` (or `Link`) made absolute: registries may answer paths.
    pub(crate) fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            self.url(location)
        }
    }

    /// The endpoint's Basic credentials as an `Authorization` value, for
    /// APIs outside the registry's token flow.
    pub(crate) fn basic(&self) -> Option<String> {
        self.auth.basic()
    }

    /// Sends a request with the authorization `scopes` need, answering one
    /// authentication challenge when the body can be sent again.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Result<Response<Incoming>> {
        let replay = payload.replayable();
        let first = self
            .send_once(method.clone(), url, scopes, headers, payload)
            .await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let Some(body) = replay else {
            return Ok(first);
        };
        if !self.auth.learn(header(&first, "www-authenticate"), scopes) {
            return Ok(first);
        }
        self.send_once(method, url, scopes, headers, Payload::Bytes(body))
            .await
    }

    /// Sends a request once, with the authorization `scopes` need unless
    /// `headers` carry their own (Basic for Harbor's `/api/v2.0`).
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Result<Response<Incoming>> {
        let explicit = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        let auth = if explicit {
            None
        } else {
            self.auth.authorization(self, scopes).await?
        };
        let mut all: Vec<(&str, String)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        all.extend(headers.iter().cloned());
        self.execute(method, url, &all, payload).await
    }

    /// Sends exactly this request: no authorization is added (token
    /// requests, redirects to object storage).
    pub(crate) async fn execute(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(payload.into_body()).map_err(|e| {
            ReplicateError::invalid_because(format!("cannot build the request {method} {url}"), e)
        })?;
        self.hyper
            .request(req)
            .await
            .map_err(|e| self.transport(format!("{method} {url}"), e))
    }

    /// Turns an unexpected status into an error, with the code and message
    /// of the body when it is the distribution API's JSON.
    pub(crate) async fn fail(
        &self,
        method: &Method,
        url: &str,
        resp: Response<Incoming>,
    ) -> ReplicateError {
        let status = resp.status().as_u16();
        let retry_after = header(&resp, "retry-after").and_then(|v| v.trim().parse().ok());
        // The body only explains the status; one that cannot be read still
        // leaves the status to report.
        let body = read_small(resp.into_body(), ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.errors.into_iter().next())
            .and_then(|e| Some(format!("{}: {}", e.code?, e.message.unwrap_or_default())))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        if status == 401 {
            return ReplicateError::Unauthorized {
                registry: self.base.clone(),
                message,
            };
        }
        ReplicateError::Remote {
            registry: self.base.clone(),
            method: method.to_string(),
            path: url.trim_start_matches(&self.base).to_owned(),
            status,
            message,
            retry_after,
        }
    }

    /// The connection failed while `context` was being done.
    pub(crate) fn transport(&self, context: String, e: impl Into<BoxError>) -> ReplicateError {
        ReplicateError::Transport {
            registry: self.base.clone(),
            context,
            source: e.into(),
        }
    }

    /// The registry answered something the protocol does not allow.
    pub(crate) fn protocol(&self, message: String, source: Option<BoxError>) -> ReplicateError {
        ReplicateError::Protocol {
            registry: self.base.clone(),
            message,
            source,
        }
    }

    /// Reads a body of at most `limit` bytes; `what` says what it is, for
    /// errors. A cut is a transport error (worth a retry), a body over the
    /// limit a protocol one (it would be as large again).
    pub(crate) async fn read(&self, body: Incoming, limit: usize, what: &str) -> Result<Bytes> {
        read_small(body, limit).await.map_err(|e| match e {
            BodyError::TooLarge { .. } => {
                self.protocol(format!("{what} is too large"), Some(e.into()))
            }
            BodyError::Read(source) => self.transport(format!("reading {what}"), source),
        })
    }
}

/// The distribution API's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    code: Option<String>,
    message: Option<String>,
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// It is longer than the caller accepts.
    #[error("the body is longer than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed while it was read.
    #[error("the body could not be read")]
    Read(#[source] BoxError),
}

/// Reads a whole body of at most `limit` bytes.
pub(crate) async fn read_small(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                BodyError::TooLarge { limit }
            } else {
                BodyError::Read(e)
            }
        })
}

/// A response header as text, if present and visible ASCII.
pub(crate) fn header<'a>(resp: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A response body as a stream of its data frames.
pub(crate) fn stream_of(body: Incoming) -> ByteStream {
    let frames = TryStreamExt::map_err(BodyStream::new(body), std::io::Error::other);
    StreamExt::boxed(frames.try_filter_map(|frame| async move { Ok(frame.into_data().ok()) }))
}
