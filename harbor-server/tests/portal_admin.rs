//! The portal's administration pages: system robot accounts, the LDAP and
//! OIDC settings (tested against Debian's slapd, see `common/slapd.rs`),
//! LDAP user and group import, the audit log purge (Log Rotation) beside
//! garbage collection, and pull-mode and edited replication rules. Plain
//! HTTP checks here; the clicking in a real browser in
//! `tests/portal/admin.mjs` (Debian's chromium through npm's
//! playwright-core, as `tests/portal.rs` runs `browser.mjs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::browser::{self, BrowserScript};
use common::portal::{page, sign_in, submit, text};
use common::skopeo::{creds, docker, Skopeo};
use common::{admin_call, layout, slapd, Resp, TestServer, ADMIN_PASSWORD};
use harbor_core::{AuditEntry, AuditOperation, AuditResource};
use serde_json::{json, Value};

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    admin_call(&format!("{}{path}", s.base), method, body).await
}

/// The admin pages this helper added or changed, and a form each takes.
const ADMIN_PAGES: [&str; 6] = [
    "/harbor/robot-accounts",
    "/harbor/configs",
    "/harbor/clearing-job/audit-log-purge",
    "/harbor/gc",
    "/harbor/replications",
    "/harbor/users",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_sees_no_admin_navigation_and_gets_403_on_admin_pages_and_forms() {
    let s = TestServer::start_with_auth().await;
    s.create_user("dev", "Dev12345").await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let home = text(&page(&s, &admin, "/harbor/projects").await);
    for link in [
        "href=\"/harbor/robot-accounts\"",
        "href=\"/harbor/configs\"",
        "href=\"/harbor/gc\"",
    ] {
        assert!(home.contains(link), "admin misses {link}");
    }
    let dev = sign_in(&s, "dev", "Dev12345").await;
    let home = text(&page(&s, &dev, "/harbor/projects").await);
    for link in [
        "/harbor/robot-accounts",
        "/harbor/configs",
        "/harbor/gc",
        "/harbor/clearing-job",
        "/harbor/users",
    ] {
        assert!(!home.contains(link), "a non-admin sees {link}");
    }
    for path in ADMIN_PAGES.iter().chain(&[
        "/harbor/robot-accounts/1/edit",
        "/harbor/replications/1/edit",
    ]) {
        let r = page(&s, &dev, path).await;
        assert_eq!(r.status, 403, "{path}: {}", text(&r));
    }
    // Hand-made forms change nothing.
    let forms = [
        (
            "/harbor/robot-accounts",
            "name=sneaky&never=true&all_projects=true&grant=repository%3Apush",
        ),
        (
            "/harbor/clearing-job/audit-log-purge",
            "action=purge&retention=1&unit=hours&operation=pull",
        ),
        ("/harbor/configs/ldap-ping", "ldap_url=ldap%3A%2F%2Fx"),
        ("/harbor/gc/1/stop", ""),
        ("/harbor/users/ldap-import", "uid=alice"),
    ];
    for (path, form) in forms {
        let r = submit(&s, &dev, path, form).await;
        assert_eq!(r.status, 403, "{path}: {}", text(&r));
    }
    let robots = api(&s, "GET", "/api/v2.0/robots?q=Level%3Dsystem", None).await;
    assert_eq!(robots.json(), json!([]));
    let runs = api(&s, "GET", "/api/v2.0/system/purgeaudit", None).await;
    assert_eq!(runs.json(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_robots_are_searched_by_name_and_hostile_descriptions_render_as_text() {
    let s = TestServer::start_with_auth().await;
    s.create_project("alpha", false).await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let hostile = "<script>window.__xss=1</script>\"' onmouseover=x";
    let r = submit(
        &s,
        &admin,
        "/harbor/robot-accounts",
        &format!(
            "name=builder&description={}&duration=7&project=alpha&grant=repository%3Apull",
            enc(hostile)
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(
        body.contains("Robot account robot$builder created"),
        "{body}"
    );
    assert!(!body.contains("<script>window.__xss"), "{body}");
    assert!(body.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"));
    // What the API holds is what the form sent.
    let robots = api(&s, "GET", "/api/v2.0/robots?q=Level%3Dsystem", None).await;
    let robot = &robots.json()[0];
    assert_eq!(robot["description"], hostile);
    assert_eq!(robot["duration"], 7);
    assert_eq!(
        robot["permissions"],
        json!([{"kind": "project", "namespace": "alpha", "access": [{"resource": "repository", "action": "pull"}]}])
    );
    // A project robot is not a system robot.
    let r = api(
        &s,
        "POST",
        "/api/v2.0/robots",
        Some(json!({"name": "local", "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": "alpha",
                "access": [{"resource": "repository", "action": "pull"}]}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    // The API's filters the page uses: Level=system and name=~.
    let names = |r: Resp| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = api(&s, "GET", "/api/v2.0/robots", None).await;
    assert_eq!(all.header("x-total-count"), Some("2"));
    let q = |q: &str| format!("/api/v2.0/robots?q={}", enc(q));
    assert_eq!(
        names(api(&s, "GET", &q("Level=system,name=~uild"), None).await),
        vec!["robot$builder"]
    );
    assert_eq!(
        names(api(&s, "GET", &q("name=~local"), None).await),
        vec!["robot$alpha+local"]
    );
    assert!(names(api(&s, "GET", &q("Level=system,name=~local"), None).await).is_empty());
    let list = text(&page(&s, &admin, "/harbor/robot-accounts").await);
    assert!(list.contains("robot$builder") && !list.contains("robot$alpha+local"));
    let found = text(&page(&s, &admin, "/harbor/robot-accounts?name=build").await);
    assert!(found.contains("robot$builder"));
    let none = text(&page(&s, &admin, "/harbor/robot-accounts?name=nomatch").await);
    assert!(!none.contains("robot$builder") && none.contains("No robot accounts."));
    // Nothing is half-done: a robot without access or projects is refused
    // with a reason, and none is made.
    for form in [
        "name=empty&duration=7&project=alpha",
        "name=nowhere&duration=7&grant=repository%3Apull",
        "name=zero&duration=0&project=alpha&grant=repository%3Apull",
    ] {
        let r = submit(&s, &admin, "/harbor/robot-accounts", form).await;
        assert_eq!(r.status, 400, "{form}: {}", text(&r));
    }
    let robots = api(&s, "GET", "/api/v2.0/robots?q=Level%3Dsystem", None).await;
    assert_eq!(robots.json().as_array().unwrap().len(), 1);
    // The edit form is filled in; a robot made through the API with
    // different access per project is told apart.
    let id = robot["id"].as_i64().unwrap();
    let edit = text(&page(&s, &admin, &format!("/harbor/robot-accounts/{id}/edit")).await);
    assert!(
        edit.contains("value=\"alpha\" checked")
            && edit.contains("value=\"repository:pull\" checked"),
        "{edit}"
    );
    assert!(!edit.contains("have different access"));
    s.create_project("beta", false).await;
    let access = |a: &str| json!([{"resource": "repository", "action": a}]);
    let r = api(
        &s,
        "POST",
        "/api/v2.0/robots",
        Some(
            json!({"name": "mixed", "level": "system", "duration": -1, "permissions": [
            {"kind": "project", "namespace": "alpha", "access": access("pull")},
            {"kind": "project", "namespace": "beta", "access": access("push")}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let edit = text(
        &page(
            &s,
            &admin,
            &format!("/harbor/robot-accounts/{}/edit", r.location_id()),
        )
        .await,
    );
    assert!(edit.contains("have different access"), "{edit}");
    assert!(
        edit.contains("name=\"never\" value=\"true\" checked"),
        "never expires: {edit}"
    );
}

#[tokio::test]
async fn system_permissions_are_chosen_in_the_form_and_shown_when_editing() {
    let s = TestServer::start_with_auth().await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let list = text(&page(&s, &admin, "/harbor/robot-accounts").await);
    assert!(
        list.contains("System permissions") && list.contains("value=\"registry:create\""),
        "{list}"
    );
    // System permissions alone make a robot; unknown boxes are dropped.
    let r = submit(
        &s,
        &admin,
        "/harbor/robot-accounts",
        "name=ops&duration=7&system=registry%3Acreate&system=project%3Alist&system=spaceship%3Afly",
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let robots = api(&s, "GET", "/api/v2.0/robots?q=Level%3Dsystem", None).await;
    let robot = &robots.json()[0];
    assert_eq!(
        robot["permissions"],
        json!([{"kind": "system", "namespace": "/", "access": [
            {"resource": "registry", "action": "create"},
            {"resource": "project", "action": "list"}]}])
    );
    let id = robot["id"].as_i64().unwrap();
    let edit = text(&page(&s, &admin, &format!("/harbor/robot-accounts/{id}/edit")).await);
    assert!(
        edit.contains("value=\"registry:create\" checked")
            && edit.contains("value=\"project:list\" checked")
            && !edit.contains("value=\"registry:delete\" checked")
            && !edit.contains("value=\"/\""),
        "{edit}"
    );
    let list = text(&page(&s, &admin, "/harbor/robot-accounts").await);
    assert!(list.contains("System"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_password_and_client_secret_never_appear_in_a_page() {
    let s = TestServer::start_with_auth().await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let ldap = slapd::shared();
    let settings = ldap.settings();
    let mut form = String::from("auth_mode=db_auth&project_creation_restriction=everyone&storage_per_project=-1&token_expiration=30&robot_token_duration=30&notification_enable=true");
    for (k, v) in settings.as_object().unwrap() {
        let v = match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        form.push_str(&format!("&{k}={}", enc(&v)));
    }
    form.push_str("&oidc_client_secret=oidc-Sekrit-42");
    let r = submit(&s, &admin, "/harbor/configs/ldap-ping", &form).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(
        body.contains("Connection to the LDAP server succeeded."),
        "{body}"
    );
    assert!(!body.contains(slapd::READER_PASSWORD) && !body.contains("oidc-Sekrit-42"));
    let r = submit(&s, &admin, "/harbor/configs", &form).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let c = api(&s, "GET", "/api/v2.0/configurations", None)
        .await
        .json();
    assert_eq!(c["ldap_url"]["value"], ldap.url.as_str());
    assert_eq!(c["ldap_group_admin_dn"]["value"], slapd::ADMINS_DN);
    for path in [
        "/harbor/configs",
        "/harbor/configs?saved=1",
        "/harbor/users",
    ] {
        let body = text(&page(&s, &admin, path).await);
        assert!(
            !body.contains(slapd::READER_PASSWORD) && !body.contains("oidc-Sekrit-42"),
            "{path} shows a secret"
        );
    }
    // The stored password is used when the field is left empty.
    let without = form.replace(
        &format!("ldap_search_password={}", enc(slapd::READER_PASSWORD)),
        "ldap_search_password=",
    );
    let body = text(&submit(&s, &admin, "/harbor/configs/ldap-ping", &without).await);
    assert!(
        body.contains("Connection to the LDAP server succeeded."),
        "{body}"
    );
}

/// Waits for purge run `id` to end; returns its status.
async fn purge_finished(s: &TestServer, id: i64) -> String {
    for _ in 0..300 {
        let run = api(s, "GET", &format!("/api/v2.0/system/purgeaudit/{id}"), None)
            .await
            .json();
        let status = run["job_status"].as_str().unwrap_or_default().to_owned();
        if matches!(status.as_str(), "Success" | "Error" | "Stopped") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("purge {id} did not end");
}

async fn old_entries(s: &TestServer) -> u64 {
    let r = api(
        s,
        "GET",
        "/api/v2.0/audit-logs?q=username%3Dold-timer",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.header("x-total-count").unwrap().parse().unwrap()
}

async fn seed_old_audit(s: &TestServer) {
    let month_ago = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    let old = |op: AuditOperation, n: u32| AuditEntry {
        id: 0,
        project: Some("library".into()),
        username: "old-timer".into(),
        resource: format!("library/app:{n}"),
        resource_type: AuditResource::Artifact,
        operation: op,
        op_time: month_ago,
    };
    s.auth
        .as_ref()
        .unwrap()
        .identity
        .append_audit(&[
            old(AuditOperation::Pull, 1),
            old(AuditOperation::Pull, 2),
            old(AuditOperation::Create, 3),
            old(AuditOperation::Delete, 4),
        ])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_from_the_page_deletes_the_old_entries_named_and_its_log_reads() {
    let s = TestServer::start_with_auth().await;
    seed_old_audit(&s).await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let base = "/harbor/clearing-job/audit-log-purge";
    let r = page(&s, &admin, base).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(text(&r).contains("Log Rotation") && text(&r).contains("href=\"/harbor/gc\""));
    // A dry run counts and deletes nothing; a run deletes the old pulls
    // and creates (not the delete).
    let form = "retention=2&unit=days&operation=pull&operation=create";
    let r = submit(&s, &admin, base, &format!("action=dry_run&{form}")).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let runs = api(&s, "GET", "/api/v2.0/system/purgeaudit", None)
        .await
        .json();
    let dry = runs[0]["id"].as_i64().unwrap();
    assert_eq!(purge_finished(&s, dry).await, "Success");
    assert_eq!(old_entries(&s).await, 4);
    let r = submit(&s, &admin, base, &format!("action=purge&{form}")).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let runs = api(&s, "GET", "/api/v2.0/system/purgeaudit", None)
        .await
        .json();
    let real = runs[0]["id"].as_i64().unwrap();
    assert_ne!(real, dry);
    assert_eq!(purge_finished(&s, real).await, "Success");
    assert_eq!(old_entries(&s).await, 1, "only the old delete stays");
    let params: Value = serde_json::from_str(runs[0]["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["audit_retention_hour"], 48);
    assert_eq!(params["include_operations"], "pull,create");
    let log = page(&s, &admin, &format!("{base}/{real}/log")).await;
    assert_eq!(log.status, 200);
    let log = text(&log);
    assert!(log.contains("id=\"purge-log\""), "{log}");
    let history = text(&page(&s, &admin, base).await);
    assert!(history.contains(&format!("{base}/{real}/log")));
    assert!(
        !history.contains(&format!("{base}/{real}/stop")),
        "no Stop on an ended run"
    );
    // The schedule, with its parameters, as the page set it.
    let r = submit(
        &s,
        &admin,
        base,
        "action=save&type=Daily&cron=&retention=12&unit=hours&operation=delete",
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let schedule = api(&s, "GET", "/api/v2.0/system/purgeaudit/schedule", None)
        .await
        .json();
    assert_eq!(schedule["schedule"]["type"], "Daily");
    let params: Value = serde_json::from_str(schedule["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["audit_retention_hour"], 12);
    let page_now = text(&page(&s, &admin, base).await);
    assert!(
        page_now.contains("<option value=\"Daily\" selected>"),
        "{page_now}"
    );
    // Bad input is refused with a reason.
    let r = submit(
        &s,
        &admin,
        base,
        "action=purge&retention=0&unit=days&operation=pull",
    )
    .await;
    assert_eq!(r.status, 400);
}

/// The repositories of project `pulled` of server `s`, by name.
async fn repositories(s: &TestServer) -> Vec<String> {
    let r = api(
        s,
        "GET",
        "/api/v2.0/projects/pulled/repositories?page_size=100",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let mut names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_work_end_to_end_in_chromium() {
    let s = TestServer::start_with_auth().await;
    let peer = TestServer::start_with_auth().await;
    let ldap = slapd::shared();
    let skopeo = Skopeo::new();
    // No user but admin yet: the auth mode may still change to LDAP.
    for p in ["alpha", "beta", "gamma", "pulled"] {
        s.create_project(p, false).await;
    }
    seed_old_audit(&s).await;
    // What the pull rule copies from: two repositories, one matching.
    peer.create_project("src", false).await;
    peer.push_image("src/app", "v1").await;
    peer.push_image("src/other", "v1").await;
    let (shots, _tmp) = browser::shots_dir();
    let closed = common::distribution::free_port();
    let ldap_settings = ldap.settings().to_string();
    let ldap_closed = format!("ldap://127.0.0.1:{closed}");
    let mut script = BrowserScript::start(
        "admin.mjs",
        &[
            ("PORTAL_BASE", &s.base),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_PEER", &peer.base),
            ("PORTAL_LDAP", &ldap_settings),
            ("PORTAL_LDAP_CLOSED", &ldap_closed),
            ("PORTAL_LDAP_GROUP", slapd::ADMINS_DN),
        ],
        &shots,
    );
    let mut image_n = 10;
    while let Some(line) = script.next_line().await {
        // "PUSH <user> <secret> <repo:tag>": a push with skopeo as that
        // robot; answers "ok" or why not.
        if let Some(rest) = line.strip_prefix("PUSH ") {
            let mut parts = rest.splitn(3, ' ');
            let (user, secret, target) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            image_n += 1;
            let (_, out) = skopeo
                .push(
                    &layout::three_layer_image(image_n),
                    &docker(&s.host(), target),
                    Some(&creds(user, secret)),
                )
                .await;
            let answer = if out.success {
                "ok".to_owned()
            } else {
                out.stderr.replace('\n', " ")
            };
            script.reply(&format!("PUSHED {answer}"));
        }
        if line == "REPOS" {
            script.reply(&format!("REPOS {}", json!(repositories(&s).await)));
        }
        if line == "OLD-AUDIT" {
            script.reply(&format!("OLD-AUDIT {}", old_entries(&s).await));
        }
        if line == "POLICIES" {
            let p = api(&s, "GET", "/api/v2.0/replication/policies", None).await;
            script.reply(&format!("POLICIES {}", p.json()));
        }
    }
    script.assert_passed("ADMIN PORTAL OK").await;
    // The pull rule copied the matching repository, then, edited, the
    // other one.
    let repos = repositories(&s).await;
    assert!(
        repos.contains(&"pulled/app".to_owned()) && repos.contains(&"pulled/other".to_owned()),
        "{repos:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_gc_run_shows_a_stop_button_that_stops_it_and_ended_runs_show_none() {
    // Another instance holds the collection's lease (taken in the store
    // before this server starts), so a run asked for stays Pending here.
    let dir = tempfile::tempdir().unwrap();
    let config = harbor_server::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    {
        let stores = harbor_server::open_stores(&config).await.unwrap();
        assert!(stores
            .leases
            .acquire_lease("gc", "another-instance", Duration::from_secs(600))
            .await
            .unwrap());
    }
    let s = TestServer::start_in(dir, |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
    })
    .await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let r = submit(&s, &admin, "/harbor/gc", "dry_run=true").await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let runs = api(&s, "GET", "/api/v2.0/system/gc", None).await.json();
    let id = runs[0]["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let run = api(&s, "GET", &format!("/api/v2.0/system/gc/{id}"), None)
        .await
        .json();
    assert_eq!(run["job_status"], "Pending", "{run}");
    let body = text(&page(&s, &admin, "/harbor/gc").await);
    let stop = format!("action=\"/harbor/gc/{id}/stop\"");
    assert!(body.contains(&stop), "{body}");
    assert!(body.contains(&format!("aria-label=\"Stop run {id}\"")));
    // The button stops it, and an ended run has none.
    let r = submit(&s, &admin, &format!("/harbor/gc/{id}/stop"), "").await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(r.header("location"), Some("/harbor/gc"));
    let run = api(&s, "GET", &format!("/api/v2.0/system/gc/{id}"), None)
        .await
        .json();
    assert_eq!(run["job_status"], "Stopped", "{run}");
    let body = text(&page(&s, &admin, "/harbor/gc").await);
    assert!(!body.contains(&stop), "{body}");
    assert!(body.contains(&format!("/harbor/gc/{id}/log")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_oidc_server_in_the_page_reaches_a_real_provider_and_saved_oidc_settings_keep_the_secret_hidden(
) {
    let s = TestServer::start_with_auth().await;
    let provider = common::oidc::OidcProvider::start(
        &format!("{}/c/oidc/callback", s.base),
        Duration::from_secs(3600),
    )
    .await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let secret = common::oidc::CLIENT_SECRET;
    let form = |endpoint: &str, mode: &str| {
        format!(
            "auth_mode={mode}&oidc_name=test-idp&oidc_endpoint={}&oidc_client_id=harbor&oidc_client_secret={secret}\
             &oidc_scope=openid%2Cprofile&oidc_user_claim=&oidc_groups_claim=groups&oidc_admin_group=admins\
             &oidc_group_filter=&oidc_auto_onboard=true&oidc_extra_redirect_parms=\
             &project_creation_restriction=everyone&storage_per_project=-1&token_expiration=30&robot_token_duration=30",
            enc(endpoint)
        )
    };
    let r = submit(
        &s,
        &admin,
        "/harbor/configs/oidc-ping",
        &form(&provider.issuer, "db_auth"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(
        body.contains("Connection to the OIDC server succeeded."),
        "{body}"
    );
    assert!(!body.contains(secret));
    assert!(
        body.contains(&format!("value=\"{}\"", provider.issuer)),
        "typed values stay"
    );
    let dead = format!("http://127.0.0.1:{}", common::distribution::free_port());
    let body = text(
        &submit(
            &s,
            &admin,
            "/harbor/configs/oidc-ping",
            &form(&dead, "db_auth"),
        )
        .await,
    );
    assert!(
        body.contains("Connection to the OIDC server failed: "),
        "{body}"
    );
    // Saved in OIDC mode: the API holds what the form sent; the secret
    // (write-only) is never shown.
    let r = submit(
        &s,
        &admin,
        "/harbor/configs",
        &form(&provider.issuer, "oidc_auth"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let c = api(&s, "GET", "/api/v2.0/configurations", None)
        .await
        .json();
    assert_eq!(c["auth_mode"]["value"], "oidc_auth");
    assert_eq!(c["oidc_endpoint"]["value"], provider.issuer.as_str());
    assert_eq!(c["oidc_admin_group"]["value"], "admins");
    assert_eq!(c["oidc_verify_cert"]["value"], false);
    let body = text(&page(&s, &admin, "/harbor/configs").await);
    assert!(!body.contains(secret));
    assert!(
        body.contains("<option value=\"oidc_auth\" selected>"),
        "{body}"
    );
    // New users come from the provider: no New User form.
    let users = text(&page(&s, &admin, "/harbor/users").await);
    assert!(!users.contains("New User") && !users.contains("Import LDAP users"));
}
