//! `harbor-server copy SRC DST`: the real binary copies an image between two
//! running servers with credentials, creating the destination project, and
//! the result pulls back with skopeo under the same digest.

mod common;

use common::layout;
use common::skopeo::{creds, docker, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};

async fn run_copy(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_harbor-server"))
            .arg("copy")
            .args(&args)
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("join: {e}"))
    .unwrap_or_else(|e| panic!("run harbor-server copy: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_command_moves_an_image_between_servers_and_reports_it() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let admin = creds("admin", ADMIN_PASSWORD);
    let image = layout::three_layer_image(31);
    let (src_dir, push) = skopeo
        .push(&image, &docker(&a.host(), "library/app:v1"), Some(&admin))
        .await;
    push.assert_success();

    let out = run_copy(vec![
        format!("http://{}/library/app:v1", a.host()),
        format!("http://{}/mirror/app:v1", b.host()),
        format!("--src-creds=admin:{ADMIN_PASSWORD}"),
        format!("--dest-creds=admin:{ADMIN_PASSWORD}"),
        "--dest-type=harbor".into(),
        "--quiet".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "copy failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&image.digest),
        "the summary names the digest: {stdout}"
    );
    assert!(stdout.contains("4 blob(s) transferred"), "{stdout}");

    let (dir, pull) = skopeo
        .pull(&docker(&b.host(), "mirror/app:v1"), Some(&admin))
        .await;
    pull.assert_success();
    assert_eq!(layout::tagged(&dir, "v1")["digest"], image.digest.as_str());
    layout::assert_blobs_copied(&src_dir, &dir);

    // Again: nothing to move.
    let out = run_copy(vec![
        format!("http://{}/library/app:v1", a.host()),
        format!("http://{}/mirror/app:v1", b.host()),
        format!("--src-creds=admin:{ADMIN_PASSWORD}"),
        format!("--dest-creds=admin:{ADMIN_PASSWORD}"),
        "-q".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 blob(s) transferred") && stdout.contains("4 already present"),
        "{stdout}"
    );

    // Wrong credentials: a clear failure, nothing half-done.
    let out = run_copy(vec![
        format!("http://{}/library/app:v1", a.host()),
        format!("http://{}/mirror/other:v1", b.host()),
        "--src-creds=admin:wrong".into(),
        format!("--dest-creds=admin:{ADMIN_PASSWORD}"),
        "-q".into(),
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused the credentials") || stderr.contains("401"),
        "{stderr}"
    );
}
