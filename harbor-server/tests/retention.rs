//! Tag retention end to end: policies through `/api/v2.0/retentions`,
//! images pushed through `/v2/` (and with skopeo), a dry run that names
//! exactly what the real run then deletes, immutable tags kept, pulls
//! through `/v2/` ranking `latestPulledN`, stop, schedules, validation,
//! permissions, and the `TAG_RETENTION` webhook.
//!
//! skopeo must be installed (CI installs it).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::receiver::Receiver;
use common::skopeo::{creds, docker, Skopeo};
use common::{basic, Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn server() -> TestServer {
    TestServer::start_in(tempfile::tempdir().unwrap(), |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.webhook.backoff = Duration::from_millis(200);
    })
    .await
}

async fn call(s: &TestServer, auth: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::json_call(&format!("{}{path}", s.base), auth, method, body).await
}

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    call(s, &common::admin_auth(), method, path, body).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn selector(decoration: &str, pattern: &str) -> Value {
    json!({"kind": "doublestar", "decoration": decoration, "pattern": pattern})
}

fn tags(decoration: &str, pattern: &str, untagged: bool) -> Value {
    json!({
        "kind": "doublestar", "decoration": decoration, "pattern": pattern,
        "extras": json!({"untagged": untagged}).to_string(),
    })
}

fn rule(template: &str, n: Option<u32>, tag: Value, repo: &str) -> Value {
    let params = match n {
        Some(n) => json!({ template: n }),
        None => json!({}),
    };
    json!({
        "disabled": false, "action": "retain", "template": template, "params": params,
        "tag_selectors": [tag],
        "scope_selectors": {"repository": [selector("repoMatches", repo)]},
    })
}

fn policy(project_id: i64, rules: Vec<Value>, cron: &str) -> Value {
    json!({
        "algorithm": "or",
        "rules": rules,
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    })
}

/// Creates the policy; returns its id.
async fn create_policy(s: &TestServer, body: Value) -> i64 {
    let r = admin(s, "POST", "/api/v2.0/retentions", Some(body)).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    r.location_id()
}

/// Runs the policy and waits for the execution to end; returns it.
async fn run(s: &TestServer, policy: i64, dry_run: bool) -> Value {
    let r = admin(
        s,
        "POST",
        &format!("/api/v2.0/retentions/{policy}/executions"),
        Some(json!({ "dry_run": dry_run })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    wait_execution(s, policy, r.location_id()).await
}

async fn wait_execution(s: &TestServer, policy: i64, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = admin(
            s,
            "GET",
            &format!("/api/v2.0/retentions/{policy}/executions?page_size=100"),
            None,
        )
        .await
        .json();
        let e = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap();
        if e["status"] != "InProgress" {
            return e;
        }
        assert!(Instant::now() < deadline, "execution {id} never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The execution's tasks and, per task, its log.
async fn tasks(s: &TestServer, policy: i64, execution: i64) -> Vec<(Value, String)> {
    let base = format!("/api/v2.0/retentions/{policy}/executions/{execution}/tasks");
    let list = admin(s, "GET", &format!("{base}?page_size=100"), None).await;
    assert_eq!(list.status, 200, "{}", text(&list));
    let mut out = Vec::new();
    for t in list.json().as_array().unwrap() {
        let log = admin(s, "GET", &format!("{base}/{}", t["id"]), None).await;
        assert_eq!(log.status, 200);
        assert!(log
            .header("content-type")
            .unwrap()
            .starts_with("text/plain"));
        out.push((t.clone(), text(&log)));
    }
    out
}

/// The digests a set of logs says were deleted.
fn deleted(logs: &[(Value, String)]) -> BTreeSet<String> {
    logs.iter()
        .flat_map(|(_, log)| log.lines())
        .filter(|l| l.contains("| DELETED"))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

async fn manifest_status(s: &TestServer, repo: &str, reference: &str) -> u16 {
    s.send(
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[
            ("authorization", &common::admin_auth()),
            ("accept", "application/vnd.oci.image.manifest.v1+json"),
        ],
        Vec::new(),
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_deletes_exactly_what_the_dry_run_listed() {
    let s = server().await;
    let pid = s.create_project("keep", false).await;
    // 60 tags over 3 repositories, pushed in order (a millisecond apart so
    // that push order is push time).
    let mut digests = std::collections::BTreeMap::new();
    let push = |repo: &'static str, tag: String| {
        let s = &s;
        async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            (format!("{repo}:{tag}"), s.push_image(repo, &tag).await)
        }
    };
    for i in 1..=20 {
        let (k, d) = push("keep/app", format!("v{i}")).await;
        digests.insert(k, d);
    }
    for i in 1..=5 {
        let (k, d) = push("keep/app", format!("dev-{i}")).await;
        digests.insert(k, d);
    }
    for i in 1..=20 {
        let (k, d) = push("keep/web", format!("rel-{i}")).await;
        digests.insert(k, d);
    }
    for i in 1..=15 {
        let (k, d) = push("keep/tmp/cache", format!("c{i}")).await;
        digests.insert(k, d);
    }
    // An untagged artifact in app: pushed by a tag, the tag then removed.
    let (_, untagged) = push("keep/app", "scratch".into()).await;
    let r = admin(
        &s,
        "DELETE",
        &format!("/api/v2.0/projects/keep/repositories/app/artifacts/{untagged}/tags/scratch"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    // rel-1 is immutable; rel-3 is pulled (through /v2/, by tag).
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/projects/keep/immutabletagrules",
        Some(json!({
            "disabled": false, "action": "immutable", "template": "immutable_template",
            "tag_selectors": [selector("matches", "rel-1")],
            "scope_selectors": {"repository": [selector("repoMatches", "web")]},
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(manifest_status(&s, "keep/web", "rel-3").await, 200);
    let rel3 = &digests["keep/web:rel-3"];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = admin(
            &s,
            "GET",
            &format!("/api/v2.0/projects/keep/repositories/web/artifacts/{rel3}"),
            None,
        )
        .await
        .json();
        if !a["pull_time"].as_str().unwrap().starts_with("0001") {
            break;
        }
        assert!(Instant::now() < deadline, "the pull was never recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let receiver = Receiver::start().await;
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/projects/keep/webhook/policies",
        Some(json!({
            "name": "retention", "event_types": ["TAG_RETENTION"],
            "targets": [{"address": receiver.base}],
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));

    let id = create_policy(
        &s,
        policy(
            pid,
            vec![
                rule(
                    "latestPushedK",
                    Some(5),
                    tags("matches", "v*", false),
                    "app",
                ),
                rule(
                    "latestPushedK",
                    Some(3),
                    tags("matches", "**", false),
                    "web",
                ),
                rule(
                    "latestPulledN",
                    Some(1),
                    tags("matches", "**", false),
                    "web",
                ),
                rule("always", None, tags("excludes", "c1*", false), "tmp/**"),
            ],
            "",
        ),
    )
    .await;
    let project = admin(&s, "GET", "/api/v2.0/projects/keep", None)
        .await
        .json();
    assert_eq!(project["metadata"]["retention_id"], id.to_string());

    let mut expected = BTreeSet::new();
    for i in 1..=15 {
        expected.insert(digests[&format!("keep/app:v{i}")].clone());
    }
    for i in 1..=5 {
        expected.insert(digests[&format!("keep/app:dev-{i}")].clone());
    }
    expected.insert(untagged.clone());
    for i in (2..=17).filter(|i| *i != 3) {
        expected.insert(digests[&format!("keep/web:rel-{i}")].clone());
    }
    for c in ["c1", "c10", "c11", "c12", "c13", "c14", "c15"] {
        expected.insert(digests[&format!("keep/tmp/cache:{c}")].clone());
    }

    let dry = run(&s, id, true).await;
    assert_eq!(dry["status"], "Succeed", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["trigger"], "MANUAL");
    let dry_logs = tasks(&s, id, dry["id"].as_i64().unwrap()).await;
    assert_eq!(dry_logs.len(), 3, "one task per repository");
    let listed = deleted(&dry_logs);
    assert_eq!(listed, expected, "the dry run lists what the rules leave");
    let web = dry_logs
        .iter()
        .find(|(t, _)| t["repository"] == "keep/web")
        .unwrap();
    assert_eq!(
        (web.0["total"].as_u64(), web.0["retained"].as_u64()),
        (Some(20), Some(5))
    );
    assert!(web.1.contains("immutable"), "{}", web.1);
    assert!(web.1.contains("latestPulledN 1"), "{}", web.1);
    // Nothing was deleted by the dry run.
    assert_eq!(manifest_status(&s, "keep/app", "v1").await, 200);
    assert!(
        receiver.drain(Duration::from_millis(500)).await.is_empty(),
        "dry runs send no TAG_RETENTION"
    );

    let real = run(&s, id, false).await;
    assert_eq!(real["status"], "Succeed", "{real}");
    let real_logs = tasks(&s, id, real["id"].as_i64().unwrap()).await;
    assert_eq!(
        deleted(&real_logs),
        listed,
        "the real run deletes exactly the dry run's list"
    );
    for (key, digest) in &digests {
        let (repo, tag) = key.split_once(':').unwrap();
        let want = if expected.contains(digest) { 404 } else { 200 };
        assert_eq!(manifest_status(&s, repo, tag).await, want, "{key}");
    }
    assert_eq!(manifest_status(&s, "keep/app", &untagged).await, 404);

    // skopeo pulls what was retained; what was deleted is gone.
    let skopeo = Skopeo::new();
    let admin_creds = creds("admin", ADMIN_PASSWORD);
    skopeo
        .pull(&docker(&s.host(), "keep/app:v20"), Some(&admin_creds))
        .await
        .1
        .assert_success();
    skopeo
        .pull(&docker(&s.host(), "keep/web:rel-1"), Some(&admin_creds))
        .await
        .1
        .assert_success();
    let (_, gone) = skopeo
        .pull(&docker(&s.host(), "keep/app:v1"), Some(&admin_creds))
        .await;
    assert!(!gone.success, "a deleted tag must not pull");

    // The webhook: Harbor's TAG_RETENTION payload.
    let delivery = receiver.next(Duration::from_secs(30)).await;
    let p = delivery.json();
    assert_eq!(p["type"], "TAG_RETENTION");
    assert_eq!(p["operator"], "MANUAL");
    let r = &p["event_data"]["retention"];
    assert_eq!(r["project_name"], "keep");
    assert_eq!(r["retention_policy_id"], id);
    assert_eq!(r["result"], "SUCCESS");
    assert_eq!(r["total"], 61);
    assert_eq!(r["retained"], 61 - expected.len());
    assert_eq!(r["retention_rule"].as_array().unwrap().len(), 4);
    let named: BTreeSet<String> = r["deleted_artifact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "image");
            a["digest"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(named, expected);

    // skopeo pulled rel-1 after every other pull: once that is recorded,
    // rel-1 is the latest pulled of web, and rel-3, kept before only as
    // the latest pulled, is what a second run deletes.
    let pulled = |a: &Value| a["pull_time"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let art = |d: String| {
            let s = &s;
            async move {
                admin(
                    s,
                    "GET",
                    &format!("/api/v2.0/projects/keep/repositories/web/artifacts/{d}"),
                    None,
                )
                .await
                .json()
            }
        };
        let one = art(digests["keep/web:rel-1"].clone()).await;
        let three = art(digests["keep/web:rel-3"].clone()).await;
        if pulled(&one) > pulled(&three) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "skopeo's pull was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = run(&s, id, false).await;
    let logs = tasks(&s, id, again["id"].as_i64().unwrap()).await;
    assert_eq!(
        deleted(&logs),
        BTreeSet::from([digests["keep/web:rel-3"].clone()]),
        "latestPulledN follows the pulls"
    );

    // The policy goes with the project's metadata when deleted.
    let r = admin(&s, "DELETE", &format!("/api/v2.0/retentions/{id}"), None).await;
    assert_eq!(r.status, 200);
    let project = admin(&s, "GET", "/api/v2.0/projects/keep", None)
        .await
        .json();
    assert!(
        project["metadata"].get("retention_id").is_none(),
        "{project}"
    );
    let r = admin(&s, "GET", &format!("/api/v2.0/retentions/{id}"), None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_api_validates_and_checks_roles() {
    let s = server().await;
    let pid = s.create_project("rules", false).await;
    let meta = admin(&s, "GET", "/api/v2.0/retentions/metadatas", None).await;
    assert_eq!(meta.status, 200);
    let ids: Vec<String> = meta.json()["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rule_template"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "latestPushedK",
            "latestPulledN",
            "nDaysSinceLastPush",
            "nDaysSinceLastPull",
            "always"
        ]
    );

    let good = || rule("latestPushedK", Some(3), tags("matches", "**", true), "**");
    let label = json!({
        "disabled": false, "action": "retain", "template": "always", "params": {},
        "tag_selectors": [{"kind": "label", "decoration": "withLabels", "pattern": ""}],
        "scope_selectors": {"repository": [selector("repoMatches", "**")]},
    });
    let bad = [
        policy(
            pid,
            vec![rule(
                "latestPushedK",
                Some(u32::MAX),
                tags("matches", "**", true),
                "**",
            )],
            "",
        ),
        policy(
            pid,
            vec![rule("keepSome", Some(1), tags("matches", "**", true), "**")],
            "",
        ),
        policy(pid, vec![label], ""),
        policy(pid, (0..16).map(|_| good()).collect(), ""),
        policy(pid, vec![good()], "every day"),
        policy(
            pid,
            vec![rule(
                "latestPushedK",
                Some(3),
                tags("matches", "{a", true),
                "**",
            )],
            "",
        ),
        json!({"rules": [good()], "scope": {"level": "system", "ref": pid}}),
        policy(999, vec![good()], ""),
    ];
    for body in bad {
        let r = admin(&s, "POST", "/api/v2.0/retentions", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", text(&r));
        assert_eq!(r.error_code(), "BAD_REQUEST");
    }
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/retentions",
        Some(policy(
            pid,
            vec![json!({
                "action": "retain", "template": "always",
                "tag_selectors": [{"kind": "label", "decoration": "withLabels", "pattern": " , "}],
                "scope_selectors": {"repository": [selector("repoMatches", "**")]},
            })],
            "",
        )),
    )
    .await;
    assert!(text(&r).contains("names no label"), "{}", text(&r));
    let project = admin(&s, "GET", "/api/v2.0/projects/rules", None)
        .await
        .json();
    assert!(
        project["metadata"].get("retention_id").is_none(),
        "nothing stored"
    );

    // Roles: anonymous 401, guest 403, maintainer creates; developer reads
    // (Harbor's matrix lets developers manage retention too).
    let r = common::request(
        "POST",
        &format!("{}/api/v2.0/retentions", s.base),
        &[("content-type", "application/json")],
        policy(pid, vec![good()], "").to_string(),
    )
    .await;
    assert_eq!(r.status, 401);
    let mut auths = Vec::new();
    for (name, role) in [
        ("guest", harbor_core::Role::Guest),
        ("maint", harbor_core::Role::Maintainer),
        ("dev", harbor_core::Role::Developer),
    ] {
        let uid = s.create_user(name, "Passw0rd1").await;
        s.add_member(pid, uid, role).await;
        auths.push(basic(name, "Passw0rd1"));
    }
    let body = policy(pid, vec![good()], "0 0 0 * * *");
    let r = call(
        &s,
        &auths[0],
        "POST",
        "/api/v2.0/retentions",
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(
        &s,
        &auths[1],
        "POST",
        "/api/v2.0/retentions",
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.location_id();
    let r = call(
        &s,
        &auths[1],
        "POST",
        "/api/v2.0/retentions",
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 400, "one policy per project: {}", text(&r));
    let got = call(
        &s,
        &auths[2],
        "GET",
        &format!("/api/v2.0/retentions/{id}"),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    let got = got.json();
    assert_eq!(got["scope"], json!({"level": "project", "ref": pid}));
    assert_eq!(got["trigger"]["settings"]["cron"], "0 0 0 * * *");
    assert_eq!(got["rules"][0]["params"]["latestPushedK"], 3);
    assert_eq!(
        got["rules"][0]["tag_selectors"][0]["extras"],
        "{\"untagged\":true}"
    );
    let r = call(
        &s,
        &auths[0],
        "GET",
        &format!("/api/v2.0/retentions/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(
        &s,
        &auths[0],
        "POST",
        &format!("/api/v2.0/retentions/{id}/executions"),
        Some(json!({"dry_run": true})),
    )
    .await;
    assert_eq!(r.status, 403);

    // Update: a new schedule and rules; a bad one changes nothing.
    let next = policy(
        pid,
        vec![
            good(),
            rule(
                "nDaysSinceLastPull",
                Some(7),
                tags("matches", "**", false),
                "**",
            ),
        ],
        "0 30 2 * * 1",
    );
    let r = admin(&s, "PUT", &format!("/api/v2.0/retentions/{id}"), Some(next)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = admin(
        &s,
        "PUT",
        &format!("/api/v2.0/retentions/{id}"),
        Some(policy(pid, vec![good()], "61 * * * * *")),
    )
    .await;
    assert_eq!(r.status, 400);
    let got = admin(&s, "GET", &format!("/api/v2.0/retentions/{id}"), None)
        .await
        .json();
    assert_eq!(got["trigger"]["settings"]["cron"], "0 30 2 * * 1");
    assert_eq!(got["rules"].as_array().unwrap().len(), 2);
    let r = admin(
        &s,
        "PATCH",
        &format!("/api/v2.0/retentions/{id}/executions/1"),
        Some(json!({"action": "pause"})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = admin(&s, "GET", "/api/v2.0/retentions/424242", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_leaves_everything_and_a_schedule_fires() {
    let s = server().await;
    let pid = s.create_project("sched", false).await;
    for i in 1..=4 {
        s.push_image("sched/app", &format!("t{i}")).await;
    }
    let id = create_policy(
        &s,
        policy(
            pid,
            vec![rule(
                "latestPushedK",
                Some(1),
                tags("matches", "**", false),
                "**",
            )],
            "",
        ),
    )
    .await;
    // Many artifacts, pushed through the engine for speed: a real run
    // deleting them takes seconds, and a stop reaches it within one.
    push_many(&s, "sched/many", 1500).await;
    let r = admin(
        &s,
        "POST",
        &format!("/api/v2.0/retentions/{id}/executions"),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(r.status, 201);
    let eid = r.location_id();
    let r = admin(
        &s,
        "PATCH",
        &format!("/api/v2.0/retentions/{id}/executions/{eid}"),
        Some(json!({"action": "stop"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let e = wait_execution(&s, id, eid).await;
    assert_eq!(e["status"], "Stopped", "{e}");
    assert!(e["end_time"].is_string());
    let left = admin(
        &s,
        "GET",
        "/api/v2.0/projects/sched/repositories/many/artifacts?page_size=1",
        None,
    )
    .await;
    let left: u64 = left.header("x-total-count").unwrap().parse().unwrap();
    assert!(left > 1, "the stop left the rest untouched ({left} left)");
    // Stopped before an instance took it (no task), or midway (its task
    // stopped).
    let logs = tasks(&s, id, eid).await;
    assert!(
        logs.is_empty()
            || logs
                .iter()
                .any(|(t, log)| t["status"] == "Stopped" && log.contains("stopped")),
        "{logs:?}"
    );

    // A schedule every two seconds fires a SCHEDULE run, once per firing.
    let mut body = policy(
        pid,
        vec![rule(
            "latestPushedK",
            Some(1),
            tags("matches", "**", false),
            "**",
        )],
        "*/2 * * * * *",
    );
    body["id"] = json!(id);
    let r = admin(&s, "PUT", &format!("/api/v2.0/retentions/{id}"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let deadline = Instant::now() + Duration::from_secs(30);
    let scheduled = loop {
        let list = admin(
            &s,
            "GET",
            &format!("/api/v2.0/retentions/{id}/executions"),
            None,
        )
        .await;
        assert!(list.header("x-total-count").is_some());
        let found = list
            .json()
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["trigger"] == "SCHEDULE" && e["status"] != "InProgress")
            .cloned();
        if let Some(e) = found {
            break e;
        }
        assert!(Instant::now() < deadline, "the schedule never fired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(scheduled["status"], "Succeed", "{scheduled}");
    assert_eq!(scheduled["dry_run"], false);
    let r = admin(
        &s,
        "PUT",
        &format!("/api/v2.0/retentions/{id}"),
        Some(policy(
            pid,
            vec![rule("always", None, tags("matches", "**", true), "**")],
            "",
        )),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(manifest_status(&s, "sched/app", "t4").await, 200);
    assert_eq!(manifest_status(&s, "sched/app", "t1").await, 404);
}

/// Pushes `n` small images to `repo` through `s`'s engine (fast set-up).
async fn push_many(s: &TestServer, repo: &str, n: usize) {
    let many = harbor_core::RepositoryName::parse(repo).unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = harbor_core::Digest::sha256(config);
    s.registry
        .put_blob(
            &many,
            &config_digest,
            harbor_core::bytes_stream(config.to_vec()),
            None,
        )
        .await
        .unwrap();
    for i in 0..n {
        let m = harbor_core::ImageManifestBuilder::oci(harbor_core::Descriptor::for_blob(
            harbor_core::media_type::OCI_CONFIG,
            config,
        ))
        .annotation("n", i.to_string())
        .build()
        .unwrap();
        s.registry
            .put_manifest(
                &many,
                &harbor_core::Reference::parse(&format!("m{i}")).unwrap(),
                Some(m.media_type()),
                m.bytes().clone(),
            )
            .await
            .unwrap();
    }
}

/// Two servers over one PostgreSQL database: an execution asked for
/// through one runs once (one task per repository, not two), and a stop
/// asked through the other instance stops it.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_run_each_execution_once_and_stop_it_from_either() {
    let url = tokio::task::spawn_blocking(|| {
        harbor_storage::postgres::testing::TempCluster::shared().database()
    })
    .await
    .unwrap();
    let shared = tempfile::tempdir().unwrap();
    let start = |url: String, blobs: std::path::PathBuf| {
        TestServer::start_in(tempfile::tempdir().unwrap(), move |c| {
            c.auth.mode = harbor_server::config::AuthMode::Token;
            c.auth.admin_password = Some(ADMIN_PASSWORD.into());
            c.database_url = Some(url);
            c.data_dir = blobs;
        })
    };
    let a = start(url.clone(), shared.path().join("data")).await;
    let b = start(url, shared.path().join("data")).await;
    let pid = a.create_project("pgret", false).await;
    push_many(&a, "pgret/many", 1000).await;
    let id = create_policy(
        &a,
        policy(
            pid,
            vec![rule(
                "latestPushedK",
                Some(1),
                tags("matches", "**", false),
                "**",
            )],
            "",
        ),
    )
    .await;
    // A dry run asked through b: one task, run by one instance.
    let dry = run(&b, id, true).await;
    assert_eq!(dry["status"], "Succeed", "{dry}");
    let logs = tasks(&a, id, dry["id"].as_i64().unwrap()).await;
    assert_eq!(logs.len(), 1, "one task: the execution ran once");
    assert_eq!(deleted(&logs).len(), 999);
    // A real run asked through b, stopped through a.
    let r = admin(
        &b,
        "POST",
        &format!("/api/v2.0/retentions/{id}/executions"),
        Some(json!({"dry_run": false})),
    )
    .await;
    assert_eq!(r.status, 201);
    let eid = r.location_id();
    let r = admin(
        &a,
        "PATCH",
        &format!("/api/v2.0/retentions/{id}/executions/{eid}"),
        Some(json!({"action": "stop"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let e = wait_execution(&a, id, eid).await;
    assert_eq!(e["status"], "Stopped", "{e}");
    let left = admin(
        &a,
        "GET",
        "/api/v2.0/projects/pgret/repositories/many/artifacts?page_size=1",
        None,
    )
    .await;
    let left: u64 = left.header("x-total-count").unwrap().parse().unwrap();
    assert!(left > 1, "the stop left the rest ({left} left)");
}

/// Label selectors: `withLabels` retains exactly the artifacts carrying
/// the labels named (put on through the labels API), `withoutLabels` the
/// others; a dry run lists what the real run deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selectors_retain_by_the_artifacts_labels() {
    let s = server().await;
    let pid = s.create_project("labelled", false).await;
    push_many(&s, "labelled/app", 4).await;
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "keep", "scope": "p", "project_id": pid})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let keep = r.location_id();
    for tag in ["m1", "m3"] {
        let r = admin(
            &s,
            "POST",
            &format!("/api/v2.0/projects/labelled/repositories/app/artifacts/{tag}/labels"),
            Some(json!({"id": keep})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
    }
    let label = |decoration: &str| {
        json!({
            "disabled": false, "action": "retain", "template": "always", "params": {},
            "tag_selectors": [{"kind": "label", "decoration": decoration, "pattern": "keep"}],
            "scope_selectors": {"repository": [selector("repoMatches", "**")]},
        })
    };
    let id = create_policy(&s, policy(pid, vec![label("withLabels")], "")).await;
    let dry = run(&s, id, true).await;
    let listed = deleted(&tasks(&s, id, dry["id"].as_i64().unwrap()).await);
    assert_eq!(listed.len(), 2, "the two unlabelled: {listed:?}");
    let real = run(&s, id, false).await;
    assert_eq!(
        deleted(&tasks(&s, id, real["id"].as_i64().unwrap()).await),
        listed,
        "the real run deletes what the dry run listed"
    );
    for (tag, status) in [("m0", 404), ("m1", 200), ("m2", 404), ("m3", 200)] {
        assert_eq!(
            manifest_status(&s, "labelled/app", tag).await,
            status,
            "{tag}"
        );
    }

    // withoutLabels: keep what does not carry it (nothing left), so the
    // labelled two go.
    let r = admin(
        &s,
        "PUT",
        &format!("/api/v2.0/retentions/{id}"),
        Some(policy(pid, vec![label("withoutLabels")], "")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    run(&s, id, false).await;
    for tag in ["m1", "m3"] {
        assert_eq!(manifest_status(&s, "labelled/app", tag).await, 404, "{tag}");
    }
    s.stop().await;
}
