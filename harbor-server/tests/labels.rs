//! Labels through Harbor's API: global labels (system administrators) and
//! project labels (the project's administrators and maintainers), unique by
//! name in their scope; put on and taken off artifacts by developers and
//! up, shown in artifact reads with `with_label=true`, gone with the label
//! or the artifact; and read from a remote Harbor by replication's label
//! filters.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Resp, TestServer};
use harbor_core::Role;
use serde_json::{json, Value};

async fn call(s: &TestServer, auth: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::json_call(&format!("{}{path}", s.base), auth, method, body).await
}

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

fn names(r: &Resp) -> Vec<String> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The labels `GET ...artifacts/{reference}?with_label=true` shows.
async fn artifact_labels(s: &TestServer, repo: &str, reference: &str) -> Vec<String> {
    let r = admin(
        s,
        "GET",
        &format!(
            "/api/v2.0/projects/team/repositories/{repo}/artifacts/{reference}?with_label=true"
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn labels_are_scoped_checked_and_follow_their_artifacts() {
    let s = TestServer::start_with_auth().await;
    let team = s.create_project("team", false).await;
    let other = s.create_project("other", false).await;
    let dev = s.create_user("dev", "Dev12345").await;
    let maint = s.create_user("maint", "Maint12345").await;
    let guest = s.create_user("guest", "Guest12345").await;
    s.add_member(team, dev, Role::Developer).await;
    s.add_member(team, maint, Role::Maintainer).await;
    s.add_member(team, guest, Role::Guest).await;
    let as_dev = common::basic("dev", "Dev12345");
    let as_maint = common::basic("maint", "Maint12345");
    let as_guest = common::basic("guest", "Guest12345");

    // Global labels: administrators make them; anyone signed in lists them.
    let r = admin(&s, "POST", "/api/v2.0/labels", Some(json!({"name": "prod", "scope": "g", "color": "#0065AB", "description": "in production"}))).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let prod = r.location_id();
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "prod", "scope": "g"})),
    )
    .await;
    assert_eq!(r.status, 409, "a second global prod");
    let r = call(
        &s,
        &as_maint,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "x", "scope": "g"})),
    )
    .await;
    assert_eq!(r.status, 403, "only administrators make global labels");
    let r = call(&s, &as_guest, "GET", "/api/v2.0/labels?scope=g", None).await;
    assert_eq!((r.status, names(&r)), (200, vec!["prod".to_owned()]));
    let r = common::request(
        "GET",
        &format!("{}/api/v2.0/labels", s.base),
        &[],
        String::new(),
    )
    .await;
    assert_eq!(r.status, 401);

    // Project labels: maintainers make them, developers read them.
    let r = call(
        &s,
        &as_maint,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "qa-passed", "scope": "p", "project_id": team})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let qa = r.location_id();
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "prod", "scope": "p", "project_id": team})),
    )
    .await;
    assert_eq!(r.status, 201, "a project may have its own prod");
    let team_prod = r.location_id();
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "elsewhere", "scope": "p", "project_id": other})),
    )
    .await;
    assert_eq!(r.status, 201);
    let elsewhere = r.location_id();
    let r = call(
        &s,
        &as_dev,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "y", "scope": "p", "project_id": team})),
    )
    .await;
    assert_eq!(r.status, 403, "developers do not make labels");
    let r = call(
        &s,
        &as_dev,
        "GET",
        &format!("/api/v2.0/labels?scope=p&project_id={team}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(names(&r), ["qa-passed", "prod"]);
    assert_eq!(r.header("x-total-count"), Some("2"));
    let r = call(
        &s,
        &as_dev,
        "GET",
        &format!("/api/v2.0/labels?scope=p&project_id={team}&name=qa"),
        None,
    )
    .await;
    assert_eq!(names(&r), ["qa-passed"]);
    let r = call(
        &s,
        &as_dev,
        "GET",
        &format!("/api/v2.0/labels?scope=p&project_id={other}"),
        None,
    )
    .await;
    assert_eq!(
        r.status, 404,
        "a private project it is no member of is not shown"
    );

    // Bad input changes nothing.
    for body in [
        json!({"scope": "g"}),
        json!({"name": "", "scope": "g"}),
        json!({"name": "z", "scope": "x"}),
        json!({"name": "z", "scope": "p"}),
        json!({"name": "n".repeat(129), "scope": "g"}),
    ] {
        let r = admin(&s, "POST", "/api/v2.0/labels", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
    }
    let r = admin(&s, "GET", "/api/v2.0/labels?scope=g", None).await;
    assert_eq!(r.header("x-total-count"), Some("1"));

    // Updates keep the scope; a taken name is a conflict.
    let r = call(
        &s,
        &as_maint,
        "PUT",
        &format!("/api/v2.0/labels/{qa}"),
        Some(json!({"name": "prod"})),
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(
        &s,
        &as_maint,
        "PUT",
        &format!("/api/v2.0/labels/{qa}"),
        Some(json!({"name": "qa", "color": "#00FF00"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(&s, &as_dev, "GET", &format!("/api/v2.0/labels/{qa}"), None).await;
    assert_eq!(r.status, 200);
    let l = r.json();
    assert_eq!(
        (
            l["name"].as_str(),
            l["color"].as_str(),
            l["scope"].as_str(),
            l["project_id"].as_i64()
        ),
        (Some("qa"), Some("#00FF00"), Some("p"), Some(team))
    );
    let r = admin(
        &s,
        "PUT",
        &format!("/api/v2.0/labels/{qa}"),
        Some(json!({"scope": "g"})),
    )
    .await;
    assert_eq!(r.status, 400);

    // On artifacts.
    let digest = s.push_image("team/app", "v1").await;
    let add = "/api/v2.0/projects/team/repositories/app/artifacts/v1/labels".to_owned();
    let r = call(&s, &as_dev, "POST", &add, Some(json!({"id": prod}))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(&s, &as_dev, "POST", &add, Some(json!({"id": qa}))).await;
    assert_eq!(r.status, 200);
    let r = call(&s, &as_dev, "POST", &add, Some(json!({"id": qa}))).await;
    assert_eq!(r.status, 409, "already on it");
    let r = call(&s, &as_dev, "POST", &add, Some(json!({"id": elsewhere}))).await;
    assert_eq!(r.status, 400, "another project's label");
    let r = call(&s, &as_guest, "POST", &add, Some(json!({"id": team_prod}))).await;
    assert_eq!(r.status, 403, "guests do not label");
    assert_eq!(artifact_labels(&s, "app", "v1").await, ["prod", "qa"]);
    let r = admin(
        &s,
        "GET",
        "/api/v2.0/projects/team/repositories/app/artifacts?with_label=true",
        None,
    )
    .await;
    assert_eq!(r.json()[0]["labels"][1]["name"], "qa");
    let r = admin(
        &s,
        "GET",
        "/api/v2.0/projects/team/repositories/app/artifacts",
        None,
    )
    .await;
    assert!(
        r.json()[0].get("labels").is_none(),
        "only with with_label=true"
    );

    let r = call(&s, &as_dev, "DELETE", &format!("{add}/{qa}"), None).await;
    assert_eq!(r.status, 200);
    let r = call(&s, &as_dev, "DELETE", &format!("{add}/{qa}"), None).await;
    assert_eq!(r.status, 404, "not on it any more");
    assert_eq!(artifact_labels(&s, "app", "v1").await, ["prod"]);

    // Deleting the label takes it off; deleting the artifact takes all.
    let r = call(&s, &as_dev, "POST", &add, Some(json!({"id": team_prod}))).await;
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        &as_maint,
        "DELETE",
        &format!("/api/v2.0/labels/{prod}"),
        None,
    )
    .await;
    assert_eq!(r.status, 403, "a global label is the administrators'");
    let r = admin(&s, "DELETE", &format!("/api/v2.0/labels/{prod}"), None).await;
    assert_eq!(r.status, 200);
    let r = admin(&s, "GET", &format!("/api/v2.0/labels/{prod}"), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        artifact_labels(&s, "app", "v1").await,
        ["prod"],
        "the project's prod stays"
    );
    let r = admin(
        &s,
        "DELETE",
        &format!("/api/v2.0/projects/team/repositories/app/artifacts/{digest}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    s.push_image("team/app", "v1").await;
    assert!(
        artifact_labels(&s, "app", "v1").await.is_empty(),
        "a deleted artifact pushed again has no labels"
    );
    s.stop().await;
}

/// A pull-mode policy from another Harbor (this server's `harbor` adapter
/// reading the source's `/api/v2.0` with `with_label=true`) copies only the
/// artifacts its label filter selects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_filters_read_a_remote_harbors_labels() {
    use common::skopeo::{creds, docker, Skopeo};
    let source = TestServer::start_with_auth().await;
    let dest = TestServer::start_with_auth().await;
    source.create_project("team", false).await;
    let skopeo = Skopeo::new();
    let admin_creds = creds("admin", common::ADMIN_PASSWORD);
    for (repo, seed) in [("team/app", 1), ("team/web", 2), ("team/tools/cli", 3)] {
        let image = common::layout::three_layer_image(seed);
        skopeo
            .push(
                &image,
                &docker(&source.host(), &format!("{repo}:v1")),
                Some(&admin_creds),
            )
            .await
            .1
            .assert_success();
    }
    let r = admin(
        &source,
        "POST",
        "/api/v2.0/labels",
        Some(json!({"name": "release", "scope": "g"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let release = r.location_id();
    for repo in ["web", "tools%252Fcli"] {
        let r = admin(
            &source,
            "POST",
            &format!("/api/v2.0/projects/team/repositories/{repo}/artifacts/v1/labels"),
            Some(json!({"id": release})),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{repo}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }

    let r = admin(
        &dest,
        "POST",
        "/api/v2.0/registries",
        Some(json!({"name": "source", "type": "harbor", "url": source.base,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": common::ADMIN_PASSWORD}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let registry = r.location_id();
    let r = admin(
        &dest,
        "POST",
        "/api/v2.0/replication/policies",
        Some(json!({"name": "releases", "src_registry": {"id": registry},
            "filters": [{"type": "name", "value": "team/**"}, {"type": "label", "value": ["release"]}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let policy = r.location_id();
    let r = admin(
        &dest,
        "POST",
        "/api/v2.0/replication/executions",
        Some(json!({"policy_id": policy})),
    )
    .await;
    assert_eq!(r.status, 201);
    let execution = r.location_id();
    let mut status = String::new();
    for _ in 0..600 {
        let e = admin(
            &dest,
            "GET",
            &format!("/api/v2.0/replication/executions/{execution}"),
            None,
        )
        .await
        .json();
        status = e["status"].as_str().unwrap_or_default().to_owned();
        if ["Succeeded", "Failed", "Stopped"].contains(&status.as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "Succeeded");
    let r = admin(&dest, "GET", "/api/v2.0/projects/team/repositories", None).await;
    let mut repos = names(&r);
    repos.sort();
    assert_eq!(
        repos,
        ["team/tools/cli", "team/web"],
        "only the labelled ones"
    );
}
