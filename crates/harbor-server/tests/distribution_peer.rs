//! Harbor's real architecture: CNCF distribution (Debian's `docker-registry`,
//! version 2.8) stores the images and trusts OUR token service. Its `auth.token`
//! section points its realm at our `/service/token` and its `rootcertbundle` at
//! the `token.crt` our server writes; skopeo follows distribution's challenge to
//! us, and distribution must accept the ES256 tokens we sign (`kid` and `x5c`
//! in the header, `aud` a single string) and honour the access they grant.
//!
//! `/usr/bin/docker-registry` and skopeo must be installed (`scripts/test`
//! installs both); these tests fail without them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};
use harbor_core::Role;

const PASSWORD: &str = "Passw0rdPassw0rd";
const DISTRIBUTION: &str = "/usr/bin/docker-registry";

/// What skopeo says when distribution refuses it for lack of rights.
const DENIED: &[&str] = &["requested access to the resource is denied"];

/// A `docker-registry serve` child process trusting `server`'s tokens, killed
/// (by its PID) when dropped.
struct Distribution {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Writes a configuration whose token realm is `server`'s `/service/token`
    /// and whose root certificate is the server's `token.crt`, starts
    /// distribution on a free loopback port and waits until `/v2/` answers 401.
    async fn start(server: &TestServer) -> Distribution {
        if !Path::new(DISTRIBUTION).exists() {
            panic!(
                "{DISTRIBUTION} is missing: these tests need CNCF distribution 2.8 as Debian \
                 packages it; install it with `apt-get install docker-registry` (scripts/test \
                 does this)"
            );
        }
        let cert = server.dir.path().join("data").join("token.crt");
        assert!(
            cert.is_file(),
            "the server did not write its token certificate at {}",
            cert.display()
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)
            .unwrap_or_else(|e| panic!("create {}: {e}", storage.display()));
        let port = free_port();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n\
             auth:\n  token:\n    realm: \"http://{addr}/service/token\"\n    \
             service: harbor-registry\n    issuer: harbor-token-issuer\n    \
             rootcertbundle: {cert}\n",
            storage = storage.display(),
            addr = server.addr,
            cert = cert.display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config)
            .unwrap_or_else(|e| panic!("write {}: {e}", config_path.display()));
        let log = dir.path().join("distribution.log");
        let log_file =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let log_out = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("clone {}: {e}", log.display()));
        let child = std::process::Command::new(DISTRIBUTION)
            .arg("serve")
            .arg(&config_path)
            .stdin(std::process::Stdio::null())
            .stdout(log_out)
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{DISTRIBUTION} serve`: {e}"));
        let mut peer = Distribution {
            child,
            port,
            log,
            _dir: dir,
        };
        peer.wait_until_ready(&config).await;
        peer
    }

    async fn wait_until_ready(&mut self, config: &str) {
        let url = format!("{}/v2/", self.base());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "distribution exited ({status}) while starting\n--- config\n{config}\n--- log\n{}",
                    self.log_text()
                );
            }
            match common::try_request("GET", &url, &[], Vec::new()).await {
                Ok(r) if r.status == 401 => return,
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "distribution did not answer 401 at {url} within 10 s (last: {last})\n--- config\n{config}\n--- log\n{}",
            self.log_text()
        );
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, as skopeo wants it.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What distribution has logged so far.
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// Fails the test, with skopeo's output and distribution's log, unless
    /// skopeo succeeded.
    fn assert_success(&self, out: &common::skopeo::Output) {
        assert!(
            out.success,
            "`{}` failed\n--- stdout\n{}\n--- stderr\n{}\n--- distribution log\n{}",
            out.command,
            out.stdout,
            out.stderr,
            self.log_text()
        );
    }

    /// Fails the test unless skopeo failed with one of `reasons` in its error.
    fn assert_refused(&self, out: &common::skopeo::Output, reasons: &[&str]) {
        let stderr = out.stderr.to_ascii_lowercase();
        assert!(
            !out.success
                && reasons
                    .iter()
                    .any(|r| stderr.contains(&r.to_ascii_lowercase())),
            "`{}` should have failed with one of {reasons:?} (success: {})\n--- stdout\n{}\n\
             --- stderr\n{}\n--- distribution log\n{}",
            out.command,
            out.success,
            out.stdout,
            out.stderr,
            self.log_text()
        );
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (the listener is dropped at once).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local address: {e}"))
        .port()
}

/// Our server with a private project `team` (Developer `dev`, Guest `guest`),
/// a user `outsider` in no project, and distribution trusting its tokens.
async fn start() -> (TestServer, Distribution) {
    let server = TestServer::start_with_auth().await;
    let project = server.create_project("team", false).await;
    let dev = server.create_user("dev", PASSWORD).await;
    let guest = server.create_user("guest", PASSWORD).await;
    server.create_user("outsider", PASSWORD).await;
    server.add_member(project, dev, Role::Developer).await;
    server.add_member(project, guest, Role::Guest).await;
    let peer = Distribution::start(&server).await;
    (server, peer)
}

/// Asserts that the layout at `dir` holds `image` under `v1`, digest and blobs.
fn assert_pulled(dir: &Path, src: &Path, image: &Image) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        image.digest.as_str(),
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(layout::read_blob(dir, &image.digest), image.manifest);
    layout::assert_blobs_copied(src, dir);
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_pushes_through_distribution_with_our_tokens_and_pulls_the_same_digest_back() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(21);
    let target = docker(&peer.host(), "team/app:v1");
    let dev = creds("dev", PASSWORD);

    let (src, push) = skopeo.push(&image, &target, Some(&dev)).await;
    peer.assert_success(&push);
    let (out, pull) = skopeo.pull(&target, Some(&dev)).await;
    peer.assert_success(&pull);

    assert_pulled(&out, &src, &image);
    // Distribution took the user from our token's `sub`.
    let log = peer.log_text();
    assert!(
        log.contains("auth.user.name=dev"),
        "distribution did not log requests authorized as dev:\n{log}"
    );
    let served = common::request(
        "GET",
        &format!("{}/v2/team/app/manifests/v1", peer.base()),
        &[("accept", layout::OCI_MANIFEST)],
        Vec::new(),
    )
    .await;
    assert_eq!(
        served.status, 401,
        "distribution serves a private manifest without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_refused_the_push_to_distribution() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(22);
    let target = docker(&peer.host(), "team/app:v1");

    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("guest", PASSWORD)))
        .await;
    peer.assert_refused(&push, DENIED);
    let (_, pull) = skopeo.pull(&target, Some(&creds("dev", PASSWORD))).await;
    assert!(
        !pull.success,
        "the refused push left {target} behind: {}",
        pull.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_is_refused_the_pull_of_a_private_project_from_distribution() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(23);
    let target = docker(&peer.host(), "team/app:v1");
    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("dev", PASSWORD)))
        .await;
    peer.assert_success(&push);

    let (_, pull) = skopeo
        .pull(&target, Some(&creds("outsider", PASSWORD)))
        .await;
    peer.assert_refused(&pull, DENIED);
    let (_, pull) = skopeo.pull(&target, None).await;
    peer.assert_refused(&pull, DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_pull_from_a_public_project_through_distribution() {
    let (server, peer) = start().await;
    server.create_project("open", true).await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(24);
    let target = docker(&peer.host(), "open/app:v1");
    let (src, push) = skopeo
        .push(&image, &target, Some(&creds("admin", ADMIN_PASSWORD)))
        .await;
    peer.assert_success(&push);

    let (out, pull) = skopeo.pull(&target, None).await;
    peer.assert_success(&pull);
    assert_pulled(&out, &src, &image);

    // Reading is all an anonymous caller gets there.
    let other = layout::three_layer_image(25);
    let (_, push) = skopeo
        .push(&other, &docker(&peer.host(), "open/anon:v1"), None)
        .await;
    peer.assert_refused(&push, DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_accepts_a_token_we_issued_and_refuses_one_with_a_tampered_payload() {
    let (server, peer) = start().await;
    let issued = server
        .get_with(
            "/service/token?service=harbor-registry",
            &basic("admin", ADMIN_PASSWORD),
        )
        .await;
    assert_eq!(
        issued.status,
        200,
        "token request: {}",
        String::from_utf8_lossy(&issued.body)
    );
    let token = issued.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {}", issued.json()))
        .to_owned();
    let url = format!("{}/v2/", peer.base());

    let ok = common::request(
        "GET",
        &url,
        &[("authorization", &format!("Bearer {token}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(
        ok.status,
        200,
        "distribution refused our token: {:?} {}\n--- token header\n{}\n--- distribution log\n{}",
        ok.header("www-authenticate"),
        String::from_utf8_lossy(&ok.body),
        decode_part(&token, 0),
        peer.log_text()
    );

    // Same header and signature, but the payload now names another subject.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    let mut claims: serde_json::Value = serde_json::from_str(&decode_part(&token, 1))
        .unwrap_or_else(|e| panic!("claims are not JSON: {e}"));
    assert_eq!(claims["sub"], "admin", "{claims}");
    assert!(claims["aud"].is_string(), "aud must be a string: {claims}");
    claims["sub"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let refused = common::request(
        "GET",
        &url,
        &[("authorization", &format!("Bearer {forged}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(
        refused.status,
        401,
        "distribution accepted a tampered token: {}",
        String::from_utf8_lossy(&refused.body)
    );
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("invalid_token"),
        "challenge for a tampered token: {challenge:?}"
    );
    assert!(
        challenge.contains(&format!("realm=\"http://{}/service/token\"", server.addr)),
        "distribution sends clients to our token service: {challenge:?}"
    );
}

/// Part `n` of a compact JWS, base64url-decoded, as text.
fn decode_part(token: &str, n: usize) -> String {
    let part = token.split('.').nth(n).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("part {n} of the token is not base64url: {e}"));
    String::from_utf8_lossy(&bytes).into_owned()
}
