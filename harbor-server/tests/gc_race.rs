//! Garbage collection racing real pushes, by brute force through real
//! `harbor-server` processes: skopeo pushes images sharing layers, moves
//! tags and deletes artifacts in a loop while collections run back to back
//! with a one-second window. Afterwards every tag pulls whole through
//! skopeo, and every blob no manifest references is gone from the store.
//! Once on the file system with SQLite, once on S3 (moto) with PostgreSQL
//! with two instances taking the pushes in turn.
//!
//! skopeo must be installed (CI installs it), and for the second test moto
//! and PostgreSQL (`scripts/test` installs them); these tests fail without.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::layout::{self, Image};
use common::process::ServerProcess;
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, ADMIN_PASSWORD};
use futures::TryStreamExt;
use harbor_core::BlobStore;
use serde_json::{json, Value};

/// Pushers, each with a repository of its own; rounds each.
const PUSHERS: usize = 4;
const ROUNDS: usize = 10;

/// The servers under test and their blob store, seen from outside.
struct Target {
    instances: Vec<ServerProcess>,
    blobs: Arc<dyn BlobStore>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn api(s: &ServerProcess, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&s.url(path), method, body).await
}

/// Runs one collection to its end; its status.
async fn collect(s: &ServerProcess) -> String {
    let r = api(
        s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": true, "workers": 3}})),
    )
    .await;
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
async fn push(skopeo: &Skopeo, host: &str, img: &Image, to: &str, retries: &AtomicUsize) {
    let admin = creds("admin", ADMIN_PASSWORD);
    for _ in 0..10 {
        let (_, out) = skopeo.push(img, &docker(host, to), Some(&admin)).await;
        if out.success {
            return;
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pushing {to} kept failing");
}

/// The race itself, then the checks.
async fn race(target: Target) {
    let target = Arc::new(target);
    let base = layout::tar(&[("base.bin", &layout::pseudo_random(99, 30_000))]);
    let done = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicUsize::new(0));

    let collector = {
        let (t, done) = (target.clone(), done.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !done.load(Ordering::Relaxed) {
                // Asked of each instance in turn; the lease holder runs it.
                let s = &t.instances[runs % t.instances.len()];
                match collect(s).await.as_str() {
                    "Success" => runs += 1,
                    other => panic!("a collection ended {other}"),
                }
            }
            runs
        })
    };
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let (t, base, retries) = (target.clone(), base.clone(), retries.clone());
            tokio::spawn(async move {
                let skopeo = Skopeo::new();
                let repo = format!("library/race{p}");
                // What each tag of the repository should hold at the end.
                let mut tags: BTreeMap<String, Image> = BTreeMap::new();
                for round in 0..ROUNDS {
                    // Each round through the next instance.
                    let s = &t.instances[(p + round) % t.instances.len()];
                    let seed = (p * 100 + round) as u64;
                    let own = layout::tar(&[("own.bin", &layout::pseudo_random(seed, 20_000))]);
                    // Every image shares the base layer; every other one
                    // also shares an earlier round's own layer.
                    let mut layers = vec![base.clone(), own];
                    if round % 2 == 1 {
                        if let Some(prev) = tags.values().last() {
                            layers.push(prev.layers[1].clone());
                        }
                    }
                    let img = Image::new("linux", "amd64", layers);
                    // Two tags moving back and forth, and a third deleted.
                    let tag = format!("t{}", round % 2);
                    push(&skopeo, &s.addr, &img, &format!("{repo}:{tag}"), &retries).await;
                    tags.insert(tag, img.clone());
                    if round % 3 == 2 {
                        push(&skopeo, &s.addr, &img, &format!("{repo}:gone"), &retries).await;
                        let r = api(
                            s,
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
    assert_eq!(collect(&target.instances[0]).await, "Success");
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let mut referenced = BTreeSet::new();
    for (n, (repo, tags)) in expected.iter().enumerate() {
        let s = &target.instances[n % target.instances.len()];
        for (tag, img) in tags {
            let (out, pull) = skopeo
                .pull(&docker(&s.addr, &format!("{repo}:{tag}")), Some(&admin))
                .await;
            pull.assert_success();
            assert_eq!(layout::tagged(&out, "v1")["digest"], img.digest.as_str());
            for blob in img.blobs() {
                assert_eq!(layout::read_blob(&out, &common::digest(blob)), blob);
                referenced.insert(common::digest(blob));
            }
        }
    }
    let stored: BTreeSet<String> = target
        .blobs
        .list()
        .await
        .unwrap()
        .map_ok(|b| b.digest.to_string())
        .try_collect()
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_file_system_and_sqlite_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("HARBOR_GC_TIME_WINDOW", "1s"),
    ];
    let server = ServerProcess::start(&data, &dir.path().join("server.log"), &env).await;
    let blobs = harbor_storage::FsBlobStore::open(&data).unwrap();
    race(Target {
        instances: vec![server],
        blobs: Arc::new(blobs),
        _dirs: vec![dir],
    })
    .await;
}

#[cfg(all(feature = "postgres", feature = "s3"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_and_postgresql_with_two_instances_nothing_acknowledged_is_lost() {
    use harbor_storage::postgres::testing::TempCluster;
    use harbor_storage::s3::testing::Moto;

    let url = tokio::task::spawn_blocking(|| TempCluster::shared().database())
        .await
        .unwrap();
    let moto = Moto::start().await;
    let bucket = moto.bucket().await;
    let endpoint = moto.endpoint();
    let secrets = tempfile::tempdir().unwrap();
    let secrets_dir = secrets.path().to_string_lossy().into_owned();
    let env = [
        ("HARBOR_DATABASE_URL", url.as_str()),
        ("HARBOR_STORAGE_S3_BUCKET", bucket.bucket.as_str()),
        ("HARBOR_STORAGE_S3_ENDPOINT", endpoint.as_str()),
        ("HARBOR_STORAGE_S3_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("HARBOR_SECRETS_DIR", secrets_dir.as_str()),
        ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("HARBOR_GC_TIME_WINDOW", "1s"),
    ];
    let mut dirs = vec![secrets];
    let mut instances = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        instances.push(ServerProcess::start(&dir.path().join("data"), &log, &env).await);
        dirs.push(dir);
    }
    let blobs = harbor_storage::S3BlobStore::connect(&bucket).await.unwrap();
    race(Target {
        instances,
        blobs: Arc::new(blobs),
        _dirs: dirs,
    })
    .await;
}
