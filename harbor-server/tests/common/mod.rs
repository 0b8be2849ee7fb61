//! Helpers shared by the server's integration tests: an in-process server on
//! an ephemeral loopback port and a small HTTP client.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod distribution;
pub mod layout;
pub mod nginx;
pub mod oidc;
pub mod portal;
pub mod process;
pub mod receiver;
pub mod rsyslog;
pub mod skopeo;
pub mod slapd;
pub mod swagger;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

/// The administrator password of [`TestServer::start_with_auth`].
pub const ADMIN_PASSWORD: &str = "Harbor12345";

/// A server running in this process on 127.0.0.1 with a fresh data directory.
pub struct TestServer {
    /// Users, projects and tokens, when started with authentication.
    pub auth: Option<std::sync::Arc<harbor_server::AuthState>>,
    /// Replication, when started with authentication.
    pub replication: Option<std::sync::Arc<harbor_replicate::ReplicationService>>,
    /// The `sendfile` counts of each open plain-TCP connection.
    pub connections: harbor_server::sendfile::Connections,
    /// The engine behind the server.
    pub registry: harbor_core::Registry,
    /// Where metrics are served, when enabled.
    pub metrics: Option<SocketAddr>,
    pub addr: SocketAddr,
    pub base: String,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        Self::start_in(dir, |_| {}).await
    }

    /// Starts a server with Harbor's authentication on and `admin` having
    /// password `ADMIN_PASSWORD`.
    pub async fn start_with_auth() -> TestServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        Self::start_in(dir, |c| {
            c.auth.mode = harbor_server::config::AuthMode::Token;
            c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        })
        .await
    }

    /// Starts a server on `dir`, letting `tweak` adjust the configuration.
    pub async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut harbor_server::Config),
    ) -> TestServer {
        let mut config = harbor_server::Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        // The protocol tests run an open registry; auth tests switch it on.
        config.auth.mode = harbor_server::config::AuthMode::None;
        tweak(&mut config);
        let server = harbor_server::Server::bind(config)
            .await
            .unwrap_or_else(|e| panic!("server start: {e}"));
        let addr = server.local_addr();
        let auth = server.auth().cloned();
        let replication = server.replication().cloned();
        let connections = server.connections();
        let registry = server.registry().clone();
        let metrics = server.metrics_addr();
        let scheme = if server.is_tls() { "https" } else { "http" };
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        TestServer {
            auth,
            replication,
            connections,
            registry,
            metrics,
            addr,
            base: format!("{scheme}://{addr}"),
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    fn store(&self) -> &dyn harbor_core::IdentityStore {
        match &self.auth {
            Some(a) => a.identity.as_ref(),
            None => panic!("the server was started without authentication"),
        }
    }

    /// Creates a user with `password`; returns its id.
    pub async fn create_user(&self, name: &str, password: &str) -> i64 {
        let password_hash = password_hash(password);
        let user = harbor_core::NewUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            realname: name.into(),
            comment: String::new(),
            password_hash,
            sysadmin: false,
        };
        self.store()
            .create_user(&user)
            .await
            .unwrap_or_else(|e| panic!("create user {name}: {e}"))
            .id
    }

    /// Creates a project owned by the admin; returns its id.
    pub async fn create_project(&self, name: &str, public: bool) -> i64 {
        self.store()
            .create_project(name, public, 1)
            .await
            .unwrap_or_else(|e| panic!("create project {name}: {e}"))
            .id
    }

    /// The server's identity store, for what a test sets up directly (what
    /// a directory login would do, say).
    pub fn identity(&self) -> &dyn harbor_core::IdentityStore {
        self.store()
    }

    /// Makes user `user_id` a member of project `project_id` with `role`.
    pub async fn add_member(&self, project_id: i64, user_id: i64, role: harbor_core::Role) {
        self.store()
            .add_member(project_id, user_id, role)
            .await
            .unwrap_or_else(|e| panic!("add member: {e}"));
    }

    /// `host:port`, as skopeo wants it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the server gracefully and returns its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::mem::replace(&mut self.dir, dir)
    }

    /// Sends a request to `path` (starting with `/`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        request(method, &format!("{}{path}", self.base), headers, body).await
    }

    /// GET with an `Authorization` header.
    pub async fn get_with(&self, path: &str, authorization: &str) -> Resp {
        self.send(
            "GET",
            path,
            &[("authorization", authorization)],
            Bytes::new(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// Pushes a one-layer OCI image to `repo:tag` through `/v2/` (as the
    /// administrator when authentication is on) and returns the manifest
    /// digest. Config and layer are made from `repo` and `tag`, so every
    /// image pushed differs; the manifest carries an `org.example`
    /// annotation.
    pub async fn push_image(&self, repo: &str, tag: &str) -> String {
        use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
        use harbor_core::{Descriptor, ImageManifestBuilder};
        let auth = admin_auth();
        let headers: Vec<(&str, &str)> = match self.auth {
            Some(_) => vec![("authorization", auth.as_str())],
            None => Vec::new(),
        };
        let config =
            format!(r#"{{"architecture":"amd64","os":"linux","repo":"{repo}","tag":"{tag}"}}"#);
        let layer = format!("layer of {repo}:{tag}").repeat(500).into_bytes();
        for data in [config.as_bytes(), &layer[..]] {
            let r = self
                .send(
                    "POST",
                    &format!("/v2/{repo}/blobs/uploads/?digest={}", digest(data)),
                    &headers,
                    data.to_vec(),
                )
                .await;
            assert_eq!(r.status, 201, "blob push to {repo}: {:?}", r.body);
        }
        let manifest =
            ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config.as_bytes()))
                .layer(Descriptor::for_blob(OCI_LAYER_TAR, &layer))
                .annotation("org.example", "yes")
                .build()
                .expect("a small manifest");
        let mut with_type = headers.clone();
        with_type.push(("content-type", manifest.media_type()));
        let r = self
            .send(
                "PUT",
                &format!("/v2/{repo}/manifests/{tag}"),
                &with_type,
                manifest.bytes().clone(),
            )
            .await;
        assert_eq!(
            r.status,
            201,
            "manifest push to {repo}:{tag}: {}",
            String::from_utf8_lossy(&r.body)
        );
        manifest.digest().to_string()
    }

    /// Pushes `data` monolithically into `repo` and returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                data.to_vec(),
            )
            .await;
        assert_eq!(r.status, 201, "monolithic push: {:?}", r.body);
        d
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response with its body read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The id at the end of the `Location` of a created resource
    /// (`/api/v2.0/users/7` is 7); fails the test when there is none.
    pub fn location_id(&self) -> i64 {
        let location = self.header("location").unwrap_or_default();
        location
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no id in Location {location:?} ({}: {})",
                    self.status,
                    String::from_utf8_lossy(&self.body)
                )
            })
    }

    /// The `code` of the first error in an OCI error body.
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Sends one plain-HTTP request.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    try_request(method, url, headers, body)
        .await
        .expect("test setup")
}

/// Sends one plain-HTTP request; `Err` (with a message naming the request) if
/// it cannot be sent or its body cannot be read, e.g. while a peer starts.
pub async fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Resp, String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(body.into()))
        .map_err(|e| format!("request: {e}"))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body of {method} {url}: {e}"))?
        .to_bytes();
    let resp = Resp {
        status,
        headers,
        body,
    };
    check_against_harbor(method, url, &resp);
    Ok(resp)
}

/// Every `/api/v2.0` answer a test receives must be what Harbor's swagger
/// documents for that operation: status, headers and body.
fn check_against_harbor(method: &str, url: &str, resp: &Resp) {
    let path = match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(start) => &url[start..],
        None => return,
    };
    if !path.starts_with("/api/v2.0/") {
        return;
    }
    let swagger = swagger::harbor();
    if !swagger.documents(method, path) {
        return;
    }
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Err(problems) = swagger.check(method, path, resp.status, &headers, &resp.body) {
        panic!(
            "the answer differs from Harbor's swagger:\n  {}\nbody: {}",
            problems.join("\n  "),
            String::from_utf8_lossy(&resp.body)
        );
    }
}

/// `sha256:<hex>` of `data`.
pub fn digest(data: &[u8]) -> String {
    harbor_core::Digest::sha256(data).to_string()
}

/// PBKDF2 hashes, computed once per password for the whole test binary.
pub fn password_hash(password: &str) -> String {
    static CACHE: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, h)) = cache.iter().find(|(p, _)| p == password) {
        return h.clone();
    }
    let h = harbor_auth::password::hash_password(password).unwrap_or_else(|e| panic!("hash: {e}"));
    cache.push((password.to_owned(), h.clone()));
    h
}

/// One request over a raw TCP connection, for what a well-behaved client
/// library will not send (bytes that are not text in a header, a body far
/// over a limit). `head` is the request line and headers without the blank
/// line; `Connection: close` is added. The body is written while the answer
/// is read, so a server that answers early is seen doing so. Returns the
/// status, the header block and the body.
pub async fn raw_request(addr: SocketAddr, head: &[u8], body: Vec<u8>) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let conn = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut rd, mut wr) = conn.into_split();
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    // The write half is handed back, not dropped: dropping it would
    // half-close the connection, which a server may take for a client
    // that left mid-request.
    let writer = tokio::spawn(async move {
        let sent = async {
            wr.write_all(&request).await?;
            for piece in body.chunks(64 * 1024) {
                wr.write_all(piece).await?;
            }
            wr.flush().await
        }
        .await;
        (wr, sent)
    });
    let mut answer = Vec::new();
    rd.read_to_end(&mut answer)
        .await
        .unwrap_or_else(|e| panic!("reading the answer: {e}"));
    let _ = writer.await;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&answer)));
    let headers = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {headers}"));
    (status, headers, answer[split + 4..].to_vec())
}

/// `Authorization: Basic` for `user` and `password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `Authorization: Basic` for `admin` with [`ADMIN_PASSWORD`].
pub fn admin_auth() -> String {
    basic("admin", ADMIN_PASSWORD)
}

/// A management API call to `url` with a JSON body (or none) as `auth`
/// (an `Authorization` value).
pub async fn json_call(
    url: &str,
    auth: &str,
    method: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    request(
        method,
        url,
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        text,
    )
    .await
}

/// [`json_call`] as `admin`.
pub async fn admin_call(url: &str, method: &str, body: Option<serde_json::Value>) -> Resp {
    json_call(url, &admin_auth(), method, body).await
}

/// A repository name the test knows to be valid.
pub fn repo(s: &str) -> harbor_core::RepositoryName {
    harbor_core::RepositoryName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A tag the test knows to be valid.
pub fn tag(s: &str) -> harbor_core::Tag {
    harbor_core::Tag::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A tag or digest the test knows to be valid.
pub fn reference(s: &str) -> harbor_core::Reference {
    harbor_core::Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}
