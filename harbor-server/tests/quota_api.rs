//! Project storage quotas through Harbor's API (`storage_limit`,
//! `/api/v2.0/quotas`, the project summary) on a server that skopeo pushes
//! to: usage is the sum of the project's unique blobs and manifests, a push
//! over quota is refused with Harbor's message and counts nothing, deletes
//! and garbage collection bring usage down, usage survives a restart, and
//! the quota events are raised.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use harbor_core::quota::ByteSize;
use harbor_core::QuotaEvent;
use serde_json::{json, Value};

/// The limit a project gets when its creator may not choose one.
const DEFAULT_LIMIT: i64 = 50_000_000;

async fn server_in(dir: tempfile::TempDir) -> TestServer {
    TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.gc_time_window = Duration::from_secs(1);
        c.storage_per_project = DEFAULT_LIMIT;
        c.quota_warning_percent = 90;
    })
    .await
}

async fn call(s: &TestServer, auth: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::json_call(&format!("{}{path}", s.base), auth, method, body).await
}

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

fn image(seed: u64, shared: &[u8], own_len: usize) -> Image {
    let own = layout::tar(&[("own.bin", &layout::pseudo_random(seed, own_len))]);
    Image::new("linux", "amd64", vec![shared.to_vec(), own])
}

/// What an image adds to a project that holds `shared` already.
fn own_size(img: &Image) -> u64 {
    (img.manifest.len() + img.config.len() + img.layers[1].len()) as u64
}

/// The project's quota as `/quotas?reference_id=` lists it.
async fn quota_of(s: &TestServer, project_id: i64) -> Value {
    let r = api(
        s,
        "GET",
        &format!("/api/v2.0/quotas?reference=project&reference_id={project_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-total-count"), Some("1"));
    r.json()[0].clone()
}

async fn used(s: &TestServer, project: &str) -> u64 {
    let r = api(
        s,
        "GET",
        &format!("/api/v2.0/projects/{project}/summary"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    r.json()["quota"]["used"]["storage"].as_u64().unwrap()
}

async fn create_project(s: &TestServer, auth: &str, body: Value) -> i64 {
    let r = call(s, auth, "POST", "/api/v2.0/projects", Some(body)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.location_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_and_a_push_over_quota_is_refused_with_harbors_message() {
    let s = server_in(tempfile::tempdir().unwrap()).await;
    let mut events = s.registry.subscribe_quota_events();
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let shared = layout::tar(&[("shared.bin", &layout::pseudo_random(7, 400_000))]);
    let (a, b) = (image(1, &shared, 100_000), image(2, &shared, 120_000));
    let big = image(3, &shared, 600_000);
    let both = shared.len() as u64 + own_size(&a) + own_size(&b);
    let limit = both + 300_000;

    let id = create_project(
        &s,
        &common::admin_auth(),
        json!({"project_name": "team", "storage_limit": limit}),
    )
    .await;
    let q = quota_of(&s, id).await;
    assert_eq!(q["hard"]["storage"], limit);
    assert_eq!(q["used"]["storage"], 0);
    assert_eq!(
        q["ref"],
        json!({"id": id, "name": "team", "owner_name": "admin"})
    );

    for (img, to) in [(&a, "team/app:v1"), (&b, "team/web:v1")] {
        skopeo
            .push(img, &docker(&s.host(), to), Some(&admin))
            .await
            .1
            .assert_success();
    }
    assert_eq!(
        used(&s, "team").await,
        both,
        "the shared layer counts once, manifests and configs count"
    );
    let summary = api(&s, "GET", "/api/v2.0/projects/team/summary", None)
        .await
        .json();
    assert_eq!(summary["quota"]["hard"]["storage"], limit);

    // Over the limit: refused at the big layer, in Harbor's words, and
    // nothing of the push is counted.
    let (_, out) = skopeo
        .push(&big, &docker(&s.host(), "team/big:v1"), Some(&admin))
        .await;
    assert!(!out.success, "a push over quota must fail");
    let adding = big.layers[1].len() as u64;
    let expected = format!(
        "adding {} of storage resource, which when updated to current usage of {} will exceed the configured upper limit of {}.",
        ByteSize(adding),
        ByteSize(both),
        ByteSize(limit)
    );
    assert!(
        out.stderr.contains(&expected),
        "skopeo shows the figures: {}",
        out.stderr
    );
    assert_eq!(
        used(&s, "team").await,
        both,
        "a refused push counts nothing"
    );
    let refusal = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(e @ QuotaEvent::Exceeded { .. })) => break e,
            Ok(Ok(_)) => continue,
            other => panic!("no QUOTA_EXCEED event: {other:?}"),
        }
    };
    assert_eq!(refusal.event_type(), "QUOTA_EXCEED");
    assert_eq!(refusal.repository().as_str(), "team/big");
    assert_eq!(refusal.details(), expected);

    // Deleting an artifact takes off what only it used.
    let r = api(
        &s,
        "DELETE",
        "/api/v2.0/projects/team/repositories/web/artifacts/v1",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let after_delete = shared.len() as u64 + own_size(&a);
    assert_eq!(used(&s, "team").await, after_delete);

    // A larger limit through PUT /quotas/{id}: the push goes through, and
    // at 90 % or more of the limit it raises a warning.
    let qid = quota_of(&s, id).await["id"].as_i64().unwrap();
    let new_limit = after_delete + own_size(&big) + 1000;
    let r = api(
        &s,
        "PUT",
        &format!("/api/v2.0/quotas/{qid}"),
        Some(json!({"hard": {"storage": new_limit}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    skopeo
        .push(&big, &docker(&s.host(), "team/big:v1"), Some(&admin))
        .await
        .1
        .assert_success();
    let with_big = after_delete + own_size(&big);
    assert_eq!(used(&s, "team").await, with_big);
    let warning = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(e @ QuotaEvent::Warning { .. })) => break e,
            Ok(Ok(_)) => continue,
            other => panic!("no QUOTA_WARNING event: {other:?}"),
        }
    };
    assert_eq!(warning.event_type(), "QUOTA_WARNING");
    assert_eq!(warning.digest().to_string(), big.digest);
    assert_eq!(
        warning.details(),
        format!(
            "quota usage reach 90%: resource storage used {} of {}",
            ByteSize(with_big),
            ByteSize(new_limit)
        )
    );

    // Usage survives a restart.
    let dir = s.stop().await;
    let s = server_in(dir).await;
    assert_eq!(used(&s, "team").await, with_big);
    let q = quota_of(&s, id).await;
    assert_eq!(q["hard"]["storage"], new_limit);
    assert_eq!(q["id"], qid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_list_sort_and_refuse_bad_requests_changing_nothing() {
    let s = server_in(tempfile::tempdir().unwrap()).await;
    let admin = common::admin_auth();
    let small = create_project(
        &s,
        &admin,
        json!({"project_name": "small", "storage_limit": 1000}),
    )
    .await;
    // Everyone else gets the configured default, whatever they ask for.
    s.create_user("dev", "Dev12345").await;
    let dev = common::basic("dev", "Dev12345");
    let mine = create_project(
        &s,
        &dev,
        json!({"project_name": "mine", "storage_limit": -1}),
    )
    .await;
    assert_eq!(quota_of(&s, mine).await["hard"]["storage"], DEFAULT_LIMIT);
    // `library`, made at the first start, has the default too.
    let r = api(&s, "GET", "/api/v2.0/quotas?sort=hard.storage", None).await;
    assert_eq!(r.status, 200);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["ref"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["small", "library", "mine"]);
    assert_eq!(r.header("x-total-count"), Some("3"));
    let r = api(
        &s,
        "GET",
        "/api/v2.0/quotas?sort=-hard.storage&page=1&page_size=1",
        None,
    )
    .await;
    assert_eq!(r.json()[0]["ref"]["name"], "library");
    assert!(r.header("link").unwrap().contains("rel=\"next\""));
    let r = api(&s, "GET", "/api/v2.0/quotas?reference=artifact", None).await;
    assert_eq!((r.status, r.header("x-total-count")), (200, Some("0")));

    let qid = quota_of(&s, small).await["id"].as_i64().unwrap();
    let path = format!("/api/v2.0/quotas/{qid}");
    let r = api(&s, "GET", &path, None).await;
    assert_eq!(r.json()["hard"]["storage"], 1000);
    for body in [
        json!({"hard": {"storage": 0}}),
        json!({"hard": {"storage": -2}}),
        json!({"hard": {"count": 10}}),
        json!({"hard": {}}),
        json!({}),
        json!({"hard": {"storage": "big"}}),
    ] {
        let r = api(&s, "PUT", &path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
    }
    assert_eq!(
        api(&s, "GET", &path, None).await.json()["hard"]["storage"],
        1000,
        "refused updates change nothing"
    );
    for bad in ["?sort=count", "?reference_id=x"] {
        let r = api(&s, "GET", &format!("/api/v2.0/quotas{bad}"), None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        api(&s, "GET", "/api/v2.0/quotas/999", None).await.status,
        404
    );
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/quotas/999",
        Some(json!({"hard": {"storage": 5}})),
    )
    .await;
    assert_eq!(r.status, 404);
    // System administrators only.
    assert_eq!(
        call(&s, &dev, "GET", "/api/v2.0/quotas", None).await.status,
        403
    );
    let r = call(
        &s,
        &dev,
        "PUT",
        &path,
        Some(json!({"hard": {"storage": -1}})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.send("GET", "/api/v2.0/quotas", &[], "").await.status, 401);
    // Deleting a project drops its quota.
    let r = api(&s, "DELETE", "/api/v2.0/projects/small", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(api(&s, "GET", &path, None).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_of_untagged_artifacts_brings_usage_down() {
    let s = server_in(tempfile::tempdir().unwrap()).await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let shared = layout::tar(&[("shared.txt", b"shared by both")]);
    let (old, new) = (image(11, &shared, 50_000), image(12, &shared, 60_000));
    for img in [&old, &new] {
        skopeo
            .push(img, &docker(&s.host(), "library/app:latest"), Some(&admin))
            .await
            .1
            .assert_success();
    }
    let base = shared.len() as u64;
    assert_eq!(
        used(&s, "library").await,
        base + own_size(&old) + own_size(&new),
        "the untagged artifact still counts"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = api(
        &s,
        "POST",
        "/api/v2.0/system/gc/schedule",
        Some(json!({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": true}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let location = r.header("location").unwrap().to_owned();
    let mut status = String::new();
    for _ in 0..300 {
        status = api(&s, "GET", &location, None).await.json()["job_status"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if ["Success", "Error", "Stopped"].contains(&status.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "Success");
    assert_eq!(used(&s, "library").await, base + own_size(&new));
}
