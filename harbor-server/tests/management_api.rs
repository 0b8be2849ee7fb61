//! Harbor's management API (`/api/v2.0`) over HTTP: projects, members, users,
//! repositories, artifacts and tags, system info; bad input gets a clear 4xx
//! and changes nothing.

mod common;

use common::{digest, Resp, TestServer};

const PASSWORD: &str = "Passw0rdPassw0rd";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

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

fn error_code(r: &Resp) -> String {
    r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Creates a user through the API as admin; returns its id.
async fn api_user(s: &TestServer, name: &str) -> i64 {
    let body = format!(
        r#"{{"username":"{name}","email":"{name}@example.com","realname":"{name}","password":"{PASSWORD}","comment":"test"}}"#
    );
    let r = call(s, "POST", "/users", Some(&common::admin_auth()), &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.location_id()
}

#[tokio::test]
async fn ping_systeminfo_and_the_library_project_exist_from_the_start() {
    let s = TestServer::start_with_auth().await;
    let r = call(&s, "GET", "/ping", None, "").await;
    assert_eq!((r.status, r.body.as_ref()), (200, &b"Pong"[..]));
    let r = call(&s, "GET", "/systeminfo", None, "").await;
    assert_eq!(r.json()["auth_mode"], "db_auth");
    assert!(
        r.json().get("registry_storage_provider_name").is_none(),
        "anonymous callers see the public part"
    );
    let r = call(&s, "GET", "/systeminfo", Some(&common::admin_auth()), "").await;
    assert_eq!(r.json()["registry_storage_provider_name"], "filesystem");
    let r = call(&s, "GET", "/projects", None, "").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j[0]["name"], "library");
    assert_eq!(j[0]["metadata"]["public"], "true");
    assert_eq!(j[0]["owner_name"], "admin");
    assert_eq!(r.header("x-total-count"), Some("1"));
}

#[tokio::test]
async fn projects_are_created_listed_updated_and_deleted_with_harbors_rules() {
    let s = TestServer::start_with_auth().await;
    api_user(&s, "alice").await;
    api_user(&s, "bob").await;
    let alice = common::basic("alice", PASSWORD);
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&alice),
        r#"{"project_name":"team-a","metadata":{"public":"false"}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let location = r.header("location").unwrap_or_default().to_owned();
    assert!(location.starts_with("/api/v2.0/projects/"));
    let id = location.rsplit('/').next().unwrap_or_default().to_owned();

    // The creator is its ProjectAdmin.
    let r = call(&s, "GET", &format!("/projects/{id}"), Some(&alice), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "team-a");
    assert_eq!(r.json()["current_user_role_id"], 1);
    let r = call(&s, "GET", "/projects/team-a/members", Some(&alice), "").await;
    assert_eq!(r.json()[0]["entity_name"], "alice");
    assert_eq!(r.json()[0]["role_name"], "projectAdmin");

    // Names are resources too, numeric names need the header.
    let r = s
        .send(
            "GET",
            "/api/v2.0/projects/team-a",
            &[("authorization", &alice), ("x-is-resource-name", "true")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);

    // Bob does not see the private project; anonymous callers see only public ones.
    let bob = common::basic("bob", PASSWORD);
    let names = |r: Resp| {
        r.json()
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p["name"].as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        names(call(&s, "GET", "/projects", Some(&bob), "").await),
        ["library"]
    );
    assert_eq!(
        names(call(&s, "GET", "/projects", Some(&alice), "").await),
        ["library", "team-a"]
    );
    assert_eq!(
        names(
            call(
                &s,
                "GET",
                "/projects?public=false",
                Some(&common::admin_auth()),
                ""
            )
            .await
        ),
        ["team-a"]
    );
    assert_eq!(
        names(
            call(
                &s,
                "GET",
                "/projects?name=team",
                Some(&common::admin_auth()),
                ""
            )
            .await
        ),
        ["team-a"]
    );
    let r = call(&s, "GET", "/projects/team-a", Some(&bob), "").await;
    assert_eq!(r.status, 404);
    let r = call(&s, "GET", "/projects/team-a", None, "").await;
    assert_eq!(r.status, 401);

    // Existence check.
    assert_eq!(
        call(&s, "HEAD", "/projects?project_name=team-a", Some(&bob), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, "HEAD", "/projects?project_name=nope", Some(&bob), "")
            .await
            .status,
        404
    );

    // Update: public, by its admin only.
    let r = call(
        &s,
        "PUT",
        "/projects/team-a",
        Some(&bob),
        r#"{"metadata":{"public":"true"}}"#,
    )
    .await;
    assert_eq!(r.status, 404, "bob cannot even see it");
    let r = call(
        &s,
        "PUT",
        "/projects/team-a",
        Some(&alice),
        r#"{"metadata":{"public":"true"}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        names(call(&s, "GET", "/projects", Some(&bob), "").await),
        ["library", "team-a"]
    );
    let r = call(
        &s,
        "PUT",
        "/projects/team-a",
        Some(&bob),
        r#"{"metadata":{"public":"false"}}"#,
    )
    .await;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "FORBIDDEN"));

    // Deletion is refused while the project holds repositories.
    s.push_image("team-a/app", "v1").await;
    let r = call(&s, "DELETE", "/projects/team-a", Some(&alice), "").await;
    assert_eq!((r.status, error_code(&r).as_str()), (412, "PRECONDITION"));
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&alice),
        r#"{"project_name":"empty"}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        call(&s, "DELETE", "/projects/empty", Some(&alice), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/projects/empty", Some(&alice), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn bad_project_requests_get_clear_errors_and_change_nothing() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"project_name":"Bad Name"}"#, 400, "BAD_REQUEST"),
        (r#"{"project_name":"-dash"}"#, 400, "BAD_REQUEST"),
        (r#"{"project_name":42}"#, 400, "BAD_REQUEST"),
        (
            r#"{"project_name":"ok","metadata":{"public":"yes"}}"#,
            400,
            "BAD_REQUEST",
        ),
        (
            r#"{"project_name":"ok","public":"true"}"#,
            400,
            "BAD_REQUEST",
        ),
        (r#"not json"#, 400, "BAD_REQUEST"),
        (r#"{}"#, 400, "BAD_REQUEST"),
        (r#"{"project_name":"library"}"#, 409, "CONFLICT"),
    ];
    for (body, status, code) in cases {
        let r = call(&s, "POST", "/projects", Some(&a), body).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (*status, *code),
            "{body}"
        );
        assert!(!r.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .is_empty());
    }
    let r = call(&s, "POST", "/projects", None, r#"{"project_name":"anon"}"#).await;
    assert_eq!(r.status, 401);
    let r = call(&s, "GET", "/projects", Some(&a), "").await;
    assert_eq!(r.header("x-total-count"), Some("1"), "nothing was created");
    let r = call(&s, "GET", "/projects?page=zero", Some(&a), "").await;
    assert_eq!(r.status, 400);
    let r = s
        .send(
            "GET",
            "/api/v2.0/projects",
            &[("authorization", &common::basic("admin", "wrong"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn members_are_managed_by_project_admins_only() {
    let s = TestServer::start_with_auth().await;
    let carol = api_user(&s, "carol").await;
    api_user(&s, "dave").await;
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&common::admin_auth()),
        r#"{"project_name":"crew"}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&common::admin_auth()),
        &format!(r#"{{"role_id":2,"member_user":{{"user_id":{carol}}}}}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let member_path = r
        .header("location")
        .unwrap_or_default()
        .trim_start_matches("/api/v2.0")
        .to_owned();
    let r = call(&s, "GET", &member_path, Some(&common::admin_auth()), "").await;
    assert_eq!(
        (
            r.json()["entity_name"].as_str(),
            r.json()["role_id"].as_i64()
        ),
        (Some("carol"), Some(2))
    );

    // Duplicate, unknown user, bad role: refused.
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&common::admin_auth()),
        r#"{"role_id":3,"member_user":{"username":"carol"}}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&common::admin_auth()),
        r#"{"role_id":3,"member_user":{"username":"ghost"}}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&common::admin_auth()),
        r#"{"role_id":9,"member_user":{"username":"dave"}}"#,
    )
    .await;
    assert_eq!(r.status, 400);

    // A developer may list members but not add any.
    let carol_auth = common::basic("carol", PASSWORD);
    let r = call(&s, "GET", "/projects/crew/members", Some(&carol_auth), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-total-count"), Some("2"));
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&carol_auth),
        r#"{"role_id":3,"member_user":{"username":"dave"}}"#,
    )
    .await;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "FORBIDDEN"));

    // Promote carol to ProjectAdmin: now she can.
    let r = call(
        &s,
        "PUT",
        &member_path,
        Some(&common::admin_auth()),
        r#"{"role_id":1}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        "POST",
        "/projects/crew/members",
        Some(&carol_auth),
        r#"{"role_id":3,"member_user":{"username":"dave"}}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        &s,
        "PUT",
        &member_path,
        Some(&common::admin_auth()),
        r#"{"role_id":"admin"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "wrong type");
    assert_eq!(
        call(&s, "DELETE", &member_path, Some(&common::admin_auth()), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, "GET", &member_path, Some(&common::admin_auth()), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn users_are_created_by_admins_and_manage_their_own_profile_and_password() {
    let s = TestServer::start_with_auth().await;
    let erin = api_user(&s, "erin").await;
    let erin_auth = common::basic("erin", PASSWORD);
    let r = call(&s, "GET", "/users/current", Some(&erin_auth), "").await;
    assert_eq!(r.json()["username"], "erin");
    assert_eq!(r.json()["sysadmin_flag"], false);
    assert!(r.json().get("password").is_none());

    // Only admins create or list users.
    let body = format!(r#"{{"username":"frank","email":"f@example.com","password":"{PASSWORD}"}}"#);
    assert_eq!(
        call(&s, "POST", "/users", Some(&erin_auth), &body)
            .await
            .status,
        403
    );
    assert_eq!(
        call(&s, "GET", "/users", Some(&erin_auth), "").await.status,
        403
    );
    assert_eq!(
        call(&s, "GET", "/users/current", None, "").await.status,
        401
    );
    for (bad, status) in [
        (
            format!(r#"{{"username":"erin","email":"x@example.com","password":"{PASSWORD}"}}"#),
            409,
        ),
        (
            format!(r#"{{"username":"g","email":"erin@example.com","password":"{PASSWORD}"}}"#),
            409,
        ),
        (
            r#"{"username":"g","email":"g@example.com","password":"weak"}"#.to_owned(),
            400,
        ),
        (
            format!(r#"{{"username":"g","email":"not-an-email","password":"{PASSWORD}"}}"#),
            400,
        ),
        (
            format!(r#"{{"username":"g$","email":"g@example.com","password":"{PASSWORD}"}}"#),
            400,
        ),
    ] {
        let r = call(&s, "POST", "/users", Some(&common::admin_auth()), &bad).await;
        assert_eq!(r.status, status, "{bad}");
    }
    // A field Harbor's clients send that we do not know is ignored, not
    // obeyed: this does not make an administrator.
    let r = call(
        &s,
        "POST",
        "/users",
        Some(&common::admin_auth()),
        &format!(
            r#"{{"username":"g","email":"g@example.com","password":"{PASSWORD}","sysadmin":true,"role":"admin"}}"#
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    let g = call(
        &s,
        "GET",
        "/users?q=username%3Dg",
        Some(&common::admin_auth()),
        "",
    )
    .await;
    assert_eq!(g.header("x-total-count"), Some("1"));
    assert_eq!(g.json()[0]["sysadmin_flag"], false);
    let r = call(
        &s,
        "GET",
        "/users?username=erin",
        Some(&common::admin_auth()),
        "",
    )
    .await;
    assert_eq!(r.header("x-total-count"), Some("1"));
    let r = call(&s, "GET", "/users/search?username=er", Some(&erin_auth), "").await;
    assert_eq!(r.json()[0]["username"], "erin");

    // Profile: self or admin.
    let r = call(
        &s,
        "PUT",
        &format!("/users/{erin}"),
        Some(&erin_auth),
        r#"{"realname":"Erin E.","email":"erin@new.example.com"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        call(&s, "GET", &format!("/users/{erin}"), Some(&erin_auth), "")
            .await
            .json()["email"],
        "erin@new.example.com"
    );
    assert_eq!(
        call(&s, "GET", "/users/1", Some(&erin_auth), "")
            .await
            .status,
        403
    );

    // Password: the old one is needed, must differ, must be strong.
    let path = format!("/users/{erin}/password");
    let r = call(
        &s,
        "PUT",
        &path,
        Some(&erin_auth),
        r#"{"old_password":"wrong","new_password":"NewPassw0rd1"}"#,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(
        &s,
        "PUT",
        &path,
        Some(&erin_auth),
        &format!(r#"{{"old_password":"{PASSWORD}","new_password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        &s,
        "PUT",
        &path,
        Some(&erin_auth),
        &format!(r#"{{"old_password":"{PASSWORD}","new_password":"short"}}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        &s,
        "PUT",
        &path,
        Some(&erin_auth),
        &format!(r#"{{"old_password":"{PASSWORD}","new_password":"NewPassw0rd1"}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        call(&s, "GET", "/users/current", Some(&erin_auth), "")
            .await
            .status,
        401,
        "the old password is gone"
    );
    let erin_auth = common::basic("erin", "NewPassw0rd1");
    assert_eq!(
        call(&s, "GET", "/users/current", Some(&erin_auth), "")
            .await
            .status,
        200
    );

    // Admin flag and deletion are the administrator's.
    assert_eq!(
        call(
            &s,
            "PUT",
            &format!("/users/{erin}/sysadmin"),
            Some(&erin_auth),
            r#"{"sysadmin_flag":true}"#
        )
        .await
        .status,
        403
    );
    assert_eq!(
        call(
            &s,
            "PUT",
            &format!("/users/{erin}/sysadmin"),
            Some(&common::admin_auth()),
            r#"{"sysadmin_flag":true}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/users", Some(&erin_auth), "").await.status,
        200,
        "erin is an administrator now"
    );
    assert_eq!(
        call(&s, "DELETE", "/users/1", Some(&erin_auth), "")
            .await
            .status,
        403
    );
    assert_eq!(
        call(
            &s,
            "DELETE",
            &format!("/users/{erin}"),
            Some(&common::admin_auth()),
            ""
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/users/current", Some(&erin_auth), "")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn repositories_artifacts_and_tags_are_listed_and_managed() {
    let s = TestServer::start_with_auth().await;
    let d1 = s.push_image("library/app", "v1").await;
    s.push_image("library/team/nested", "latest").await;
    let a = common::admin_auth();

    let r = call(&s, "GET", "/projects/library/repositories", None, "").await;
    assert_eq!(r.status, 200, "public project: anonymous may list");
    let j = r.json();
    assert_eq!(j.as_array().map(Vec::len), Some(2));
    assert_eq!(j[0]["name"], "library/app");
    assert_eq!(j[0]["artifact_count"], 1);
    let r = call(
        &s,
        "GET",
        "/projects/library/repositories/team%252Fnested",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.json()["name"], "library/team/nested");

    let r = call(
        &s,
        "GET",
        "/projects/library/repositories/app/artifacts",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let art = r.json()[0].clone();
    assert_eq!(art["digest"], d1.as_str());
    assert_eq!(art["manifest_media_type"], OCI_MANIFEST);
    assert_eq!(
        art["media_type"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(art["type"], "IMAGE");
    assert_eq!(art["tags"][0]["name"], "v1");
    assert!(art["size"].as_u64().is_some_and(|n| n > 300), "{art}");
    assert!(art["push_time"]
        .as_str()
        .is_some_and(|t| t.starts_with("20")));
    assert_eq!(art["annotations"]["org.example"], "yes");

    // One artifact, by tag or digest.
    for reference in ["v1", d1.as_str()] {
        let r = call(
            &s,
            "GET",
            &format!("/projects/library/repositories/app/artifacts/{reference}"),
            Some(&a),
            "",
        )
        .await;
        assert_eq!(r.json()["digest"], d1.as_str());
    }
    assert_eq!(
        call(
            &s,
            "GET",
            "/projects/library/repositories/app/artifacts/v9",
            Some(&a),
            ""
        )
        .await
        .status,
        404
    );

    // Tags: create, conflict, list, delete.
    let tags = "/projects/library/repositories/app/artifacts/v1/tags";
    assert_eq!(
        call(&s, "POST", tags, Some(&a), r#"{"name":"stable"}"#)
            .await
            .status,
        201
    );
    assert_eq!(
        call(&s, "POST", tags, Some(&a), r#"{"name":"stable"}"#)
            .await
            .status,
        409
    );
    assert_eq!(
        call(&s, "POST", tags, Some(&a), r#"{"name":"bad tag"}"#)
            .await
            .status,
        400
    );
    assert_eq!(
        call(&s, "POST", tags, None, r#"{"name":"anon"}"#)
            .await
            .status,
        401
    );
    let r = call(&s, "GET", tags, Some(&a), "").await;
    let listed = r.json();
    let names: Vec<&str> = listed
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["stable", "v1"]);
    let r = s.get("/v2/library/app/manifests/stable").await;
    assert_eq!(r.status, 401, "the registry itself still asks for a token");
    assert_eq!(
        call(&s, "DELETE", &format!("{tags}/v1"), Some(&a), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, "DELETE", &format!("{tags}/v1"), Some(&a), "")
            .await
            .status,
        404
    );
    let r = call(
        &s,
        "GET",
        &format!("/projects/library/repositories/app/artifacts/{d1}/tags"),
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));

    // Deleting the artifact removes it and its tags.
    assert_eq!(
        call(
            &s,
            "DELETE",
            "/projects/library/repositories/app/artifacts/stable",
            Some(&a),
            ""
        )
        .await
        .status,
        200
    );
    let r = call(
        &s,
        "GET",
        "/projects/library/repositories/app/artifacts",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.json(), serde_json::json!([]));
    let r = s
        .send(
            "GET",
            &format!("/v2/library/app/manifests/{d1}"),
            &[("authorization", &a)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn lists_page_with_total_count_and_link_headers() {
    let s = TestServer::start_with_auth().await;
    for i in 0..5 {
        let r = call(
            &s,
            "POST",
            "/projects",
            Some(&common::admin_auth()),
            &format!(r#"{{"project_name":"p{i}"}}"#),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let r = call(
        &s,
        "GET",
        "/projects?page=2&page_size=2",
        Some(&common::admin_auth()),
        "",
    )
    .await;
    assert_eq!(r.header("x-total-count"), Some("6"));
    let names: Vec<String> = r
        .json()
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["p1", "p2"]);
    assert_eq!(
        r.header("link"),
        Some(
            r#"</api/v2.0/projects?page=1&page_size=2>; rel="prev" , </api/v2.0/projects?page=3&page_size=2>; rel="next""#
        )
    );
}

#[tokio::test]
async fn robot_accounts_push_and_pull_with_exactly_their_permissions() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    assert_eq!(
        call(
            &s,
            "POST",
            "/projects",
            Some(&a),
            r#"{"project_name":"team"}"#
        )
        .await
        .status,
        201
    );
    let body = r#"{"name":"ci","description":"CI pusher","duration":-1,"level":"project","disable":false,
        "permissions":[{"kind":"project","namespace":"team","access":[{"resource":"repository","action":"push"}]}]}"#;
    let r = call(&s, "POST", "/robots", Some(&a), body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    assert_eq!(created["name"], "robot$team+ci");
    assert_eq!(created["expires_at"], -1);
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.len() >= 16);
    let id = created["id"].as_i64().unwrap_or(0);
    let robot = common::basic("robot$team+ci", &secret);

    // Push and pull in its project, by Basic credentials and by token.
    let data = b"robot layer";
    let push = |auth: String, repo: &'static str| {
        let s = &s;
        async move {
            s.send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={}", digest(data)),
                &[("authorization", &auth)],
                data.to_vec(),
            )
            .await
            .status
        }
    };
    assert_eq!(push(robot.clone(), "team/app").await, 201);
    assert_eq!(
        s.get_with(&format!("/v2/team/app/blobs/{}", digest(data)), &robot)
            .await
            .status,
        200
    );
    assert_eq!(
        push(robot.clone(), "library/app").await,
        401,
        "no permission outside its project"
    );
    let r = s
        .send(
            "GET",
            "/service/token?service=harbor-registry&scope=repository:team/app:pull,push,delete",
            &[("authorization", &robot)],
            vec![],
        )
        .await;
    let token = r.json()["token"].as_str().unwrap_or_default().to_owned();
    let claims = s
        .auth
        .as_ref()
        .and_then(|x| x.tokens.verify(&token, harbor_auth::Expiry::Enforce).ok());
    let claims = claims.unwrap_or_else(|| panic!("robot token does not verify"));
    assert_eq!(claims.sub, "robot$team+ci");
    assert_eq!(
        claims.access[0].actions,
        ["pull", "push"],
        "no delete: it was not granted"
    );

    // Listing and reading never show the secret.
    let r = call(&s, "GET", &format!("/robots/{id}"), Some(&a), "").await;
    assert_eq!(
        (r.json()["secret"].as_str(), r.json()["disable"].as_bool()),
        (Some(""), Some(false))
    );
    let r = call(
        &s,
        "GET",
        "/robots?q=Level=project,ProjectID=2",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.header("x-total-count"), Some("1"));

    // The robot's token reads the blob (and its account is now cached).
    let (blob, bearer) = (
        format!("/v2/team/app/blobs/{}", digest(data)),
        format!("Bearer {token}"),
    );
    assert_eq!(s.get_with(&blob, &bearer).await.status, 200);

    // Disabled: refused; enabled again: accepted.
    let r = call(
        &s,
        "PUT",
        &format!("/robots/{id}"),
        Some(&a),
        r#"{"disable":true}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(push(robot.clone(), "team/app").await, 401);
    // A token issued before it was disabled stops working at once too.
    assert_eq!(
        s.get_with(&blob, &bearer).await.status,
        401,
        "the disabled robot's token"
    );
    assert_eq!(
        call(
            &s,
            "PUT",
            &format!("/robots/{id}"),
            Some(&a),
            r#"{"disable":false}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(push(robot.clone(), "team/app").await, 201);

    // A refreshed secret replaces the old one.
    let r = call(&s, "PATCH", &format!("/robots/{id}"), Some(&a), "{}").await;
    let fresh = r.json()["secret"].as_str().unwrap_or_default().to_owned();
    assert!(!fresh.is_empty() && fresh != secret);
    assert_eq!(push(robot.clone(), "team/app").await, 401);
    assert_eq!(
        push(common::basic("robot$team+ci", &fresh), "team/app").await,
        201
    );

    // Expired: refused.
    let store = s
        .auth
        .as_ref()
        .map(|x| x.identity.clone())
        .unwrap_or_else(|| panic!("auth"));
    let mut r = store
        .robot_by_id(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("robot"));
    r.expires_at = Some(std::time::SystemTime::now() - std::time::Duration::from_secs(60));
    store.update_robot(&r).await.unwrap();
    assert_eq!(
        push(common::basic("robot$team+ci", &fresh), "team/app").await,
        401
    );

    assert_eq!(
        call(&s, "DELETE", &format!("/robots/{id}"), Some(&a), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, "GET", &format!("/robots/{id}"), Some(&a), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn robot_requests_are_checked_and_bad_ones_change_nothing() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    api_user(&s, "gina").await;
    let gina = common::basic("gina", PASSWORD);
    let r = call(
        &s,
        "POST",
        "/projects",
        Some(&gina),
        r#"{"project_name":"gina-proj"}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let system = r#"{"name":"ops","level":"system","duration":0,"permissions":[{"kind":"project","namespace":"*","access":[{"resource":"repository","action":"pull"}]}]}"#;
    assert_eq!(
        call(&s, "POST", "/robots", Some(&gina), system)
            .await
            .status,
        403,
        "system robots are the admin's"
    );
    let r = call(&s, "POST", "/robots", Some(&a), system).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["name"], "robot$ops");
    let own = r#"{"name":"mine","level":"project","permissions":[{"kind":"project","namespace":"gina-proj","access":[{"resource":"repository","action":"pull"}]}]}"#;
    assert_eq!(
        call(&s, "POST", "/robots", Some(&gina), own).await.status,
        201,
        "a project admin makes robots for her project"
    );
    for bad in [
        r#"{"name":"Bad Name","level":"system","permissions":[]}"#,
        r#"{"name":"x","level":"galaxy","permissions":[]}"#,
        r#"{"name":"x","level":"system","duration":-5,"permissions":[]}"#,
        r#"{"name":"x","level":"project","permissions":[]}"#,
        r#"{"name":"x","level":"system","permissions":[{"kind":"project","namespace":"*","access":[{"resource":"repository","action":"fly"}]}]}"#,
    ] {
        let r = call(&s, "POST", "/robots", Some(&a), bad).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        call(&s, "POST", "/robots", Some(&a), system).await.status,
        409
    );
    let r = call(&s, "GET", "/robots", Some(&a), "").await;
    assert_eq!(
        r.header("x-total-count"),
        Some("2"),
        "only the two good robots exist"
    );
    let r = call(
        &s,
        "PUT",
        "/robots/1",
        Some(&a),
        r#"{"name":"robot$renamed"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
}

/// Polls the audit log until `n` entries match `q` (the writer is asynchronous).
async fn audit_entries(s: &TestServer, path: &str, n: usize) -> serde_json::Value {
    for _ in 0..100 {
        let r = call(s, "GET", path, Some(&common::admin_auth()), "").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        if j.as_array().is_some_and(|a| a.len() >= n) {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} audit entries at {path}");
}

#[tokio::test]
async fn pushes_pulls_deletes_and_creations_are_audited() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    let d = s.push_image("library/app", "v1").await;
    let r = s.get_with("/v2/library/app/manifests/v1", &a).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        call(
            &s,
            "POST",
            "/projects",
            Some(&a),
            r#"{"project_name":"other"}"#
        )
        .await
        .status,
        201
    );
    api_user(&s, "hal").await;
    let tags = format!("/projects/library/repositories/app/artifacts/{d}/tags");
    assert_eq!(
        call(&s, "POST", &tags, Some(&a), r#"{"name":"stable"}"#)
            .await
            .status,
        201
    );
    assert_eq!(
        call(&s, "DELETE", &format!("{tags}/stable"), Some(&a), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(
            &s,
            "DELETE",
            &format!("/projects/library/repositories/app/artifacts/{d}"),
            Some(&a),
            ""
        )
        .await
        .status,
        200
    );

    let all = audit_entries(&s, "/audit-logs?page_size=50", 7).await;
    let ops: Vec<(String, String, String, String)> = all
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let f = |k: &str| e[k].as_str().unwrap_or("").to_owned();
                    (
                        f("username"),
                        f("operation"),
                        f("resource_type"),
                        f("resource"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for expected in [
        ("admin", "create", "artifact", "library/app:v1".to_owned()),
        ("admin", "pull", "artifact", "library/app:v1".to_owned()),
        ("admin", "create", "project", "other".to_owned()),
        ("admin", "create", "user", "hal".to_owned()),
        ("admin", "create", "tag", "library/app:stable".to_owned()),
        ("admin", "delete", "tag", "library/app:stable".to_owned()),
        ("admin", "delete", "artifact", format!("library/app@{d}")),
    ] {
        let wanted = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
            expected.3.clone(),
        );
        assert!(ops.contains(&wanted), "{wanted:?} missing from {ops:?}");
    }
    assert!(all[0]["op_time"]
        .as_str()
        .is_some_and(|t| t.starts_with("20")));

    let pulls = audit_entries(&s, "/audit-logs?q=operation=pull", 1).await;
    assert_eq!(pulls.as_array().map(Vec::len), Some(1));
    let library = audit_entries(&s, "/projects/library/logs", 3).await;
    assert!(library
        .as_array()
        .is_some_and(|a| a.iter().all(|e| e["resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("library/")))));

    let hal = common::basic("hal", PASSWORD);
    assert_eq!(
        call(&s, "GET", "/audit-logs", Some(&hal), "").await.status,
        403
    );
    assert_eq!(
        call(&s, "GET", "/projects/library/logs", Some(&hal), "")
            .await
            .status,
        403
    );
    // A key Harbor's audit log does not filter on is ignored, as Harbor
    // ignores it; a malformed `q` is refused.
    assert_eq!(
        call(&s, "GET", "/audit-logs?q=colour%3Dred", Some(&a), "")
            .await
            .status,
        200
    );
    for bad in ["operation%3D%5Bcreate", "operation%3Dfly", "noequals"] {
        assert_eq!(
            call(&s, "GET", &format!("/audit-logs?q={bad}"), Some(&a), "")
                .await
                .status,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_graceful_stop_writes_the_audit_entries_of_the_last_requests() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    s.push_image("library/last", "v1").await;
    assert_eq!(
        s.get_with("/v2/library/last/manifests/v1", &a).await.status,
        200
    );
    // Stopped at once, before the audit writer's batching delay is over.
    let dir = s.stop().await;
    let store = harbor_storage::SqliteMetaStore::open(dir.path().join("data").join("registry.db"))
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let (entries, _) = harbor_core::IdentityStore::list_audit(
        &store,
        &harbor_core::AuditQuery::default(),
        harbor_core::Page::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("audit: {e}"));
    let ops: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.operation.as_str(), e.resource.as_str()))
        .collect();
    assert!(ops.contains(&("create", "library/last:v1")), "{ops:?}");
    assert!(ops.contains(&("pull", "library/last:v1")), "{ops:?}");
}

#[tokio::test]
async fn answers_follow_harbors_habits_request_ids_fuzzy_queries_metadata_and_empty_lists() {
    let s = TestServer::start_with_auth().await;
    let a = common::admin_auth();
    // Every answer carries an X-Request-Id: the client's own, or a new one.
    let r = s
        .send(
            "GET",
            "/api/v2.0/projects",
            &[("x-request-id", "trace-me-42")],
            "",
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-me-42"));
    let first = call(&s, "GET", "/projects", None, "").await;
    let second = call(&s, "GET", "/nothing/here", None, "").await;
    let (one, two) = (first.header("x-request-id"), second.header("x-request-id"));
    assert!(
        one.is_some_and(|i| !i.is_empty()) && one != two,
        "{one:?} {two:?}"
    );
    assert!(s.get("/v2/").await.header("x-request-id").is_some());

    // Harbor's project metadata keys are stored and returned as sent.
    let body = r#"{"project_name":"meta-team","metadata":{"public":"false","auto_scan":"true","severity":"high","prevent_vul":"true","reuse_sys_cve_allowlist":"false","not_a_harbor_key":"x"}}"#;
    assert_eq!(
        call(&s, "POST", "/projects", Some(&a), body).await.status,
        201
    );
    let p = call(&s, "GET", "/projects/meta-team", Some(&a), "")
        .await
        .json();
    assert_eq!(p["metadata"]["auto_scan"], "true");
    assert_eq!(p["metadata"]["severity"], "high");
    assert_eq!(p["metadata"]["public"], "false");
    assert!(p["metadata"].get("not_a_harbor_key").is_none());
    let update = r#"{"metadata":{"severity":"low","enable_content_trust":"true"}}"#;
    assert_eq!(
        call(&s, "PUT", "/projects/meta-team", Some(&a), update)
            .await
            .status,
        200
    );
    let p = call(&s, "GET", "/projects/meta-team", Some(&a), "")
        .await
        .json();
    assert_eq!(
        (
            &p["metadata"]["severity"],
            &p["metadata"]["auto_scan"],
            &p["metadata"]["enable_content_trust"]
        ),
        (&"low".into(), &"true".into(), &"true".into()),
        "keys are merged"
    );
    let bad = r#"{"metadata":{"severity":"apocalyptic"}}"#;
    assert_eq!(
        call(&s, "PUT", "/projects/meta-team", Some(&a), bad)
            .await
            .status,
        400
    );

    // `q` with a fuzzy name filters; an exact one matches whole names only.
    for name in ["alpha-one", "alpha-two", "beta"] {
        let body = format!(r#"{{"project_name":"{name}"}}"#);
        assert_eq!(
            call(&s, "POST", "/projects", Some(&a), &body).await.status,
            201
        );
    }
    let names = |r: Resp| -> Vec<String> {
        r.json()
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = call(&s, "GET", "/projects?q=name%3D~alpha", Some(&a), "").await;
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert_eq!(names(r), ["alpha-one", "alpha-two"]);
    let r = call(&s, "GET", "/projects?q=name%3Dalpha", Some(&a), "").await;
    assert_eq!(r.header("x-total-count"), Some("0"));
    let r = call(&s, "GET", "/projects?q=name%3Dbeta", Some(&a), "").await;
    assert_eq!(names(r), ["beta"]);

    // A page number as large as u64 allows serves an empty page, links back
    // to the last real one, and never wraps to the first.
    let r = call(
        &s,
        "GET",
        "/projects?page=18446744073709551615&page_size=2",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
    let total: u64 = r
        .header("x-total-count")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let last = total.div_ceil(2);
    assert!(
        r.header("link")
            .is_some_and(|l| l.contains(&format!("page={last}&")) && l.contains("rel=\"prev\"")),
        "{:?}",
        r.header("link")
    );
    for bad in [
        "page=18446744073709551616",
        "page=0",
        "page=-1",
        "page_size=x",
    ] {
        let r = call(&s, "GET", &format!("/projects?{bad}"), Some(&a), "").await;
        assert_eq!(r.status, 400, "{bad}");
    }

    // A repository with no artifacts lists none, as Harbor does, not a 404.
    let r = call(
        &s,
        "GET",
        "/projects/beta/repositories/never-pushed/artifacts",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
    assert_eq!(r.header("x-total-count"), Some("0"));

    // The summary counts repositories and members by role.
    s.push_image("beta/app", "v1").await;
    let summary = call(&s, "GET", "/projects/beta/summary", Some(&a), "").await;
    assert_eq!(summary.status, 200);
    assert_eq!(summary.json()["repo_count"], 1);
    assert_eq!(summary.json()["project_admin_count"], 1);
    let repos = call(
        &s,
        "GET",
        "/projects/beta/repositories?q=name%3D~ap",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(repos.header("x-total-count"), Some("1"));
    let repos = call(
        &s,
        "GET",
        "/projects/beta/repositories?q=name%3D~zz",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(repos.header("x-total-count"), Some("0"));
}
