//! The real `harbor-server` binary stopped with SIGTERM and started again on
//! the same data directory: images pushed before the restart pull back
//! identical after it, and an upload session begun before it goes on.
//!
//! skopeo must be installed (CI installs it); the image test fails without it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::layout;
use common::skopeo::{docker, oci, Skopeo};

/// How long the server may take to announce itself or to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `harbor-server serve` child process. Dropping it kills the process, so a
/// failing test never leaves a server behind.
struct ServerProcess {
    child: Child,
    /// `host:port` it listens on.
    addr: String,
    /// Where its standard error (the log) goes.
    log: PathBuf,
    /// Kept open so that the server can still write to its standard output.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts the binary on an ephemeral port over `data_dir` and waits for
    /// its `harbor-server listening on http://ADDR` line.
    async fn start(data_dir: &Path, log: &Path) -> ServerProcess {
        let (data_dir, log) = (data_dir.to_owned(), log.to_owned());
        tokio::task::spawn_blocking(move || Self::start_blocking(&data_dir, &log))
            .await
            .unwrap_or_else(|e| panic!("starting the server: {e}"))
    }

    fn start_blocking(data_dir: &Path, log: &Path) -> ServerProcess {
        let log_file =
            std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harbor-server"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        // The environment overrides configuration: keep the caller's out.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HARBOR_")) {
            cmd.env_remove(key);
        }
        // This test is about durability, not access control: an open registry.
        cmd.env("HARBOR_AUTH_MODE", "none");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn harbor-server: {e}"));
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            panic!("harbor-server has no stdout pipe");
        };
        // From here on the guard owns the child and kills it on any panic.
        let mut server = ServerProcess {
            child,
            addr: String::new(),
            log: log.to_owned(),
            _stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let n = server
                ._stdout
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading harbor-server's stdout: {e}"));
            if n == 0 {
                panic!(
                    "harbor-server closed its stdout before announcing its address; log:\n{}",
                    server.log_text()
                );
            }
            if let Some(addr) = line
                .trim()
                .strip_prefix("harbor-server listening on http://")
            {
                server.addr = addr.to_owned();
                return server;
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(no log at {}: {e})", self.log.display()))
    }

    /// Sends SIGTERM and waits for the process to exit by itself.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("run kill -TERM {pid}: {e}"));
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Ok(None) => panic!(
                    "harbor-server (pid {pid}) did not exit within {PATIENCE:?} of SIGTERM; log:\n{}",
                    self.log_text()
                ),
                Err(e) => panic!("waiting for harbor-server (pid {pid}): {e}"),
            }
        }
    }

    /// Stops the server gracefully and fails the test unless it exits with success.
    async fn stop_gracefully(&mut self) {
        let status = self.terminate().await;
        assert!(
            status.success(),
            "harbor-server exited with {status} after SIGTERM; log:\n{}",
            self.log_text()
        );
        let log = self.log_text();
        assert!(
            log.contains("harbor-server stopped"),
            "no clean stop in the log:\n{log}"
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Child::kill sends SIGKILL to this child's own PID.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn location_path(location: &str) -> String {
    match location.find("/v2/") {
        Some(i) => location[i..].to_owned(),
        None => panic!("unexpected Location {location:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_pushed_before_a_graceful_restart_pull_back_identical_after_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = tmp.path().join("data");
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(11);
    let multi = layout::MultiPlatform::new(12);
    let src = skopeo.scratch("in");
    layout::write_image(&src, "v1", &image);
    let multi_src = skopeo.scratch("multi-in");
    layout::write_multi_platform(&multi_src, "v1", &multi);

    let mut first = ServerProcess::start(&data, &tmp.path().join("first.log")).await;
    skopeo
        .ok(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&src, "v1"),
            &docker(&first.addr, "library/app:v1"),
        ])
        .await;
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&multi_src, "v1"),
            &docker(&first.addr, "library/multi:v1"),
        ])
        .await;
    first.stop_gracefully().await;

    let mut second = ServerProcess::start(&data, &tmp.path().join("second.log")).await;
    let resp = common::request("GET", &second.url("/v2/_catalog"), &[], Bytes::new()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["repositories"],
        serde_json::json!(["library/app", "library/multi"]),
        "the catalog after the restart"
    );

    let out = skopeo.scratch("out");
    skopeo
        .ok(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &docker(&second.addr, "library/app:v1"),
            &oci(&out, "v1"),
        ])
        .await;
    let entry = layout::tagged(&out, "v1");
    assert_eq!(entry["digest"], image.digest.as_str(), "{entry}");
    assert_eq!(layout::read_blob(&out, &image.digest), image.manifest);
    layout::assert_blobs_copied(&src, &out);

    let multi_out = skopeo.scratch("multi-out");
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &docker(&second.addr, "library/multi:v1"),
            &oci(&multi_out, "v1"),
        ])
        .await;
    let entry = layout::tagged(&multi_out, "v1");
    assert_eq!(entry["digest"], multi.digest.as_str(), "{entry}");
    for child in &multi.images {
        assert_eq!(layout::read_blob(&multi_out, &child.digest), child.manifest);
    }
    layout::assert_blobs_copied(&multi_src, &multi_out);

    second.stop_gracefully().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_session_begun_before_a_graceful_restart_completes_after_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = tmp.path().join("data");
    let blob = layout::pseudo_random(21, 3 * 1024 * 1024 + 5);
    let digest = common::digest(&blob);
    let split = 1024 * 1024 + 17;
    let (head, tail) = blob.split_at(split);

    let mut first = ServerProcess::start(&data, &tmp.path().join("first.log")).await;
    let resp = common::request(
        "POST",
        &first.url("/v2/library/resume/blobs/uploads/"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(resp.status, 202, "POST uploads: {:?}", resp.body);
    let location = location_path(
        resp.header("location")
            .unwrap_or_else(|| panic!("no Location: {:?}", resp.headers)),
    );
    let uuid = resp.header("docker-upload-uuid").unwrap_or("").to_owned();
    assert!(location.ends_with(&uuid), "{location} names session {uuid}");

    let range = format!("0-{}", split - 1);
    let len = split.to_string();
    let resp = common::request(
        "PATCH",
        &first.url(&location),
        &[
            ("content-type", "application/octet-stream"),
            ("content-range", &range),
            ("content-length", &len),
        ],
        Bytes::copy_from_slice(head),
    )
    .await;
    assert_eq!(resp.status, 202, "first PATCH: {:?}", resp.body);
    assert_eq!(resp.header("range"), Some(range.as_str()));
    first.stop_gracefully().await;

    let mut second = ServerProcess::start(&data, &tmp.path().join("second.log")).await;
    let resp = common::request("GET", &second.url(&location), &[], Bytes::new()).await;
    assert_eq!(
        resp.status, 204,
        "upload status after the restart: {:?}",
        resp.body
    );
    assert_eq!(
        resp.header("range"),
        Some(range.as_str()),
        "{:?}",
        resp.headers
    );
    assert_eq!(resp.header("docker-upload-uuid"), Some(uuid.as_str()));

    let rest_range = format!("{split}-{}", blob.len() - 1);
    let rest_len = tail.len().to_string();
    let resp = common::request(
        "PATCH",
        &second.url(&location),
        &[
            ("content-type", "application/octet-stream"),
            ("content-range", &rest_range),
            ("content-length", &rest_len),
        ],
        Bytes::copy_from_slice(tail),
    )
    .await;
    assert_eq!(resp.status, 202, "second PATCH: {:?}", resp.body);
    let full = format!("0-{}", blob.len() - 1);
    assert_eq!(resp.header("range"), Some(full.as_str()));

    let put = format!("{location}?digest={}", digest.replace(':', "%3A"));
    let resp = common::request(
        "PUT",
        &second.url(&put),
        &[("content-length", "0")],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        resp.status,
        201,
        "PUT {put}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(resp.header("docker-content-digest"), Some(digest.as_str()));

    let blob_url = second.url(&format!("/v2/library/resume/blobs/{digest}"));
    let resp = common::request("GET", &blob_url, &[], Bytes::new()).await;
    assert_eq!(resp.status, 200, "GET the blob");
    assert_eq!(resp.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(resp.body.len(), blob.len());
    assert_eq!(
        common::digest(&resp.body),
        digest,
        "the served bytes hash to the digest"
    );
    assert!(resp.body == blob, "the blob is served as uploaded");

    // The finished session is gone.
    let resp = common::request("GET", &second.url(&location), &[], Bytes::new()).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_code(), "BLOB_UPLOAD_UNKNOWN");
    second.stop_gracefully().await;
}
