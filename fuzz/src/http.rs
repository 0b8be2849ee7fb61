//! Requests made of `arbitrary` input, and the driver that sends them one
//! after another to a router with `tower::ServiceExt::oneshot`.
//!
//! An input is a short exchange: up to [`MAX_REQUESTS`] requests, each of
//! which may name what the earlier ones produced (the digest of a body it
//! sent, an upload session the server opened, the offset that session has
//! reached, a manifest it stored, a token it issued), so that the fuzzer gets
//! past "unknown upload" and "unknown blob" to chunks, completions, manifests
//! that refer to real blobs, referrers and tag lists.
//!
//! What every answer must be: not a panic, and not a 5xx. The stores behind
//! the routers are in memory and do not fail, so a 5xx can only be ours.

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use harbor_core::{Descriptor, Digest, ImageIndexBuilder, ImageManifestBuilder, Platform};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::pick::{DigestPick, MediaPick, NamePick, NumberPick, TagPick};

/// Requests per input, at most.
pub const MAX_REQUESTS: usize = 8;
/// Bytes per request body, at most.
pub const MAX_BODY: usize = 64 * 1024;

/// One input: requests sent in order.
#[derive(Arbitrary, Debug)]
pub struct Exchange {
    pub requests: Vec<Req>,
}

/// One request.
#[derive(Arbitrary, Debug)]
pub struct Req {
    pub method: MethodPick,
    pub root: Root,
    pub segments: Vec<Segment>,
    pub trailing_slash: bool,
    pub query: Vec<(QueryKey, QueryValue)>,
    pub headers: Vec<HeaderPick>,
    pub body: BodyPick,
    /// Whether `Content-Length` is sent (always the body's true length, as
    /// hyper would enforce it).
    pub declare_length: bool,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum MethodPick {
    Get,
    Head,
    Put,
    Post,
    Patch,
    Delete,
    Options,
    Trace,
    Custom(String),
}

impl MethodPick {
    fn method(&self) -> Method {
        match self {
            MethodPick::Get => Method::GET,
            MethodPick::Head => Method::HEAD,
            MethodPick::Put => Method::PUT,
            MethodPick::Post => Method::POST,
            MethodPick::Patch => Method::PATCH,
            MethodPick::Delete => Method::DELETE,
            MethodPick::Options => Method::OPTIONS,
            MethodPick::Trace => Method::TRACE,
            MethodPick::Custom(s) => Method::from_bytes(s.as_bytes()).unwrap_or(Method::GET),
        }
    }
}

/// Where the path begins.
#[derive(Arbitrary, Debug, Clone)]
pub enum Root {
    V2,
    Api,
    Token,
    Nothing,
    Raw(String),
}

/// One piece of a path (a name may itself hold `/`).
#[derive(Arbitrary, Debug, Clone)]
pub enum Segment {
    Name(NamePick),
    Manifests,
    Blobs,
    Uploads,
    Tags,
    List,
    Catalog,
    Referrers,
    Tag(TagPick),
    Digest(DigestPick),
    /// The n-th upload session opened so far in this input.
    Upload(u8),
    Projects,
    Repositories,
    Artifacts,
    Summary,
    Members,
    Logs,
    AuditLogs,
    Registries,
    Replication,
    Policies,
    Executions,
    Tasks,
    Robots,
    Users,
    Current,
    Search,
    Password,
    Sysadmin,
    SystemInfo,
    Ping,
    OpenApi,
    Health,
    Number(NumberPick),
    /// Text, percent-encoded.
    Encoded(String),
    /// Text as it is (when the URI takes it).
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum QueryKey {
    Digest,
    N,
    Last,
    Mount,
    From,
    ArtifactType,
    Page,
    PageSize,
    Q,
    Sort,
    Scope,
    Service,
    Account,
    OfflineToken,
    WithTag,
    Name,
    Raw(String),
}

impl QueryKey {
    fn text(&self) -> String {
        match self {
            QueryKey::Digest => "digest".into(),
            QueryKey::N => "n".into(),
            QueryKey::Last => "last".into(),
            QueryKey::Mount => "mount".into(),
            QueryKey::From => "from".into(),
            QueryKey::ArtifactType => "artifactType".into(),
            QueryKey::Page => "page".into(),
            QueryKey::PageSize => "page_size".into(),
            QueryKey::Q => "q".into(),
            QueryKey::Sort => "sort".into(),
            QueryKey::Scope => "scope".into(),
            QueryKey::Service => "service".into(),
            QueryKey::Account => "account".into(),
            QueryKey::OfflineToken => "offline_token".into(),
            QueryKey::WithTag => "with_tag".into(),
            QueryKey::Name => "name".into(),
            QueryKey::Raw(s) => encode(s),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum QueryValue {
    Empty,
    Digest(DigestPick),
    Number(NumberPick),
    Name(NamePick),
    Tag(TagPick),
    Media(MediaPick),
    Bool(bool),
    /// A token scope: `repository:<name>:<actions>`.
    Scope(NamePick, String),
    /// Harbor's `q`: `name=~<text>` and friends, as text.
    Q(String),
    /// Text, form-encoded.
    Encoded(String),
    /// Text as it is (when the URI takes it).
    Raw(String),
}

/// A request header.
#[derive(Arbitrary, Debug, Clone)]
pub enum HeaderPick {
    ContentType(MediaPick),
    Accept(Vec<MediaPick>),
    ContentRange(RangePick),
    Range(RangePick),
    Authorization(AuthPick),
    RequestId(String),
    Raw(String, Vec<u8>),
}

/// A byte range, as `Content-Range` (`a-b`) or `Range` (`bytes=a-b`) spells it.
#[derive(Arbitrary, Debug, Clone)]
pub enum RangePick {
    Span(u64, u64),
    Small(u8, u8),
    From(u64),
    Suffix(u64),
    /// The next chunk of the current upload: where it stands, for as many
    /// bytes as this request's body has.
    NextChunk,
    Raw(String),
}

/// Credentials.
#[derive(Arbitrary, Debug, Clone)]
pub enum AuthPick {
    /// The administrator (the targets' authenticator knows the password).
    Admin,
    /// A user who is not an administrator.
    Developer,
    WrongPassword,
    /// The n-th token the token endpoint issued in this input.
    Issued(u8),
    Basic(String, String),
    Bearer(String),
    Raw(Vec<u8>),
}

/// A request body.
#[derive(Arbitrary, Debug, Clone)]
pub enum BodyPick {
    Empty,
    Bytes(Vec<u8>),
    Repeat(u8, u16),
    Manifest(ManifestPick),
    Index(IndexPick),
    /// JSON text, for the management API.
    Json(String),
}

/// An image manifest over blobs the input has sent (or not).
#[derive(Arbitrary, Debug, Clone)]
pub struct ManifestPick {
    pub docker: bool,
    pub config: BlobPick,
    pub layers: Vec<BlobPick>,
    pub subject: Option<u8>,
    pub artifact_type: Option<MediaPick>,
    pub annotations: Vec<(String, String)>,
}

/// An index over manifests the input has stored (or not).
#[derive(Arbitrary, Debug, Clone)]
pub struct IndexPick {
    pub docker: bool,
    pub children: Vec<(ChildPick, Option<(String, String)>)>,
    pub subject: Option<u8>,
    pub artifact_type: Option<MediaPick>,
}

/// A blob a manifest names.
#[derive(Arbitrary, Debug, Clone)]
pub enum BlobPick {
    /// The n-th body sent so far, by its digest and size.
    Sent(u8, MediaPick),
    /// The empty descriptor.
    Empty,
    /// A blob nobody sent.
    Unsent(Vec<u8>, MediaPick),
    /// A digest with a size that is not its blob's.
    WrongSize(u8, u64),
}

/// A child of an index.
#[derive(Arbitrary, Debug, Clone)]
pub enum ChildPick {
    /// The n-th manifest stored so far.
    Stored(u8),
    Unknown(Vec<u8>),
}

/// What a driver has learnt from earlier requests of the same input.
#[derive(Debug, Default)]
struct Memory {
    /// Digests and sizes of the bodies sent.
    bodies: Vec<(Digest, u64)>,
    /// Every digest seen: bodies sent, and digests the server answered with.
    digests: Vec<Digest>,
    /// Manifests the server stored.
    manifests: Vec<Descriptor>,
    /// Upload sessions the server opened.
    uploads: Vec<String>,
    /// Where the current upload stands, as its last answer told.
    offset: u64,
    /// Tokens the token endpoint issued.
    tokens: Vec<String>,
    /// The bytes the current upload session was given so far.
    chunks: Vec<u8>,
    /// The last digest the server answered with.
    answer_digest: Option<Digest>,
}

/// Sends the requests of an input to a router and checks every answer.
#[derive(Debug)]
pub struct Driver {
    router: Router,
    memory: Memory,
    /// A 5xx that is not a fault: the answer of a feature the server was
    /// built without.
    expected_5xx: Option<(StatusCode, &'static str)>,
}

/// A request as sent, kept to tell what failed.
#[derive(Debug)]
pub struct Sent {
    pub method: Method,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Driver {
    pub fn new(router: Router) -> Self {
        Driver {
            router,
            memory: Memory::default(),
            expected_5xx: None,
        }
    }

    /// Lets answers with `status` whose body holds `text` through: a
    /// feature the server under test was deliberately built without.
    pub fn allowing(mut self, status: StatusCode, text: &'static str) -> Self {
        self.expected_5xx = Some((status, text));
        self
    }

    /// Sends every request of `exchange` in order (at most
    /// [`MAX_REQUESTS`]); panics, telling the request and the answer, if an
    /// answer is a 5xx or its body fails.
    pub async fn run(&mut self, exchange: &Exchange) {
        for req in exchange.requests.iter().take(MAX_REQUESTS) {
            self.send(req).await;
        }
    }

    /// Sends one request and checks its answer.
    pub async fn send(&mut self, req: &Req) -> Option<(StatusCode, Vec<u8>)> {
        let (body, built_type) = self.body(&req.body);
        let (request, sent) = self.request(req, &body, built_type)?;
        let is_manifest = req.segments.iter().any(|s| matches!(s, Segment::Manifests));
        Some(self.exchange(request, sent, &body, is_manifest).await)
    }

    /// Sends `request` and checks the answer; learns from it.
    async fn exchange(
        &mut self,
        request: Request<Body>,
        sent: Sent,
        body: &[u8],
        is_manifest: bool,
    ) -> (StatusCode, Vec<u8>) {
        let response: Response<Body> = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, response_body) = response.into_parts();
        let bytes = match response_body.collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => panic!("the body of the answer to {sent:?} failed: {e}"),
        };
        let expected = self.expected_5xx.is_some_and(|(status, text)| {
            parts.status == status && String::from_utf8_lossy(&bytes).contains(text)
        });
        assert!(
            !parts.status.is_server_error() || expected,
            "{} for {sent:#?}\nanswer headers: {:?}\nanswer body: {}",
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes)
        );
        if trace() {
            eprintln!(
                "{} {} ({} bytes) -> {} {}",
                sent.method,
                sent.uri,
                sent.body_len,
                parts.status,
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            );
        }
        if parts.status == StatusCode::ACCEPTED {
            let m = &mut self.memory;
            if sent.method == Method::POST {
                m.chunks.clear();
            } else if sent.method == Method::PATCH {
                m.chunks.extend_from_slice(body);
                m.chunks.truncate(MAX_BODY * MAX_REQUESTS);
            }
        }
        let content_type = sent
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone());
        self.learn(body, is_manifest, content_type, &parts, &bytes);
        (parts.status, bytes)
    }

    /// Sends the requests a script writes (see [`Script`]).
    pub async fn run_script(&mut self, script: &Script) {
        for req in script.requests.iter().take(MAX_REQUESTS) {
            let m = &self.memory;
            let last = |v: &[String]| v.last().cloned().unwrap_or_default();
            let last_digest = m
                .bodies
                .last()
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            let last_manifest = m
                .manifests
                .last()
                .map(|d| d.digest.to_string())
                .unwrap_or_default();
            let (body, built_type): (Vec<u8>, Option<&'static str>) = match req.body.trim() {
                "{manifest}" => {
                    let sent: Vec<Descriptor> = m
                        .bodies
                        .iter()
                        .map(|(d, size)| {
                            Descriptor::new("application/octet-stream", d.clone(), *size)
                        })
                        .collect();
                    let built = match sent.split_first() {
                        Some((config, layers)) => ImageManifestBuilder::oci(Descriptor {
                            media_type: harbor_core::media_type::OCI_CONFIG.into(),
                            ..config.clone()
                        })
                        .layers(layers.iter().cloned())
                        .build(),
                        None => ImageManifestBuilder::oci(Descriptor::empty()).build(),
                    };
                    built
                        .map(|b| (b.bytes().to_vec(), Some(b.media_type())))
                        .unwrap_or_default()
                }
                "{referrer}" => match m.manifests.last() {
                    Some(subject) => ImageManifestBuilder::oci(Descriptor::empty())
                        .artifact_type("application/vnd.example.sig")
                        .layer(Descriptor::for_blob(
                            "application/vnd.example.sig",
                            b"signed",
                        ))
                        .subject(subject.clone())
                        .build()
                        .map(|b| (b.bytes().to_vec(), Some(b.media_type())))
                        .unwrap_or_default(),
                    None => Default::default(),
                },
                "{index}" => ImageIndexBuilder::oci()
                    .manifests(m.manifests.iter().cloned())
                    .build()
                    .map(|b| (b.bytes().to_vec(), Some(b.media_type())))
                    .unwrap_or_default(),
                _ => (req.body.as_bytes().to_vec(), None),
            };
            let body_digest = Digest::sha256(&body).to_string();
            let upload_digest = Digest::sha256(&[m.chunks.as_slice(), &body].concat()).to_string();
            let answer_digest = m
                .answer_digest
                .as_ref()
                .map(Digest::to_string)
                .unwrap_or_default();
            let first_manifest = m
                .manifests
                .first()
                .map(|d| d.digest.to_string())
                .unwrap_or_default();
            let fill = |s: &str| {
                s.replace("{upload}", &last(&m.uploads))
                    .replace("{body-digest}", &body_digest)
                    .replace("{upload-digest}", &upload_digest)
                    .replace("{answer-digest}", &answer_digest)
                    .replace("{first-manifest-digest}", &first_manifest)
                    .replace("{digest}", &last_digest)
                    .replace("{manifest-digest}", &last_manifest)
                    .replace("{token}", &last(&m.tokens))
                    .replace(
                        "{range}",
                        &format!(
                            "{}-{}",
                            m.offset,
                            m.offset.saturating_add(body.len() as u64).saturating_sub(1)
                        ),
                    )
            };
            let path = fill(&req.path);
            let Ok(uri) =
                Uri::try_from(path.as_str()).or_else(|_| Uri::try_from(encode_path(&path)))
            else {
                continue;
            };
            let method = Method::from_bytes(req.method.as_bytes()).unwrap_or(Method::GET);
            let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
            let mut headers = Vec::new();
            for (k, v) in &req.headers {
                let v = fill(v);
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) else {
                    continue;
                };
                if name == axum::http::header::CONTENT_LENGTH
                    || name == axum::http::header::TRANSFER_ENCODING
                {
                    continue;
                }
                headers.push((name.to_string(), v));
                builder = builder.header(name, value);
            }
            if let (Some(t), false) = (built_type, headers.iter().any(|(k, _)| k == "content-type"))
            {
                headers.push(("content-type".into(), t.into()));
                builder = builder.header("content-type", t);
            }
            headers.push(("content-length".into(), body.len().to_string()));
            builder = builder.header("content-length", body.len());
            let sent = Sent {
                method,
                uri: uri.to_string(),
                headers,
                body_len: body.len(),
            };
            let Ok(request) = builder.body(Body::from(body.clone())) else {
                continue;
            };
            let is_manifest = uri.path().contains("/manifests/");
            self.exchange(request, sent, &body, is_manifest).await;
        }
    }

    fn body(&self, pick: &BodyPick) -> (Vec<u8>, Option<&'static str>) {
        let m = &self.memory;
        match pick {
            BodyPick::Empty => (Vec::new(), None),
            BodyPick::Bytes(b) => (b[..b.len().min(MAX_BODY)].to_vec(), None),
            BodyPick::Repeat(byte, n) => (vec![*byte; usize::from(*n).min(MAX_BODY)], None),
            BodyPick::Json(s) => (s.as_bytes()[..s.len().min(MAX_BODY)].to_vec(), None),
            BodyPick::Manifest(p) => {
                let blob = |b: &BlobPick| match b {
                    BlobPick::Sent(i, media) => match pick_from(&m.bodies, *i) {
                        Some((d, size)) => Descriptor::new(media.text(), d.clone(), *size),
                        None => Descriptor::empty(),
                    },
                    BlobPick::Empty => Descriptor::empty(),
                    BlobPick::Unsent(data, media) => Descriptor::for_blob(media.text(), data),
                    BlobPick::WrongSize(i, size) => match pick_from(&m.bodies, *i) {
                        Some((d, _)) => {
                            Descriptor::new("application/octet-stream", d.clone(), *size)
                        }
                        None => {
                            Descriptor::new("application/octet-stream", Digest::sha256(b""), *size)
                        }
                    },
                };
                let config = blob(&p.config);
                let mut b = if p.docker {
                    ImageManifestBuilder::docker(config)
                } else {
                    ImageManifestBuilder::oci(config)
                };
                b = b.layers(p.layers.iter().take(16).map(blob));
                if let Some(s) = p.subject.and_then(|i| pick_from(&m.manifests, i)) {
                    b = b.subject(s.clone());
                }
                if let Some(t) = &p.artifact_type {
                    b = b.artifact_type(t.text());
                }
                for (k, v) in p.annotations.iter().take(8) {
                    b = b.annotation(k.as_str(), v.as_str());
                }
                match b.build() {
                    Ok(built) => (built.bytes().to_vec(), Some(built.media_type())),
                    Err(_) => (Vec::new(), None),
                }
            }
            BodyPick::Index(p) => {
                let mut b = if p.docker {
                    ImageIndexBuilder::docker()
                } else {
                    ImageIndexBuilder::oci()
                };
                for (child, platform) in p.children.iter().take(16) {
                    let mut d = match child {
                        ChildPick::Stored(i) => match pick_from(&m.manifests, *i) {
                            Some(d) => d.clone(),
                            None => {
                                Descriptor::for_blob(harbor_core::media_type::OCI_MANIFEST, b"{}")
                            }
                        },
                        ChildPick::Unknown(data) => {
                            Descriptor::for_blob(harbor_core::media_type::OCI_MANIFEST, data)
                        }
                    };
                    if let Some((os, arch)) = platform {
                        d = d.with_platform(Platform::new(os.as_str(), arch.as_str()));
                    }
                    b = b.manifest(d);
                }
                if let Some(s) = p.subject.and_then(|i| pick_from(&m.manifests, i)) {
                    b = b.subject(s.clone());
                }
                if let Some(t) = &p.artifact_type {
                    b = b.artifact_type(t.text());
                }
                match b.build() {
                    Ok(built) => (built.bytes().to_vec(), Some(built.media_type())),
                    Err(_) => (Vec::new(), None),
                }
            }
        }
    }

    fn request(
        &self,
        req: &Req,
        body: &[u8],
        built_type: Option<&'static str>,
    ) -> Option<(Request<Body>, Sent)> {
        let method = req.method.method();
        let uri = self.uri(req, false).or_else(|| self.uri(req, true))?;
        let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
        let mut headers = Vec::new();
        let mut has_type = false;
        for h in req.headers.iter().take(8) {
            let Some((name, value)) = self.header(h, body.len()) else {
                continue;
            };
            has_type |= name == axum::http::header::CONTENT_TYPE;
            headers.push((
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
            builder = builder.header(name, value);
        }
        // A built manifest goes with its media type unless the input sets one.
        if let (Some(t), false) = (built_type, has_type) {
            headers.push(("content-type".into(), t.into()));
            builder = builder.header("content-type", t);
        }
        if req.declare_length {
            headers.push(("content-length".into(), body.len().to_string()));
            builder = builder.header("content-length", body.len());
        }
        let sent = Sent {
            method,
            uri: uri.to_string(),
            headers,
            body_len: body.len(),
        };
        let request = builder.body(Body::from(body.to_vec())).ok()?;
        Some((request, sent))
    }

    /// The request's URI; `encoded` percent-encodes the raw pieces too,
    /// for when the URI does not take them as they are.
    fn uri(&self, req: &Req, encoded: bool) -> Option<Uri> {
        let m = &self.memory;
        let raw = |s: &str| if encoded { encode(s) } else { s.to_owned() };
        let mut path = match &req.root {
            Root::V2 => "/v2".to_owned(),
            Root::Api => "/api/v2.0".to_owned(),
            Root::Token => "/service/token".to_owned(),
            Root::Nothing => String::new(),
            Root::Raw(s) => format!("/{}", raw(s)),
        };
        for s in req.segments.iter().take(12) {
            path.push('/');
            path.push_str(&match s {
                Segment::Name(n) => raw(&n.text()),
                Segment::Manifests => "manifests".into(),
                Segment::Blobs => "blobs".into(),
                Segment::Uploads => "uploads".into(),
                Segment::Tags => "tags".into(),
                Segment::List => "list".into(),
                Segment::Catalog => "_catalog".into(),
                Segment::Referrers => "referrers".into(),
                Segment::Tag(t) => raw(&t.text()),
                Segment::Digest(d) => raw(&d.text(&m.digests)),
                Segment::Upload(i) => pick_from(&m.uploads, *i)
                    .cloned()
                    .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into()),
                Segment::Projects => "projects".into(),
                Segment::Repositories => "repositories".into(),
                Segment::Artifacts => "artifacts".into(),
                Segment::Summary => "summary".into(),
                Segment::Members => "members".into(),
                Segment::Logs => "logs".into(),
                Segment::AuditLogs => "audit-logs".into(),
                Segment::Registries => "registries".into(),
                Segment::Replication => "replication".into(),
                Segment::Policies => "policies".into(),
                Segment::Executions => "executions".into(),
                Segment::Tasks => "tasks".into(),
                Segment::Robots => "robots".into(),
                Segment::Users => "users".into(),
                Segment::Current => "current".into(),
                Segment::Search => "search".into(),
                Segment::Password => "password".into(),
                Segment::Sysadmin => "sysadmin".into(),
                Segment::SystemInfo => "systeminfo".into(),
                Segment::Ping => "ping".into(),
                Segment::OpenApi => "openapi.json".into(),
                Segment::Health => "health".into(),
                Segment::Number(n) => raw(&n.text()),
                Segment::Encoded(s) => encode(s),
                Segment::Raw(s) => raw(s),
            });
        }
        if req.trailing_slash || path.is_empty() {
            path.push('/');
        }
        let pairs: Vec<String> = req
            .query
            .iter()
            .take(8)
            .map(|(k, v)| {
                let v = match v {
                    QueryValue::Empty => String::new(),
                    QueryValue::Digest(d) => encode(&d.text(&m.digests)),
                    QueryValue::Number(n) => encode(&n.text()),
                    QueryValue::Name(n) => encode(&n.text()),
                    QueryValue::Tag(t) => encode(&t.text()),
                    QueryValue::Media(t) => encode(&t.text()),
                    QueryValue::Bool(b) => b.to_string(),
                    QueryValue::Scope(n, actions) => {
                        encode(&format!("repository:{}:{actions}", n.text()))
                    }
                    QueryValue::Q(q) => encode(q),
                    QueryValue::Encoded(s) => encode(s),
                    QueryValue::Raw(s) => raw(s),
                };
                format!("{}={v}", k.text())
            })
            .collect();
        if !pairs.is_empty() {
            path.push('?');
            path.push_str(&pairs.join("&"));
        }
        Uri::try_from(path).ok()
    }

    fn header(&self, h: &HeaderPick, body_len: usize) -> Option<(HeaderName, HeaderValue)> {
        use axum::http::header;
        let m = &self.memory;
        let value = |s: String| HeaderValue::from_str(&s).ok();
        let range = |r: &RangePick, prefix: &str| -> String {
            match r {
                RangePick::Span(a, b) => format!("{prefix}{a}-{b}"),
                RangePick::Small(a, b) => format!("{prefix}{a}-{b}"),
                RangePick::From(a) => format!("{prefix}{a}-"),
                RangePick::Suffix(n) => format!("{prefix}-{n}"),
                RangePick::NextChunk => {
                    let end = m.offset.saturating_add(body_len as u64).saturating_sub(1);
                    format!("{prefix}{}-{end}", m.offset)
                }
                RangePick::Raw(s) => s.clone(),
            }
        };
        Some(match h {
            HeaderPick::ContentType(t) => (header::CONTENT_TYPE, value(t.text())?),
            HeaderPick::Accept(ts) => (
                header::ACCEPT,
                value(
                    ts.iter()
                        .take(8)
                        .map(MediaPick::text)
                        .collect::<Vec<_>>()
                        .join(", "),
                )?,
            ),
            HeaderPick::ContentRange(r) => (header::CONTENT_RANGE, value(range(r, ""))?),
            HeaderPick::Range(r) => (header::RANGE, value(range(r, "bytes="))?),
            HeaderPick::Authorization(a) => {
                let basic =
                    |u: &str, p: &str| format!("Basic {}", STANDARD.encode(format!("{u}:{p}")));
                let text = match a {
                    AuthPick::Admin => basic(ADMIN.0, ADMIN.1),
                    AuthPick::Developer => basic(DEVELOPER.0, DEVELOPER.1),
                    AuthPick::WrongPassword => basic(ADMIN.0, "wrong"),
                    AuthPick::Issued(i) => match pick_from(&m.tokens, *i) {
                        Some(t) => format!("Bearer {t}"),
                        None => "Bearer none".into(),
                    },
                    AuthPick::Basic(u, p) => basic(u, p),
                    AuthPick::Bearer(t) => format!("Bearer {t}"),
                    AuthPick::Raw(b) => {
                        return Some((header::AUTHORIZATION, HeaderValue::from_bytes(b).ok()?))
                    }
                };
                (header::AUTHORIZATION, value(text)?)
            }
            HeaderPick::RequestId(s) => {
                (HeaderName::from_static("x-request-id"), value(s.clone())?)
            }
            HeaderPick::Raw(name, v) => {
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                // The length is the body's, as hyper would have it.
                if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
                    return None;
                }
                (name, HeaderValue::from_bytes(v).ok()?)
            }
        })
    }

    /// Remembers what the answer tells: digests, upload sessions and their
    /// offsets, stored manifests, issued tokens.
    fn learn(
        &mut self,
        body: &[u8],
        is_manifest: bool,
        content_type: Option<String>,
        parts: &axum::http::response::Parts,
        answer: &[u8],
    ) {
        let m = &mut self.memory;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if !body.is_empty() {
            let d = Digest::sha256(body);
            m.bodies.push((d.clone(), body.len() as u64));
            m.digests.push(d);
        }
        if let Some(d) = header("docker-content-digest").and_then(|d| Digest::parse(d).ok()) {
            if parts.status == StatusCode::CREATED && is_manifest {
                let media_type =
                    content_type.unwrap_or_else(|| harbor_core::media_type::OCI_MANIFEST.into());
                m.manifests
                    .push(Descriptor::new(media_type, d.clone(), body.len() as u64));
            }
            m.answer_digest = Some(d.clone());
            m.digests.push(d);
        }
        if let Some(id) = header("docker-upload-uuid") {
            if !m.uploads.iter().any(|u| u == id) {
                m.uploads.push(id.to_owned());
            }
            // `0-<last byte>`, `0-0` for nothing or one byte.
            if let Some(end) = header("range")
                .and_then(|r| r.strip_prefix("0-"))
                .and_then(|e| e.parse::<u64>().ok())
            {
                m.offset = if end == 0 && body.is_empty() {
                    0
                } else {
                    end.saturating_add(1)
                };
            }
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(answer) {
            if let Some(t) = v.get("token").and_then(|t| t.as_str()) {
                m.tokens.push(t.to_owned());
            }
        }
        m.digests.truncate(64);
        m.bodies.truncate(64);
    }
}

/// An exchange written as text, for seeds a person can write and read and
/// for crashes a person can replay. Each request begins with a line
/// `> METHOD PATH`, its headers follow one a line (`name: value`), then a
/// blank line and its body, up to the next `> ` line. `Content-Length` is
/// always the body's.
///
/// These stand for what the exchange has produced so far, in paths and
/// header values: `{upload}` (the last upload session), `{digest}` (of the
/// last body sent), `{body-digest}` (of this request's body),
/// `{upload-digest}` (of what the upload session holds with this body),
/// `{answer-digest}` (the last `Docker-Content-Digest` answered),
/// `{manifest-digest}` and `{first-manifest-digest}` (of the last and the
/// first manifest stored), `{token}` (the last token issued), `{range}`
/// (the next chunk of the upload, `start-end`, for this request's body).
/// A body that is only `{manifest}` is an OCI image manifest over the
/// bodies sent so far (the first as config), `{referrer}` an artifact whose
/// subject is the last manifest stored, `{index}` an OCI index over the
/// manifests stored so far.
#[derive(Debug, Default)]
pub struct Script {
    pub requests: Vec<ScriptReq>,
}

/// One request of a [`Script`].
#[derive(Debug, Default)]
pub struct ScriptReq {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Script {
    /// The script `data` holds, if it is one (text beginning with `> `).
    pub fn parse(data: &[u8]) -> Option<Script> {
        let text = std::str::from_utf8(data).ok()?;
        if !text.starts_with("> ") {
            return None;
        }
        let mut script = Script::default();
        for chunk in text.split("\n> ") {
            let chunk = chunk.strip_prefix("> ").unwrap_or(chunk);
            let (head, body) = chunk.split_once("\n\n").unwrap_or((chunk, ""));
            let mut lines = head.lines();
            let (method, path) = lines.next()?.split_once(' ').unwrap_or(("GET", "/"));
            script.requests.push(ScriptReq {
                method: method.to_owned(),
                path: path.to_owned(),
                headers: lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect(),
                body: body.strip_suffix('\n').unwrap_or(body).to_owned(),
            });
        }
        Some(script)
    }
}

/// An exchange as the fuzzer gives it: a script, or a structure made by
/// `arbitrary` of anything else.
#[derive(Debug)]
pub enum Input {
    Script(Script),
    Exchange(Exchange),
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input::Exchange(Exchange::arbitrary(u)?))
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let data = u.peek_bytes(u.len()).unwrap_or_default();
        match Script::parse(data) {
            Some(script) => Ok(Input::Script(script)),
            None => Ok(Input::Exchange(Exchange::arbitrary_take_rest(u)?)),
        }
    }
}

impl Driver {
    /// Sends what `input` holds.
    pub async fn run_input(&mut self, input: &Input) {
        match input {
            Input::Script(s) => self.run_script(s).await,
            Input::Exchange(e) => self.run(e).await,
        }
    }
}

/// Percent-encodes what a URI does not take as it is in `path`, keeping
/// the characters that separate its parts.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/?&=%:@+,;!$'()*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The administrator's name and password, as the targets' authenticators
/// accept them.
pub const ADMIN: (&str, &str) = ("admin", "Harbor12345");
/// A user who is not an administrator.
pub const DEVELOPER: (&str, &str) = ("dev", "Harbor12345");

/// Whether `HARBOR_FUZZ_TRACE` asks for every request and answer on stderr
/// (to see what a seed or a failing input does).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("HARBOR_FUZZ_TRACE").is_some())
}

fn pick_from<T>(items: &[T], i: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(i) % items.len()])
}

/// Percent-encodes everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
