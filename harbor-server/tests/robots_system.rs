//! System robots with system-level permissions (`kind: "system"`,
//! namespace `/`): what they may do over the API with Basic credentials,
//! what they are refused, which permission lists are refused (and store
//! nothing), that a robot grants robots only what it holds, and
//! `GET /permissions`.

mod common;

use common::{Resp, TestServer};
use serde_json::{json, Value};

const PASSWORD: &str = "Passw0rdPassw0rd";

async fn call(s: &TestServer, method: &str, path: &str, auth: Option<&str>, body: &str) -> Resp {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    s.send(
        method,
        &format!("/api/v2.0{path}"),
        &headers,
        body.to_owned(),
    )
    .await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn system(access: &[(&str, &str)]) -> Value {
    json!({"kind": "system", "namespace": "/", "access": access
        .iter()
        .map(|(r, a)| json!({"resource": r, "action": a}))
        .collect::<Vec<_>>()})
}

/// Creates a system robot `name` as `auth` with `permissions`; returns the
/// response.
async fn robot_as(s: &TestServer, auth: &str, name: &str, permissions: Value) -> Resp {
    let body = json!({"name": name, "level": "system", "duration": -1, "permissions": permissions});
    call(s, "POST", "/robots", Some(auth), &body.to_string()).await
}

/// Creates a system robot as admin; returns its Basic credentials.
async fn robot(s: &TestServer, name: &str, permissions: Value) -> String {
    let r = robot_as(s, &common::admin_auth(), name, permissions).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let j = r.json();
    common::basic(
        j["name"].as_str().unwrap_or_default(),
        j["secret"].as_str().unwrap_or_default(),
    )
}

async fn robot_count(s: &TestServer) -> String {
    let r = call(s, "GET", "/robots", Some(&common::admin_auth()), "").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.header("x-total-count").unwrap_or_default().to_owned()
}

fn registry_body(name: &str) -> String {
    json!({"name": name, "type": "harbor", "url": "https://dr.example.com", "insecure": false,
        "credential": {"type": "basic", "access_key": "u", "access_secret": "p"}})
    .to_string()
}

#[tokio::test]
async fn a_system_robot_creates_the_registries_and_projects_its_permissions_allow() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    // Only administrators (and robots holding project:create) create projects.
    let r = call(
        &s,
        "PUT",
        "/configurations",
        Some(&a),
        r#"{"project_creation_restriction":"adminonly"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&a),
        r#"{"project_name":"secret-team","metadata":{"public":"false"}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let ops = robot(
        &s,
        "ops",
        json!([system(&[
            ("registry", "create"),
            ("registry", "list"),
            ("project", "create"),
            ("project", "list"),
        ])]),
    )
    .await;

    let r = call(&s, "POST", "/registries", Some(&ops), &registry_body("dr")).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = call(&s, "GET", "/registries", Some(&a), "").await;
    assert_eq!(r.json()[0]["name"], "dr", "{}", text(&r));
    let r = call(&s, "GET", "/registries", Some(&ops), "").await;
    assert_eq!(r.status, 200);

    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&ops),
        r#"{"project_name":"made-by-robot"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = call(&s, "GET", "/projects/made-by-robot", Some(&a), "").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        r.json()["owner_name"],
        "admin",
        "a robot's project is the administrator's"
    );
    // project:list shows every project, private ones too.
    let r = call(&s, "GET", "/projects?page_size=50", Some(&ops), "").await;
    let names: Vec<String> = r
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    for n in ["library", "secret-team", "made-by-robot"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }

    // The audit log names the robot (entries are written in the background).
    let mut named = false;
    for _ in 0..100 {
        let r = call(&s, "GET", "/audit-logs?page_size=50", Some(&a), "").await;
        assert_eq!(r.status, 200, "{}", text(&r));
        named = r.json().as_array().into_iter().flatten().any(|e| {
            e["username"] == "robot$ops"
                && e["operation"] == "create"
                && e["resource"]
                    .as_str()
                    .is_some_and(|x| x.contains("made-by-robot"))
        });
        if named {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(named, "no audit entry names robot$ops for made-by-robot");

    // What it was not given stays refused.
    for (method, path, body) in [
        ("GET", "/users", ""),
        (
            "POST",
            "/users",
            r#"{"username":"eve","email":"eve@example.com","realname":"eve","password":"Passw0rdPassw0rd"}"#,
        ),
        ("GET", "/configurations", ""),
        (
            "PUT",
            "/configurations",
            r#"{"project_creation_restriction":"everyone"}"#,
        ),
        ("GET", "/system/gc", ""),
        ("GET", "/system/gc/schedule", ""),
        ("DELETE", "/registries/1", ""),
        ("GET", "/audit-logs", ""),
        ("GET", "/robots", ""),
    ] {
        let r = call(&s, method, path, Some(&ops), body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", text(&r));
    }
    let r = call(
        &s,
        "GET",
        "/users/current/permissions?scope=/system&relative=true",
        Some(&ops),
        "",
    )
    .await;
    let mut granted: Vec<String> = r
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{}:{}",
                p["resource"].as_str().unwrap_or(""),
                p["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            "project:create",
            "project:list",
            "registry:create",
            "registry:list"
        ]
    );
}

#[tokio::test]
async fn robots_without_the_system_permission_are_refused() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    let r = call(
        &s,
        "PUT",
        "/configurations",
        Some(&a),
        r#"{"project_creation_restriction":"adminonly"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let reader = robot(&s, "reader", json!([system(&[("registry", "list")])])).await;
    let r = call(
        &s,
        "POST",
        "/registries",
        Some(&reader),
        &registry_body("dr"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&reader),
        r#"{"project_name":"nope"}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(&s, "GET", "/registries", Some(&a), "").await;
    assert_eq!(r.header("x-total-count"), Some("0"));
    let r = call(&s, "GET", "/projects/nope", Some(&a), "").await;
    assert_eq!(r.status, 404);
    // A project robot creates no project, whatever it holds in its project.
    let body = json!({"name": "pr", "level": "project", "duration": -1, "permissions": [
        {"kind": "project", "namespace": "library", "access": [{"resource": "repository", "action": "push"}]}]});
    let r = call(&s, "POST", "/robots", Some(&a), &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let j = r.json();
    let pr = common::basic(
        j["name"].as_str().unwrap_or_default(),
        j["secret"].as_str().unwrap_or_default(),
    );
    let r = call(&s, "POST", "/registries", Some(&pr), &registry_body("dr")).await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(
        &s,
        "PUT",
        "/configurations",
        Some(&a),
        r#"{"project_creation_restriction":"everyone"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&pr),
        r#"{"project_name":"nope"}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    // Anonymous callers are asked to sign in.
    let r = call(&s, "POST", "/registries", None, &registry_body("dr")).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn bad_system_permissions_are_refused_and_store_nothing() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    let project_robot_with_system = json!({"name": "p1", "level": "project", "duration": -1, "permissions": [
        {"kind": "project", "namespace": "library", "access": [{"resource": "repository", "action": "pull"}]},
        system(&[("registry", "list")])]});
    let r = call(
        &s,
        "POST",
        "/robots",
        Some(&a),
        &project_robot_with_system.to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    for (name, perms, says) in [
        (
            "s1",
            json!([system(&[("registry", "list"), ("spaceship", "fly")])]),
            "spaceship:fly",
        ),
        (
            "s2",
            json!([system(&[("registry", "launch")])]),
            "registry:launch",
        ),
        (
            "s3",
            json!([system(&[("repository", "pull")])]),
            "repository:pull",
        ),
        (
            "s4",
            json!([{"kind": "system", "namespace": "library", "access": [{"resource": "registry", "action": "list"}]}]),
            "namespace",
        ),
        (
            "s5",
            json!([{"kind": "cluster", "namespace": "/", "access": [{"resource": "registry", "action": "list"}]}]),
            "cluster",
        ),
        (
            "s6",
            json!([system(&[("configuration", "update")])]),
            "configuration:update",
        ),
        (
            "s7",
            json!([system(&[("robot", "update")])]),
            "robot:update",
        ),
    ] {
        let r = robot_as(&s, &a, name, perms).await;
        assert_eq!(r.status, 400, "{name}: {}", text(&r));
        assert!(text(&r).contains(says), "{name}: {}", text(&r));
    }
    assert_eq!(robot_count(&s).await, "0");
    // Updating with a bad list changes nothing either.
    let r = robot_as(&s, &a, "ok", json!([system(&[("registry", "list")])])).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.json()["id"].as_i64().unwrap_or(0);
    let r = call(
        &s,
        "PUT",
        &format!("/robots/{id}"),
        Some(&a),
        &json!({"permissions": [system(&[("user", "fly")])]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    let r = call(&s, "GET", &format!("/robots/{id}"), Some(&a), "").await;
    assert_eq!(
        r.json()["permissions"],
        json!([system(&[("registry", "list")])])
    );
}

#[tokio::test]
async fn a_robot_grants_robots_only_what_it_holds() {
    let s = TestServer::start_with_auth().await;
    let maker = robot(
        &s,
        "maker",
        json!([
            system(&[("robot", "create"), ("robot", "list"), ("registry", "list")]),
            {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}
        ]),
    )
    .await;
    let r = robot_as(&s, &maker, "child", json!([
        system(&[("registry", "list")]),
        {"kind": "project", "namespace": "library", "access": [{"resource": "repository", "action": "pull"}]}
    ])).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let child = r.json()["id"].as_i64().unwrap_or(0);
    for (name, perms) in [
        ("more", json!([system(&[("registry", "create")])])),
        (
            "push",
            json!([{"kind": "project", "namespace": "library", "access": [{"resource": "repository", "action": "push"}]}]),
        ),
    ] {
        let r = robot_as(&s, &maker, name, perms).await;
        assert_eq!(r.status, 403, "{name}: {}", text(&r));
    }
    assert_eq!(robot_count(&s).await, "2");
    // Nor can it widen a robot afterwards.
    let r = call(
        &s,
        "PUT",
        &format!("/robots/{child}"),
        Some(&maker),
        &json!({"permissions": [system(&[("registry", "create")])]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(
        &s,
        "GET",
        &format!("/robots/{child}"),
        Some(&common::admin_auth()),
        "",
    )
    .await;
    assert_eq!(r.json()["permissions"][0], system(&[("registry", "list")]));
    // A user without the permission makes no system robot.
    let body = json!({"username": "ann", "email": "ann@example.com", "realname": "ann", "password": PASSWORD});
    let r = call(
        &s,
        "POST",
        "/users",
        Some(&common::admin_auth()),
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = robot_as(
        &s,
        &common::basic("ann", PASSWORD),
        "x",
        json!([system(&[("registry", "list")])]),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
}

#[tokio::test]
async fn get_permissions_lists_the_system_table_to_those_who_manage_robots() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    let r = call(&s, "GET", "/permissions", Some(&a), "").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let j = r.json();
    let pairs = |v: &Value| -> Vec<String> {
        let mut p: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}:{}",
                    p["resource"].as_str().unwrap_or(""),
                    p["action"].as_str().unwrap_or("")
                )
            })
            .collect();
        p.sort();
        p
    };
    let listed = pairs(&j["system"]);
    // A robot may hold part of what the admin holds: never the
    // configuration, nor robot:update.
    let r = call(
        &s,
        "GET",
        "/users/current/permissions?scope=/system&relative=true",
        Some(&a),
        "",
    )
    .await;
    let admin_holds = pairs(&r.json());
    assert!(listed.iter().all(|p| admin_holds.contains(p)), "{listed:?}");
    for p in ["configuration:update", "configuration:read", "robot:update"] {
        assert!(admin_holds.iter().any(|x| x == p), "{p}");
        assert!(!listed.iter().any(|x| x == p), "{p} is listed");
    }
    for p in [
        "registry:create",
        "project:create",
        "garbage-collection:stop",
        "robot:read",
    ] {
        assert!(listed.iter().any(|x| x == p), "{p} missing from {listed:?}");
    }
    let project = pairs(&j["project"]);
    assert!(
        project.iter().any(|x| x == "repository:push"),
        "{project:?}"
    );
    // Every listed system permission is accepted on a system robot.
    let all: Vec<(String, String)> = listed
        .iter()
        .filter_map(|p| p.split_once(':').map(|(r, a)| (r.to_owned(), a.to_owned())))
        .collect();
    let borrowed: Vec<(&str, &str)> = all.iter().map(|(r, a)| (r.as_str(), a.as_str())).collect();
    let r = robot_as(&s, &a, "everything", json!([system(&borrowed)])).await;
    assert_eq!(r.status, 201, "{}", text(&r));

    let reader = robot(&s, "reader", json!([system(&[("robot", "read")])])).await;
    assert_eq!(
        call(&s, "GET", "/permissions", Some(&reader), "")
            .await
            .status,
        200
    );
    let other = robot(&s, "other", json!([system(&[("registry", "read")])])).await;
    assert_eq!(
        call(&s, "GET", "/permissions", Some(&other), "")
            .await
            .status,
        403
    );
    assert_eq!(call(&s, "GET", "/permissions", None, "").await.status, 401);
}

#[tokio::test]
async fn a_robot_with_user_permissions_manages_users_but_not_administrators() {
    let s = TestServer::start_with_auth().await;
    let hr = robot(
        &s,
        "hr",
        json!([system(&[
            ("user", "create"),
            ("user", "read"),
            ("user", "update"),
            ("user", "delete"),
            ("user", "list")
        ])]),
    )
    .await;
    let body = json!({"username": "bob", "email": "bob@example.com", "realname": "bob", "password": PASSWORD});
    let r = call(&s, "POST", "/users", Some(&hr), &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let bob = r.location_id();
    let pw = json!({"new_password": "N3wPassw0rdN3w"}).to_string();
    let r = call(&s, "PUT", &format!("/users/{bob}/password"), Some(&hr), &pw).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = call(
        &s,
        "GET",
        "/users/current",
        Some(&common::basic("bob", "N3wPassw0rdN3w")),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    // Administrators are out of its reach.
    let r = call(&s, "PUT", "/users/1/password", Some(&hr), &pw).await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(
        &s,
        "PUT",
        &format!("/users/{bob}/sysadmin"),
        Some(&hr),
        r#"{"sysadmin_flag":true}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = call(&s, "GET", "/users/current", Some(&common::admin_auth()), "").await;
    assert_eq!(r.status, 200, "the admin password still works");
    let r = call(&s, "DELETE", &format!("/users/{bob}"), Some(&hr), "").await;
    assert_eq!(r.status, 200, "{}", text(&r));
}

#[tokio::test]
async fn a_robot_given_catalog_read_lists_every_repository() {
    let s = TestServer::start_with_auth().await;
    s.create_project("hidden", false).await;
    s.push_image("hidden/app", "v1").await;
    s.push_image("library/pub", "v1").await;
    let list = |auth: String| {
        let s = &s;
        async move {
            let r = s.get_with("/v2/_catalog", &auth).await;
            assert_eq!(r.status, 200, "{}", text(&r));
            r.json()["repositories"].clone()
        }
    };
    let reader = robot(&s, "cat", json!([system(&[("catalog", "read")])])).await;
    assert_eq!(list(reader).await, json!(["hidden/app", "library/pub"]));
    let other = robot(&s, "nocat", json!([system(&[("registry", "list")])])).await;
    assert_eq!(
        list(other).await,
        json!(["library/pub"]),
        "without catalog:read, only what it may see"
    );
}
