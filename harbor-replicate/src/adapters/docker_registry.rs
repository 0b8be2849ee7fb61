//! The `docker-registry` adapter: any OCI distribution v2 registry, with Basic
//! and Bearer token authentication (tokens cached per scope until shortly
//! before they expire) and TLS with an `insecure` switch. Created as `harbor`,
//! it also creates missing projects through Harbor's `/api/v2.0`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use harbor_core::{media_type, ByteStream, Digest, RegistryType};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::adapter::{
    AdapterInfo, ChunkedPush, Credential, Endpoint, PulledManifest, RegistryAdapter,
};
use crate::error::{ReplicateError, Result};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;
type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Every manifest type we copy, for `Accept`.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Tags or repositories asked for per page.
const PAGE: usize = 1000;

/// How a registry wants to be authenticated, learnt from its challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    Basic,
    Bearer { realm: String, service: String },
}

/// A request body: replayable ones may be sent again after a challenge.
enum Payload {
    Empty,
    Bytes(Bytes),
    Stream(ByteStream),
}

/// An OCI distribution v2 registry over HTTP(S).
pub struct DockerRegistry {
    endpoint: Endpoint,
    base: String,
    kind: RegistryType,
    client: HttpClient,
    scheme: Mutex<Option<Scheme>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for DockerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRegistry")
            .field("kind", &self.kind)
            .field("url", &self.base)
            .field("credential", &self.endpoint.credential)
            .finish()
    }
}

/// Accepts any server certificate: the `insecure` switch for self-signed registries.
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

fn client(insecure: bool) -> Result<HttpClient> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ReplicateError::invalid(format!("TLS setup: {e}")))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore::from_iter(webpki_roots());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Mozilla's root certificates, bundled: no system store needed.
fn webpki_roots() -> impl Iterator<Item = rustls::pki_types::TrustAnchor<'static>> {
    webpki_roots::TLS_SERVER_ROOTS.iter().cloned()
}

/// Parses `Bearer realm="..",service="..",scope=".."` (or `Basic realm=..`).
fn parse_challenge(header: &str) -> Option<Scheme> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Scheme::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (
                &quoted[..end],
                quoted[end + 1..].trim_start_matches([',', ' ']),
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], after[end..].trim_start_matches([',', ' ']))
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        rest = remaining.trim();
    }
    Some(Scheme::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service").unwrap_or_default(),
    })
}

/// The next page of a `Link: <url>; rel="next"` header.
fn next_link(resp: &Response<Incoming>) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn header<'a>(resp: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

impl DockerRegistry {
    /// An adapter for `endpoint`; `kind` is `docker-registry` or `harbor`.
    pub fn new(endpoint: Endpoint, kind: RegistryType) -> Result<Self> {
        let base = endpoint.url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| ReplicateError::invalid(format!("registry URL {base:?}: {e}")))?;
        Ok(DockerRegistry {
            client: client(endpoint.insecure)?,
            endpoint,
            base,
            kind,
            scheme: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn name(&self) -> String {
        self.base.clone()
    }

    /// Opens an upload session in `repo`; its absolute location.
    async fn start_upload(&self, repo: &str, scopes: &[String]) -> Result<String> {
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self
            .send(Method::POST, &start, scopes, &[], Payload::Empty)
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail("POST", &start, resp).await);
        }
        header(&resp, "location")
            .map(|l| self.absolute(l))
            .ok_or_else(|| ReplicateError::invalid("upload session without a Location"))
    }

    /// Where an upload session stands: the offset after the last byte it
    /// holds and its current location; `None` when the registry no longer
    /// knows it.
    async fn upload_status(
        &self,
        location: &str,
        scopes: &[String],
    ) -> Result<Option<(u64, String)>> {
        let resp = self
            .send(Method::GET, location, scopes, &[], Payload::Empty)
            .await?;
        match resp.status() {
            StatusCode::NO_CONTENT => {
                let at = acknowledged(header(&resp, "range")).unwrap_or(0);
                let l = header(&resp, "location")
                    .map(|l| self.absolute(l))
                    .unwrap_or_else(|| location.to_owned());
                Ok(Some((at, l)))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail("GET", location, resp).await),
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        }
    }

    fn basic(&self) -> Option<String> {
        match &self.endpoint.credential {
            Some(Credential::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }

    /// The `Authorization` value for `scopes`, fetching a token if needed.
    async fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        if let Some(Credential::Bearer { token }) = &self.endpoint.credential {
            return Ok(Some(format!("Bearer {token}")));
        }
        let scheme = self.scheme.lock().map(|s| s.clone()).unwrap_or(None);
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(self.basic()),
            Some(Scheme::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                let cached = self.tokens.lock().ok().and_then(|t| {
                    t.get(&key)
                        .filter(|(_, exp)| *exp > Instant::now())
                        .map(|(t, _)| t.clone())
                });
                if let Some(t) = cached {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self.fetch_token(&realm, &service, scopes).await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    async fn fetch_token(&self, realm: &str, service: &str, scopes: &[String]) -> Result<String> {
        let mut url = url::Url::parse(realm)
            .map_err(|e| ReplicateError::invalid(format!("token realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("service", service);
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = Request::get(url.as_str());
        if let Some(b) = self.basic() {
            req = req.header("authorization", b);
        }
        let req = req
            .body(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .map_err(|e| ReplicateError::invalid(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| ReplicateError::Transport {
                registry: realm.to_owned(),
                context: format!("GET {realm}"),
                source: e.into(),
            })?;
        let status = resp.status();
        let body = read_small(resp.into_body(), 1024 * 1024)
            .await
            .map_err(|e| ReplicateError::Transport {
                registry: realm.to_owned(),
                context: "reading the token".into(),
                source: e.into(),
            })?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ReplicateError::Unauthorized {
                registry: self.name(),
                message: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        if !status.is_success() {
            return Err(ReplicateError::Remote {
                registry: realm.to_owned(),
                method: "GET".into(),
                path: "token".into(),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body).into_owned(),
                retry_after: None,
            });
        }
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ReplicateError::invalid(format!("token response is not JSON: {e}")))?;
        let token = json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .ok_or_else(|| ReplicateError::invalid("token response has no token"))?
            .to_owned();
        // Refresh well before expiry: a token must not die mid-request.
        let lifetime = json["expires_in"].as_u64().unwrap_or(60).max(60);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(lifetime / 4 + 5));
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(scopes.join(" "), (token.clone(), until));
        }
        Ok(token)
    }

    /// Sends a request, answering one authentication challenge when the body
    /// can be sent again.
    async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Result<Response<Incoming>> {
        let replayable = match &payload {
            Payload::Empty => Some(Bytes::new()),
            Payload::Bytes(b) => Some(b.clone()),
            Payload::Stream(_) => None,
        };
        let first = self
            .send_once(method.clone(), url, scopes, headers, payload)
            .await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = header(&first, "www-authenticate").and_then(parse_challenge);
        let (Some(scheme), Some(body)) = (challenge, replayable) else {
            return Ok(first);
        };
        let known = self.scheme.lock().map(|s| s.clone()).unwrap_or(None);
        if known.as_ref() == Some(&scheme) && scheme == Scheme::Basic {
            return Ok(first);
        }
        if let Ok(mut s) = self.scheme.lock() {
            *s = Some(scheme);
        }
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&scopes.join(" "));
        }
        self.send_once(method, url, scopes, headers, Payload::Bytes(body))
            .await
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder().method(method.clone()).uri(url);
        // An explicit `authorization` (Basic for /api/v2.0) replaces the registry's.
        let explicit = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        let auth = if explicit {
            None
        } else {
            self.authorization(scopes).await?
        };
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let body: Body = match payload {
            Payload::Empty => Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
            Payload::Bytes(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
            Payload::Stream(s) => BodyExt::boxed_unsync(StreamBody::new(s.map_ok(Frame::data))),
        };
        let req = req
            .body(body)
            .map_err(|e| ReplicateError::invalid(e.to_string()))?;
        self.client
            .request(req)
            .await
            .map_err(|e| ReplicateError::Transport {
                registry: self.name(),
                context: format!("{method} {url}"),
                source: e.into(),
            })
    }

    /// Turns an unexpected status into an error, reading the error body.
    async fn fail(&self, method: &str, url: &str, resp: Response<Incoming>) -> ReplicateError {
        let status = resp.status().as_u16();
        let retry_after = header(&resp, "retry-after").and_then(|v| v.trim().parse().ok());
        let body = read_small(resp.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|j| {
                let e = &j["errors"][0];
                e["code"]
                    .as_str()
                    .map(|c| format!("{c}: {}", e["message"].as_str().unwrap_or("")))
            })
            .unwrap_or_else(|| text.chars().take(300).collect());
        if status == 401 {
            return ReplicateError::Unauthorized {
                registry: self.name(),
                message,
            };
        }
        ReplicateError::Remote {
            registry: self.name(),
            method: method.to_owned(),
            path: url.trim_start_matches(&self.base).to_owned(),
            status,
            message,
            retry_after,
        }
    }

    fn scope(repo: &str, actions: &str) -> Vec<String> {
        vec![format!("repository:{repo}:{actions}")]
    }

    /// Every page of a listing from `first` on, following `Link: <...>;
    /// rel="next"` headers until a page comes back empty; `page` takes each
    /// page's JSON apart. Registry listings go through the token flow
    /// (`scopes`); `/api/v2.0` ones (`api`) carry Basic credentials.
    async fn paged<T>(
        &self,
        first: String,
        scopes: &[String],
        api: bool,
        page: impl Fn(serde_json::Value) -> Option<Vec<T>>,
    ) -> Result<Vec<T>> {
        let headers: Vec<(&str, String)> = if api {
            self.basic()
                .map(|b| ("authorization", b))
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        let mut url = first;
        loop {
            let resp = if api {
                self.send_once(Method::GET, &url, &[], &headers, Payload::Empty)
                    .await?
            } else {
                self.send(Method::GET, &url, scopes, &headers, Payload::Empty)
                    .await?
            };
            if !resp.status().is_success() {
                return Err(self.fail("GET", &url, resp).await);
            }
            let next = next_link(&resp);
            let body = read_small(resp.into_body(), 64 * 1024 * 1024)
                .await
                .map_err(|e| ReplicateError::Transport {
                    registry: self.name(),
                    context: format!("reading the listing {url}"),
                    source: e.into(),
                })?;
            let items = serde_json::from_slice(&body)
                .ok()
                .and_then(&page)
                .ok_or_else(|| {
                    ReplicateError::invalid(format!("{url} did not answer a listing"))
                })?;
            let empty = items.is_empty();
            out.extend(items);
            match next {
                Some(n) if !empty => url = self.absolute(&n),
                _ => return Ok(out),
            }
        }
    }

    /// The strings under `field` of a registry listing (`_catalog`, `tags/list`).
    async fn paged_list(
        &self,
        first: String,
        scopes: &[String],
        field: &str,
    ) -> Result<Vec<String>> {
        self.paged(first, scopes, false, |json| {
            Some(
                json[field]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .await
    }

    /// Every item of a paged Harbor `/api/v2.0` listing (100 per page,
    /// Harbor's largest).
    async fn harbor_list(&self, path: &str) -> Result<Vec<serde_json::Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let first = format!("{}{path}{sep}page=1&page_size=100", self.base);
        self.paged(first, &[], true, |json| match json {
            serde_json::Value::Array(items) => Some(items),
            _ => None,
        })
        .await
    }

    /// Repositories of a Harbor, project by project through `/api/v2.0`
    /// (Harbor's catalog is for system administrators only; the projects a
    /// robot or member can see are what it may replicate).
    async fn harbor_repositories(&self) -> Result<Vec<String>> {
        let mut repos = Vec::new();
        for project in self.harbor_list("/api/v2.0/projects").await? {
            let Some(name) = project["name"].as_str() else {
                continue;
            };
            let path = format!("/api/v2.0/projects/{name}/repositories");
            repos.extend(
                self.harbor_list(&path)
                    .await?
                    .iter()
                    .filter_map(|r| r["name"].as_str().map(str::to_owned)),
            );
        }
        repos.sort();
        Ok(repos)
    }

    async fn ensure_harbor_project(&self, project: &str) -> Result<()> {
        let head = format!("{}/api/v2.0/projects?project_name={project}", self.base);
        let auth = self.basic().map(|b| ("authorization", b));
        let headers: Vec<(&str, String)> = auth.into_iter().collect();
        let resp = self
            .send_once(Method::HEAD, &head, &[], &headers, Payload::Empty)
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let url = format!("{}/api/v2.0/projects", self.base);
        let body =
            serde_json::json!({ "project_name": project, "metadata": { "public": "false" } })
                .to_string();
        let mut h = headers.clone();
        h.push(("content-type", "application/json".into()));
        let resp = self
            .send_once(
                Method::POST,
                &url,
                &[],
                &h,
                Payload::Bytes(Bytes::from(body)),
            )
            .await?;
        match resp.status().as_u16() {
            201 | 409 => Ok(()),
            _ => Err(self.fail("POST", &url, resp).await),
        }
    }
}

async fn read_small(body: Incoming, limit: usize) -> std::result::Result<Bytes, String> {
    let limited = http_body_util::Limited::new(body, limit);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

/// A source read chunk by chunk: what a chunk's body does not take stays
/// for the next one, so the source is read once unless a cut forces a re-open.
struct Cursor {
    body: ByteStream,
    pending: Option<Bytes>,
}

/// The next `n` bytes of `cursor`, as one request body.
fn take_bytes(cursor: Arc<tokio::sync::Mutex<Cursor>>, n: u64) -> ByteStream {
    futures::stream::unfold((cursor, n), |(cursor, left)| async move {
        if left == 0 {
            return None;
        }
        let mut c = cursor.clone().lock_owned().await;
        let next = match c.pending.take() {
            Some(b) => Some(Ok(b)),
            None => c.body.next().await,
        };
        match next {
            Some(Ok(mut chunk)) => {
                if chunk.len() as u64 > left {
                    c.pending = Some(chunk.split_off(left as usize));
                }
                let left = left - chunk.len() as u64;
                drop(c);
                Some((Ok(chunk), (cursor, left)))
            }
            Some(Err(e)) => {
                drop(c);
                Some((Err(e), (cursor, 0)))
            }
            None => {
                drop(c);
                let e = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the source ended {left} bytes early"),
                );
                Some((Err(e), (cursor, 0)))
            }
        }
    })
    .boxed()
}

/// The URL whose `PUT` completes the upload session at `location` as `digest`.
fn completion_url(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// The offset after the last byte a `Range: 0-N` header acknowledges.
fn acknowledged(range: Option<&str>) -> Option<u64> {
    let (_, end) = range?.trim().trim_start_matches("bytes=").split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    // `0-0` is what registries say for an empty upload.
    Some(if end == 0 { 0 } else { end + 1 })
}

fn stream_of(body: Incoming) -> ByteStream {
    let frames = TryStreamExt::map_err(BodyStream::new(body), std::io::Error::other);
    StreamExt::boxed(frames.try_filter_map(|frame| async move { Ok(frame.into_data().ok()) }))
}

#[async_trait]
impl RegistryAdapter for DockerRegistry {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: self.kind.clone(),
            supports_mount: true,
            max_page: PAGE,
        }
    }

    async fn health(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self
            .send(Method::GET, &url, &[], &[], Payload::Empty)
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("GET", &url, resp).await)
        }
    }

    async fn list_repositories(&self) -> Result<Vec<String>> {
        if self.kind == RegistryType::Harbor {
            return self.harbor_repositories().await;
        }
        let url = format!("{}/v2/_catalog?n={PAGE}", self.base);
        self.paged_list(url, &["registry:catalog:*".to_owned()], "repositories")
            .await
    }

    async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        let url = format!("{}/v2/{repo}/tags/list?n={PAGE}", self.base);
        self.paged_list(url, &Self::scope(repo, "pull"), "tags")
            .await
    }

    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self
            .send(
                Method::HEAD,
                &url,
                &Self::scope(repo, "pull"),
                &[("accept", ACCEPT.into())],
                Payload::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let d = header(&resp, "docker-content-digest").ok_or_else(|| {
                    ReplicateError::invalid("no Docker-Content-Digest on a manifest HEAD")
                })?;
                Ok(Some(Digest::parse(d)?))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail("HEAD", &url, resp).await),
        }
    }

    async fn pull_manifest(&self, repo: &str, reference: &str) -> Result<PulledManifest> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self
            .send(
                Method::GET,
                &url,
                &Self::scope(repo, "pull"),
                &[("accept", ACCEPT.into())],
                Payload::Empty,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail("GET", &url, resp).await);
        }
        let media_type = header(&resp, "content-type")
            .unwrap_or(media_type::OCI_MANIFEST)
            .to_owned();
        let payload = read_small(resp.into_body(), harbor_core::MAX_MANIFEST_SIZE + 1)
            .await
            .map_err(|e| ReplicateError::Transport {
                registry: self.name(),
                context: format!("reading the manifest {reference} of {repo}"),
                source: e.into(),
            })?;
        let algorithm = Digest::parse(reference)
            .map(|d| d.algorithm())
            .unwrap_or(harbor_core::Algorithm::Sha256);
        let digest = Digest::compute(algorithm, &payload);
        if let Ok(expected) = Digest::parse(reference) {
            if expected != digest {
                return Err(ReplicateError::Corrupt {
                    digest: expected.to_string(),
                    message: format!("the manifest served has digest {digest}"),
                });
            }
        }
        Ok(PulledManifest {
            payload,
            media_type,
            digest,
        })
    }

    async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let digest = Digest::sha256(&payload);
        let resp = self
            .send(
                Method::PUT,
                &url,
                &Self::scope(repo, "pull,push"),
                &[("content-type", media_type.to_owned())],
                Payload::Bytes(payload),
            )
            .await?;
        if resp.status().is_success() {
            Ok(header(&resp, "docker-content-digest")
                .and_then(|d| Digest::parse(d).ok())
                .unwrap_or(digest))
        } else {
            Err(self.fail("PUT", &url, resp).await)
        }
    }

    async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<()> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self
            .send(
                Method::DELETE,
                &url,
                &Self::scope(repo, "delete"),
                &[],
                Payload::Empty,
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("DELETE", &url, resp).await)
        }
    }

    async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let resp = self
            .send(
                Method::HEAD,
                &url,
                &Self::scope(repo, "pull"),
                &[],
                Payload::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(header(&resp, "content-length").and_then(|v| v.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail("HEAD", &url, resp).await),
        }
    }

    async fn pull_blob(&self, repo: &str, digest: &Digest) -> Result<(u64, ByteStream)> {
        let mut url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let mut resp = self
            .send(
                Method::GET,
                &url,
                &Self::scope(repo, "pull"),
                &[],
                Payload::Empty,
            )
            .await?;
        // Registries on object storage redirect blob reads; follow without our credentials.
        for _ in 0..3 {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(location) = header(&resp, "location").map(|l| self.absolute(l)) else {
                break;
            };
            url = location;
            let req = Request::get(&url)
                .body(
                    Full::new(Bytes::new())
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
                .map_err(|e| ReplicateError::invalid(e.to_string()))?;
            resp = self
                .client
                .request(req)
                .await
                .map_err(|e| ReplicateError::Transport {
                    registry: self.name(),
                    context: format!("GET {url}"),
                    source: e.into(),
                })?;
        }
        if !resp.status().is_success() {
            return Err(self.fail("GET", &url, resp).await);
        }
        let size = header(&resp, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ReplicateError::invalid(format!("no Content-Length for blob {digest}"))
            })?;
        Ok((size, stream_of(resp.into_body())))
    }

    async fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()> {
        let scopes = Self::scope(repo, "pull,push");
        let location = self.start_upload(repo, &scopes).await?;
        let put = completion_url(&location, digest);
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-length", size.to_string()),
        ];
        let resp = self
            .send(Method::PUT, &put, &scopes, &headers, Payload::Stream(body))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("PUT", &put, resp).await)
        }
    }

    async fn pull_blob_from(&self, repo: &str, digest: &Digest, offset: u64) -> Result<ByteStream> {
        if offset == 0 {
            return Ok(self.pull_blob(repo, digest).await?.1);
        }
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let resp = self
            .send(
                Method::GET,
                &url,
                &Self::scope(repo, "pull"),
                &[("range", format!("bytes={offset}-"))],
                Payload::Empty,
            )
            .await?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(self.fail("GET", &url, resp).await);
        }
        Ok(stream_of(resp.into_body()))
    }

    async fn push_blob_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        how: ChunkedPush,
    ) -> Result<()> {
        let scopes = Self::scope(repo, "pull,push");
        let key = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let checkpoints = how.checkpoints.clone();
        // A session saved before a crash is continued where the registry says
        // it stands; one the registry no longer knows is started afresh.
        let mut resumed = None;
        if let Some(saved) = match &checkpoints {
            Some(c) => c.load(&key).await,
            None => None,
        } {
            match self.upload_status(&saved, &scopes).await {
                Ok(Some(at)) => {
                    tracing::info!(%digest, offset = at.0, "resuming a chunked upload saved before a restart");
                    resumed = Some(at);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::info!(%digest, error = %e, "a saved upload cannot be resumed; starting again")
                }
            }
        }
        let (mut offset, mut location) = match resumed {
            Some(at) => at,
            None => (0, self.start_upload(repo, &scopes).await?),
        };
        if let Some(c) = &checkpoints {
            c.save(&key, &location).await;
        }
        let chunk = how.chunk.max(1);
        let mut source: Option<Arc<tokio::sync::Mutex<Cursor>>> = None;
        let mut cuts = 0u32;
        while offset < size {
            let cursor = match &source {
                Some(c) => c.clone(),
                None => {
                    let body = (how.open)(offset).await?;
                    let c = Arc::new(tokio::sync::Mutex::new(Cursor {
                        body,
                        pending: None,
                    }));
                    source = Some(c.clone());
                    c
                }
            };
            let end = (offset + chunk).min(size) - 1;
            let len = end - offset + 1;
            let headers = [
                ("content-type", "application/octet-stream".to_owned()),
                ("content-range", format!("{offset}-{end}")),
                ("content-length", len.to_string()),
            ];
            let body = take_bytes(cursor, len);
            let sent = self
                .send(
                    Method::PATCH,
                    &location,
                    &scopes,
                    &headers,
                    Payload::Stream(body),
                )
                .await;
            let error = match sent {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    if let Some(l) = header(&resp, "location") {
                        location = self.absolute(l);
                    }
                    offset = end + 1;
                    cuts = 0;
                    if let Some(c) = &checkpoints {
                        c.save(&key, &location).await;
                    }
                    continue;
                }
                Ok(resp) => self.fail("PATCH", &location, resp).await,
                Err(e) => e,
            };
            cuts += 1;
            if !error.is_transient() || cuts > 5 {
                return Err(error);
            }
            // Ask the registry where the upload stands and go on from there,
            // re-reading the source from that offset.
            tokio::time::sleep(Duration::from_millis(100 * u64::from(cuts))).await;
            match self.upload_status(&location, &scopes).await? {
                Some((at, l)) => {
                    tracing::info!(%digest, offset = at, error = %error, "chunked upload cut; resuming");
                    offset = at;
                    location = l;
                    source = None;
                }
                None => return Err(error),
            }
        }
        let put = completion_url(&location, digest);
        let resp = self
            .send(Method::PUT, &put, &scopes, &[], Payload::Empty)
            .await?;
        let status = resp.status();
        let result = if status.is_success() {
            Ok(())
        } else {
            Err(self.fail("PUT", &put, resp).await)
        };
        // A finished or refused session cannot be continued; a transient
        // failure of the PUT leaves the checkpoint for the retry.
        if let Some(c) = &checkpoints {
            if result.as_ref().map_or_else(|e| !e.is_transient(), |_| true) {
                c.clear(&key).await;
            }
        }
        result
    }

    async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool> {
        let mut scopes = Self::scope(repo, "pull,push");
        scopes.push(format!("repository:{from}:pull"));
        let url = format!(
            "{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}",
            self.base
        );
        let resp = self
            .send(Method::POST, &url, &scopes, &[], Payload::Empty)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                // A session was opened instead: close it, the caller uploads.
                if let Some(l) = header(&resp, "location").map(|l| self.absolute(l)) {
                    let _ = self
                        .send(Method::DELETE, &l, &scopes, &[], Payload::Empty)
                        .await;
                }
                Ok(false)
            }
            _ => Err(self.fail("POST", &url, resp).await),
        }
    }

    async fn prepare_for_push(&self, repos: &[String]) -> Result<()> {
        if self.kind != RegistryType::Harbor {
            return Ok(());
        }
        let mut projects: Vec<&str> = repos.iter().filter_map(|r| r.split('/').next()).collect();
        projects.sort_unstable();
        projects.dedup();
        for p in projects {
            self.ensure_harbor_project(p).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_distribution_and_harbor_send_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://h:5000/service/token",service="harbor-registry",scope="repository:a/b:pull,push""#
            ),
            Some(Scheme::Bearer {
                realm: "http://h:5000/service/token".into(),
                service: "harbor-registry".into()
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="harbor""#),
            Some(Scheme::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
