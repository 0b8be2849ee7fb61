//! The examples are built by `cargo test`; this runs each one and checks that
//! it succeeds and prints what it should.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, found from this test binary's own path
/// (`target/<profile>/deps/<test>`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("unexpected test binary path {}", exe.display()));
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example `name`, checks that it exits 0, and returns its output.
fn run(name: &str) -> String {
    let path = example(name);
    assert!(path.exists(), "{} was not built", path.display());
    let out = Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example {name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_embedded_registry_example_pushes_and_pulls_an_image() {
    let stdout = run("embedded_registry");
    assert!(
        stdout.contains("OK: pulled team/app:v1 and its layer back, digests match"),
        "{stdout}"
    );
}

#[test]
fn the_token_service_example_grants_a_developer_pull_and_push_only() {
    let stdout = run("token_service");
    assert!(
        stdout.ends_with("OK: granted [Pull, Push] of pull,push,delete\n"),
        "{stdout}"
    );
}

#[test]
fn the_replicate_example_runs_a_policy_with_progress_and_a_direct_copy() {
    let stdout = run("replicate");
    assert!(stdout.contains("BlobDone"), "progress is printed: {stdout}");
    assert!(stdout.contains("ManifestPushed"), "{stdout}");
    assert!(stdout.contains("mirror/web"), "{stdout}");
    assert!(
        !stdout.contains("v2-rc1"),
        "the rc tag is filtered out: {stdout}"
    );
    assert!(
        stdout.contains("copied tools/cli:v3 to mirror/cli"),
        "{stdout}"
    );
    assert!(stdout.ends_with("OK\n"), "{stdout}");
}

#[test]
fn the_mount_api_example_serves_its_own_route_beside_the_harbor_api() {
    let stdout = run("mount_api");
    assert!(stdout.contains("hello from my program"), "{stdout}");
    assert!(
        stdout.contains("GET /v2/: \"Bearer realm=\\\"http://127.0.0.1:"),
        "/v2/ asks for a token: {stdout}"
    );
    assert!(
        stdout.ends_with("OK: GET /v2/ with the admin's token: 200 OK\n"),
        "{stdout}"
    );
}

#[test]
fn the_custom_blob_store_example_passes_the_conformance_suite() {
    let stdout = run("custom_blob_store");
    assert_eq!(
        stdout,
        "OK: MapBlobStore passes the BlobStore conformance suite\n"
    );
}
