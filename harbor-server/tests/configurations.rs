//! System settings through Harbor's `/api/v2.0/configurations`: read-only
//! mode refusing skopeo pushes and API changes while pulls go on, the
//! default project limit and who may create projects, all in force at once
//! and kept across a restart; bad changes refused whole. A second server
//! over the same PostgreSQL database sees a change within seconds.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::layout;
use common::skopeo::{creds, docker, Skopeo};
use common::{Resp, TestServer, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn call(s: &TestServer, auth: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::json_call(&format!("{}{path}", s.base), auth, method, body).await
}

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

async fn configurations(s: &TestServer) -> Value {
    let r = api(s, "GET", "/api/v2.0/configurations", None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_refuses_changes_and_serves_pulls() {
    let s = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let img = layout::three_layer_image(5);
    skopeo
        .push(&img, &docker(&s.host(), "library/app:v1"), Some(&admin))
        .await
        .1
        .assert_success();
    let c = configurations(&s).await;
    assert_eq!(c["read_only"], json!({"value": false, "editable": true}));
    assert_eq!(
        c["auth_mode"],
        json!({"value": "db_auth", "editable": true})
    );

    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"read_only": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(configurations(&s).await["read_only"]["value"], true);
    let info = api(&s, "GET", "/api/v2.0/systeminfo", None).await.json();
    assert_eq!(info["read_only"], true);

    // A push is refused with Harbor's message; a pull works.
    let other = layout::three_layer_image(6);
    let (_, out) = skopeo
        .push(&other, &docker(&s.host(), "library/app:v2"), Some(&admin))
        .await;
    assert!(!out.success, "a push in read-only mode must fail");
    assert!(
        out.stderr.contains(harbor_core::READ_ONLY_MESSAGE),
        "skopeo shows why: {}",
        out.stderr
    );
    let (dir, pull) = skopeo
        .pull(&docker(&s.host(), "library/app:v1"), Some(&admin))
        .await;
    pull.assert_success();
    assert_eq!(layout::tagged(&dir, "v1")["digest"], img.digest.as_str());
    // API changes too; reads go on.
    let r = api(
        &s,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "new"})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "DENIED");
    let r = api(
        &s,
        "DELETE",
        "/api/v2.0/projects/library/repositories/app/artifacts/v1",
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(api(&s, "GET", "/api/v2.0/projects", None).await.status, 200);

    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"read_only": false})),
    )
    .await;
    assert_eq!(r.status, 200);
    skopeo
        .push(&other, &docker(&s.host(), "library/app:v2"), Some(&admin))
        .await
        .1
        .assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_take_effect_at_once_survive_a_restart_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let start = |dir| {
        TestServer::start_in(dir, |c| {
            c.auth.mode = harbor_server::config::AuthMode::Token;
            c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        })
    };
    let s = start(dir).await;
    s.create_user("dev", "Dev12345").await;
    let dev = common::basic("dev", "Dev12345");
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(
            json!({"storage_per_project": 1_048_576, "project_creation_restriction": "adminonly"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &s,
        &dev,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "mine"})),
    )
    .await;
    assert_eq!(r.status, 403, "only administrators create projects now");
    let r = api(
        &s,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "team"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.location_id();
    let q = api(
        &s,
        "GET",
        &format!("/api/v2.0/quotas?reference_id={id}"),
        None,
    )
    .await
    .json();
    assert_eq!(q[0]["hard"]["storage"], 1_048_576, "the new default limit");

    // Each bad change is refused whole.
    let before = configurations(&s).await;
    for body in [
        json!({"read_only": "yes"}),
        json!({"storage_per_project": 0}),
        json!({"project_creation_restriction": "nobody"}),
        json!({"auth_mode": "ldap_auth"}),
        json!({"no_such_key": 1}),
        json!({"read_only": true, "storage_per_project": -5}),
    ] {
        let r = api(&s, "PUT", "/api/v2.0/configurations", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
    }
    assert_eq!(configurations(&s).await, before, "nothing changed");
    // System administrators only.
    assert_eq!(
        call(&s, &dev, "GET", "/api/v2.0/configurations", None)
            .await
            .status,
        403
    );
    let r = call(
        &s,
        &dev,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"read_only": true})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/api/v2.0/configurations").await.status, 401);

    let dir = s.stop().await;
    let s = start(dir).await;
    let c = configurations(&s).await;
    assert_eq!(c["storage_per_project"]["value"], 1_048_576);
    assert_eq!(c["project_creation_restriction"]["value"], "adminonly");
    let info = api(&s, "GET", "/api/v2.0/systeminfo", None).await.json();
    assert_eq!(info["project_creation_restriction"], "adminonly");
}

/// Two servers over one PostgreSQL database: read-only mode set through one
/// is in force on the other within seconds.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_is_in_force_on_another() {
    use std::time::Duration;

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
    let r = api(
        &a,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"read_only": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    let mut seen = false;
    for _ in 0..50 {
        if configurations(&b).await["read_only"]["value"] == true {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the other instance reads the change");
    let r = api(
        &b,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "late"})),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = api(
        &b,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"read_only": false})),
    )
    .await;
    assert_eq!(r.status, 200);
}

/// `token_expiration` (minutes) sets the lifetime of the tokens issued
/// from then on; `robot_token_duration` (days) the lifetime of a robot
/// created without one; `robot_name_prefix` is shown, fixed.
#[tokio::test]
async fn token_and_robot_lifetimes_follow_the_settings() {
    let s = TestServer::start_with_auth().await;
    let token = || async {
        let r = s
            .get_with(
                "/service/token?service=harbor-registry&scope=repository:library/app:pull",
                &common::admin_auth(),
            )
            .await;
        assert_eq!(r.status, 200);
        r.json()["expires_in"].as_u64().unwrap()
    };
    assert_eq!(token().await, 30 * 60, "the configuration's 30 minutes");
    let c = configurations(&s).await;
    assert_eq!(
        c["token_expiration"],
        json!({"value": 30, "editable": true})
    );
    assert_eq!(
        c["robot_name_prefix"],
        json!({"value": "robot$", "editable": false})
    );
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"token_expiration": 5, "robot_token_duration": 7})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(token().await, 5 * 60);

    let r = api(
        &s,
        "POST",
        "/api/v2.0/robots",
        Some(
            json!({"name": "ci", "level": "system", "duration": 0, "permissions": [
            {"kind": "project", "namespace": "library",
             "access": [{"resource": "repository", "action": "pull"}]}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let robot = r.json();
    let lifetime = robot["expires_at"].as_i64().unwrap()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
    assert!(
        (7 * 86400 - 120..=7 * 86400).contains(&lifetime),
        "seven days, not thirty: {lifetime} s"
    );

    for body in [
        json!({"token_expiration": 0}),
        json!({"token_expiration": "5"}),
        json!({"robot_token_duration": -1}),
        json!({"robot_name_prefix": "bot-"}),
        json!({"notification_enable": "no"}),
    ] {
        let r = api(&s, "PUT", "/api/v2.0/configurations", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
    }
    assert_eq!(token().await, 5 * 60, "unchanged by the refused changes");
}
