//! Garbage collection through Harbor's API (`/api/v2.0/system/gc`) on a
//! server that skopeo pushes to and pulls from: a dry run names exactly
//! what the real run deletes, what a tag reaches still pulls whole, the
//! history, logs, schedule and stop answer as Harbor's, and bad requests
//! change nothing.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// The time window the server collects with: short, so that the test
/// does not wait long for pushed blobs to become collectable.
const WINDOW: Duration = Duration::from_secs(1);

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.gc_time_window = WINDOW;
    })
    .await
}

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

fn image(seed: u64, shared: &[u8]) -> Image {
    let own = layout::tar(&[(
        "own.bin",
        &layout::pseudo_random(seed, 200_000 + seed as usize),
    )]);
    Image::new("linux", "amd64", vec![shared.to_vec(), own])
}

/// Starts a run and waits for it to end; its final history entry.
async fn run_gc(s: &TestServer, parameters: Value) -> Value {
    let r = api(
        s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Manual"}, "parameters": parameters})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("/api/v2.0/system/gc/"), "{location}");
    for _ in 0..300 {
        let run = api(s, "GET", &location, None).await.json();
        if ["Success", "Error", "Stopped"].contains(&run["job_status"].as_str().unwrap_or("")) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{location} did not finish");
}

fn results(run: &Value) -> Value {
    serde_json::from_str(run["job_parameters"].as_str().unwrap()).unwrap()
}

/// The digests a run's log names as deleted (or, dry, to delete).
async fn named(s: &TestServer, run: &Value) -> BTreeSet<String> {
    let r = api(
        s,
        "GET",
        &format!("/api/v2.0/system/gc/{}/log", run["id"]),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("would delete ")
                .or_else(|| l.strip_prefix("deleted "))
        })
        .filter_map(|rest| rest.split_whitespace().find(|w| w.contains("sha256:")))
        .map(|d| d.rsplit('@').next().unwrap_or("").to_owned())
        .collect()
}

async fn blob_status(s: &TestServer, repo: &str, digest: &str) -> u16 {
    let bearer = format!("Bearer {}", token(s, repo, "pull").await);
    s.send(
        "HEAD",
        &format!("/v2/{repo}/blobs/{digest}"),
        &[("authorization", bearer.as_str())],
        "",
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_names_what_the_run_deletes_and_what_a_tag_reaches_still_pulls() {
    let s = server().await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let shared = layout::tar(&[("shared.txt", b"the layer every image has")]);
    let kept = image(1, &shared);
    let deleted = image(2, &shared);
    let replaced = image(3, &shared);
    let current = image(4, &shared);
    for (img, tag) in [
        (&kept, "library/app:v1"),
        (&deleted, "library/app:v2"),
        (&replaced, "library/app:v3"),
        (&current, "library/app:v3"),
    ] {
        skopeo
            .push(img, &docker(&s.host(), tag), Some(&admin))
            .await
            .1
            .assert_success();
    }
    let r = api(
        &s,
        "DELETE",
        "/api/v2.0/projects/library/repositories/app/artifacts/v2",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    tokio::time::sleep(WINDOW + Duration::from_millis(500)).await;

    let dry = run_gc(
        &s,
        json!({"delete_untagged": true, "dry_run": true, "workers": 2}),
    )
    .await;
    assert_eq!(dry["job_status"], "Success", "{dry}");
    assert_eq!(dry["job_name"], "GARBAGE_COLLECTION");
    assert_eq!(dry["job_kind"], "MANUAL");
    // The deleted image's and the replaced image's own layer and config,
    // and the replaced (untagged) manifest.
    let expected: BTreeSet<String> = [&deleted, &replaced]
        .iter()
        .flat_map(|img| [common::digest(&img.config), common::digest(&img.layers[1])])
        .chain([replaced.digest.clone()])
        .collect();
    let dry_named = named(&s, &dry).await;
    assert_eq!(dry_named, expected);
    for d in [&deleted, &replaced] {
        assert_eq!(
            blob_status(&s, "library/app", &common::digest(&d.layers[1])).await,
            200,
            "a dry run deletes nothing"
        );
    }

    let real = run_gc(&s, json!({"delete_untagged": true, "workers": 2})).await;
    assert_eq!(real["job_status"], "Success", "{real}");
    assert_eq!(named(&s, &real).await, dry_named);
    let (d, r) = (results(&dry), results(&real));
    for key in ["deleted_manifests", "deleted_blobs", "freed_bytes"] {
        assert_eq!(d[key], r[key], "{key}: dry {d} real {r}");
    }
    assert_eq!(r["deleted_manifests"], 1);
    assert_eq!(r["deleted_blobs"], 4);
    let freed: usize = [&deleted, &replaced]
        .iter()
        .map(|img| img.config.len() + img.layers[1].len())
        .sum();
    assert_eq!(r["freed_bytes"], freed);
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["time_window_seconds"], 1);

    for d in [&deleted, &replaced] {
        assert_eq!(
            blob_status(&s, "library/app", &common::digest(&d.layers[1])).await,
            404
        );
    }
    for (img, tag) in [(&kept, "library/app:v1"), (&current, "library/app:v3")] {
        let (out, pull) = skopeo.pull(&docker(&s.host(), tag), Some(&admin)).await;
        pull.assert_success();
        assert_eq!(layout::tagged(&out, "v1")["digest"], img.digest.as_str());
        for blob in img.blobs() {
            assert_eq!(layout::read_blob(&out, &common::digest(blob)), blob);
        }
    }

    // The history, newest first, with Harbor's paging headers.
    let r = api(&s, "GET", "/api/v2.0/system/gc?page=1&page_size=1", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert!(r.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(r.json()[0]["id"], real["id"]);
    // A run that ended is not stopped again; an unknown one is 404.
    let r = api(
        &s,
        "PUT",
        &format!("/api/v2.0/system/gc/{}", real["id"]),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let again = api(
        &s,
        "GET",
        &format!("/api/v2.0/system/gc/{}", real["id"]),
        None,
    )
    .await;
    assert_eq!(again.json()["job_status"], "Success");
    assert_eq!(
        api(&s, "GET", "/api/v2.0/system/gc/999", None).await.status,
        404
    );
    assert_eq!(
        api(&s, "GET", "/api/v2.0/system/gc/999/log", None)
            .await
            .status,
        404
    );
    assert_eq!(
        api(&s, "PUT", "/api/v2.0/system/gc/999", None).await.status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_runs_and_bad_requests_change_nothing() {
    let s = server().await;
    assert_eq!(
        api(&s, "GET", "/api/v2.0/system/gc/schedule", None)
            .await
            .json(),
        json!({})
    );
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Custom", "cron": "*/2 * * * * *"}, "parameters": {"dry_run": true}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let schedule = api(&s, "GET", "/api/v2.0/system/gc/schedule", None)
        .await
        .json();
    assert_eq!(schedule["schedule"]["type"], "Custom");
    assert_eq!(schedule["schedule"]["cron"], "*/2 * * * * *");
    assert!(
        schedule["schedule"]["next_scheduled_time"].is_string(),
        "{schedule}"
    );
    assert_eq!(results(&schedule)["dry_run"], true);
    // Within a few ticks a scheduled run appears and succeeds.
    let mut scheduled = None;
    for _ in 0..100 {
        let list = api(&s, "GET", "/api/v2.0/system/gc", None).await.json();
        if let Some(run) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["job_kind"] == "SCHEDULE" && r["job_status"] == "Success")
        {
            scheduled = Some(run.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = scheduled.expect("no scheduled run succeeded");
    assert_eq!(run["schedule"]["type"], "Schedule");
    assert_eq!(results(&run)["dry_run"], true);

    // The fixed types take Harbor's crons; None removes the schedule.
    let r = api(
        &s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Weekly"}, "parameters": {}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let schedule = api(&s, "GET", "/api/v2.0/system/gc/schedule", None)
        .await
        .json();
    assert_eq!(schedule["schedule"]["cron"], "0 0 0 * * 0");

    // Refused, and the schedule is as it was.
    for body in [
        json!({"schedule": {"type": "Manual"}, "parameters": {"workers": 9}}),
        json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": "yes"}}),
        json!({"schedule": {"type": "Custom"}, "parameters": {}}),
        json!({"schedule": {"type": "Custom", "cron": "every day"}, "parameters": {}}),
        json!({"schedule": {"type": "Monthly"}, "parameters": {}}),
        json!({"parameters": {}}),
    ] {
        let r = api(
            &s,
            "POST",
            "/api/v2.0/system/gc/schedule",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["errors"][0]["code"], "BAD_REQUEST");
    }
    let after = api(&s, "GET", "/api/v2.0/system/gc/schedule", None)
        .await
        .json();
    assert_eq!(after["schedule"]["cron"], "0 0 0 * * 0");
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "None"}})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        api(&s, "GET", "/api/v2.0/system/gc/schedule", None)
            .await
            .json(),
        json!({})
    );

    // Only system administrators.
    s.create_user("dev", "Passw0rdPassw0rd").await;
    let dev = common::basic("dev", "Passw0rdPassw0rd");
    let r = s.get_with("/api/v2.0/system/gc", &dev).await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/api/v2.0/system/gc").await.status, 401);
}

/// What a collection killed mid-run leaves (its run `Running`, claims whose
/// bytes are not yet deleted) is what the server finds at its next start:
/// the run is marked failed, and the next run deletes the claimed bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_by_a_crash_is_marked_failed_and_the_next_run_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = harbor_server::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let (orphan, claimed) = {
        let stores = harbor_server::open_stores(&config).await.unwrap();
        let registry = harbor_core::Registry::new(stores.blobs.clone(), stores.meta.clone());
        let repo = harbor_core::RepositoryName::parse("library/crashed").unwrap();
        let data = b"bytes a killed collection claimed".to_vec();
        let digest = harbor_core::Digest::sha256(&data);
        registry
            .put_blob(&repo, &digest, harbor_core::bytes_stream(data), None)
            .await
            .unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        let claimed = stores
            .meta
            .claim_blobs(std::slice::from_ref(&digest), later)
            .await
            .unwrap();
        assert_eq!(claimed, vec![digest.clone()]);
        let run = stores
            .jobs
            .create_job(
                harbor_core::JobKind::GarbageCollection,
                harbor_core::JobTrigger::Manual,
                "{}",
            )
            .await
            .unwrap();
        stores
            .jobs
            .update_job(run.id, harbor_core::JobStatus::Running, None)
            .await
            .unwrap();
        (run.id, digest)
    };
    let s = TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.gc_time_window = WINDOW;
    })
    .await;
    assert!(s
        .registry
        .blob_store()
        .stat(&claimed)
        .await
        .unwrap()
        .is_some());
    let next = run_gc(&s, json!({})).await;
    assert_eq!(next["job_status"], "Success", "{next}");
    assert!(named(&s, &next).await.contains(&claimed.to_string()));
    assert!(s
        .registry
        .blob_store()
        .stat(&claimed)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .registry
        .meta_store()
        .blob_claims(10)
        .await
        .unwrap()
        .is_empty());
    let old = api(&s, "GET", &format!("/api/v2.0/system/gc/{orphan}"), None)
        .await
        .json();
    assert_eq!(old["job_status"], "Error", "{old}");
    let log = api(
        &s,
        "GET",
        &format!("/api/v2.0/system/gc/{orphan}/log"),
        None,
    )
    .await;
    assert!(
        String::from_utf8_lossy(&log.body).contains("stopped"),
        "{}",
        String::from_utf8_lossy(&log.body)
    );
}

/// A token for `repo` with `actions` (`pull`, `pull,push`), as admin.
async fn token(s: &TestServer, repo: &str, actions: &str) -> String {
    s.send(
        "GET",
        &format!("/service/token?service=harbor-registry&scope=repository:{repo}:{actions}"),
        &[("authorization", common::admin_auth().as_str())],
        "",
    )
    .await
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A repository whose artifacts were all deleted is removed, and an upload
/// abandoned for longer than the upload purging age is ended; a push to
/// the removed repository makes it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_removes_emptied_repositories_and_abandoned_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.gc_time_window = WINDOW;
        // Old after a second, and the purging duty not due before the run.
        c.upload_purging.age = Duration::from_secs(1);
        c.upload_purging.interval = Duration::from_secs(24 * 3600);
    })
    .await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let img = image(9, b"solo");
    skopeo
        .push(&img, &docker(&s.host(), "library/solo:v1"), Some(&admin))
        .await
        .1
        .assert_success();
    let r = api(
        &s,
        "DELETE",
        "/api/v2.0/projects/library/repositories/solo/artifacts/v1",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    // An upload begun and left.
    let bearer = format!("Bearer {}", token(&s, "library/left", "pull,push").await);
    let r = s
        .send(
            "POST",
            "/v2/library/left/blobs/uploads/",
            &[("authorization", bearer.as_str())],
            "",
        )
        .await;
    assert_eq!(r.status, 202);
    let upload = r.header("location").unwrap().to_owned();
    tokio::time::sleep(WINDOW + Duration::from_millis(500)).await;

    let dry = run_gc(&s, json!({"dry_run": true})).await;
    let real = run_gc(&s, json!({})).await;
    assert_eq!(real["job_status"], "Success", "{real}");
    for run in [&dry, &real] {
        let r = results(run);
        assert_eq!(r["deleted_repositories"], 1, "{r}");
        assert_eq!(r["purged_uploads"], 1, "{r}");
    }
    let log = api(
        &s,
        "GET",
        &format!("/api/v2.0/system/gc/{}/log", real["id"]),
        None,
    )
    .await;
    let log = String::from_utf8_lossy(&log.body).into_owned();
    assert!(
        log.contains("deleted empty repository library/solo"),
        "{log}"
    );
    let upload_path = upload.strip_prefix(&s.base).unwrap_or(&upload);
    let r = s
        .send(
            "GET",
            upload_path,
            &[("authorization", bearer.as_str())],
            "",
        )
        .await;
    assert_eq!(r.status, 404, "the abandoned upload is gone");
    let r = api(
        &s,
        "GET",
        "/api/v2.0/projects/library/repositories/solo",
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    skopeo
        .push(&img, &docker(&s.host(), "library/solo:v1"), Some(&admin))
        .await
        .1
        .assert_success();
    let r = api(
        &s,
        "GET",
        "/api/v2.0/projects/library/repositories/solo",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}
