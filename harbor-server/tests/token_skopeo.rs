//! The real skopeo client against the server with Harbor's authentication on:
//! skopeo follows the `WWW-Authenticate: Bearer` challenge to `/service/token`
//! with the credentials it was given (`--src-creds`, `--dest-creds`) or none,
//! and what it may do follows the caller's role in the project.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.

mod common;

use std::path::Path;

use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};
use harbor_core::Role;

const PASSWORD: &str = "Passw0rdPassw0rd";

/// What skopeo says when a registry refuses it for lack of rights.
const DENIED: &[&str] = &["requested access to the resource is denied"];

/// A private project `team` with a Developer `dev` and a Guest `guest`, and a
/// user `outsider` who belongs to no project.
async fn team(server: &TestServer) {
    let project = server.create_project("team", false).await;
    let dev = server.create_user("dev", PASSWORD).await;
    let guest = server.create_user("guest", PASSWORD).await;
    server.create_user("outsider", PASSWORD).await;
    server.add_member(project, dev, Role::Developer).await;
    server.add_member(project, guest, Role::Guest).await;
}

/// Asserts that the layout at `dir` holds `image` under `v1`, digest and blobs.
fn assert_pulled(dir: &Path, src: &Path, image: &Image) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        image.digest.as_str(),
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(layout::read_blob(dir, &image.digest), image.manifest);
    layout::assert_blobs_copied(src, dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_pushes_into_a_private_project_and_pulls_the_same_digest_back() {
    let server = TestServer::start_with_auth().await;
    team(&server).await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(11);
    let target = docker(&server.host(), "team/app:v1");
    let dev = creds("dev", PASSWORD);

    let (src, push) = skopeo.push(&image, &target, Some(&dev)).await;
    push.assert_success();
    let (out, pull) = skopeo.pull(&target, Some(&dev)).await;
    pull.assert_success();

    assert_pulled(&out, &src, &image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_refused_the_push_but_pulls_what_a_developer_pushed() {
    let server = TestServer::start_with_auth().await;
    team(&server).await;
    let skopeo = Skopeo::new();
    let guest = creds("guest", PASSWORD);
    let dev = creds("dev", PASSWORD);

    let theirs = layout::three_layer_image(12);
    let refused = docker(&server.host(), "team/guest-app:v1");
    let (_, push) = skopeo.push(&theirs, &refused, Some(&guest)).await;
    push.assert_refused(DENIED);
    let (_, check) = skopeo.pull(&refused, Some(&dev)).await;
    assert!(
        !check.success,
        "the refused push left {refused} behind: {}",
        check.stderr
    );

    let image = layout::three_layer_image(13);
    let target = docker(&server.host(), "team/app:v1");
    let (src, push) = skopeo.push(&image, &target, Some(&dev)).await;
    push.assert_success();
    let (out, pull) = skopeo.pull(&target, Some(&guest)).await;
    pull.assert_success();
    assert_pulled(&out, &src, &image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_pull_from_the_public_library_but_not_from_a_private_project() {
    let server = TestServer::start_with_auth().await;
    team(&server).await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);

    let public = layout::three_layer_image(14);
    let public_ref = docker(&server.host(), "library/app:v1");
    let (src, push) = skopeo.push(&public, &public_ref, Some(&admin)).await;
    push.assert_success();
    let (out, pull) = skopeo.pull(&public_ref, None).await;
    pull.assert_success();
    assert_pulled(&out, &src, &public);

    let private = layout::three_layer_image(15);
    let private_ref = docker(&server.host(), "team/app:v1");
    let (_, push) = skopeo.push(&private, &private_ref, Some(&admin)).await;
    push.assert_success();
    let (_, pull) = skopeo.pull(&private_ref, None).await;
    pull.assert_refused(DENIED);

    // Nor may an anonymous caller push into the public project.
    let (_, push) = skopeo
        .push(&private, &docker(&server.host(), "library/anon:v1"), None)
        .await;
    push.assert_refused(DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_is_not_a_member_cannot_pull_from_a_private_project() {
    let server = TestServer::start_with_auth().await;
    team(&server).await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(16);
    let target = docker(&server.host(), "team/app:v1");
    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("dev", PASSWORD)))
        .await;
    push.assert_success();

    let (_, pull) = skopeo
        .pull(&target, Some(&creds("outsider", PASSWORD)))
        .await;
    pull.assert_refused(DENIED);

    // A wrong password is refused as well, not treated as anonymous.
    let (_, pull) = skopeo
        .pull(&target, Some(&creds("dev", "not-the-password")))
        .await;
    pull.assert_refused(&["invalid username or password"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_into_a_project_that_does_not_exist_is_refused_even_for_the_admin() {
    let server = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(17);
    let admin = creds("admin", ADMIN_PASSWORD);
    let target = docker(&server.host(), "nosuchproject/app:v1");

    let (_, push) = skopeo.push(&image, &target, Some(&admin)).await;
    push.assert_refused(&["project nosuchproject does not exist"]);
    let (_, pull) = skopeo.pull(&target, Some(&admin)).await;
    assert!(
        !pull.success,
        "the refused push left {target} behind: {}",
        pull.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_robot_pushes_and_pulls_with_its_secret_and_nothing_elsewhere() {
    let server = TestServer::start_with_auth().await;
    team(&server).await;
    let store = match &server.auth {
        Some(a) => a.identity.clone(),
        None => panic!("auth is on"),
    };
    let project = store
        .project_by_name("team")
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("team project"));
    let secret = "Robot5ecretRobot5ecret";
    let robot = harbor_core::Robot {
        id: 0,
        name: "robot$team+ci".into(),
        description: String::new(),
        level: harbor_core::RobotLevel::Project,
        project_id: Some(project.id),
        secret_hash: common::password_hash(secret),
        expires_at: None,
        disabled: false,
        permissions: vec![harbor_core::RobotPermission {
            kind: "project".into(),
            namespace: "team".into(),
            access: vec![harbor_core::RobotAccess {
                resource: "repository".into(),
                action: "push".into(),
                effect: None,
            }],
        }],
        created_at: std::time::SystemTime::now(),
        updated_at: std::time::SystemTime::now(),
    };
    store
        .create_robot(&robot)
        .await
        .unwrap_or_else(|e| panic!("create robot: {e}"));
    let skopeo = Skopeo::new();
    let robot_creds = creds("robot$team+ci", secret);
    let image = layout::three_layer_image(21);
    let target = docker(&server.host(), "team/robot-app:v1");
    let (src, push) = skopeo.push(&image, &target, Some(&robot_creds)).await;
    push.assert_success();
    let (out, pull) = skopeo.pull(&target, Some(&robot_creds)).await;
    pull.assert_success();
    assert_pulled(&out, &src, &image);

    // Outside its project (and `library` is only readable), the robot is refused.
    let elsewhere = docker(&server.host(), "library/robot-app:v1");
    let (_, push) = skopeo.push(&image, &elsewhere, Some(&robot_creds)).await;
    push.assert_refused(DENIED);
    // A wrong secret is refused outright.
    let (_, pull) = skopeo
        .pull(&target, Some(&creds("robot$team+ci", "wrong")))
        .await;
    assert!(
        !pull.success,
        "a wrong robot secret pulled: {}",
        pull.stdout
    );
}
