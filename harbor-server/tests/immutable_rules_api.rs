//! Managing immutable tag rules through Harbor's API
//! (`/projects/{project}/immutabletagrules`): rules read back in Harbor's
//! shape, list by page, change, toggle and go; bad bodies are 400 and
//! store nothing; the same selectors twice are 409; a project holds 15;
//! project administrators and maintainers manage them, developers may not
//! even list them, anonymous callers are asked to sign in; rules go with
//! their project.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Resp, TestServer};
use harbor_core::Role;
use serde_json::{json, Value};

const RULES: &str = "/projects/team/immutabletagrules";

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}/api/v2.0{path}", s.base), method, body).await
}

async fn as_user(
    s: &TestServer,
    auth: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Resp {
    common::json_call(&format!("{}/api/v2.0{path}", s.base), auth, method, body).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn rule(repo: &str, tag: &str) -> Value {
    json!({
        "disabled": false,
        "priority": 0,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tag}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": repo}]
        },
    })
}

async fn server_with_team() -> TestServer {
    let s = TestServer::start_with_auth().await;
    let r = api(
        &s,
        "POST",
        "/projects",
        Some(json!({"project_name": "team"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    s
}

async fn count(s: &TestServer) -> u64 {
    let r = api(s, "GET", RULES, None).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.header("x-total-count").unwrap().parse().unwrap()
}

#[tokio::test]
async fn rules_read_back_in_harbors_shape_list_by_page_change_and_go() {
    let s = server_with_team().await;
    let r = api(&s, "POST", RULES, Some(rule("app/**", "v*"))).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.location_id();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v2.0{RULES}/{id}").as_str())
    );
    for tag in ["a", "b"] {
        assert_eq!(
            api(&s, "POST", RULES, Some(rule("**", tag))).await.status,
            201
        );
    }
    let page = api(&s, "GET", &format!("{RULES}?page=1&page_size=2"), None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("x-total-count"), Some("3"));
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
    let list = page.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let first = &list[0];
    let project_id = api(&s, "GET", "/projects/team", None).await.json()["project_id"].clone();
    assert_eq!(
        first,
        &json!({
            "id": id, "project_id": project_id, "priority": 0, "disabled": false,
            "action": "immutable", "template": "immutable_template", "params": {},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {"repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "app/**"}
            ]},
        })
    );
    let last = api(&s, "GET", &format!("{RULES}?page=2&page_size=2"), None).await;
    assert_eq!(last.json().as_array().unwrap().len(), 1);

    // A whole body replaces the rule; `disabled` alone toggles it.
    let mut changed = rule("web", "release-*");
    changed["priority"] = json!(5);
    let r = api(&s, "PUT", &format!("{RULES}/{id}"), Some(changed)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = api(
        &s,
        "PUT",
        &format!("{RULES}/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let now = api(&s, "GET", RULES, None).await.json()[0].clone();
    assert_eq!(now["disabled"], true);
    assert_eq!(now["priority"], 5);
    assert_eq!(now["tag_selectors"][0]["pattern"], "release-*");
    assert_eq!(now["scope_selectors"]["repository"][0]["pattern"], "web");
    // By id as well as by name.
    let by_id = format!("/projects/{project_id}/immutabletagrules/{id}");
    assert_eq!(api(&s, "DELETE", &by_id, None).await.status, 200);
    assert_eq!(api(&s, "DELETE", &by_id, None).await.status, 404);
    assert_eq!(
        api(&s, "PUT", &by_id, Some(rule("**", "x"))).await.status,
        404
    );
    assert_eq!(count(&s).await, 2);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_store_nothing() {
    let s = server_with_team().await;
    let mut bad = Vec::new();
    let mut with = |f: &dyn Fn(&mut Value)| {
        let mut b = rule("**", "v*");
        f(&mut b);
        bad.push(b);
    };
    with(&|b| b["tag_selectors"] = json!([]));
    with(&|b| b["tag_selectors"][0]["decoration"] = json!("repoMatches"));
    with(&|b| b["tag_selectors"][0]["kind"] = json!("regexp"));
    with(&|b| b["tag_selectors"][0]["pattern"] = json!(""));
    with(&|b| b["tag_selectors"][0]["pattern"] = json!("{v1,v2"));
    with(&|b| b["scope_selectors"] = json!({}));
    with(&|b| b["scope_selectors"]["repository"][0]["decoration"] = json!("matches"));
    with(&|b| b["scope_selectors"]["label"] = json!([]));
    with(&|b| b["action"] = json!("retain"));
    with(&|b| b["template"] = json!("latestPushedK"));
    with(&|b| b["disabled"] = json!("no"));
    bad.push(json!([]));
    for body in bad {
        let r = api(&s, "POST", RULES, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "BAD_REQUEST".to_owned()),
            "{body}: {}",
            text(&r)
        );
    }
    assert_eq!(count(&s).await, 0, "nothing stored");
    // An update with a bad body changes nothing either.
    let id = api(&s, "POST", RULES, Some(rule("**", "v*")))
        .await
        .location_id();
    let r = api(&s, "PUT", &format!("{RULES}/{id}"), Some(rule("**", ""))).await;
    assert_eq!(r.status, 400);
    let now = api(&s, "GET", RULES, None).await.json();
    assert_eq!(now[0]["tag_selectors"][0]["pattern"], "v*");
}

#[tokio::test]
async fn the_same_rule_twice_conflicts_and_a_project_holds_fifteen() {
    let s = server_with_team().await;
    assert_eq!(
        api(&s, "POST", RULES, Some(rule("**", "t0"))).await.status,
        201
    );
    let mut same = rule("**", "t0");
    same["priority"] = json!(3);
    let r = api(&s, "POST", RULES, Some(same)).await;
    assert_eq!((r.status, r.error_code()), (409, "CONFLICT".to_owned()));
    for i in 1..15 {
        let r = api(&s, "POST", RULES, Some(rule("**", &format!("t{i}")))).await;
        assert_eq!(r.status, 201, "{}", text(&r));
    }
    let r = api(&s, "POST", RULES, Some(rule("**", "t15"))).await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("at most 15"), "{}", text(&r));
    assert_eq!(count(&s).await, 15);
}

#[tokio::test]
async fn maintainers_manage_rules_developers_may_not_and_strangers_must_sign_in() {
    let s = server_with_team().await;
    let project = api(&s, "GET", "/projects/team", None).await.json()["project_id"]
        .as_i64()
        .unwrap();
    for (name, role) in [("dev", Role::Developer), ("keeper", Role::Maintainer)] {
        let id = s.create_user(name, "Passw0rd!").await;
        s.add_member(project, id, role).await;
    }
    let dev = common::basic("dev", "Passw0rd!");
    let keeper = common::basic("keeper", "Passw0rd!");
    let r = as_user(&s, &keeper, "POST", RULES, Some(rule("**", "v*"))).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.location_id();
    assert_eq!(as_user(&s, &keeper, "GET", RULES, None).await.status, 200);
    for (method, path, body) in [
        ("GET", RULES.to_owned(), None),
        ("POST", RULES.to_owned(), Some(rule("**", "x"))),
        (
            "PUT",
            format!("{RULES}/{id}"),
            Some(json!({"disabled": true})),
        ),
        ("DELETE", format!("{RULES}/{id}"), None),
    ] {
        let r = as_user(&s, &dev, method, &path, body.clone()).await;
        assert_eq!(r.status, 403, "developer {method}: {}", text(&r));
        let r = common::request(
            method,
            &format!("{}/api/v2.0{path}", s.base),
            &[("content-type", "application/json")],
            body.map(|b| b.to_string()).unwrap_or_default(),
        )
        .await;
        assert_eq!(r.status, 401, "anonymous {method}: {}", text(&r));
    }
    assert_eq!(count(&s).await, 1, "nothing changed");
    let r = as_user(&s, &keeper, "DELETE", &format!("{RULES}/{id}"), None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn rules_go_with_their_project() {
    let s = server_with_team().await;
    let id = api(&s, "POST", RULES, Some(rule("**", "**")))
        .await
        .location_id();
    assert_eq!(api(&s, "DELETE", "/projects/team", None).await.status, 200);
    assert_eq!(api(&s, "GET", RULES, None).await.status, 404);
    let r = api(
        &s,
        "POST",
        "/projects",
        Some(json!({"project_name": "team"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(count(&s).await, 0, "a new project of the name has none");
    assert_eq!(
        api(&s, "DELETE", &format!("{RULES}/{id}"), None)
            .await
            .status,
        404
    );
    // And nothing of the old rule is enforced.
    s.push_image("team/app", "v1").await;
    let r = s
        .send(
            "DELETE",
            "/v2/team/app/manifests/v1",
            &[("authorization", &common::admin_auth())],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", text(&r));
}
