//! Deleting a repository through Harbor's API
//! (`DELETE /projects/{p}/repositories/{r}`): every artifact goes, an
//! index's children too, the project's usage comes back down, `/v2/` and
//! the API no longer know it, the audit log says who did it, only project
//! administrators and maintainers may, and the name can be pushed again.
//! (Immutable tags refusing it: tests/immutability.rs.)
//!
//! skopeo must be installed (CI installs it); this test fails without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::layout::{self, MultiPlatform};
use common::skopeo::{creds, docker, oci, Skopeo};
use common::{basic, Resp, TestServer, ADMIN_PASSWORD};
use harbor_core::Role;
use serde_json::Value;

async fn api(s: &TestServer, auth: &str, method: &str, path: &str) -> Resp {
    common::json_call(&format!("{}/api/v2.0{path}", s.base), auth, method, None).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn used(s: &TestServer) -> u64 {
    let r = api(s, &common::admin_auth(), "GET", "/projects/team/summary").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["quota"]["used"]["storage"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_goes_whole_and_its_name_can_be_used_again() {
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.storage_per_project = 100_000_000;
    })
    .await;
    let admin = common::admin_auth();
    let skopeo = Skopeo::new();
    let project = s.create_project("team", false).await;
    let dev = s.create_user("dev", "Passw0rd!").await;
    s.add_member(project, dev, Role::Developer).await;
    let maintainer = s.create_user("maint", "Passw0rd!").await;
    s.add_member(project, maintainer, Role::Maintainer).await;
    let admin_creds = creds("admin", ADMIN_PASSWORD);

    // An index with two platforms, and a plain image beside it; another
    // repository that must stay.
    let multi = MultiPlatform::new(21);
    let src = skopeo.scratch("multi");
    layout::write_multi_platform(&src, "v1", &multi);
    let creds_arg = format!("--dest-creds={admin_creds}");
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &creds_arg,
            &oci(&src, "v1"),
            &docker(&s.host(), "team/app:multi"),
        ])
        .await;
    let single = layout::three_layer_image(22);
    for target in ["team/app:v1", "team/keep:v1"] {
        skopeo
            .push(&single, &docker(&s.host(), target), Some(&admin_creds))
            .await
            .1
            .assert_success();
    }
    let before = used(&s).await;
    assert!(before > 0);
    let r = api(
        &s,
        &admin,
        "GET",
        "/projects/team/repositories/app/artifacts",
    )
    .await;
    assert_eq!(
        r.header("x-total-count"),
        Some("2"),
        "the index and the image"
    );
    let child = multi.images[0].digest.clone();

    // A developer may not; a maintainer may.
    let r = api(
        &s,
        &basic("dev", "Passw0rd!"),
        "DELETE",
        "/projects/team/repositories/app",
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let r = api(&s, "", "DELETE", "/projects/team/repositories/app").await;
    assert_eq!(r.status, 401);
    let r = api(
        &s,
        &basic("maint", "Passw0rd!"),
        "DELETE",
        "/projects/team/repositories/app",
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));

    let r = api(&s, &admin, "GET", "/projects/team/repositories/app").await;
    assert_eq!(r.status, 404);
    let r = api(&s, &admin, "GET", "/projects/team/repositories").await;
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["team/keep"]);
    for path in [
        "/v2/team/app/tags/list".to_owned(),
        format!("/v2/team/app/manifests/{child}"),
    ] {
        let r = s.get_with(&path, &admin).await;
        assert_eq!(r.status, 404, "{path}: {}", text(&r));
    }
    // The blobs shared with team/keep still count there; the rest is freed.
    let after = used(&s).await;
    assert!(after < before, "usage {before} -> {after}");
    let keep = api(
        &s,
        &admin,
        "GET",
        "/projects/team/repositories/keep/artifacts",
    )
    .await;
    assert_eq!(keep.header("x-total-count"), Some("1"));
    // The audit log is written in batches.
    let mut entries: Vec<Value> = Vec::new();
    for _ in 0..50 {
        let r = api(
            &s,
            &admin,
            "GET",
            "/projects/team/logs?q=operation%3Ddelete",
        )
        .await;
        entries = r.json().as_array().unwrap().clone();
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        entries.iter().any(|e| e["resource"] == "team/app"
            && e["resource_type"] == "repository"
            && e["username"] == "maint"),
        "{entries:?}"
    );
    let r = api(&s, &admin, "DELETE", "/projects/team/repositories/app").await;
    assert_eq!(r.status, 404, "gone already");

    // The name is free again.
    skopeo
        .push(
            &single,
            &docker(&s.host(), "team/app:v1"),
            Some(&admin_creds),
        )
        .await
        .1
        .assert_success();
    let r = api(
        &s,
        &admin,
        "GET",
        "/projects/team/repositories/app/artifacts",
    )
    .await;
    assert_eq!(r.header("x-total-count"), Some("1"));
}
