//! LDAP authentication against Debian's slapd (one per test binary, see
//! `common/slapd.rs`), configured through `/api/v2.0/configurations` as an
//! administrator would: ping, logins (search, then bind), onboarding,
//! groups, the administrators' group, refusals (wrong password, unknown
//! user, disabled account, filter injection, unreachable server within
//! `ldap_timeout`), rate limiting, the `auth_mode` rule, and the
//! `/ldap/*` searches and import.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::skopeo::{creds, docker, Skopeo};
use common::slapd::{self, password};
use common::{basic, json_call, layout, Resp, TestServer};
use serde_json::{json, Value};

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

async fn as_user(s: &TestServer, user: &str, pw: &str, method: &str, path: &str) -> Resp {
    json_call(&format!("{}{path}", s.base), &basic(user, pw), method, None).await
}

/// A server whose users log in from the shared slapd.
async fn ldap_server() -> TestServer {
    let s = TestServer::start_with_auth().await;
    let mut body = slapd::shared().settings();
    body["auth_mode"] = json!("ldap_auth");
    let r = admin(&s, "PUT", "/api/v2.0/configurations", Some(body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    s
}

async fn current(s: &TestServer, user: &str, pw: &str) -> Resp {
    as_user(s, user, pw, "GET", "/api/v2.0/users/current").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_tells_good_settings_from_a_wrong_password_and_an_unreachable_port() {
    let s = ldap_server().await;
    let ping = |body: Option<Value>| {
        let s = &s;
        async move {
            let started = Instant::now();
            let r = admin(s, "POST", "/api/v2.0/ldap/ping", body).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            (r.json(), started.elapsed())
        }
    };
    // The stored settings, and the same given in the body.
    let (r, _) = ping(None).await;
    assert_eq!(r["success"], true, "{r}");
    let (r, _) = ping(Some(slapd::shared().settings())).await;
    assert_eq!(r["success"], true, "{r}");
    // No password in the body: the stored one (the portal never has it).
    let (r, _) = ping(Some(json!({"ldap_url": slapd::shared().url}))).await;
    assert_eq!(r["success"], true, "{r}");

    let (r, took) = ping(Some(json!({"ldap_search_password": "wrong"}))).await;
    assert_eq!(r["success"], false, "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("invalid credentials"),
        "{r}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");

    let closed = common::distribution::free_port();
    let (r, took) = ping(Some(
        json!({"ldap_url": format!("ldap://127.0.0.1:{closed}")}),
    ))
    .await;
    assert_eq!(r["success"], false, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("cannot reach"),
        "{r}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A port that takes connections and never answers: the timeout given.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let (r, took) = ping(Some(json!({"ldap_url": url, "ldap_connection_timeout": 1}))).await;
    assert_eq!(r["success"], false, "{r}");
    assert!(r["message"].as_str().unwrap().contains("within 1 s"), "{r}");
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A bad URL is a clear failure too; settings are not changed by a ping.
    let (r, _) = ping(Some(json!({"ldap_url": "http://x"}))).await;
    assert_eq!(r["success"], false, "{r}");
    let (r, _) = ping(None).await;
    assert_eq!(r["success"], true, "{r}");
    // Administrators only.
    let r = as_user(
        &s,
        "alice",
        &password("alice"),
        "POST",
        "/api/v2.0/ldap/ping",
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_user_is_onboarded_at_first_login_and_its_password_is_never_stored() {
    let s = ldap_server().await;
    let r = current(&s, "erin", &password("erin")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let me = r.json();
    assert_eq!(me["username"], "erin");
    assert_eq!(me["realname"], "Erin E.", "displayName first");
    assert_eq!(me["sysadmin_flag"], false);
    // Once only: a second login finds the same user.
    let again = current(&s, "erin", &password("erin")).await.json();
    assert_eq!(again["user_id"], me["user_id"]);

    // Stored as Harbor stores it, without a usable password: the
    // database authenticator refuses it whatever the password.
    let identity = s.auth.as_ref().unwrap().identity.clone();
    let stored = identity.user_by_name("erin").await.unwrap().unwrap();
    assert_eq!(stored.comment, "from LDAP.");
    assert!(!stored.password_hash.contains(&password("erin")));
    let db = harbor_auth::DbAuthenticator::new(identity, harbor_auth::RateLimit::default());
    for pw in [password("erin"), String::new()] {
        assert!(
            harbor_auth::Authenticator::authenticate(&db, "erin", &pw, None)
                .await
                .is_err()
        );
    }
    // `admin` still logs in from the database in ldap_auth.
    assert_eq!(
        current(&s, "admin", common::ADMIN_PASSWORD).await.status,
        200
    );
    let info = admin(&s, "GET", "/api/v2.0/systeminfo", None).await.json();
    assert_eq!(info["auth_mode"], "ldap_auth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_unknown_and_disabled_users_and_injections_are_refused() {
    let s = ldap_server().await;
    for (user, pw) in [
        ("alice", "wrong".to_owned()),
        ("alice", String::new()),
        ("nobody", "whatever".to_owned()),
        // In the directory, outside the filter.
        ("carol", password("carol")),
        // Filter injection: literal names, matching nobody.
        ("*", password("alice")),
        ("alice)(uid=*", password("alice")),
        ("admin)(uid=*", password("alice")),
        ("*)(|(uid=*", password("alice")),
    ] {
        let r = current(&s, user, &pw).await;
        assert_eq!(
            r.status,
            401,
            "{user:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // No user was onboarded by any of them.
    let identity = s.auth.as_ref().unwrap().identity.clone();
    for name in ["alice", "carol", "*", "nobody"] {
        assert!(
            identity.user_by_name(name).await.unwrap().is_none(),
            "{name}"
        );
    }
    // A name with every special character is still a name.
    let r = current(&s, slapd::ODD_NAME, &password(slapd::ODD_NAME)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["username"], slapd::ODD_NAME);
    assert_eq!(current(&s, slapd::ODD_NAME, "wrong").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_directory_refuses_logins_within_ldap_timeout() {
    let s = ldap_server().await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"ldap_url": format!("ldap://{}", silent.local_addr().unwrap()), "ldap_timeout": 2})),
    )
    .await;
    assert_eq!(r.status, 200);
    let started = Instant::now();
    let r = current(&s, "alice", &password("alice")).await;
    let took = started.elapsed();
    assert_eq!(r.status, 401);
    assert!(
        String::from_utf8_lossy(&r.body).contains("did not answer within 2 s"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
    // A closed port: refused at once.
    let closed = common::distribution::free_port();
    admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"ldap_url": format!("ldap://127.0.0.1:{closed}")})),
    )
    .await;
    let started = Instant::now();
    assert_eq!(current(&s, "alice", &password("alice")).await.status, 401);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The directory back: in force at once.
    admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"ldap_url": slapd::shared().url})),
    )
    .await;
    assert_eq!(current(&s, "alice", &password("alice")).await.status, 200);
}

/// A login at the token service (outside `/api/v2.0`, where a 429 is
/// documented).
async fn token(s: &TestServer, user: &str, pw: &str) -> Resp {
    s.get_with("/service/token?service=harbor-registry", &basic(user, pw))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_covers_ldap_logins() {
    let s = ldap_server().await;
    assert_eq!(token(&s, "frank", &password("frank")).await.status, 200);
    for i in 0..10 {
        assert_eq!(token(&s, "frank", "wrong").await.status, 401, "attempt {i}");
    }
    // Even the right password now waits for the window to pass.
    let r = token(&s, "frank", &password("frank")).await;
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some());
    // One limiter for the database and the directory: the address that
    // guessed at an LDAP account is held back for `admin` too.
    let r = token(&s, "admin", common::ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429);
}

async fn mode(s: &TestServer) -> Value {
    admin(s, "GET", "/api/v2.0/configurations", None)
        .await
        .json()["auth_mode"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_mode_changes_only_while_admin_is_the_only_user() {
    let s = TestServer::start_with_auth().await;
    assert_eq!(
        mode(&s).await,
        json!({"value": "db_auth", "editable": true})
    );
    let mut body = slapd::shared().settings();
    body["auth_mode"] = json!("ldap_auth");
    assert_eq!(
        admin(&s, "PUT", "/api/v2.0/configurations", Some(body))
            .await
            .status,
        200
    );
    // Back and forth while nobody else exists.
    for m in ["db_auth", "oidc_auth", "ldap_auth"] {
        let r = admin(
            &s,
            "PUT",
            "/api/v2.0/configurations",
            Some(json!({"auth_mode": m})),
        )
        .await;
        assert_eq!(r.status, 200, "{m}");
    }
    // The search password is never shown, and kept when not given.
    let c = admin(&s, "GET", "/api/v2.0/configurations", None)
        .await
        .json();
    assert!(c.get("ldap_search_password").is_none(), "{c}");
    assert_eq!(c["ldap_scope"]["value"], 2);
    assert_eq!(current(&s, "bob", &password("bob")).await.status, 200);
    // Now bob exists: the mode is locked, with Harbor's reason.
    assert_eq!(
        mode(&s).await,
        json!({"value": "ldap_auth", "editable": false})
    );
    let r = admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"auth_mode": "db_auth"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("cannot be modified"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Setting the mode it already has is no change.
    let r = admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"auth_mode": "ldap_auth"})),
    )
    .await;
    assert_eq!(r.status, 200);
    // Bad LDAP values are refused whole.
    let before = admin(&s, "GET", "/api/v2.0/configurations", None)
        .await
        .json();
    for bad in [
        json!({"ldap_scope": 7}),
        json!({"ldap_url": "https://ldap.example.com"}),
        json!({"ldap_uid": "uid)(cn=*"}),
        json!({"ldap_timeout": 0}),
        json!({"ldap_group_search_filter": "(cn=a"}),
        json!({"ldap_base_dn": "ou=x", "ldap_verify_cert": "yes"}),
    ] {
        let r = admin(&s, "PUT", "/api/v2.0/configurations", Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        admin(&s, "GET", "/api/v2.0/configurations", None)
            .await
            .json(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_group_searches_and_the_import_read_the_directory() {
    let s = ldap_server().await;
    let r = admin(
        &s,
        "GET",
        "/api/v2.0/ldap/users/search?username=alice",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!([{"username": "alice", "realname": "Alice Liddell", "email": "alice@example.com"}])
    );
    // Everyone the filter lets through (carol is disabled).
    let all = admin(&s, "GET", "/api/v2.0/ldap/users/search", None)
        .await
        .json();
    let mut names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "alice",
            "bob",
            "dave",
            "erin",
            "frank",
            "grace",
            slapd::ODD_NAME
        ]
    );
    let none = admin(&s, "GET", "/api/v2.0/ldap/users/search?username=*", None).await;
    assert_eq!(none.json(), json!([]), "a literal *");

    let g = admin(
        &s,
        "GET",
        "/api/v2.0/ldap/groups/search?groupname=developers",
        None,
    )
    .await;
    assert_eq!(g.status, 200, "{}", String::from_utf8_lossy(&g.body));
    assert_eq!(
        g.json(),
        json!([{"group_name": "developers", "group_type": 1, "ldap_group_dn": "cn=developers,ou=groups,dc=example,dc=com"}])
    );
    let by_dn = admin(
        &s,
        "GET",
        "/api/v2.0/ldap/groups/search?groupdn=cn%3Dops%2Cou%3Dgroups%2Cdc%3Dexample%2Cdc%3Dcom",
        None,
    )
    .await;
    assert_eq!(by_dn.json()[0]["group_name"], "ops");
    let all = admin(&s, "GET", "/api/v2.0/ldap/groups/search", None)
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    let missing = admin(
        &s,
        "GET",
        "/api/v2.0/ldap/groups/search?groupname=nope",
        None,
    )
    .await;
    assert_eq!(missing.status, 404);

    // Import: bob is onboarded before his first login; the others fail by name.
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/ldap/users/import",
        Some(json!({"ldap_uid_list": ["bob", "ghost", "carol"]})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    let failed = r.json();
    let uids: Vec<&str> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["ghost", "carol"]);
    let identity = s.auth.as_ref().unwrap().identity.clone();
    let bob = identity.user_by_name("bob").await.unwrap().unwrap();
    assert_eq!(bob.email, "bob@example.com");
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/ldap/users/import",
        Some(json!({"ldap_uid_list": ["erin"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    // Administrators only.
    let r = as_user(
        &s,
        "bob",
        &password("bob"),
        "GET",
        "/api/v2.0/ldap/users/search",
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_and_pulls_as_a_directory_user_and_the_admin_group_administers() {
    let s = ldap_server().await;
    let skopeo = Skopeo::new();
    let img = layout::three_layer_image(3);
    // bob, imported, gets a direct membership in a private project.
    let r = admin(
        &s,
        "POST",
        "/api/v2.0/ldap/users/import",
        Some(json!({"ldap_uid_list": ["bob"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let pid = s.create_project("team", false).await;
    let r = admin(
        &s,
        "POST",
        &format!("/api/v2.0/projects/{pid}/members"),
        Some(json!({"role_id": 2, "member_user": {"username": "bob"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let bob = creds("bob", &password("bob"));
    skopeo
        .push(&img, &docker(&s.host(), "team/app:v1"), Some(&bob))
        .await
        .1
        .assert_success();
    let (_, out) = skopeo
        .pull(&docker(&s.host(), "team/app:v1"), Some(&bob))
        .await;
    out.assert_success();
    // With the wrong password, nothing.
    let (_, out) = skopeo
        .pull(
            &docker(&s.host(), "team/app:v1"),
            Some(&creds("bob", "wrong")),
        )
        .await;
    out.assert_refused(&["unauthorized", "401", "authentication required"]);

    // dave is in the administrators' group: a system administrator while
    // he logs in through LDAP (Basic calls and tokens), not in the store.
    let r = as_user(
        &s,
        "dave",
        &password("dave"),
        "GET",
        "/api/v2.0/configurations",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dave = creds("dave", &password("dave"));
    skopeo
        .push(&img, &docker(&s.host(), "team/admin:v1"), Some(&dave))
        .await
        .1
        .assert_success();
    let identity = s.auth.as_ref().unwrap().identity.clone();
    assert!(
        !identity
            .user_by_name("dave")
            .await
            .unwrap()
            .unwrap()
            .sysadmin
    );
    // alice is not.
    let r = as_user(
        &s,
        "alice",
        &password("alice"),
        "GET",
        "/api/v2.0/configurations",
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_given_to_a_directory_group_lets_its_members_push_and_pull() {
    let s = ldap_server().await;
    let skopeo = Skopeo::new();
    let img = layout::three_layer_image(2);
    let pid = s.create_project("devs", false).await;
    // The group is named by its DN before any of its members logged in.
    let developers = "cn=developers,ou=groups,dc=example,dc=com";
    let r = admin(
        &s,
        "POST",
        &format!("/api/v2.0/projects/{pid}/members"),
        Some(json!({"role_id": 2, "member_group": {"group_type": 1, "ldap_group_dn": developers}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // alice (developers and ops) pushes and pulls through her group.
    let alice = creds("alice", &password("alice"));
    skopeo
        .push(&img, &docker(&s.host(), "devs/app:v1"), Some(&alice))
        .await
        .1
        .assert_success();
    let (_, out) = skopeo
        .pull(&docker(&s.host(), "devs/app:v1"), Some(&alice))
        .await;
    out.assert_success();
    let identity = s.auth.as_ref().unwrap().identity.clone();
    let id = identity.user_by_name("alice").await.unwrap().unwrap().id;
    let mut groups: Vec<(String, String)> = identity
        .user_groups(id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.name, g.ldap_dn))
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("developers".to_owned(), developers.to_owned()),
            (
                "ops".to_owned(),
                "cn=ops,ou=groups,dc=example,dc=com".to_owned()
            ),
        ]
    );
    // The audit log names her for both (it is written in batches).
    let mut ops: Vec<String> = Vec::new();
    for _ in 0..50 {
        let r = admin(
            &s,
            "GET",
            "/api/v2.0/projects/devs/logs?q=username%3Dalice",
            None,
        )
        .await;
        ops = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_str().unwrap().to_owned())
            .collect();
        if ops.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ops.sort();
    ops.dedup();
    assert_eq!(ops, ["create", "pull"], "alice's push and pull are audited");
    // erin is in no group with a role there: refused.
    let (_, out) = skopeo
        .pull(
            &docker(&s.host(), "devs/app:v1"),
            Some(&creds("erin", &password("erin"))),
        )
        .await;
    out.assert_refused(&["unauthorized", "denied", "not found", "401", "403"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_leaves_a_group_in_the_directory_leaves_it_at_the_next_login() {
    let s = ldap_server().await;
    let identity = s.auth.as_ref().unwrap().identity.clone();
    assert_eq!(current(&s, "grace", &password("grace")).await.status, 200);
    let id = identity.user_by_name("grace").await.unwrap().unwrap().id;
    let names = |groups: Vec<harbor_core::UserGroup>| -> Vec<String> {
        groups.into_iter().map(|g| g.name).collect()
    };
    assert_eq!(
        names(identity.user_groups(id).await.unwrap()),
        ["developers"]
    );
    slapd::shared().modify(&format!(
        "dn: cn=developers,ou=groups,{}\nchangetype: modify\ndelete: member\nmember: {}\n",
        slapd::SUFFIX,
        slapd::user_dn("grace")
    ));
    assert_eq!(current(&s, "grace", &password("grace")).await.status, 200);
    assert!(identity.user_groups(id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls_carry_logins_and_an_unverified_certificate_is_refused() {
    let s = ldap_server().await;
    let put = |body: Value| {
        let s = &s;
        async move {
            let r = admin(s, "PUT", "/api/v2.0/configurations", Some(body)).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    };
    // ldaps:// with a self-signed certificate: refused while it is
    // verified, used once verification is off.
    put(json!({"ldap_url": slapd::shared().ldaps_url, "ldap_verify_cert": true})).await;
    let ping = admin(&s, "POST", "/api/v2.0/ldap/ping", None).await.json();
    assert_eq!(ping["success"], false, "{ping}");
    assert!(
        ping["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{ping}"
    );
    assert_eq!(current(&s, "alice", &password("alice")).await.status, 401);
    put(json!({"ldap_verify_cert": false})).await;
    let ping = admin(&s, "POST", "/api/v2.0/ldap/ping", None).await.json();
    assert_eq!(ping["success"], true, "{ping}");
    assert_eq!(current(&s, "alice", &password("alice")).await.status, 200);
    assert_eq!(current(&s, "alice", "wrong").await.status, 401);
    // StartTLS on the plain port.
    put(json!({"ldap_url": slapd::shared().url, "ldap_starttls": true, "ldap_verify_cert": true}))
        .await;
    assert_eq!(current(&s, "bob", &password("bob")).await.status, 401);
    // A ping tests the StartTLS switch it is given over the stored one.
    let ping = |body: Value| {
        let s = &s;
        async move {
            admin(s, "POST", "/api/v2.0/ldap/ping", Some(body))
                .await
                .json()
        }
    };
    let r = ping(json!({"ldap_verify_cert": true})).await;
    assert_eq!(r["success"], false, "StartTLS, verified: {r}");
    let r = ping(json!({"ldap_verify_cert": true, "ldap_starttls": false})).await;
    assert_eq!(r["success"], true, "plain: {r}");
    put(json!({"ldap_verify_cert": false})).await;
    assert_eq!(current(&s, "bob", &password("bob")).await.status, 200);
}

/// Every file under `dir` that holds `needle`, byte for byte.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_settings_are_sealed_at_rest_and_open_after_a_restart() {
    let s = ldap_server().await;
    let r = admin(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"oidc_client_secret": "oidc-client-s3cret-42"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Neither secret is anywhere in the server's files (database, its
    // write-ahead log, the blobs), while the settings work.
    for secret in [slapd::READER_PASSWORD, "oidc-client-s3cret-42"] {
        let holding = files_holding(s.dir.path(), secret.as_bytes());
        assert!(holding.is_empty(), "{secret} in clear in {holding:?}");
    }
    assert_eq!(current(&s, "bob", &password("bob")).await.status, 200);
    // After a restart the sealed password opens: the directory is bound
    // with it (ping without a body uses the stored settings).
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(common::ADMIN_PASSWORD.into());
    })
    .await;
    let r = admin(&s, "POST", "/api/v2.0/ldap/ping", None).await;
    assert_eq!(r.json()["success"], true, "{}", r.json());
    assert_eq!(current(&s, "bob", &password("bob")).await.status, 200);
}
