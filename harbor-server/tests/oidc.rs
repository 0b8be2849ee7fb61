//! OpenID Connect against a real provider (npm's `oidc-provider`, started
//! by the tests): the whole browser flow over HTTP (login and consent forms
//! submitted), onboarding, the session reading the API, the CLI secret
//! taken by skopeo as the password, changed and refused when wrong, a user
//! removed at the provider losing access once its cached check expires, the
//! state and the code checked, the admin group, onboarding by hand, and
//! the OIDC ping.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::oidc::{Browser, OidcProvider, CLIENT_ID, CLIENT_SECRET};
use common::skopeo::{creds, docker, Skopeo};
use common::{admin_call, Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// How long a CLI secret's check against the provider is trusted here.
const CHECK_TTL: Duration = Duration::from_secs(1);

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.auth.oidc_check_ttl = CHECK_TTL;
    })
    .await
}

fn callback(s: &TestServer) -> String {
    format!("{}/c/oidc/callback", s.base)
}

/// Puts the server in `oidc_auth` mode with `provider`, `extra` over the
/// usual settings.
async fn configure(s: &TestServer, provider: &OidcProvider, extra: Value) {
    let mut body = json!({
        "auth_mode": "oidc_auth",
        "oidc_name": "test-idp",
        "oidc_endpoint": provider.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_scope": "openid,profile,email,groups,offline_access",
        "oidc_verify_cert": false,
        "oidc_auto_onboard": true,
        "oidc_user_claim": "preferred_username",
        "oidc_groups_claim": "groups",
        "oidc_admin_group": "harbor-admins",
        "oidc_group_filter": "^harbor-",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = admin_call(
        &format!("{}/api/v2.0/configurations", s.base),
        "PUT",
        Some(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// The browser signs in as `account` and comes back signed in.
async fn sign_in(s: &TestServer, browser: &Browser, account: &str, password: &str) {
    let start = format!("{}/c/oidc/login", s.base);
    let back = browser
        .to_callback(&start, &callback(s), account, password)
        .await;
    let steps = browser.walk("GET", &back, None, |_| false).await;
    assert_eq!(steps[0].status, 302, "callback: {steps:?}");
    assert_eq!(
        steps[0].location.as_deref(),
        Some(format!("{}/", s.base).as_str())
    );
    assert!(
        browser.cookie(&s.base, "sid").is_some(),
        "no session cookie"
    );
}

/// `GET path` with the browser's cookies.
async fn session_get(s: &TestServer, browser: &Browser, path: &str) -> (u16, Value) {
    let r = browser
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `PUT path` with the browser's cookies and, if given, a CSRF token.
async fn session_put(
    s: &TestServer,
    browser: &Browser,
    path: &str,
    body: Value,
    csrf: Option<&str>,
) -> u16 {
    let mut req = browser.client.put(format!("{}{path}", s.base)).json(&body);
    if let Some(t) = csrf {
        req = req.header("X-Harbor-CSRF-Token", t);
    }
    req.send().await.unwrap().status().as_u16()
}

fn ok(r: &Resp) {
    assert!(
        (200..300).contains(&r.status),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test]
async fn an_oidc_user_signs_in_pushes_with_its_cli_secret_and_loses_access_when_removed() {
    let s = server().await;
    // Access tokens short-lived, so CLI logins go through a refresh.
    let provider = OidcProvider::start(&callback(&s), Duration::from_secs(3)).await;
    configure(&s, &provider, json!({})).await;

    let r = admin_call(&format!("{}/api/v2.0/configurations", s.base), "GET", None).await;
    let conf = r.json();
    assert_eq!(conf["auth_mode"]["value"], "oidc_auth");
    assert_eq!(conf["oidc_endpoint"]["value"], provider.issuer.as_str());
    assert!(
        conf.get("oidc_client_secret").is_none(),
        "the client secret is never shown"
    );

    let browser = Browser::new();
    sign_in(&s, &browser, "alice", "alice-Passw0rd").await;
    let (status, me) = session_get(&s, &browser, "/api/v2.0/users/current").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "alice", "the user claim names the user");
    assert_eq!(me["email"], "alice@idp.test");
    assert_eq!(me["sysadmin_flag"], false);
    let id = me["user_id"].as_i64().unwrap();
    let secret = me["oidc_user_meta"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "a random CLI secret: {secret}");
    assert!(me["oidc_user_meta"]["subiss"]
        .as_str()
        .unwrap()
        .starts_with("alice"));
    // The session is not an administrator's.
    let (status, _) = session_get(&s, &browser, "/api/v2.0/configurations").await;
    assert_eq!(status, 403);

    // Her groups that pass `oidc_group_filter` (`staff` does not) were
    // onboarded as OIDC user groups.
    let r = admin_call(&format!("{}/api/v2.0/usergroups", s.base), "GET", None).await;
    let mut groups: Vec<(String, i64)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group_name"].as_str().unwrap().to_owned(),
                g["group_type"].as_i64().unwrap(),
            )
        })
        .collect();
    groups.sort();
    assert_eq!(groups, [("harbor-devs".to_owned(), 3)]);

    // A private project where her group `harbor-devs` is a developer: the
    // role reaches her through the group alone.
    s.create_project("team", false).await;
    let r = admin_call(
        &format!("{}/api/v2.0/projects/team/members", s.base),
        "POST",
        Some(json!({"role_id": 2, "member_group": {"group_type": 3, "group_name": "harbor-devs"}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let skopeo = Skopeo::new();
    let image = common::layout::three_layer_image(7);
    let target = docker(&s.host(), "team/app:v1");
    tokio::time::sleep(Duration::from_secs(4)).await; // the access token expired
    let before = s
        .auth
        .as_ref()
        .unwrap()
        .identity
        .oidc_user_by_user_id(id)
        .await
        .unwrap()
        .unwrap();
    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("alice", &secret)))
        .await;
    push.assert_success();
    let after = s
        .auth
        .as_ref()
        .unwrap()
        .identity
        .oidc_user_by_user_id(id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        before.token, after.token,
        "the expired token was refreshed and kept"
    );
    let (_, pull) = skopeo.pull(&target, Some(&creds("alice", &secret))).await;
    pull.assert_success();
    // The audit log names her (it is written in batches).
    let mut ops: Vec<String> = Vec::new();
    for _ in 0..50 {
        let r = admin_call(
            &format!("{}/api/v2.0/projects/team/logs?q=username%3Dalice", s.base),
            "GET",
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ops.sort();
    ops.dedup();
    assert_eq!(ops, ["create", "pull"], "alice's push and pull are audited");
    let (_, wrong) = skopeo
        .pull(&target, Some(&creds("alice", "Wrong-Secret-1")))
        .await;
    assert!(!wrong.success, "a wrong secret is refused");
    // Basic auth on the API takes the CLI secret too; admin still logs in from the database.
    let r = common::json_call(
        &format!("{}/api/v2.0/users/current", s.base),
        &common::basic("alice", &secret),
        "GET",
        None,
    )
    .await;
    assert_eq!(r.json()["username"], "alice");

    // A change through the session needs the CSRF token.
    let path = format!("/api/v2.0/users/{id}/cli_secret");
    let new = json!({"secret": "NewSecret123"});
    assert_eq!(
        session_put(&s, &browser, &path, new.clone(), None).await,
        403
    );
    let csrf = browser.cookie(&s.base, "__csrf").unwrap();
    assert_eq!(
        session_put(&s, &browser, &path, json!({"secret": "weak"}), Some(&csrf)).await,
        400
    );
    assert_eq!(
        session_put(&s, &browser, &path, new, Some(&csrf)).await,
        200
    );
    let (_, old) = skopeo.pull(&target, Some(&creds("alice", &secret))).await;
    assert!(!old.success, "the old secret stopped working");
    let (_, pull) = skopeo
        .pull(&target, Some(&creds("alice", "NewSecret123")))
        .await;
    pull.assert_success();
    let (_, me) = session_get(&s, &browser, "/api/v2.0/users/current").await;
    assert_eq!(me["oidc_user_meta"]["secret"], "NewSecret123");

    // Removed at the provider: refused once the cached check expired.
    provider.remove("alice").await;
    tokio::time::sleep(CHECK_TTL + Duration::from_millis(500)).await;
    let (_, gone) = skopeo
        .pull(&target, Some(&creds("alice", "NewSecret123")))
        .await;
    assert!(
        !gone.success,
        "a user removed at the provider keeps no access"
    );
    let r = common::json_call(
        &format!("{}/api/v2.0/users/current", s.base),
        &common::basic("alice", "NewSecret123"),
        "GET",
        None,
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_tampered_state_and_a_replayed_code_are_refused() {
    let s = server().await;
    let provider = OidcProvider::start(&callback(&s), Duration::from_secs(3600)).await;
    configure(&s, &provider, json!({})).await;
    let browser = Browser::new();
    let start = format!("{}/c/oidc/login", s.base);
    let back = browser
        .to_callback(&start, &callback(&s), "dave", "dave-Passw0rd")
        .await;
    let flow_cookie = browser.cookie(&back, "harbor_oidc_state").unwrap();
    assert!(back.contains("code=") && back.contains("state="), "{back}");

    // Another state than the login's.
    let mut url = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let steps = browser.walk("GET", url.as_str(), None, |_| true).await;
    assert_eq!(steps[0].status, 400, "{steps:?}");
    assert!(browser.cookie(&s.base, "sid").is_none());

    // The genuine callback signs in, once.
    let steps = browser.walk("GET", &back, None, |_| true).await;
    assert_eq!(steps[0].status, 302, "{steps:?}");
    assert!(browser.cookie(&s.base, "sid").is_some());
    // The same callback again: the flow is over in this browser ...
    let steps = browser.walk("GET", &back, None, |_| true).await;
    assert_eq!(steps[0].status, 400, "{steps:?}");
    // ... and from a client that kept the flow cookie, the provider refuses the used code.
    let replay = common::oidc::client()
        .get(&back)
        .header("cookie", format!("harbor_oidc_state={flow_cookie}"))
        .send()
        .await
        .unwrap();
    let status = replay.status().as_u16();
    assert!(status == 401 || status == 400, "a replayed code: {status}");
    assert!(replay
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("sid=")));
    // A forged cookie is no flow either.
    let forged = common::oidc::client()
        .get(&back)
        .header("cookie", "harbor_oidc_state=AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
}

#[tokio::test]
async fn the_admin_group_makes_an_administrator_and_without_auto_onboard_the_user_picks_a_name() {
    let s = server().await;
    let provider = OidcProvider::start(&callback(&s), Duration::from_secs(3600)).await;
    configure(&s, &provider, json!({"oidc_auto_onboard": false})).await;

    // carol: sent to the onboarding page, then onboarded under her choice.
    let browser = Browser::new();
    let start = format!("{}/c/oidc/login", s.base);
    let back = browser
        .to_callback(&start, &callback(&s), "carol", "carol-Passw0rd")
        .await;
    let steps = browser.walk("GET", &back, None, |_| true).await;
    assert_eq!(steps[0].status, 302);
    assert_eq!(
        steps[0].location.as_deref(),
        Some(format!("{}/oidc-onboard?username=carol", s.base).as_str())
    );
    assert!(
        browser.cookie(&s.base, "sid").is_none(),
        "not signed in before onboarding"
    );
    let bad = browser
        .client
        .post(format!("{}/c/oidc/onboard", s.base))
        .json(&json!({"username": "carol#1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let r = browser
        .client
        .post(format!("{}/c/oidc/onboard", s.base))
        .json(&json!({"username": "carol-h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, me) = session_get(&s, &browser, "/api/v2.0/users/current").await;
    assert_eq!(me["username"], "carol-h");
    assert_eq!(me["comment"], "Onboarded via OIDC provider");

    // bob, in harbor-admins: an administrator by the provider, not by the flag.
    let bob = Browser::new();
    let back = bob
        .to_callback(&start, &callback(&s), "bob", "bob-Passw0rd")
        .await;
    let steps = bob.walk("GET", &back, None, |_| true).await;
    assert!(steps[0]
        .location
        .as_deref()
        .unwrap()
        .contains("/oidc-onboard?username=bob"));
    let r = bob
        .client
        .post(format!("{}/c/oidc/onboard", s.base))
        .json(&json!({"username": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, me) = session_get(&s, &bob, "/api/v2.0/users/current").await;
    assert_eq!(me["sysadmin_flag"], false);
    assert_eq!(me["admin_role_in_auth"], true);
    let (status, _) = session_get(&s, &bob, "/api/v2.0/configurations").await;
    assert_eq!(status, 200, "the admin group reads the configuration");
    let secret = me["oidc_user_meta"]["secret"].as_str().unwrap().to_owned();
    let r = common::json_call(
        &format!("{}/api/v2.0/configurations", s.base),
        &common::basic("bob", &secret),
        "GET",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "with the CLI secret too");

    // The mode cannot change while users other than admin exist.
    let r = admin_call(
        &format!("{}/api/v2.0/configurations", s.base),
        "PUT",
        Some(json!({"auth_mode": "db_auth"})),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn ping_fetches_the_discovery_document_and_cli_secrets_need_oidc_mode() {
    let s = server().await;
    let provider = OidcProvider::start(&callback(&s), Duration::from_secs(3600)).await;
    let url = format!("{}/api/v2.0/system/oidc/ping", s.base);
    let r = admin_call(
        &url,
        "POST",
        Some(json!({"url": provider.issuer, "verify_cert": true})),
    )
    .await;
    ok(&r);
    let dead = format!("http://127.0.0.1:{}", common::distribution::free_port());
    let r = admin_call(
        &url,
        "POST",
        Some(json!({"url": dead, "verify_cert": false})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = common::json_call(&url, "", "POST", Some(json!({"url": provider.issuer}))).await;
    assert_eq!(r.status, 401);

    // In db_auth mode: no OIDC login, no CLI secrets.
    let login = common::oidc::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/c/oidc/login", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 412);
    let r = admin_call(
        &format!("{}/api/v2.0/users/1/cli_secret", s.base),
        "PUT",
        Some(json!({"secret": "Passw0rd123"})),
    )
    .await;
    assert_eq!(r.status, 412);
    // Bad settings change nothing.
    for bad in [
        json!({"oidc_scope": "profile"}),
        json!({"oidc_endpoint": "not a url"}),
        json!({"oidc_group_filter": "("}),
        json!({"auth_mode": "nis_auth"}),
    ] {
        let r = admin_call(
            &format!("{}/api/v2.0/configurations", s.base),
            "PUT",
            Some(bad),
        )
        .await;
        assert_eq!(r.status, 400);
    }
}
