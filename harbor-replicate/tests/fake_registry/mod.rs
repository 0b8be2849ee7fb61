//! An in-process registry speaking just enough of the distribution API (and
//! of Harbor's `/api/v2.0`) to drive the HTTP adapters: Bearer tokens from
//! its own token endpoint (every fetch recorded by scope), listings served
//! two per page with `Link` headers and a name that does not parse in each,
//! uploads monolithic or by chunks, mounts, and a switch that cuts the
//! connection in the middle of the next `PATCH`.

mod harbor;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use bytes::Bytes;
use harbor_core::Digest;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

/// The user the token endpoint and `/api/v2.0` accept.
pub(crate) const USER: &str = "robot";
/// Its password.
pub(crate) const PASSWORD: &str = "s3cret";
/// Names served per listing page.
pub(crate) const PER_PAGE: usize = 2;

/// What the fake holds and what it saw.
#[derive(Default)]
pub(crate) struct State {
    /// Blob bytes by digest.
    pub(crate) blobs: HashMap<String, Bytes>,
    /// Which repositories hold which blobs.
    pub(crate) links: BTreeSet<(String, String)>,
    /// Manifests by repository and reference (tag or digest).
    pub(crate) manifests: BTreeMap<(String, String), (String, Bytes)>,
    /// Upload sessions: repository and bytes received.
    pub(crate) uploads: HashMap<u64, (String, Vec<u8>)>,
    /// Scopes of every token fetched, in order.
    pub(crate) token_scopes: Vec<String>,
    /// Harbor projects.
    pub(crate) projects: BTreeSet<String>,
    /// Projects created through `POST /api/v2.0/projects`.
    pub(crate) created_projects: Vec<String>,
    /// Cut the connection halfway through the next `PATCH` body.
    pub(crate) cut_next_patch: bool,
    /// Answer the catalog with something that is not JSON.
    pub(crate) garbage_catalog: bool,
    /// Bytes received by `PATCH` requests, cut ones included.
    pub(crate) patched_bytes: u64,
    /// `PATCH` requests answered 202.
    pub(crate) patches: usize,
    next_id: u64,
}

/// A running fake; the server stops with the test's runtime.
#[derive(Clone)]
pub(crate) struct Fake {
    /// `http://127.0.0.1:port`.
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// Starts the fake on a free loopback port.
    pub(crate) async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr: SocketAddr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let fake = Fake {
            url: format!("http://{addr}"),
            state: Arc::new(Mutex::new(State::default())),
        };
        let served = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fake = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fake = fake.clone();
                        async move { fake.handle(req).await }
                    });
                    // A cut connection ends here with an error; that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        fake
    }

    /// The fake's state, to arrange or inspect.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a manifest (and makes its repository known) without any request.
    pub(crate) fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let digest = Digest::sha256(body).to_string();
        let mut s = self.state();
        for r in [reference.to_owned(), digest] {
            s.manifests.insert(
                (repo.to_owned(), r),
                (media_type.to_owned(), Bytes::copy_from_slice(body)),
            );
        }
    }

    fn basic() -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        )
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let path = req.uri().path().to_owned();
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if path == "/token" {
            return Ok(self.token(&req, &authorization));
        }
        if let Some(api) = path.strip_prefix("/api/v2.0") {
            if authorization != Self::basic() {
                return Ok(status(StatusCode::UNAUTHORIZED));
            }
            return Ok(self.api(req.method().clone(), api, &query, req).await);
        }
        let Some(v2) = path.strip_prefix("/v2/") else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        if !self.authorized(&authorization, v2) {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(
                    "www-authenticate",
                    format!(
                        r#"Bearer realm="{}/token",service="fake-registry""#,
                        self.url
                    ),
                )
                .body(Full::new(Bytes::new()))
                .unwrap_or_default());
        }
        self.registry(req, v2.to_owned(), query).await
    }

    fn token(&self, req: &Request<Incoming>, authorization: &str) -> Response<Full<Bytes>> {
        if authorization != Self::basic() {
            return status(StatusCode::UNAUTHORIZED);
        }
        let scopes: Vec<String> = req
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k == "scope")
                    .map(|(_, v)| v.into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let scope = scopes.join(" ");
        self.state().token_scopes.push(scope.clone());
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(scope);
        json(
            StatusCode::OK,
            &serde_json::json!({ "token": format!("tok.{token}"), "expires_in": 300 }),
        )
    }

    /// Whether a Bearer token grants some scope over what `v2` (the path
    /// after `/v2/`) names.
    fn authorized(&self, authorization: &str, v2: &str) -> bool {
        let Some(token) = authorization.strip_prefix("Bearer tok.") else {
            return false;
        };
        let Some(scope) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|s| String::from_utf8(s).ok())
        else {
            return false;
        };
        if v2.is_empty() {
            return true;
        }
        if v2 == "_catalog" {
            return scope.contains("registry:catalog:*");
        }
        match split_v2(v2) {
            Some((repo, _, _)) => scope.contains(&format!("repository:{repo}:")),
            None => false,
        }
    }

    async fn registry(
        &self,
        req: Request<Incoming>,
        v2: String,
        query: HashMap<String, String>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let method = req.method().clone();
        if v2.is_empty() {
            return Ok(status(StatusCode::OK));
        }
        if v2 == "_catalog" {
            if self.state().garbage_catalog {
                return Ok(Response::new(Full::new(Bytes::from_static(
                    b"<html>oops</html>",
                ))));
            }
            let mut repos: BTreeSet<String> = self
                .state()
                .manifests
                .keys()
                .map(|(r, _)| r.clone())
                .collect();
            repos.insert("Not A Name".into());
            return Ok(listing("/v2/_catalog", "repositories", None, repos, &query));
        }
        let Some((repo, kind, rest)) = split_v2(&v2) else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        let (repo, rest) = (repo.to_owned(), rest.to_owned());
        match (method, kind) {
            (Method::GET, "tags") => {
                let mut tags: BTreeSet<String> = self
                    .state()
                    .manifests
                    .keys()
                    .filter(|(r, t)| *r == repo && !t.contains(':'))
                    .map(|(_, t)| t.clone())
                    .collect();
                if tags.is_empty() {
                    return Ok(status(StatusCode::NOT_FOUND));
                }
                tags.insert("-not-a-tag".into());
                let path = format!("/v2/{repo}/tags/list");
                Ok(listing(&path, "tags", Some(&repo), tags, &query))
            }
            (m @ (Method::GET | Method::HEAD), "manifests") => {
                let found = self.state().manifests.get(&(repo, rest)).cloned();
                Ok(match found {
                    Some((media_type, body)) => {
                        let digest = Digest::sha256(&body).to_string();
                        let body = if m == Method::HEAD {
                            Bytes::new()
                        } else {
                            body
                        };
                        Response::builder()
                            .header("content-type", media_type)
                            .header("docker-content-digest", digest)
                            .body(Full::new(body))
                            .unwrap_or_default()
                    }
                    None => status(StatusCode::NOT_FOUND),
                })
            }
            (Method::PUT, "manifests") => {
                let media_type = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body = read(req).await?;
                self.put_manifest(&repo, &rest, &media_type, &body);
                Ok(Response::builder()
                    .status(StatusCode::CREATED)
                    .header("docker-content-digest", Digest::sha256(&body).to_string())
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default())
            }
            (Method::DELETE, "manifests") => {
                let removed = self.state().manifests.remove(&(repo, rest));
                Ok(status(if removed.is_some() {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::NOT_FOUND
                }))
            }
            (m @ (Method::GET | Method::HEAD), "blobs") => {
                let s = self.state();
                let blob = s
                    .links
                    .contains(&(repo, rest.clone()))
                    .then(|| s.blobs.get(&rest).cloned())
                    .flatten();
                drop(s);
                let Some(blob) = blob else {
                    return Ok(status(StatusCode::NOT_FOUND));
                };
                let from: Option<usize> = req
                    .headers()
                    .get("range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|r| r.parse().ok());
                let (code, body) = match from {
                    Some(n) => (StatusCode::PARTIAL_CONTENT, blob.slice(n.min(blob.len())..)),
                    None => (StatusCode::OK, blob),
                };
                let len = body.len();
                let body = if m == Method::HEAD {
                    Bytes::new()
                } else {
                    body
                };
                Ok(Response::builder()
                    .status(code)
                    .header("content-length", len)
                    .body(Full::new(body))
                    .unwrap_or_default())
            }
            (Method::POST, "uploads") => Ok(self.start_upload(&repo, &query)),
            (Method::GET, "uploads") => Ok(self.upload_status(&repo, &rest)),
            (Method::PATCH, "uploads") => self.patch(&repo, &rest, req).await,
            (Method::PUT, "uploads") => {
                let digest = query.get("digest").cloned().unwrap_or_default();
                let tail = read(req).await?;
                let mut s = self.state();
                let Some((_, mut data)) = rest.parse().ok().and_then(|id| s.uploads.remove(&id))
                else {
                    return Ok(status(StatusCode::NOT_FOUND));
                };
                data.extend_from_slice(&tail);
                if Digest::sha256(&data).to_string() != digest {
                    return Ok(status(StatusCode::BAD_REQUEST));
                }
                s.blobs.insert(digest.clone(), Bytes::from(data));
                s.links.insert((repo, digest));
                Ok(status(StatusCode::CREATED))
            }
            (Method::DELETE, "uploads") => {
                let id: Option<u64> = rest.parse().ok();
                let _ = id.and_then(|id| self.state().uploads.remove(&id));
                Ok(status(StatusCode::NO_CONTENT))
            }
            _ => Ok(status(StatusCode::METHOD_NOT_ALLOWED)),
        }
    }

    fn start_upload(&self, repo: &str, query: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let mut s = self.state();
        if let (Some(digest), Some(from)) = (query.get("mount"), query.get("from")) {
            if s.links.contains(&(from.clone(), digest.clone())) {
                s.links.insert((repo.to_owned(), digest.clone()));
                return status(StatusCode::CREATED);
            }
        }
        s.next_id += 1;
        let id = s.next_id;
        s.uploads.insert(id, (repo.to_owned(), Vec::new()));
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
            .header("range", "0-0")
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    }

    fn upload_status(&self, repo: &str, id: &str) -> Response<Full<Bytes>> {
        let s = self.state();
        let Some((_, data)) = id.parse().ok().and_then(|id: u64| s.uploads.get(&id)) else {
            return status(StatusCode::NOT_FOUND);
        };
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
            .header("range", range(data.len()))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    }

    /// Appends a chunk at the offset its `Content-Range` names; with
    /// `cut_next_patch`, keeps half of it and drops the connection.
    async fn patch(
        &self,
        repo: &str,
        id: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let Ok(id) = id.parse::<u64>() else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        let start: Option<usize> = req
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, _)| a.parse().ok());
        let length: usize = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let held = self.state().uploads.get(&id).map(|(_, d)| d.len());
        if held.is_none() || start != held {
            return Ok(status(StatusCode::RANGE_NOT_SATISFIABLE));
        }
        let cut = std::mem::take(&mut self.state().cut_next_patch);
        let mut body = req.into_body();
        let mut received = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(std::io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
            }
            if cut && received.len() >= length / 2 {
                received.truncate(length / 2);
                let mut s = self.state();
                s.patched_bytes += received.len() as u64;
                if let Some((_, d)) = s.uploads.get_mut(&id) {
                    d.extend_from_slice(&received);
                }
                return Err(std::io::Error::other("connection cut on purpose"));
            }
        }
        let mut s = self.state();
        s.patched_bytes += received.len() as u64;
        s.patches += 1;
        let Some((_, data)) = s.uploads.get_mut(&id) else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        data.extend_from_slice(&received);
        let held = data.len();
        Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
            .header("range", range(held))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default())
    }
}

/// `Range` for an upload holding `len` bytes, as distribution writes it.
fn range(len: usize) -> String {
    format!("0-{}", len.saturating_sub(1))
}

/// `<repo>/<kind>/<rest>` of a path after `/v2/`: kind is `manifests`,
/// `blobs`, `uploads` or `tags`.
fn split_v2(v2: &str) -> Option<(&str, &'static str, &str)> {
    if let Some(repo) = v2.strip_suffix("/tags/list") {
        return Some((repo, "tags", ""));
    }
    if let Some(i) = v2.rfind("/blobs/uploads") {
        let rest = v2[i + "/blobs/uploads".len()..].trim_start_matches('/');
        return Some((&v2[..i], "uploads", rest));
    }
    for kind in ["manifests", "blobs"] {
        if let Some(i) = v2.rfind(&format!("/{kind}/")) {
            return Some((&v2[..i], kind, &v2[i + kind.len() + 2..]));
        }
    }
    None
}

/// A page of a `/v2/` listing after `last`, `PER_PAGE` long, with a `Link`
/// to the next while there is one.
fn listing(
    path: &str,
    field: &str,
    repo: Option<&str>,
    names: BTreeSet<String>,
    query: &HashMap<String, String>,
) -> Response<Full<Bytes>> {
    let after: Vec<&String> = names
        .iter()
        .filter(|n| query.get("last").is_none_or(|l| n.as_str() > l.as_str()))
        .collect();
    let page: Vec<&String> = after.iter().take(PER_PAGE).copied().collect();
    let mut body = serde_json::json!({ field: page });
    if let Some(r) = repo {
        body["name"] = r.into();
    }
    let mut resp = json(StatusCode::OK, &body);
    if after.len() > PER_PAGE {
        let last = page.last().map(|s| s.as_str()).unwrap_or("");
        let link = format!(
            "<{path}?n={PER_PAGE}&last={}>; rel=\"next\"",
            url::form_urlencoded::byte_serialize(last.as_bytes()).collect::<String>()
        );
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert("link", v);
        }
    }
    resp
}

async fn read(req: Request<Incoming>) -> Result<Bytes, std::io::Error> {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(std::io::Error::other)
}

pub(crate) fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

pub(crate) fn json(code: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}
