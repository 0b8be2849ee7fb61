//! The real `harbor-server` binary killed with SIGKILL in the middle of a
//! garbage collection run: restarted on the same data directory, it marks
//! the cut run failed, the next run deletes what is left, and an image
//! pushed before still pulls whole through skopeo.
//!
//! skopeo must be installed (CI installs it); this test fails without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::layout;
use common::process::ServerProcess;
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Unreferenced blobs put beside the image: enough that a run takes a few
/// seconds, so that the kill lands in the middle of it.
const GARBAGE: usize = 60_000;

const ENV: &[(&str, &str)] = &[
    ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ("HARBOR_GC_TIME_WINDOW", "1s"),
];

async fn api(s: &ServerProcess, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&s.url(path), method, body).await
}

/// Where the file system blob store keeps blob `hex` under `data`.
fn blob_file(data: &Path, hex: &str) -> PathBuf {
    data.join("blobs").join("sha256").join(&hex[..2]).join(hex)
}

/// Writes `n` blobs nothing links or references straight into the store's
/// directory, as an interrupted push or an old deletion leaves them.
fn write_garbage(data: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let bytes = format!("garbage blob {i}");
            let digest = common::digest(bytes.as_bytes());
            let path = blob_file(data, digest.trim_start_matches("sha256:"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn remaining(files: &[PathBuf]) -> usize {
    files.iter().filter(|p| p.exists()).count()
}

async fn start_gc(s: &ServerProcess) -> String {
    let r = api(
        s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Manual"}, "parameters": {"workers": 1}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.header("location").unwrap().to_owned()
}

async fn status(s: &ServerProcess, run: &str) -> String {
    api(s, "GET", run, None).await.json()["job_status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_restarts_and_the_next_run_finishes_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut s = ServerProcess::start(&data, &log, ENV).await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let img = layout::three_layer_image(42);
    skopeo
        .push(&img, &docker(&s.addr, "library/app:v1"), Some(&admin))
        .await
        .1
        .assert_success();
    let files = tokio::task::spawn_blocking({
        let data = data.clone();
        move || write_garbage(&data, GARBAGE)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Kill it once the run has deleted some, not all.
    let run = start_gc(&s).await;
    let mut cut = false;
    for _ in 0..2000 {
        let left = remaining(&files);
        if status(&s, &run).await == "Running" && left < GARBAGE - 1000 {
            assert!(left > 0, "the run ended before the kill");
            s.signal("9").await;
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cut, "the run never got going; log:\n{}", s.log_text());
    let left = remaining(&files);
    assert!(left > 0, "the run ended before the kill");

    let log2 = dir.path().join("server2.log");
    let s = ServerProcess::start(&data, &log2, ENV).await;
    let next = start_gc(&s).await;
    let mut last = String::new();
    for _ in 0..1200 {
        last = status(&s, &next).await;
        if ["Success", "Error", "Stopped"].contains(&last.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "Success", "log:\n{}", s.log_text());
    assert_eq!(remaining(&files), 0, "the next run deletes what was left");
    assert_eq!(
        status(&s, &run).await,
        "Error",
        "the cut run is marked failed, not left running"
    );

    let (out, pull) = skopeo
        .pull(&docker(&s.addr, "library/app:v1"), Some(&admin))
        .await;
    pull.assert_success();
    assert_eq!(layout::tagged(&out, "v1")["digest"], img.digest.as_str());
    for blob in img.blobs() {
        assert_eq!(layout::read_blob(&out, &common::digest(blob)), blob);
    }
}
