//! The real `harbor-server` binary stopped with SIGTERM and started again on
//! the same data directory: images pushed before the restart pull back
//! identical after it, and an upload session begun before it goes on.
//!
//! skopeo must be installed (CI installs it); the image test fails without it.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::layout;
use common::process::ServerProcess;
use common::skopeo::{docker, oci, Skopeo};

/// Starts an open registry (this test is about durability, not access
/// control) over `data_dir`.
async fn start(data_dir: &Path, log: &Path) -> ServerProcess {
    ServerProcess::start(data_dir, log, &[("HARBOR_AUTH_MODE", "none")]).await
}

/// Stops the server with SIGTERM and fails the test unless it exits with
/// success after logging a clean stop.
async fn stop_gracefully(server: &mut ServerProcess) {
    let status = server.signal("TERM").await;
    assert!(
        status.success(),
        "harbor-server exited with {status} after SIGTERM; log:\n{}",
        server.log_text()
    );
    let log = server.log_text();
    assert!(
        log.contains("harbor-server stopped"),
        "no clean stop in the log:\n{log}"
    );
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

    let mut first = start(&data, &tmp.path().join("first.log")).await;
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
    stop_gracefully(&mut first).await;

    let mut second = start(&data, &tmp.path().join("second.log")).await;
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

    stop_gracefully(&mut second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_session_begun_before_a_graceful_restart_completes_after_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = tmp.path().join("data");
    let blob = layout::pseudo_random(21, 3 * 1024 * 1024 + 5);
    let digest = common::digest(&blob);
    let split = 1024 * 1024 + 17;
    let (head, tail) = blob.split_at(split);

    let mut first = start(&data, &tmp.path().join("first.log")).await;
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
    stop_gracefully(&mut first).await;

    let mut second = start(&data, &tmp.path().join("second.log")).await;
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
    stop_gracefully(&mut second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_colour_codes_off_a_terminal_and_json_logs_are_one_object_a_line() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    // Standard error is a file here, not a terminal.
    let mut text = start(&tmp.path().join("text"), &tmp.path().join("text.log")).await;
    stop_gracefully(&mut text).await;
    let log = text.log_text();
    assert!(log.contains("harbor-server started"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );

    let mut json = ServerProcess::start(
        &tmp.path().join("json"),
        &tmp.path().join("json.log"),
        &[("HARBOR_AUTH_MODE", "none"), ("HARBOR_LOG_FORMAT", "json")],
    )
    .await;
    stop_gracefully(&mut json).await;
    let log = json.log_text();
    let mut messages = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        messages.extend(v["fields"]["message"].as_str().map(str::to_owned));
    }
    assert!(
        messages.iter().any(|m| m == "harbor-server started"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "{log}");
}
