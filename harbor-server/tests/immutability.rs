//! Tag immutability as a user meets it: a rule made through Harbor's API
//! (`/projects/{project}/immutabletagrules`) stops skopeo from moving a tag
//! (its error names the rule), while pushing the same digest again or a new
//! tag works; deletes of an immutable tag or of an artifact carrying one
//! are refused through `/v2/` and the API, and so is deleting their
//! repository (which then deletes nothing); the artifact listing marks
//! immutable tags; disabling the rule lifts it; exclusions leave what they
//! exclude alone; replication cannot overwrite an immutable tag here; and
//! on PostgreSQL a rule made through one instance holds on another.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}/api/v2.0{path}", s.base), method, body).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Harbor's `ImmutableRule` body with one repository and one tag selector.
fn rule(repo: (&str, &str), tag: (&str, &str)) -> Value {
    json!({
        "disabled": false,
        "priority": 0,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "tag_selectors": [{"kind": "doublestar", "decoration": tag.0, "pattern": tag.1}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": repo.0, "pattern": repo.1}]
        },
    })
}

/// Creates a rule in `project`; returns its id.
async fn create_rule(s: &TestServer, project: &str, body: Value) -> i64 {
    let r = api(
        s,
        "POST",
        &format!("/projects/{project}/immutabletagrules"),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    r.location_id()
}

async fn create_project(s: &TestServer, name: &str) {
    let r = api(s, "POST", "/projects", Some(json!({"project_name": name}))).await;
    assert_eq!(r.status, 201, "{}", text(&r));
}

fn image(seed: u64) -> Image {
    let layer = layout::tar(&[("f.bin", &layout::pseudo_random(seed, 20_000))]);
    Image::new("linux", "amd64", vec![layer])
}

/// The digest `repo:tag` has, through the management API.
async fn digest_of(s: &TestServer, project: &str, repo: &str, tag: &str) -> String {
    let r = api(
        s,
        "GET",
        &format!("/projects/{project}/repositories/{repo}/artifacts/{tag}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["digest"].as_str().unwrap().to_owned()
}

/// `DELETE /v2/<repo>/manifests/<reference>` as the administrator.
async fn v2_delete(s: &TestServer, repo: &str, reference: &str) -> Resp {
    s.send(
        "DELETE",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("authorization", &common::admin_auth())],
        Vec::new(),
    )
    .await
}

async fn server() -> TestServer {
    TestServer::start_with_auth().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_cannot_move_an_immutable_tag_and_is_told_which_rule_refused() {
    let s = server().await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    create_project(&s, "team").await;
    let rule_id = create_rule(&s, "team", rule(("repoMatches", "**"), ("matches", "v*"))).await;
    let (first, second) = (image(1), image(2));
    let push = |img: &Image, to: &str| {
        let (img, to) = (img.clone(), docker(&s.host(), to));
        let (skopeo, admin) = (&skopeo, &admin);
        async move { skopeo.push(&img, &to, Some(admin)).await.1 }
    };

    push(&first, "team/app:v1").await.assert_success();
    let out = push(&second, "team/app:v1").await;
    out.assert_refused(&["denied"]);
    assert!(
        out.stderr.contains("team/app:v1 is immutable")
            && out.stderr.contains(&format!("rule {rule_id}")),
        "skopeo shows the refusal naming the rule: {}",
        out.stderr
    );
    assert_eq!(
        digest_of(&s, "team", "app", "v1").await,
        first.digest,
        "the tag still points at the first image"
    );

    // The same digest again is no change; a new tag the rule selects is
    // created (and immutable from then on); a tag it does not select moves.
    push(&first, "team/app:v1").await.assert_success();
    push(&second, "team/app:v2").await.assert_success();
    push(&second, "team/app:latest").await.assert_success();
    push(&first, "team/app:latest").await.assert_success();
    push(&first, "team/app:v2")
        .await
        .assert_refused(&["immutable"]);

    // Deletes: through /v2/ by tag or by digest, through the API the
    // artifact or the tag; all refused, and the tag is still there.
    let r = v2_delete(&s, "team/app", "v1").await;
    assert_eq!((r.status, r.error_code()), (403, "DENIED".to_owned()));
    assert!(
        text(&r).contains(&format!("rule {rule_id}")),
        "{}",
        text(&r)
    );
    let r = v2_delete(&s, "team/app", &first.digest).await;
    assert_eq!((r.status, r.error_code()), (403, "DENIED".to_owned()));
    let artifact = format!("/projects/team/repositories/app/artifacts/{}", first.digest);
    let r = api(&s, "DELETE", &artifact, None).await;
    assert_eq!((r.status, r.error_code()), (412, "PRECONDITION".to_owned()));
    assert!(text(&r).contains("configured as immutable"), "{}", text(&r));
    let r = api(&s, "DELETE", &format!("{artifact}/tags/v1"), None).await;
    assert_eq!((r.status, r.error_code()), (412, "PRECONDITION".to_owned()));
    // Deleting the whole repository is refused before anything goes: the
    // artifacts without an immutable tag stay too.
    let r = api(&s, "DELETE", "/projects/team/repositories/app", None).await;
    assert_eq!((r.status, r.error_code()), (412, "PRECONDITION".to_owned()));
    assert!(text(&r).contains("configured as immutable"), "{}", text(&r));
    assert_eq!(digest_of(&s, "team", "app", "v1").await, first.digest);
    assert_eq!(digest_of(&s, "team", "app", "v2").await, second.digest);

    // The listing says which tags are immutable.
    let list = api(&s, "GET", "/projects/team/repositories/app/artifacts", None).await;
    assert_eq!(list.status, 200);
    let mut flags: Vec<(String, bool)> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["tags"].as_array().unwrap().clone())
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["immutable"] == true,
            )
        })
        .collect();
    flags.sort();
    assert_eq!(
        flags,
        vec![
            ("latest".to_owned(), false),
            ("v1".to_owned(), true),
            ("v2".to_owned(), true)
        ]
    );

    // Disabled (as the portal does, `disabled` alone), the rule protects
    // nothing: the tag moves and can be deleted.
    let r = api(
        &s,
        "PUT",
        &format!("/projects/team/immutabletagrules/{rule_id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    push(&second, "team/app:v1").await.assert_success();
    assert_eq!(digest_of(&s, "team", "app", "v1").await, second.digest);
    let r = api(
        &s,
        "DELETE",
        "/projects/team/repositories/app/artifacts/v2/tags/v2",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_leave_the_tags_and_repositories_they_exclude_mutable() {
    let s = server().await;
    create_project(&s, "ex").await;
    create_rule(
        &s,
        "ex",
        rule(("repoExcludes", "tmp/**"), ("excludes", "dev-*")),
    )
    .await;
    // Each push_image of a name makes different content: a tag moves when
    // another artifact gets it through the API.
    for (repo, tag, mutable) in [
        ("ex/app", "v1", false),
        ("ex/app", "dev-1", true),
        ("ex/tmp/scratch", "v1", true),
        ("ex/tmpx", "v1", false),
    ] {
        s.push_image(repo, tag).await;
        let r = v2_delete(&s, repo, tag).await;
        assert_eq!(
            r.status == 202,
            mutable,
            "{repo}:{tag}: {} {}",
            r.status,
            text(&r)
        );
    }
    // The repository pattern sees the name without the project: a rule for
    // `app` holds in `ex2/app`, not in `ex2/other/app`.
    create_project(&s, "ex2").await;
    create_rule(&s, "ex2", rule(("repoMatches", "app"), ("matches", "**"))).await;
    s.push_image("ex2/app", "any").await;
    s.push_image("ex2/other/app", "any").await;
    assert_eq!(v2_delete(&s, "ex2/app", "any").await.status, 403);
    assert_eq!(v2_delete(&s, "ex2/other/app", "any").await.status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_cannot_overwrite_an_immutable_tag_and_its_task_says_why() {
    let source = server().await;
    let dest = server().await;
    let d1 = source.push_image("library/tool", "1.0").await;
    let d2 = source.push_image("library/tool", "2.0").await;
    create_project(&dest, "imported").await;
    let rule_id = create_rule(
        &dest,
        "imported",
        rule(("repoMatches", "**"), ("matches", "1.*")),
    )
    .await;
    let r = api(
        &dest,
        "POST",
        "/registries",
        Some(json!({
            "name": "source", "type": "harbor", "url": source.base, "insecure": false,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let registry = r.location_id();
    let r = api(
        &dest,
        "POST",
        "/replication/policies",
        Some(json!({
            "name": "pull", "src_registry": {"id": registry}, "dest_namespace": "imported",
            "filters": [{"type": "name", "value": "library/*"}], "override": true,
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let policy = r.location_id();
    let run = || async {
        let r = api(
            &dest,
            "POST",
            "/replication/executions",
            Some(json!({"policy_id": policy})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", text(&r));
        let id = r.location_id();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let e = api(&dest, "GET", &format!("/replication/executions/{id}"), None)
                .await
                .json();
            if ["Succeeded", "Failed", "Stopped"].contains(&e["status"].as_str().unwrap_or("")) {
                return (id, e);
            }
            assert!(Instant::now() < until, "execution {id} never ended: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (_, first) = run().await;
    assert_eq!(first["status"], "Succeeded", "{first}");
    assert_eq!(
        digest_of(&dest, "imported", "library%252Ftool", "1.0").await,
        d1
    );

    // At the source, 1.0 moves to the 2.0 image; copying it over the
    // immutable 1.0 here fails, with the reason in the task's log.
    let base = "/projects/library/repositories/tool/artifacts";
    let r = api(&source, "DELETE", &format!("{base}/{d1}/tags/1.0"), None).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = api(
        &source,
        "POST",
        &format!("{base}/{d2}/tags"),
        Some(json!({"name": "1.0"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let (id, second) = run().await;
    assert_eq!(second["status"], "Failed", "{second}");
    let tasks = api(
        &dest,
        "GET",
        &format!("/replication/executions/{id}/tasks"),
        None,
    )
    .await
    .json();
    let failed: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "Failed")
        .collect();
    assert_eq!(failed.len(), 1, "{tasks}");
    let log = api(
        &dest,
        "GET",
        &format!("/replication/executions/{id}/tasks/{}/log", failed[0]["id"]),
        None,
    )
    .await;
    assert!(
        text(&log).contains("imported/library/tool:1.0 is immutable")
            && text(&log).contains(&format!("rule {rule_id}")),
        "{}",
        text(&log)
    );
    assert_eq!(
        digest_of(&dest, "imported", "library%252Ftool", "1.0").await,
        d1,
        "the immutable tag kept its image"
    );
}

/// Two servers over one PostgreSQL database: a rule made through one is
/// enforced by the other within its refresh interval (2 s), and so is its
/// removal.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_made_through_one_instance_holds_on_another() {
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
    create_project(&a, "pg").await;
    b.push_image("pg/app", "v1").await;
    // b has read (and keeps) the project's rules: none yet.
    assert_eq!(v2_delete(&b, "pg/app", "nothing").await.status, 404);
    let id = create_rule(&a, "pg", rule(("repoMatches", "**"), ("matches", "v*"))).await;
    let made = Instant::now();
    loop {
        let r = v2_delete(&b, "pg/app", "v1").await;
        if r.status == 403 {
            assert!(text(&r).contains(&format!("rule {id}")), "{}", text(&r));
            break;
        }
        assert_eq!(r.status, 202, "{}", text(&r));
        // Deleted before the rule reached b: push it again and retry.
        b.push_image("pg/app", "v1").await;
        assert!(
            made.elapsed() < Duration::from_secs(15),
            "b still ignores the rule after {:?}",
            made.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = api(
        &a,
        "DELETE",
        &format!("/projects/pg/immutabletagrules/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let removed = Instant::now();
    while v2_delete(&b, "pg/app", "v1").await.status == 403 {
        assert!(
            removed.elapsed() < Duration::from_secs(15),
            "b still holds the rule"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
