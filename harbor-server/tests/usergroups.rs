//! User groups through Harbor's API (`/usergroups`, `member_group` in
//! `/projects/{p}/members`) and what they grant: a user in a group acts in a
//! project with the highest of its own role and its groups' roles, for
//! skopeo pushes and pulls as for the API, and
//! `/users/current/permissions` says so.
//!
//! Users join groups when they sign in through LDAP or OIDC (tests/ldap.rs,
//! tests/oidc.rs); here the test sets a user's groups in the store as such a
//! login does, to check the groups' own behaviour.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{basic, Resp, TestServer};
use harbor_core::{GroupType, NewUserGroup};
use serde_json::{json, Value};

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}/api/v2.0{path}", s.base), method, body).await
}

async fn call(s: &TestServer, auth: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::json_call(&format!("{}/api/v2.0{path}", s.base), auth, method, body).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn names(r: &Resp) -> Vec<String> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn administrators_manage_groups_and_anyone_signed_in_searches_them() {
    let s = TestServer::start_with_auth().await;
    s.create_user("pat", "Passw0rd!").await;
    let pat = basic("pat", "Passw0rd!");

    let r = admin(
        &s,
        "POST",
        "/usergroups",
        Some(json!({"group_type": 1, "ldap_group_dn": "cn=Platform,ou=groups,dc=example,dc=com"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let ldap = r.location_id();
    let r = admin(&s, "GET", &format!("/usergroups/{ldap}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": ldap, "group_name": "Platform", "group_type": 1,
               "ldap_group_dn": "cn=Platform,ou=groups,dc=example,dc=com"}),
        "an LDAP group without a name is named by its DN"
    );
    let r = admin(
        &s,
        "POST",
        "/usergroups",
        Some(json!({"group_type": 3, "group_name": "oidc-admins"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let oidc = r.location_id();

    // Duplicates: the same DN whatever its case; the same type and name.
    for dup in [
        json!({"group_type": 1, "ldap_group_dn": "CN=platform,OU=groups,DC=example,DC=com"}),
        json!({"group_type": 3, "group_name": "oidc-admins"}),
    ] {
        let r = admin(&s, "POST", "/usergroups", Some(dup.clone())).await;
        assert_eq!(r.status, 409, "{dup}: {}", text(&r));
    }
    // Bad bodies change nothing.
    for bad in [
        json!({}),
        json!({"group_type": 7, "group_name": "x"}),
        json!({"group_type": 1, "group_name": "no-dn"}),
        json!({"group_type": 2, "group_name": ""}),
        json!({"group_type": "2", "group_name": "typed"}),
    ] {
        let r = admin(&s, "POST", "/usergroups", Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
    }
    let r = admin(&s, "GET", "/usergroups", None).await;
    assert_eq!(r.header("x-total-count"), Some("2"));
    assert_eq!(names(&r), ["Platform", "oidc-admins"]);
    let r = admin(&s, "GET", "/usergroups?group_name=ADMIN", None).await;
    assert_eq!(names(&r), ["oidc-admins"]);
    let r = admin(
        &s,
        "GET",
        "/usergroups?ldap_group_dn=cn%3Dplatform%2Cou%3Dgroups%2Cdc%3Dexample%2Cdc%3Dcom",
        None,
    )
    .await;
    assert_eq!(names(&r), ["Platform"]);

    // Only the name changes.
    let r = admin(
        &s,
        "PUT",
        &format!("/usergroups/{oidc}"),
        Some(json!({"group_name": "oidc-ops"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = admin(
        &s,
        "PUT",
        &format!("/usergroups/{oidc}"),
        Some(json!({"group_name": "x", "group_type": 2})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        admin(&s, "GET", &format!("/usergroups/{oidc}"), None)
            .await
            .json()["group_name"],
        "oidc-ops"
    );

    // Others: search only.
    let r = call(&s, &pat, "GET", "/usergroups/search?groupname=ops", None).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        r.json(),
        json!([{"id": oidc, "group_name": "oidc-ops", "group_type": 3}])
    );
    for (method, path) in [
        ("GET", "/usergroups".to_owned()),
        ("GET", format!("/usergroups/{oidc}")),
        ("DELETE", format!("/usergroups/{oidc}")),
    ] {
        assert_eq!(
            call(&s, &pat, method, &path, None).await.status,
            403,
            "{path}"
        );
        assert_eq!(
            call(&s, "", method, &path, None).await.status,
            401,
            "{path}"
        );
    }
    let r = call(
        &s,
        &pat,
        "POST",
        "/usergroups",
        Some(json!({"group_type": 2, "group_name": "mine"})),
    )
    .await;
    assert_eq!(r.status, 403);

    assert_eq!(
        admin(&s, "DELETE", &format!("/usergroups/{oidc}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        admin(&s, "GET", &format!("/usergroups/{oidc}"), None)
            .await
            .status,
        404
    );
    assert_eq!(admin(&s, "GET", "/usergroups/abc", None).await.status, 400);
}

/// The `repository` actions `/users/current/permissions` grants `auth` in
/// project `id`.
async fn repository_actions(s: &TestServer, auth: &str, id: i64) -> Vec<String> {
    let r = call(
        s,
        auth,
        "GET",
        &format!("/users/current/permissions?scope=/project/{id}&relative=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let mut actions: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["resource"] == "repository")
        .map(|p| p["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_role_reaches_its_users_for_skopeo_and_the_api() {
    let s = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let project = s.create_project("squad", false).await;
    let uid = s.create_user("gina", "Passw0rd!").await;
    let gina = basic("gina", "Passw0rd!");
    let gina_creds = creds("gina", "Passw0rd!");
    let image = Image::new(
        "linux",
        "amd64",
        vec![layout::tar(&[("f", &layout::pseudo_random(7, 5_000))])],
    );
    let target = docker(&s.host(), "squad/app:v1");

    // Not a member: the private project is not hers.
    skopeo
        .push(&image, &target, Some(&gina_creds))
        .await
        .1
        .assert_refused(&["denied", "unauthorized", "forbidden"]);
    assert!(repository_actions(&s, &gina, project).await.is_empty());

    // A group made a Guest, by type and name (onboarded on the way), then
    // a group made a Developer by id.
    let r = admin(
        &s,
        "POST",
        "/projects/squad/members",
        Some(json!({"role_id": 3, "member_group": {"group_type": 3, "group_name": "readers"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let readers_member = r.location_id();
    let writers = s
        .identity()
        .onboard_groups(&[NewUserGroup::named(GroupType::Oidc, "writers")])
        .await
        .unwrap()[0]
        .id;
    let r = admin(
        &s,
        "POST",
        "/projects/squad/members",
        Some(json!({"role_id": 2, "member_group": {"id": writers}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = admin(
        &s,
        "POST",
        "/projects/squad/members",
        Some(json!({"role_id": 2, "member_group": {"id": writers}})),
    )
    .await;
    assert_eq!(r.status, 409, "a group is a member once");
    let r = admin(
        &s,
        "POST",
        "/projects/squad/members",
        Some(json!({"role_id": 2, "member_group": {"id": 9999}})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = admin(
        &s,
        "GET",
        &format!("/projects/squad/members/{readers_member}"),
        None,
    )
    .await;
    assert_eq!(r.json()["entity_type"], "g");
    assert_eq!(r.json()["entity_name"], "readers");
    let readers = r.json()["entity_id"].as_i64().unwrap();

    // In the readers group (as a login sets it): pull, not push.
    s.identity().set_user_groups(uid, &[readers]).await.unwrap();
    assert_eq!(
        repository_actions(&s, &gina, project).await,
        ["list", "pull", "read"]
    );
    skopeo
        .push(&image, &target, Some(&gina_creds))
        .await
        .1
        .assert_refused(&["denied", "unauthorized", "forbidden"]);
    let r = call(&s, &gina, "GET", "/projects?name=squad", None).await;
    assert_eq!(
        r.json().as_array().unwrap().len(),
        1,
        "her group's project is listed"
    );
    assert_eq!(r.json()[0]["current_user_role_id"], 3);

    // In the writers group too: the higher role wins.
    s.identity()
        .set_user_groups(uid, &[readers, writers])
        .await
        .unwrap();
    assert_eq!(
        repository_actions(&s, &gina, project).await,
        ["create", "list", "pull", "push", "read", "update"]
    );
    skopeo
        .push(&image, &target, Some(&gina_creds))
        .await
        .1
        .assert_success();
    skopeo
        .pull(&target, Some(&gina_creds))
        .await
        .1
        .assert_success();

    // Out of both groups (the next login says so): nothing again.
    s.identity().set_user_groups(uid, &[]).await.unwrap();
    assert!(repository_actions(&s, &gina, project).await.is_empty());
    skopeo
        .pull(&target, Some(&gina_creds))
        .await
        .1
        .assert_refused(&["denied", "unauthorized", "forbidden", "not found"]);

    // Members list both kinds; deleting a group ends its membership.
    let r = admin(&s, "GET", "/projects/squad/members", None).await;
    let kinds: Vec<(String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["entity_name"].as_str().unwrap().to_owned(),
                m["entity_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("admin".to_owned(), "u".to_owned()),
            ("readers".to_owned(), "g".to_owned()),
            ("writers".to_owned(), "g".to_owned())
        ]
    );
    assert_eq!(
        admin(&s, "DELETE", &format!("/usergroups/{writers}"), None)
            .await
            .status,
        200
    );
    let r = admin(&s, "GET", "/projects/squad/members", None).await;
    assert_eq!(r.header("x-total-count"), Some("2"));
}

#[tokio::test]
async fn permissions_answer_per_scope() {
    let s = TestServer::start_with_auth().await;
    let project = s.create_project("perm", false).await;
    s.create_user("vic", "Passw0rd!").await;
    let vic = basic("vic", "Passw0rd!");

    let r = admin(&s, "GET", "/users/current/permissions?scope=/system", None).await;
    assert_eq!(r.status, 200);
    let perms = r.json();
    assert!(
        perms
            .as_array()
            .unwrap()
            .contains(&json!({"resource": "/system/user-group", "action": "create"})),
        "{perms}"
    );
    let r = admin(
        &s,
        "GET",
        &format!("/users/current/permissions?scope=/project/{project}"),
        None,
    )
    .await;
    assert!(r
        .json()
        .as_array()
        .unwrap()
        .contains(&json!({"resource": format!("/project/{project}/member"), "action": "create"})));

    // A user who is no member: project creation (everyone may, by default),
    // nothing in the private project; anonymous callers get 401.
    let r = call(
        &s,
        &vic,
        "GET",
        "/users/current/permissions?scope=/system&relative=true",
        None,
    )
    .await;
    assert_eq!(
        r.json(),
        json!([{"resource": "project", "action": "create"}])
    );
    let r = call(
        &s,
        &vic,
        "GET",
        &format!("/users/current/permissions?scope=/project/{project}"),
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));
    let r = call(
        &s,
        "",
        "GET",
        "/users/current/permissions?scope=/system",
        None,
    )
    .await;
    assert_eq!(r.status, 401);
}
