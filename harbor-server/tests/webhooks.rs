//! Webhooks end to end: a project's policy (Harbor's API) and a receiver
//! on a loopback port; skopeo pushes and pulls, the API deletes, and the
//! receiver gets Harbor's payloads (`Default` and `CloudEvents`), signed as
//! the Standard Webhooks convention says (checked with its reference
//! library); failed deliveries are retried and logged, a receiver that
//! never answers holds up no push, deliveries pending when the server is
//! killed arrive after its restart, and two instances over one PostgreSQL
//! database deliver each event once.
//!
//! skopeo and the test virtualenv (`bash scripts/test` makes both) must be
//! there; these tests fail without them.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::layout::{self, Image};
use common::process::ServerProcess;
use common::receiver::{verify, Receiver};
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// A Standard Webhooks secret (base64 of 24 bytes, with the usual prefix).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const PATIENCE: Duration = Duration::from_secs(30);

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.webhook.backoff = Duration::from_millis(200);
        c.webhook.max_attempts = 3;
        c.webhook.timeout = Duration::from_secs(60);
    })
    .await
}

async fn api(base: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{base}{path}"), method, body).await
}

fn admin() -> String {
    creds("admin", ADMIN_PASSWORD)
}

fn image(seed: u64) -> Image {
    let layer = layout::tar(&[("f.bin", &layout::pseudo_random(seed, 2048))]);
    Image::new("linux", "amd64", vec![layer])
}

/// Creates a policy; returns its id.
async fn create_policy(base: &str, project: &str, policy: Value) -> i64 {
    let r = api(
        base,
        "POST",
        &format!("/api/v2.0/projects/{project}/webhook/policies"),
        Some(policy),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.location_id()
}

async fn executions(base: &str, project: &str, policy: i64) -> Vec<Value> {
    let r = api(
        base,
        "GET",
        &format!("/api/v2.0/projects/{project}/webhook/policies/{policy}/executions?page_size=100"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().as_array().unwrap().clone()
}

/// Waits until every execution of the policy is final; returns them.
async fn settled(base: &str, project: &str, policy: i64, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let list = executions(base, project, policy).await;
        let done = list
            .iter()
            .all(|e| matches!(e["status"].as_str(), Some("Success" | "Error")));
        if list.len() >= count && done {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "executions not settled: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn tasks(base: &str, project: &str, policy: i64, execution: i64) -> Vec<Value> {
    let r = api(
        base,
        "GET",
        &format!(
            "/api/v2.0/projects/{project}/webhook/policies/{policy}/executions/{execution}/tasks"
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().as_array().unwrap().clone()
}

async fn task_log(base: &str, project: &str, policy: i64, execution: i64, task: i64) -> String {
    let r = api(
        base,
        "GET",
        &format!(
            "/api/v2.0/projects/{project}/webhook/policies/{policy}/executions/{execution}/tasks/{task}/log"
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    String::from_utf8(r.body.to_vec()).unwrap()
}

/// The next delivery to `path` of event `kind`, skipping others (a client
/// may pull a manifest more than once).
async fn next_of(receiver: &Receiver, path: &str, kind: &str) -> common::receiver::Delivery {
    loop {
        let d = receiver.next(PATIENCE).await;
        if d.path == path && d.json()["type"] == kind {
            return d;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_pulls_and_deletes_reach_the_receiver_signed_in_harbors_payloads() {
    let s = server().await;
    let receiver = Receiver::start().await;
    let project_id = s.create_project("hooks", false).await;
    let policy = create_policy(
        &s.base,
        "hooks",
        json!({
            "name": "ci",
            "description": "to the CI",
            "enabled": true,
            "event_types": ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"],
            "targets": [
                {"type": "http", "address": format!("{}/default", receiver.base),
                 "auth_header": "Bearer token-1", "payload_format": "Default", "secret": SECRET},
                {"type": "http", "address": format!("{}/cloudevents", receiver.base),
                 "payload_format": "CloudEvents"},
            ],
        }),
    )
    .await;

    // The policy reads back without its secret.
    let r = api(
        &s.base,
        "GET",
        &format!("/api/v2.0/projects/hooks/webhook/policies/{policy}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let p = r.json();
    assert_eq!(p["name"], "ci");
    assert_eq!(p["project_id"], project_id);
    assert_eq!(p["creator"], "admin");
    assert_eq!(p["targets"][0]["auth_header"], "Bearer token-1");
    assert!(
        !String::from_utf8_lossy(&r.body).contains("secret"),
        "the secret is never returned: {p}"
    );

    let skopeo = Skopeo::new();
    let img = image(1);
    let (_, out) = skopeo
        .push(&img, &docker(&s.host(), "hooks/app:v1"), Some(&admin()))
        .await;
    out.assert_success();

    let mut by_path = BTreeMap::new();
    for _ in 0..2 {
        let d = receiver.next(PATIENCE).await;
        by_path.insert(d.path.clone(), d);
    }
    let default = &by_path["/default"];
    assert_eq!(default.header("content-type"), Some("application/json"));
    assert_eq!(default.header("authorization"), Some("Bearer token-1"));
    let body = default.json();
    assert_eq!(body["type"], "PUSH_ARTIFACT");
    assert_eq!(body["operator"], "admin");
    assert!(body["occur_at"].as_i64().unwrap() > 1_600_000_000);
    let resource = &body["event_data"]["resources"][0];
    assert_eq!(resource["digest"], img.digest.as_str());
    assert_eq!(resource["tag"], "v1");
    assert_eq!(
        resource["resource_url"],
        format!("{}/hooks/app:v1", s.host())
    );
    let repository = &body["event_data"]["repository"];
    assert_eq!(repository["name"], "app");
    assert_eq!(repository["namespace"], "hooks");
    assert_eq!(repository["repo_full_name"], "hooks/app");
    assert_eq!(repository["repo_type"], "private");
    assert!(repository["date_created"].as_i64().unwrap() > 1_600_000_000);

    // Signed: the reference library accepts it, and refuses it tampered.
    verify(SECRET, default, &default.body)
        .await
        .unwrap_or_else(|e| panic!("the signature does not verify: {e}"));
    let tampered = String::from_utf8_lossy(&default.body).replace("\"v1\"", "\"v2\"");
    assert!(
        verify(SECRET, default, tampered.as_bytes()).await.is_err(),
        "a tampered body must fail verification"
    );
    assert!(
        verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            default,
            &default.body
        )
        .await
        .is_err(),
        "another secret must fail verification"
    );

    let ce = &by_path["/cloudevents"];
    assert_eq!(
        ce.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert!(
        ce.header("webhook-signature").is_none(),
        "no secret, no signature"
    );
    let event = ce.json();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "harbor.artifact.pushed");
    assert_eq!(event["datacontenttype"], "application/json");
    assert_eq!(
        event["source"],
        format!("/projects/{project_id}/webhook/policies/{policy}")
    );
    assert!(!event["id"].as_str().unwrap().is_empty());
    assert_eq!(event["operator"], "admin");
    assert_eq!(event["data"]["resources"][0]["digest"], img.digest.as_str());
    assert_eq!(event["data"]["repository"]["repo_full_name"], "hooks/app");

    // The execution, its two deliveries and their logs.
    let list = settled(&s.base, "hooks", policy, 1).await;
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!(e["status"], "Success");
    assert_eq!(e["vendor_type"], "WEBHOOK");
    assert_eq!(e["vendor_id"], policy);
    assert_eq!(e["trigger"], "EVENT");
    assert_eq!(e["metrics"]["task_count"], 2);
    assert_eq!(e["metrics"]["success_task_count"], 2);
    assert_eq!(e["extra_attrs"]["payload"]["type"], "PUSH_ARTIFACT");
    let exec_id = e["id"].as_i64().unwrap();
    let ts = tasks(&s.base, "hooks", policy, exec_id).await;
    assert_eq!(ts.len(), 2);
    for t in &ts {
        assert_eq!(t["status"], "Success");
        assert_eq!(t["run_count"], 1);
        let log = task_log(&s.base, "hooks", policy, exec_id, t["id"].as_i64().unwrap()).await;
        assert!(log.contains("answered 200"), "{log}");
        assert!(log.contains("attempt 1/3"), "{log}");
    }
    let r = api(
        &s.base,
        "GET",
        "/api/v2.0/projects/hooks/webhook/lasttrigger",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let last = r.json();
    assert_eq!(last[0]["policy_name"], "ci");
    assert_eq!(last[0]["event_type"], "PUSH_ARTIFACT");

    // A pull.
    let (_, out) = skopeo
        .pull(&docker(&s.host(), "hooks/app:v1"), Some(&admin()))
        .await;
    out.assert_success();
    let d = next_of(&receiver, "/default", "PULL_ARTIFACT").await;
    assert_eq!(d.json()["event_data"]["resources"][0]["tag"], "v1");
    assert_eq!(
        d.json()["event_data"]["resources"][0]["digest"],
        img.digest.as_str()
    );

    // A delete through the API names the tags the artifact had.
    let r = api(
        &s.base,
        "DELETE",
        &format!(
            "/api/v2.0/projects/hooks/repositories/app/artifacts/{}",
            img.digest
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let d = next_of(&receiver, "/default", "DELETE_ARTIFACT").await;
    let body = d.json();
    assert_eq!(
        body["event_data"]["resources"][0]["digest"],
        img.digest.as_str()
    );
    assert_eq!(body["event_data"]["resources"][0]["tag"], "v1");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_one_message_id_and_give_up_after_the_last_attempt() {
    let s = server().await;
    let flaky = Receiver::start().await;
    let dead = Receiver::start().await;
    flaky.fail_first.store(2, Ordering::SeqCst);
    dead.fail_first.store(u32::MAX, Ordering::SeqCst);
    s.create_project("retry", false).await;
    let policy = create_policy(
        &s.base,
        "retry",
        json!({
            "name": "both",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [
                {"address": format!("{}/flaky", flaky.base), "secret": SECRET},
                {"address": format!("{}/dead", dead.base)},
            ],
        }),
    )
    .await;
    let skopeo = Skopeo::new();
    let (_, out) = skopeo
        .push(
            &image(2),
            &docker(&s.host(), "retry/app:v1"),
            Some(&admin()),
        )
        .await;
    out.assert_success();

    // Two failures, then delivered: three requests, one message id, each
    // attempt signed afresh.
    let attempts: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(flaky.next(PATIENCE).await);
        }
        v
    };
    let ids: Vec<_> = attempts.iter().map(|d| d.header("webhook-id")).collect();
    assert!(ids[0].is_some());
    assert!(ids.iter().all(|i| *i == ids[0]), "one message id: {ids:?}");
    for d in &attempts {
        verify(SECRET, d, &d.body).await.unwrap();
    }
    // Every attempt at the dead one fails: three, then it gives up.
    for _ in 0..3 {
        dead.next(PATIENCE).await;
    }
    let list = settled(&s.base, "retry", policy, 1).await;
    let e = &list[0];
    assert_eq!(e["status"], "Error", "one delivery failed for good: {e}");
    assert_eq!(e["metrics"]["success_task_count"], 1);
    assert_eq!(e["metrics"]["error_task_count"], 1);
    let exec_id = e["id"].as_i64().unwrap();
    for t in tasks(&s.base, "retry", policy, exec_id).await {
        assert_eq!(t["run_count"], 3, "{t}");
        let log = task_log(&s.base, "retry", policy, exec_id, t["id"].as_i64().unwrap()).await;
        assert_eq!(log.lines().count(), 3, "a line per attempt:\n{log}");
        assert_eq!(
            log.matches("answered 500").count(),
            if t["status"] == "Success" { 2 } else { 3 },
            "{log}"
        );
        if t["status"] == "Error" {
            assert!(log.contains("giving up"), "{log}");
        }
    }
    assert!(
        dead.drain(Duration::from_secs(1)).await.is_empty(),
        "no attempt after the last"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_up_no_push() {
    let s = server().await;
    let receiver = Receiver::start().await;
    receiver.hang.store(true, Ordering::SeqCst);
    s.create_project("slow", false).await;
    let policy = create_policy(
        &s.base,
        "slow",
        json!({
            "name": "stuck",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"address": format!("{}/hang", receiver.base)}],
        }),
    )
    .await;
    let skopeo = Skopeo::new();
    for n in 0..3u64 {
        let (_, out) = skopeo
            .push(
                &image(10 + n),
                &docker(&s.host(), &format!("slow/app:v{n}")),
                Some(&admin()),
            )
            .await;
        out.assert_success();
    }
    // The receiver holds the first delivery open (for a minute, the
    // timeout), yet every push has returned: none waited on it.
    receiver.next(PATIENCE).await;
    // Events are written to the store just after the push answers, so the
    // last push's execution may take a moment to be listed.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let list = loop {
        let list = executions(&s.base, "slow", policy).await;
        if list.len() >= 3 || tokio::time::Instant::now() >= deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(list.len(), 3, "every push queued its event: {list:#?}");
    assert!(
        list.iter()
            .all(|e| matches!(e["status"].as_str(), Some("Pending" | "Running"))),
        "no delivery has finished while the pushes all have: {list:#?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_when_the_server_is_killed_arrive_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("HARBOR_WEBHOOK_BACKOFF", "1s"),
    ];
    // Nothing listens on the receiver's port yet: every attempt fails.
    let port = common::distribution::free_port();
    let mut s = ServerProcess::start(&data, &dir.path().join("1.log"), &env).await;
    let base = s.url("");
    let base = base.trim_end_matches('/');
    let r = api(
        base,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "crash", "metadata": {"public": "false"}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let policy = create_policy(
        base,
        "crash",
        json!({
            "name": "later",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"address": format!("http://127.0.0.1:{port}/later"), "secret": SECRET}],
        }),
    )
    .await;
    let img = image(3);
    let (_, out) = Skopeo::new()
        .push(&img, &docker(&s.addr, "crash/app:v1"), Some(&admin()))
        .await;
    out.assert_success();
    // Wait for a failed attempt, so that the delivery sits in the queue
    // waiting for its next one; then kill the server outright.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let list = executions(base, "crash", policy).await;
        if let Some(e) = list.first() {
            let ts = tasks(base, "crash", policy, e["id"].as_i64().unwrap()).await;
            if ts[0]["run_count"].as_u64().unwrap_or(0) >= 1 && ts[0]["status"] == "Pending" {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.signal("9").await;

    let receiver = Receiver::start_on(port).await;
    let s = ServerProcess::start(&data, &dir.path().join("2.log"), &env).await;
    let d = receiver.next(PATIENCE).await;
    let body = d.json();
    assert_eq!(body["type"], "PUSH_ARTIFACT");
    assert_eq!(
        body["event_data"]["resources"][0]["digest"],
        img.digest.as_str()
    );
    verify(SECRET, &d, &d.body).await.unwrap();
    let base = s.url("");
    let list = settled(base.trim_end_matches('/'), "crash", policy, 1).await;
    assert_eq!(list[0]["status"], "Success", "{list:#?}");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_postgresql_deliver_each_event_once() {
    use harbor_storage::postgres::testing::TempCluster;

    let url = tokio::task::spawn_blocking(|| TempCluster::shared().database())
        .await
        .unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let secrets_dir = secrets.path().to_string_lossy().into_owned();
    let env = [
        ("HARBOR_DATABASE_URL", url.as_str()),
        ("HARBOR_SECRETS_DIR", secrets_dir.as_str()),
        ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    let receiver = Receiver::start().await;
    let mut dirs = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        instances.push(ServerProcess::start(&dir.path().join("data"), &log, &env).await);
        dirs.push(dir);
    }
    let a = instances[0].url("");
    let a = a.trim_end_matches('/');
    let r = api(
        a,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "pair", "metadata": {"public": "false"}})),
    )
    .await;
    assert_eq!(r.status, 201);
    // Created through one instance, the policy is seen by the other
    // within its refresh.
    let policy = create_policy(
        a,
        "pair",
        json!({
            "name": "once",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"address": format!("{}/once", receiver.base), "secret": SECRET}],
        }),
    )
    .await;
    // Three refresh intervals, for a loaded machine.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Blobs are on each instance's own disk: each image goes whole to one.
    let skopeo = Skopeo::new();
    let mut digests = Vec::new();
    for n in 0..6u64 {
        let img = image(20 + n);
        let target = &instances[(n % 2) as usize];
        let (_, out) = skopeo
            .push(
                &img,
                &docker(&target.addr, &format!("pair/app{n}:v1")),
                Some(&admin()),
            )
            .await;
        out.assert_success();
        digests.push(img.digest.clone());
    }
    let mut got = Vec::new();
    for _ in 0..6 {
        let d = receiver.next(PATIENCE).await;
        verify(SECRET, &d, &d.body).await.unwrap();
        got.push(
            d.json()["event_data"]["resources"][0]["digest"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        receiver.drain(Duration::from_secs(2)).await.is_empty(),
        "no event delivered twice"
    );
    got.sort();
    digests.sort();
    assert_eq!(got, digests, "each push delivered once");
    let list = settled(a, "pair", policy, 6).await;
    assert!(list.iter().all(|e| e["status"] == "Success"), "{list:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_api_refuses_bad_input_and_checks_roles() {
    let s = server().await;
    s.create_project("rules", false).await;
    let other = s.create_project("other", false).await;
    let path = "/api/v2.0/projects/rules/webhook/policies";
    let good = json!({
        "name": "p",
        "event_types": ["PUSH_ARTIFACT"],
        "targets": [{"type": "http", "address": "http://127.0.0.1:9/x"}],
    });
    let bad = [
        json!({"event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "http://h/x"}]}),
        json!({"name": "p", "event_types": [], "targets": [{"address": "http://h/x"}]}),
        json!({"name": "p", "event_types": ["NOPE"], "targets": [{"address": "http://h/x"}]}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": []}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "ftp://h/x"}]}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "not a url"}]}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": [{"type": "email", "address": "http://h/x"}]}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "http://h/x", "payload_format": "Xml"}]}),
        json!({"name": "p", "event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "http://h/x", "secret": "short"}]}),
    ];
    for body in bad {
        let r = api(&s.base, "POST", path, Some(body.clone())).await;
        assert_eq!(
            r.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = api(&s.base, "GET", path, None).await;
    assert_eq!(r.header("x-total-count"), Some("0"), "nothing stored");

    let id = create_policy(&s.base, "rules", good.clone()).await;
    let r = api(&s.base, "POST", path, Some(good.clone())).await;
    assert_eq!(r.status, 409, "a second policy of the same name");
    // Another project's id is not this project's policy.
    let r = api(
        &s.base,
        "GET",
        &format!("/api/v2.0/projects/{other}/webhook/policies/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);

    // A secret set once is kept by a PUT that does not resend it.
    let mut with_secret = good.clone();
    with_secret["targets"][0]["secret"] = json!(SECRET);
    let r = api(&s.base, "PUT", &format!("{path}/{id}"), Some(with_secret)).await;
    assert_eq!(r.status, 200);
    let mut renamed = good.clone();
    renamed["name"] = json!("renamed");
    renamed["enabled"] = json!(false);
    let r = api(&s.base, "PUT", &format!("{path}/{id}"), Some(renamed)).await;
    assert_eq!(r.status, 200);
    let r = api(&s.base, "GET", &format!("{path}/{id}"), None).await;
    assert_eq!(r.json()["name"], "renamed");
    assert_eq!(r.json()["enabled"], false);
    let r = api(&s.base, "GET", &format!("{path}?q=name%3D~ren"), None).await;
    assert_eq!(r.header("x-total-count"), Some("1"));

    let r = api(
        &s.base,
        "GET",
        "/api/v2.0/projects/rules/webhook/events",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let events = r.json();
    assert!(events["event_type"]
        .as_array()
        .unwrap()
        .contains(&json!("QUOTA_EXCEED")));
    assert_eq!(events["notify_type"], json!(["http", "slack"]));

    // A developer may not see or change policies; a maintainer may see them.
    let dev = s.create_user("dev", "Dev12345").await;
    let maint = s.create_user("maint", "Maint12345").await;
    let pid = {
        let r = api(&s.base, "GET", "/api/v2.0/projects/rules", None).await;
        r.json()["project_id"].as_i64().unwrap()
    };
    s.add_member(pid, dev, harbor_core::Role::Developer).await;
    s.add_member(pid, maint, harbor_core::Role::Maintainer)
        .await;
    let url = format!("{}{path}", s.base);
    let as_dev = common::basic("dev", "Dev12345");
    let as_maint = common::basic("maint", "Maint12345");
    assert_eq!(
        common::json_call(&url, &as_dev, "GET", None).await.status,
        403
    );
    assert_eq!(
        common::json_call(&url, &as_maint, "GET", None).await.status,
        200
    );
    assert_eq!(
        common::json_call(&url, &as_maint, "POST", Some(good.clone()))
            .await
            .status,
        403
    );
    let r = common::request("GET", &url, &[], String::new()).await;
    assert_eq!(r.status, 401);

    // Deleting the policy, then the project, leaves nothing behind.
    let r = api(&s.base, "DELETE", &format!("{path}/{id}"), None).await;
    assert_eq!(r.status, 200);
    let r = api(&s.base, "GET", &format!("{path}/{id}"), None).await;
    assert_eq!(r.status, 404);
    create_policy(&s.base, "rules", good).await;
    let r = api(&s.base, "DELETE", "/api/v2.0/projects/rules", None).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_enable_false_silences_every_policy() {
    let s = server().await;
    let receiver = Receiver::start().await;
    s.create_project("quiet", false).await;
    create_policy(
        &s.base,
        "quiet",
        json!({
            "name": "all",
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"address": format!("{}/q", receiver.base)}],
        }),
    )
    .await;
    let r = api(
        &s.base,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"notification_enable": false})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    s.push_image("quiet/app", "v1").await;
    assert!(
        receiver.drain(Duration::from_secs(3)).await.is_empty(),
        "nothing sent while notifications are off"
    );
    let r = api(
        &s.base,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"notification_enable": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    s.push_image("quiet/app", "v2").await;
    let d = receiver.next(PATIENCE).await;
    assert_eq!(d.json()["event_data"]["resources"][0]["tag"], "v2");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_that_ends_is_a_replication_event_of_its_source_project() {
    let s = server().await;
    let receiver = Receiver::start().await;
    s.create_project("origin", false).await;
    create_policy(
        &s.base,
        "origin",
        json!({
            "name": "replications",
            "event_types": ["REPLICATION"],
            "targets": [{"address": format!("{}/r", receiver.base)}],
        }),
    )
    .await;
    s.push_image("origin/app", "v1").await;
    s.push_image("origin/app", "v2").await;
    let r = api(
        &s.base,
        "POST",
        "/api/v2.0/registries",
        Some(json!({
            "name": "self", "type": "harbor", "url": s.base, "insecure": false,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let registry = r.location_id();
    let r = api(
        &s.base,
        "POST",
        "/api/v2.0/replication/policies",
        Some(json!({
            "name": "to-mirror", "dest_registry": {"id": registry}, "dest_namespace": "mirror",
            "filters": [{"type": "name", "value": "origin/**"}],
            "trigger": {"type": "manual"}, "override": true,
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let policy = r.location_id();
    let r = api(
        &s.base,
        "POST",
        "/api/v2.0/replication/executions",
        Some(json!({"policy_id": policy})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    let d = next_of(&receiver, "/r", "REPLICATION").await;
    let body = d.json();
    assert_eq!(body["operator"], "MANUAL");
    let rep = &body["event_data"]["replication"];
    assert_eq!(rep["job_status"], "Success", "{body}");
    assert_eq!(rep["trigger_type"], "MANUAL");
    assert_eq!(rep["override_mode"], true);
    assert_eq!(rep["src_resource"]["namespace"], "origin");
    assert_eq!(rep["dest_resource"]["registry_name"], "self");
    assert_eq!(rep["dest_resource"]["endpoint"], s.base.as_str());
    assert_eq!(rep["dest_resource"]["namespace"], "mirror");
    let mut copied: Vec<&str> = rep["successful_artifact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name_tag"].as_str().unwrap())
        .collect();
    copied.sort();
    assert_eq!(copied, ["origin/app:v1", "origin/app:v2"]);
    assert!(rep["failed_artifact"].as_array().unwrap().is_empty());
    assert_eq!(rep["harbor_hostname"], s.host().as_str());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_target_gets_a_slack_blocks_message() {
    let s = server().await;
    let receiver = Receiver::start().await;
    s.create_project("chat", false).await;
    create_policy(
        &s.base,
        "chat",
        json!({
            "name": "to-slack",
            "enabled": true,
            "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "slack", "address": format!("{}/services/T0/B0/x", receiver.base)}],
        }),
    )
    .await;
    let img = image(9);
    Skopeo::new()
        .push(&img, &docker(&s.host(), "chat/app:v1"), Some(&admin()))
        .await
        .1
        .assert_success();
    let d = receiver.next(PATIENCE).await;
    assert_eq!(d.path, "/services/T0/B0/x");
    assert_eq!(d.header("content-type"), Some("application/json"));
    // What Slack's incoming webhooks take: `blocks` of `section`s with
    // `mrkdwn` text, here naming the event, its operator and its data.
    let body = d.json();
    let texts: Vec<&str> = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["type"], "section");
            assert_eq!(b["text"]["type"], "mrkdwn");
            b["text"]["text"].as_str().unwrap()
        })
        .collect();
    let all = texts.join("\n");
    assert!(all.contains("*event_type:* PUSH_ARTIFACT"), "{all}");
    assert!(all.contains("*operator:* admin"), "{all}");
    assert!(all.contains("chat/app"), "{all}");
    assert!(all.contains(img.digest.as_str()), "{all}");
    s.stop().await;
}
