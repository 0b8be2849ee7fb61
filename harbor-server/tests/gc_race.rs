//! Garbage collection racing real pushes, by brute force through the
//! server: skopeo pushes images sharing layers, moves tags and deletes
//! artifacts in a loop while collections run back to back with a
//! one-second window. Afterwards every tag pulls whole through skopeo, and
//! every blob no manifest references is gone from the disk.
//!
//! skopeo must be installed (CI installs it); this test fails without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use futures::StreamExt;
use serde_json::{json, Value};

/// Pushers, each with a repository of its own; rounds each.
const PUSHERS: usize = 4;
const ROUNDS: usize = 10;

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    let auth = common::admin_auth();
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    s.send(
        method,
        path,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        text,
    )
    .await
}

/// Runs one collection to its end; its status.
async fn collect(s: &TestServer) -> String {
    let r = api(
        s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": true, "workers": 3}})),
    )
    .await;
    if r.status == 409 {
        // One is still running (Harbor refuses a second one).
        tokio::time::sleep(Duration::from_millis(50)).await;
        return "Busy".into();
    }
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let location = r.header("location").unwrap().to_owned();
    loop {
        let status = api(s, "GET", &location, None).await.json()["job_status"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if ["Success", "Error", "Stopped"].contains(&status.as_str()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pushes until skopeo succeeds: a push that loses a race with a
/// collection fails cleanly and is pushed again, as a client retries.
async fn push(skopeo: &Skopeo, s: &TestServer, img: &Image, to: &str, retries: &AtomicUsize) {
    let admin = creds("admin", ADMIN_PASSWORD);
    for _ in 0..10 {
        let (_, out) = skopeo.push(img, &docker(&s.host(), to), Some(&admin)).await;
        if out.success {
            return;
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pushing {to} kept failing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_racing_back_to_back_collections_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(
        TestServer::start_in(dir, |c| {
            c.auth.mode = harbor_server::config::AuthMode::Token;
            c.auth.admin_password = Some(ADMIN_PASSWORD.into());
            c.gc_time_window = Duration::from_secs(1);
        })
        .await,
    );
    let base = layout::tar(&[("base.bin", &layout::pseudo_random(99, 30_000))]);
    let done = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicUsize::new(0));

    let collector = {
        let (s, done) = (s.clone(), done.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !done.load(Ordering::Relaxed) {
                match collect(&s).await.as_str() {
                    "Success" => runs += 1,
                    "Busy" => {}
                    other => panic!("a collection ended {other}"),
                }
            }
            runs
        })
    };
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let (s, base, retries) = (s.clone(), base.clone(), retries.clone());
            tokio::spawn(async move {
                let skopeo = Skopeo::new();
                let repo = format!("library/race{p}");
                // What each tag of the repository should hold at the end.
                let mut tags: BTreeMap<String, Image> = BTreeMap::new();
                for round in 0..ROUNDS {
                    let seed = (p * 100 + round) as u64;
                    let own = layout::tar(&[("own.bin", &layout::pseudo_random(seed, 20_000))]);
                    // Every image shares the base layer; every other one
                    // also shares the previous round's own layer.
                    let mut layers = vec![base.clone(), own];
                    if round % 2 == 1 {
                        if let Some(prev) = tags.values().last() {
                            layers.push(prev.layers[1].clone());
                        }
                    }
                    let img = Image::new("linux", "amd64", layers);
                    // Two tags moving back and forth, and a third deleted.
                    let tag = format!("t{}", round % 2);
                    push(&skopeo, &s, &img, &format!("{repo}:{tag}"), &retries).await;
                    tags.insert(tag, img.clone());
                    if round % 3 == 2 {
                        push(&skopeo, &s, &img, &format!("{repo}:gone"), &retries).await;
                        let r = api(
                            &s,
                            "DELETE",
                            &format!(
                                "/api/v2.0/projects/library/repositories/race{p}/artifacts/gone"
                            ),
                            None,
                        )
                        .await;
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        // The delete took the artifact with every tag on it.
                        tags.retain(|_, i| i.digest != img.digest);
                    }
                }
                (repo, tags)
            })
        })
        .collect();
    let mut expected = Vec::new();
    for p in pushers {
        expected.push(p.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let runs = collector.await.unwrap();
    assert!(runs >= 2, "collections ran beside the pushes ({runs})");

    // A last collection once the window has passed: what nothing
    // references goes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    loop {
        if collect(&s).await == "Success" {
            break;
        }
    }
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let mut referenced = BTreeSet::new();
    for (repo, tags) in &expected {
        for (tag, img) in tags {
            let (out, pull) = skopeo
                .pull(&docker(&s.host(), &format!("{repo}:{tag}")), Some(&admin))
                .await;
            pull.assert_success();
            assert_eq!(layout::tagged(&out, "v1")["digest"], img.digest.as_str());
            for blob in img.blobs() {
                assert_eq!(layout::read_blob(&out, &common::digest(blob)), blob);
                referenced.insert(common::digest(blob));
            }
        }
    }
    let mut stored = BTreeSet::new();
    let mut list = s.registry.blob_store().list().await.unwrap();
    while let Some(d) = list.next().await {
        stored.insert(d.unwrap().digest.to_string());
    }
    let unreferenced: Vec<_> = stored.difference(&referenced).collect();
    assert!(
        unreferenced.is_empty(),
        "blobs no tag reaches are still stored: {unreferenced:?}"
    );
    assert!(referenced.is_subset(&stored));
    eprintln!(
        "{runs} collections beside the pushes; {} pushes retried",
        retries.load(Ordering::Relaxed)
    );
}
