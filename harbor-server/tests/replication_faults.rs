//! Replication under faults, over real HTTP. A small fault-injecting proxy
//! sits in front of the destination: it answers chosen requests with 500 or
//! with 429 + `Retry-After: 1`, cuts a blob upload in the middle of its body,
//! or slows uploads down. Copies retry through all of it and pull back
//! identical with skopeo; a cut upload leaves no partial blob behind; and the
//! real `harbor-server` binary killed with SIGKILL in the middle of an
//! execution resumes it after a restart and finishes it.
//!
//! skopeo must be installed (`scripts/test` installs it); these tests fail
//! without it.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::layout::{self, Image};
use common::process::ServerProcess;
use common::skopeo::{creds, docker, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};
use futures::StreamExt;
use harbor_replicate::adapters::Harbor;
use harbor_replicate::{
    Copier, CopyOptions, CopyTask, Credential, Endpoint, FsCheckpoints, RegistryAdapter,
    Replicator, RetryPolicy,
};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------
// The fault-injecting proxy
// ---------------------------------------------------------------------------

/// Bodies both ways through the proxy.
type ProxyBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// What the proxy does to a request a rule picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Reads the request body, then answers with this status instead of
    /// forwarding; a 429 carries `Retry-After: 1`.
    Status(u16),
    /// Forwards the first `after` bytes of the body, then aborts the upstream
    /// request and closes the client's connection without an answer. Only
    /// requests announcing a longer body are picked.
    Cut {
        /// Body bytes forwarded before the cut.
        after: u64,
    },
}

/// Applies `fault` to the first `times` requests of `method` whose path (with
/// query) contains `path`; later ones are forwarded normally.
#[derive(Debug, Clone)]
struct Rule {
    method: Method,
    path: &'static str,
    fault: Fault,
    times: usize,
    /// Matching requests let through before the rule applies.
    skip: usize,
}

impl Rule {
    fn new(method: Method, path: &'static str, fault: Fault, times: usize) -> Rule {
        Rule {
            method,
            path,
            fault,
            times,
            skip: 0,
        }
    }

    /// Lets the first `n` matching requests through untouched.
    fn after_first(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }
}

/// A cut the proxy made; it holds the client's connection open (the client
/// still waiting, so not yet retrying) until `release` fires or is dropped.
struct Cut {
    /// Path and query of the request cut.
    path: String,
    /// The `digest` query parameter of the upload, if any.
    digest: Option<String>,
    /// Body bytes forwarded upstream before the cut.
    forwarded: u64,
    /// What the upstream request ended with (it should have failed).
    upstream: String,
    /// Lets the proxy close the client's connection.
    release: oneshot::Sender<()>,
}

/// Uploads are slowed to `chunk` bytes per `pause`.
#[derive(Debug, Clone, Copy)]
struct Throttle {
    chunk: usize,
    pause: Duration,
}

struct ProxyState {
    /// `http://host:port` of the server behind the proxy.
    target: String,
    rules: Mutex<Vec<Rule>>,
    /// One line per fault injected or client lost, in order.
    log: Mutex<Vec<String>>,
    /// Paths of uploads whose client went away in the middle of the body.
    abandoned: Mutex<Vec<String>>,
    cuts: Mutex<Option<mpsc::UnboundedSender<Cut>>>,
    throttle: Mutex<Option<Throttle>>,
    /// Blob upload body bytes forwarded so far.
    upload_bytes: AtomicU64,
    /// The same, per destination repository.
    repo_bytes: Mutex<HashMap<String, u64>>,
    client: Client<HttpConnector, ProxyBody>,
}

impl ProxyState {
    fn note(&self, line: String) {
        if let Ok(mut log) = self.log.lock() {
            log.push(line);
        }
    }

    fn throttle(&self) -> Option<Throttle> {
        self.throttle.lock().ok().and_then(|t| *t)
    }

    /// The fault for this request, consuming one use of the first rule that picks it.
    fn take_fault(&self, method: &Method, path: &str, length: Option<u64>) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        let rule = rules.iter_mut().find(|r| {
            r.times > 0
                && r.method == method
                && path.contains(r.path)
                && match r.fault {
                    Fault::Status(_) => true,
                    Fault::Cut { after } => length.is_some_and(|l| l > after),
                }
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.times -= 1;
        Some(rule.fault)
    }
}

/// The fault-injecting HTTP/1 proxy, listening on 127.0.0.1. Dropping it
/// stops it and closes every connection it holds.
struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target` (`http://host:port`) applying `rules`.
    async fn start(target: &str, rules: Vec<Rule>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
        // No pooled upstream connections: a stale one would fail a request
        // the test did not mean to fail.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let state = Arc::new(ProxyState {
            target: target.trim_end_matches('/').to_owned(),
            rules: Mutex::new(rules),
            log: Mutex::new(Vec::new()),
            abandoned: Mutex::new(Vec::new()),
            cuts: Mutex::new(None),
            throttle: Mutex::new(None),
            upload_bytes: AtomicU64::new(0),
            repo_bytes: Mutex::new(HashMap::new()),
            client,
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            // Dropped with this task when the proxy is: every connection ends.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { handle(state, req).await }
                    });
                    // An error here is a cut we made or a client that went away.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections as we go.
                while connections.try_join_next().is_some() {}
            }
        });
        Proxy {
            addr,
            state,
            accept,
        }
    }

    /// `http://host:port` of the proxy.
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts are reported here from now on, each holding the client until released.
    fn watch_cuts(&self) -> mpsc::UnboundedReceiver<Cut> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut c) = self.state.cuts.lock() {
            *c = Some(tx);
        }
        rx
    }

    /// Slows blob uploads down (or, with `None`, lets them run at full speed).
    fn set_throttle(&self, throttle: Option<Throttle>) {
        if let Ok(mut t) = self.state.throttle.lock() {
            *t = throttle;
        }
    }

    /// Blob upload body bytes forwarded so far.
    fn upload_bytes(&self) -> u64 {
        self.state.upload_bytes.load(Ordering::SeqCst)
    }

    /// What the proxy injected or saw go wrong, in order.
    fn log(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Blob upload body bytes forwarded so far into `repo`.
    fn upload_bytes_into(&self, repo: &str) -> u64 {
        self.state
            .repo_bytes
            .lock()
            .ok()
            .and_then(|m| m.get(repo).copied())
            .unwrap_or(0)
    }

    /// Upload paths whose client went away in the middle of the body.
    fn abandoned(&self) -> Vec<String> {
        self.state
            .abandoned
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Uses of rules not consumed yet.
    fn faults_left(&self) -> usize {
        self.state
            .rules
            .lock()
            .map(|r| r.iter().map(|r| r.times).sum())
            .unwrap_or(usize::MAX)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn is_upload(method: &Method, path: &str) -> bool {
    (method == Method::PUT || method == Method::PATCH) && path.contains("/blobs/uploads/")
}

/// The repository of an upload request described as `METHOD /v2/<repo>/blobs/uploads/...`.
fn upload_repo(what: &str) -> Option<String> {
    let path = what.split_once(' ')?.1;
    let repo = path.strip_prefix("/v2/")?.split_once("/blobs/uploads/")?.0;
    Some(repo.to_owned())
}

/// The `digest` query parameter of an upload URL, decoded.
fn digest_param(path: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "digest")
        .map(|(_, v)| v.into_owned())
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Headers that belong to one connection and are not forwarded.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The request body on its way upstream: counted when it is a blob upload,
/// slowed by the throttle, cut after `limit` bytes (ending in an error, which
/// aborts the upstream request), and noted when the client goes away.
fn relay(
    state: Arc<ProxyState>,
    body: Incoming,
    what: String,
    upload: bool,
    limit: Option<u64>,
) -> ProxyBody {
    struct Relay {
        state: Arc<ProxyState>,
        body: BodyStream<Incoming>,
        pending: Bytes,
        sent: u64,
        what: String,
        upload: bool,
        limit: Option<u64>,
        done: bool,
    }
    let relay = Relay {
        state,
        body: BodyStream::new(body),
        pending: Bytes::new(),
        sent: 0,
        what,
        upload,
        limit,
        done: false,
    };
    let frames = futures::stream::unfold(relay, |mut r| async move {
        if r.done {
            return None;
        }
        loop {
            if !r.pending.is_empty() {
                let mut n = r.pending.len();
                if let Some(limit) = r.limit {
                    let room = limit.saturating_sub(r.sent);
                    if room == 0 {
                        r.done = true;
                        let e = std::io::Error::other("cut by the fault proxy");
                        return Some((Err(e), r));
                    }
                    n = n.min(usize::try_from(room).unwrap_or(usize::MAX));
                }
                if r.upload {
                    if let Some(t) = r.state.throttle() {
                        n = n.min(t.chunk.max(1));
                        tokio::time::sleep(t.pause).await;
                    }
                }
                let piece = r.pending.split_to(n);
                r.sent += n as u64;
                if r.upload {
                    r.state.upload_bytes.fetch_add(n as u64, Ordering::SeqCst);
                    if let Some(repo) = upload_repo(&r.what) {
                        if let Ok(mut m) = r.state.repo_bytes.lock() {
                            *m.entry(repo).or_default() += n as u64;
                        }
                    }
                }
                return Some((Ok(Frame::data(piece)), r));
            }
            match r.body.next().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => r.pending = data,
                    Err(other) => return Some((Ok(other), r)),
                },
                Some(Err(e)) => {
                    r.done = true;
                    r.state.note(format!(
                        "the client went away during {} after {} bytes: {e}",
                        r.what, r.sent
                    ));
                    if r.upload {
                        if let Ok(mut a) = r.state.abandoned.lock() {
                            a.push(r.what.clone());
                        }
                    }
                    return Some((Err(std::io::Error::other(e)), r));
                }
                None => return None,
            }
        }
    });
    BodyExt::boxed_unsync(StreamBody::new(frames.boxed()))
}

/// Serves one request: a fault, or a faithful forward (the `Host` header kept,
/// so the token realm and upload locations keep pointing at the proxy).
async fn handle(
    state: Arc<ProxyState>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let length = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let what = format!("{} {path}", parts.method);
    let fault = state.take_fault(&parts.method, &path, length);
    if let Some(Fault::Status(status)) = fault {
        // Read the whole body first, as a server that is merely overloaded would.
        let _ = body.collect().await;
        state.note(format!("{status} for {what}"));
        let (code, retry_after) = if status == 429 {
            ("TOOMANYREQUESTS", Some("1"))
        } else {
            ("UNKNOWN", None)
        };
        let text = format!(
            r#"{{"errors":[{{"code":"{code}","message":"injected by the fault proxy"}}]}}"#
        );
        let mut resp = Response::builder()
            .status(status)
            .header("content-type", "application/json");
        if let Some(r) = retry_after {
            resp = resp.header("retry-after", r);
        }
        return resp.body(full(text)).map_err(std::io::Error::other);
    }
    let limit = match fault {
        Some(Fault::Cut { after }) => Some(after),
        _ => None,
    };
    let upload = is_upload(&parts.method, &path);
    let mut upstream = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", state.target));
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream
        .body(relay(state.clone(), body, what.clone(), upload, limit))
        .map_err(std::io::Error::other)?;
    let result = state.client.request(upstream).await;
    if let Some(after) = limit {
        let upstream = match &result {
            Ok(resp) => format!("answered {}", resp.status()),
            Err(e) => format!("failed: {e}"),
        };
        state.note(format!(
            "cut {what} after {after} bytes; upstream {upstream}"
        ));
        let sender = state.cuts.lock().ok().and_then(|c| c.clone());
        if let Some(tx) = sender {
            let (release, released) = oneshot::channel();
            let cut = Cut {
                path: path.clone(),
                digest: digest_param(&path),
                forwarded: after,
                upstream,
                release,
            };
            if tx.send(cut).is_ok() {
                // Held until the test has looked; a dropped sender releases too.
                let _ = tokio::time::timeout(Duration::from_secs(120), released).await;
            }
        }
        // No answer: hyper closes the client's connection.
        return Err(std::io::Error::other(format!(
            "{what} cut by the fault proxy"
        )));
    }
    match result {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for name in [
                "connection",
                "keep-alive",
                "proxy-connection",
                "te",
                "trailer",
                "upgrade",
            ] {
                parts.headers.remove(name);
            }
            let body = BodyExt::boxed_unsync(body.map_err(std::io::Error::other));
            Ok(Response::from_parts(parts, body))
        }
        Err(e) => {
            state.note(format!("upstream failed for {what}: {e}"));
            Response::builder()
                .status(502)
                .body(full(format!("upstream failed: {e}")))
                .map_err(std::io::Error::other)
        }
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

fn admin() -> Option<Credential> {
    Some(Credential::Basic {
        username: "admin".into(),
        password: ADMIN_PASSWORD.into(),
    })
}

/// A `harbor` adapter for `url` as the administrator.
fn adapter(url: &str) -> Arc<dyn RegistryAdapter> {
    let endpoint = Endpoint {
        url: url.to_owned(),
        credential: admin(),
        insecure: false,
    };
    Arc::new(Harbor::new(endpoint).unwrap_or_else(|e| panic!("harbor adapter for {url}: {e}")))
}

/// A replicator retrying quickly: 50 ms, doubled, at most `attempts` in all.
fn quick_retries(attempts: u32) -> Replicator {
    Replicator {
        workers: 1,
        retry: RetryPolicy {
            attempts,
            base: Duration::from_millis(50),
            max: Duration::from_secs(5),
        },
        ..Replicator::default()
    }
}

fn task(src_repo: &str, dst_repo: &str) -> CopyTask {
    CopyTask {
        src_repo: common::repo(src_repo),
        tag: common::tag("v1"),
        dst_repo: common::repo(dst_repo),
    }
}

/// Pushes `image` to `host`/`name` as the administrator; returns its layout.
async fn push(skopeo: &Skopeo, image: &Image, host: &str, name: &str) -> PathBuf {
    let (dir, out) = skopeo
        .push(
            image,
            &docker(host, name),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await;
    out.assert_success();
    dir
}

/// Pulls `host`/`name` with skopeo as the administrator and checks that it is
/// `image`, byte for byte, as pushed from the layout `src`.
async fn assert_pulls_identical(
    skopeo: &Skopeo,
    host: &str,
    name: &str,
    src: &Path,
    image: &Image,
) {
    let (dir, out) = skopeo
        .pull(&docker(host, name), Some(&creds("admin", ADMIN_PASSWORD)))
        .await;
    out.assert_success();
    let entry = layout::tagged(&dir, "v1");
    assert_eq!(
        entry["digest"],
        image.digest.as_str(),
        "digest of {name} on {host}: {entry}"
    );
    assert!(
        layout::read_blob(&dir, &image.digest) == image.manifest,
        "the manifest bytes of {name} changed on the way"
    );
    layout::assert_blobs_copied(src, &dir);
}

// ---------------------------------------------------------------------------
// Faults answered by retries
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_answered_with_500s_and_429s_is_retried_honouring_retry_after_and_pulls_back_identical(
) {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(301);
    let src = push(&skopeo, &image, &a.host(), "library/app:v1").await;
    let proxy = Proxy::start(
        &b.base,
        vec![
            Rule::new(Method::PUT, "/blobs/uploads/", Fault::Status(500), 2),
            Rule::new(Method::PUT, "/manifests/", Fault::Status(429), 2),
        ],
    )
    .await;
    let copier = Copier::new(
        adapter(&a.base),
        adapter(&proxy.base()),
        CopyOptions::default(),
    );

    let started = Instant::now();
    let outcome = quick_retries(6)
        .copy_with_retries(&copier, task("library/app", "mirror/app"))
        .await;
    let elapsed = started.elapsed();

    let report = outcome.result.as_ref().unwrap_or_else(|e| {
        panic!(
            "the copy failed after {} attempt(s): {e}\nproxy: {:#?}",
            outcome.attempts,
            proxy.log()
        )
    });
    // Two blob uploads refused with 500, then two manifest pushes with 429:
    // four failed attempts and the fifth succeeds.
    assert_eq!(outcome.attempts, 5, "attempts; proxy: {:#?}", proxy.log());
    assert_eq!(proxy.faults_left(), 0, "unused faults: {:#?}", proxy.log());
    let log = proxy.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("500 for PUT")).count(),
        2,
        "{log:#?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("429 for PUT")).count(),
        2,
        "{log:#?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "two 429s with Retry-After: 1 must wait a second each; the copy took {elapsed:?}"
    );
    assert_eq!(
        report.digest.as_ref().map(ToString::to_string),
        Some(image.digest.clone()),
        "{report:?}"
    );
    // The last attempt found every blob from the third attempt in place.
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped, report.manifests),
        (0, 4, 1),
        "{report:?}"
    );

    assert_pulls_identical(&skopeo, &b.host(), "mirror/app:v1", &src, &image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_in_the_middle_of_a_blob_upload_leaves_no_partial_blob_and_the_retry_succeeds(
) {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(302);
    let src = push(&skopeo, &image, &a.host(), "library/app:v1").await;
    let big = image
        .layers
        .iter()
        .max_by_key(|l| l.len())
        .unwrap_or_else(|| panic!("the image has no layers"));
    let big_digest = common::digest(big);
    let after = 1024 * 1024 + 7;
    // Only uploads longer than `after` are cut: the big layer.
    let proxy = Proxy::start(
        &b.base,
        vec![Rule::new(
            Method::PUT,
            "/blobs/uploads/",
            Fault::Cut { after },
            1,
        )],
    )
    .await;
    let mut cuts = proxy.watch_cuts();
    let copier = Copier::new(
        adapter(&a.base),
        adapter(&proxy.base()),
        CopyOptions::default(),
    );
    let copy = tokio::spawn(async move {
        quick_retries(3)
            .copy_with_retries(&copier, task("library/app", "mirror/app"))
            .await
    });

    let cut = tokio::time::timeout(Duration::from_secs(120), cuts.recv())
        .await
        .unwrap_or_else(|_| panic!("no upload was cut within 120 s: {:#?}", proxy.log()))
        .unwrap_or_else(|| panic!("the proxy stopped reporting cuts"));
    assert_eq!(
        cut.digest.as_deref(),
        Some(big_digest.as_str()),
        "the cut upload {}",
        cut.path
    );
    assert_eq!(cut.forwarded, after);
    assert!(
        cut.upstream.starts_with("failed"),
        "the destination must not accept a body cut short; upstream {}",
        cut.upstream
    );
    // The client still waits for its answer, so it has not retried yet: what
    // the destination shows now is what a cut leaves behind. Asked directly,
    // not through the proxy, a few times while the server winds the upload down.
    let direct = adapter(&b.base);
    let digest = harbor_core::Digest::parse(&big_digest)
        .unwrap_or_else(|e| panic!("digest {big_digest}: {e}"));
    for _ in 0..5 {
        let size = direct
            .blob_size(&common::repo("mirror/app"), &digest)
            .await
            .unwrap_or_else(|e| panic!("HEAD {big_digest} on the destination: {e}"));
        assert_eq!(
            size, None,
            "a blob cut after {after} bytes is visible on the destination"
        );
        let tag = direct
            .manifest_digest(&common::repo("mirror/app"), &common::reference("v1"))
            .await
            .unwrap_or_else(|e| panic!("HEAD mirror/app:v1 on the destination: {e}"));
        assert_eq!(tag, None, "the tag exists before its content is complete");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let _ = cut.release.send(());

    let outcome = copy
        .await
        .unwrap_or_else(|e| panic!("the copy task panicked: {e}"));
    let report = outcome.result.as_ref().unwrap_or_else(|e| {
        panic!(
            "the copy failed after {} attempt(s): {e}\nproxy: {:#?}",
            outcome.attempts,
            proxy.log()
        )
    });
    assert_eq!(outcome.attempts, 2, "proxy: {:#?}", proxy.log());
    assert_eq!(proxy.faults_left(), 0);
    // The retry re-sent only the blob that was cut.
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped, report.bytes),
        (1, 3, big.len() as u64),
        "{report:?}"
    );
    assert_eq!(
        direct
            .blob_size(&common::repo("mirror/app"), &digest)
            .await
            .unwrap_or_else(|e| panic!("HEAD {big_digest}: {e}")),
        Some(big.len() as u64),
        "the blob after the retry"
    );
    assert_pulls_identical(&skopeo, &b.host(), "mirror/app:v1", &src, &image).await;
}

/// Checkpoints saved in `dir` (a save cut off half-way may leave a `.tmp`
/// file, which is never read as a checkpoint).
fn saved(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_none_or(|x| x != "tmp"))
                .count()
        })
        .unwrap_or(0)
}

/// Bytes of every blob of `image`.
fn image_bytes(image: &Image) -> u64 {
    (image.config.len() + image.layers.iter().map(Vec::len).sum::<usize>()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_copy_cut_in_the_middle_of_a_chunk_resumes_from_the_last_acknowledged_chunk() {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(303);
    let src = push(&skopeo, &image, &a.host(), "library/app:v1").await;
    // 1 MiB chunks: only the 5 MiB layer goes by chunks. Its fourth chunk,
    // after three were acknowledged, is cut 300,000 bytes in.
    let chunk = 1u64 << 20;
    let cut_after = 300_000;
    let proxy = Proxy::start(
        &b.base,
        vec![Rule::new(
            Method::PATCH,
            "/blobs/uploads/",
            Fault::Cut { after: cut_after },
            1,
        )
        .after_first(3)],
    )
    .await;
    let copier = Copier::new(
        adapter(&a.base),
        adapter(&proxy.base()),
        CopyOptions {
            chunk_size: Some(chunk),
            ..CopyOptions::default()
        },
    );

    let outcome = quick_retries(3)
        .copy_with_retries(&copier, task("library/app", "mirror/app"))
        .await;

    let report = outcome.result.as_ref().unwrap_or_else(|e| {
        panic!(
            "the copy failed after {} attempt(s): {e}\nproxy: {:#?}",
            outcome.attempts,
            proxy.log()
        )
    });
    assert_eq!(
        proxy.faults_left(),
        0,
        "no chunk was cut: {:#?}",
        proxy.log()
    );
    // The cut was mended inside the blob's upload, not by a new attempt.
    assert_eq!(outcome.attempts, 1, "proxy: {:#?}", proxy.log());
    assert_eq!(
        (report.blobs_copied, report.bytes),
        (4, image_bytes(&image)),
        "{report:?}"
    );
    // What went over the wire beyond the image is at most the part of the
    // chunk that was cut; starting the blob again would have re-sent 3 MiB.
    let sent = proxy.upload_bytes_into("mirror/app");
    assert!(
        sent >= image_bytes(&image) && sent <= image_bytes(&image) + cut_after,
        "{sent} bytes sent for an image of {} bytes",
        image_bytes(&image)
    );
    assert_pulls_identical(&skopeo, &b.host(), "mirror/app:v1", &src, &image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_copy_abandoned_mid_blob_is_continued_from_its_checkpoint_by_a_new_copier() {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(304);
    let src = push(&skopeo, &image, &a.host(), "library/app:v1").await;
    let big = image
        .layers
        .iter()
        .max_by_key(|l| l.len())
        .unwrap_or_else(|| panic!("the image has no layers"))
        .len() as u64;
    let proxy = Proxy::start(&b.base, Vec::new()).await;
    // About 1.6 MB/s: the 5 MiB layer takes seconds, time enough to drop it.
    proxy.set_throttle(Some(Throttle {
        chunk: 32 * 1024,
        pause: Duration::from_millis(20),
    }));
    let checkpoints = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let options = |dir: &Path| CopyOptions {
        chunk_size: Some(1 << 20),
        checkpoints: Some(Arc::new(FsCheckpoints::new(dir))),
        ..CopyOptions::default()
    };
    let copier = Copier::new(
        adapter(&a.base),
        adapter(&proxy.base()),
        options(checkpoints.path()),
    );
    let first = tokio::spawn(async move {
        copier
            .copy_image(
                &common::repo("library/app"),
                &common::reference("v1"),
                &common::repo("mirror/app"),
                Some(&common::tag("v1")),
            )
            .await
    });
    // The big layer goes last: once 3.5 MiB of it are through, three chunks are
    // acknowledged. Then the copy is dropped, as a crash would.
    let others = image_bytes(&image) - big;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Half-way through the fourth chunk, not at a chunk's end (where the
    // checkpoint is being saved).
    while proxy.upload_bytes_into("mirror/app") < others + (7 << 19) {
        assert!(
            Instant::now() < deadline && !first.is_finished(),
            "the copy did not get 3 MiB into the big layer: {:#?}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    match first.await {
        Err(e) if e.is_cancelled() => {}
        other => panic!(
            "the copy ended before it was dropped: {other:?}\nproxy: {:#?}",
            proxy.log()
        ),
    }
    assert_eq!(
        saved(checkpoints.path()),
        1,
        "one checkpoint is kept for the blob in flight"
    );
    let direct = adapter(&b.base);
    assert_eq!(
        direct
            .manifest_digest(&common::repo("mirror/app"), &common::reference("v1"))
            .await
            .unwrap_or_else(|e| panic!("HEAD mirror/app:v1: {e}")),
        None,
        "the tag exists before its content is complete"
    );

    proxy.set_throttle(None);
    let before = proxy.upload_bytes_into("mirror/app");
    let copier = Copier::new(
        adapter(&a.base),
        adapter(&proxy.base()),
        options(checkpoints.path()),
    );
    let report = copier
        .copy_image(
            &common::repo("library/app"),
            &common::reference("v1"),
            &common::repo("mirror/app"),
            Some(&common::tag("v1")),
        )
        .await
        .unwrap_or_else(|e| panic!("the second copy: {e}\nproxy: {:#?}", proxy.log()));
    let resent = proxy.upload_bytes_into("mirror/app") - before;
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped),
        (1, 3),
        "{report:?}"
    );
    assert!(
        resent <= big - (2 << 20),
        "{resent} bytes of the {big}-byte layer were sent again"
    );
    assert_eq!(
        saved(checkpoints.path()),
        0,
        "the checkpoint of a finished upload is removed"
    );
    assert_pulls_identical(&skopeo, &b.host(), "mirror/app:v1", &src, &image).await;
}

// ---------------------------------------------------------------------------
// The real binary killed in the middle of an execution
// ---------------------------------------------------------------------------

/// Starts the binary with authentication on over `data_dir`.
async fn start_server(data_dir: &Path, log: &Path) -> ServerProcess {
    ServerProcess::start(
        data_dir,
        log,
        &[
            ("HARBOR_AUTH_MODE", "token"),
            ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
    .await
}

/// The management API as the administrator, on the server process.
impl ServerProcess {
    /// Sends an `/api/v2.0` request as the administrator.
    async fn api(&self, method: &str, path: &str, body: serde_json::Value) -> common::Resp {
        let auth = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("admin:{ADMIN_PASSWORD}")
            )
        );
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        common::request(
            method,
            &self.url(path),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    /// POSTs `body` to `path` and returns the id its `Location` ends with.
    async fn create(&self, path: &str, body: serde_json::Value) -> i64 {
        let resp = self.api("POST", path, body).await;
        assert_eq!(
            resp.status,
            201,
            "POST {path}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.location_id()
    }

    /// GETs JSON from `path` as the administrator.
    async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.api("GET", path, serde_json::Value::Null).await;
        assert_eq!(
            resp.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.json()
    }

    /// The tasks of execution `id`.
    async fn tasks(&self, id: i64) -> Vec<serde_json::Value> {
        let tasks = self
            .get_json(&format!(
                "/api/v2.0/replication/executions/{id}/tasks?page_size=100"
            ))
            .await;
        tasks
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("tasks of execution {id} are not a list: {tasks}"))
    }

    /// The log of task `task` of execution `id`.
    async fn task_log(&self, id: i64, task: i64) -> String {
        let path = format!("/api/v2.0/replication/executions/{id}/tasks/{task}/log");
        let resp = self.api("GET", &path, serde_json::Value::Null).await;
        assert_eq!(resp.status, 200, "GET {path}");
        String::from_utf8_lossy(&resp.body).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_in_the_middle_of_an_execution_resumes_it_after_a_restart_and_every_image_arrives_intact(
) {
    killed_in_the_middle_of_an_execution(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_in_the_middle_of_a_chunked_copy_resumes_the_blob_from_its_last_acknowledged_chunk(
) {
    killed_in_the_middle_of_an_execution(true).await;
}

/// Kills the server with SIGKILL while an execution copies three images (one
/// with a 32 MiB layer), restarts it and checks that the execution finishes
/// with every image intact. With `chunked` (`copy_by_chunk` on), the 32 MiB
/// layer goes by 10 MiB chunks and is continued after the restart rather
/// than sent again from its first byte.
async fn killed_in_the_middle_of_an_execution(chunked: bool) {
    use std::os::unix::process::ExitStatusExt;

    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = tmp.path().join("data");
    let skopeo = Skopeo::new();
    let mut first = start_server(&data, &tmp.path().join("first.log")).await;
    // Two ordinary images and one whose 32 MiB layer cannot sit whole in the
    // sockets' buffers between the server and the proxy: killing the server
    // surely cuts that upload short.
    let big_layer = layout::tar(&[("opt/big.bin", &layout::pseudo_random(499, 32 << 20))]);
    let images = [
        ("one", layout::three_layer_image(401)),
        ("two", layout::three_layer_image(402)),
        ("big", Image::new("linux", "amd64", vec![big_layer])),
    ];
    let names: Vec<&str> = images.iter().map(|(n, _)| *n).collect();
    let mut pushed = Vec::new();
    for (name, image) in images {
        let src = push(&skopeo, &image, &first.addr, &format!("library/{name}:v1")).await;
        pushed.push((name, image, src));
    }

    // The destination, reached through a proxy that slows uploads to about
    // 1.6 MB/s each: every image takes seconds, long enough to be killed in.
    let dest = TestServer::start_with_auth().await;
    let proxy = Proxy::start(&dest.base, Vec::new()).await;
    proxy.set_throttle(Some(Throttle {
        chunk: 64 * 1024,
        pause: Duration::from_millis(40),
    }));
    let registry = first
        .create(
            "/api/v2.0/registries",
            serde_json::json!({
                "name": "destination",
                "type": "harbor",
                "url": proxy.base(),
                "insecure": false,
                "credential": {
                    "type": "basic",
                    "access_key": "admin",
                    "access_secret": ADMIN_PASSWORD,
                },
            }),
        )
        .await;
    let policy = first
        .create(
            "/api/v2.0/replication/policies",
            serde_json::json!({
                "name": "to-destination",
                "dest_registry": { "id": registry },
                "dest_namespace": "mirror",
                "dest_namespace_replace_count": 1,
                "filters": [{ "type": "name", "value": "library/**" }],
                "trigger": { "type": "manual" },
                "override": true,
                "enabled": true,
                "copy_by_chunk": chunked,
            }),
        )
        .await;
    let execution = first
        .create(
            "/api/v2.0/replication/executions",
            serde_json::json!({ "policy_id": policy }),
        )
        .await;

    // Wait until a task is InProgress with blob bytes flowing, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = loop {
        let tasks = first.tasks(execution).await;
        let running = tasks.iter().any(|t| t["status"] == "InProgress");
        // Chunked, the big layer must have had a 10 MiB chunk acknowledged.
        let enough = if chunked {
            proxy.upload_bytes_into("mirror/big") >= 12 << 20
        } else {
            proxy.upload_bytes() >= 1024 * 1024
        };
        if running && enough {
            break tasks;
        }
        assert!(
            Instant::now() < deadline,
            "no task got going within 120 s: {tasks:#?}\nproxy: {:#?}\nlog:\n{}",
            proxy.log(),
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(before.len(), names.len(), "one task per image: {before:#?}");
    let status = first.signal("9").await;
    assert_eq!(status.signal(), Some(9), "the server died of {status}");
    let first_log = first.log_text();
    drop(first);
    // Chunked, the small images may be done already; the big one may not.
    assert!(
        before
            .iter()
            .filter(|t| !chunked || t["dst_resource"] == "mirror/big:v1")
            .all(|t| t["status"] != "Succeeded"),
        "a task finished before the kill, the throttle is too loose: {before:#?}"
    );

    // What the dead server had written into the sockets drains at full speed
    // now; then the proxy sees the uploads in flight end short.
    proxy.set_throttle(None);
    let cut_repos: Vec<String> = if chunked {
        // A 10 MiB chunk can sit whole in the loopback sockets' buffers, so
        // the chunk in flight may arrive complete after the kill: wait until
        // nothing more drains. The big layer's task was not finished (checked
        // above), so its upload is the one the kill interrupted.
        let mut last = proxy.upload_bytes();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = proxy.upload_bytes();
            if now == last {
                break;
            }
            last = now;
        }
        vec!["mirror/big".to_owned()]
    } else {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !proxy
            .abandoned()
            .iter()
            .any(|p| p.contains("/v2/mirror/big/"))
        {
            assert!(
                Instant::now() < deadline,
                "the kill did not cut the upload of the 32 MiB layer; proxy: {:#?}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Repositories whose upload was cut, e.g. `mirror/big`.
        let abandoned = proxy.abandoned();
        let cut: Vec<String> = abandoned
            .iter()
            .filter_map(|what| upload_repo(what))
            .collect();
        assert_eq!(cut.len(), abandoned.len(), "{abandoned:#?}");
        cut
    };

    let big_before = proxy.upload_bytes_into("mirror/big");
    // Restarted on the same data directory: the execution goes on.
    let second = start_server(&data, &tmp.path().join("second.log")).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let e = second
            .get_json(&format!("/api/v2.0/replication/executions/{execution}"))
            .await;
        if e["status"] != "InProgress" && e["status"] != "Pending" {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the execution did not finish within 180 s after the restart: {e}\nproxy: {:#?}\nlog:\n{}",
            proxy.log(),
            second.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let tasks = second.tasks(execution).await;
    let mut logs = Vec::new();
    for t in &tasks {
        let id = t["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("task without an id: {t}"));
        logs.push((t.clone(), second.task_log(execution, id).await));
    }
    assert_eq!(
        finished["status"], "Succeeded",
        "execution after the restart: {finished}\ntasks and logs: {logs:#?}\nproxy: {:#?}\nfirst log:\n{first_log}\nsecond log:\n{}",
        proxy.log(),
        second.log_text()
    );
    assert_eq!(
        (
            &finished["total"],
            &finished["succeed"],
            &finished["failed"],
            &finished["in_progress"]
        ),
        (
            &serde_json::json!(names.len()),
            &serde_json::json!(names.len()),
            &serde_json::json!(0),
            &serde_json::json!(0)
        ),
        "{finished}"
    );
    let big_after = proxy.upload_bytes_into("mirror/big") - big_before;
    let big_size = 32u64 << 20;
    if chunked {
        assert!(
            second
                .log_text()
                .contains("resuming a chunked upload saved before a restart"),
            "the restarted server did not continue the chunked upload:\n{}",
            second.log_text()
        );
        // Everything up to the last acknowledged chunk (10 MiB at least)
        // stays where it is; at most one chunk in flight is sent again.
        assert!(
            big_after <= big_size - (10 << 20) + 4096,
            "after the restart {big_after} bytes of the {big_size}-byte layer were sent again"
        );
    } else {
        assert!(
            big_after >= big_size,
            "without chunks the layer is sent whole again, but only {big_after} bytes were"
        );
    }
    assert!(
        second.log_text().contains("resuming"),
        "the restarted server did not say it resumed the execution:\n{}",
        second.log_text()
    );
    for (t, log) in &logs {
        assert_eq!(
            t["status"], "Succeeded",
            "no task may be left behind: {t}\n{log}"
        );
        let dst = t["dst_resource"].as_str().unwrap_or_default();
        let was_cut = cut_repos.iter().any(|r| dst == format!("{r}:v1"));
        if was_cut {
            assert!(
                log.contains("attempt 1:") && log.contains("attempt 2:"),
                "the task whose upload the kill cut shows one attempt only: {t}\n{log}"
            );
            assert!(
                t["attempts"].as_u64().unwrap_or(0) >= 2,
                "attempts of a task cut by the kill: {t}"
            );
        }
        assert!(log.contains("done:"), "{t}\n{log}");
    }
    assert!(
        logs.iter().any(|(t, _)| {
            let dst = t["dst_resource"].as_str().unwrap_or_default();
            cut_repos.iter().any(|r| dst == format!("{r}:v1"))
        }),
        "no task matches the uploads cut ({cut_repos:?}): {logs:#?}"
    );

    for (name, image, src) in &pushed {
        assert_pulls_identical(
            &skopeo,
            &dest.host(),
            &format!("mirror/{name}:v1"),
            src,
            image,
        )
        .await;
    }
}
