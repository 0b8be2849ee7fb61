//! The examples are built by `cargo test`; this runs them and checks they succeed.

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

#[test]
fn the_embedded_registry_example_pushes_and_pulls_an_image() {
    let path = example("embedded_registry");
    assert!(path.exists(), "{} was not built", path.display());
    let out = Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "example failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK: pulled"), "{stdout}");
    assert!(
        stdout.contains("tags of library/embedded: [\"v1\"]"),
        "{stdout}"
    );
}

#[test]
fn the_token_service_example_grants_a_developer_pull_and_push_only() {
    let path = example("token_service");
    assert!(path.exists(), "{} was not built", path.display());
    let out = Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "example failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("granted repository:team/app: [\"pull\", \"push\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("granted repository:team/app: []"),
        "delete was not granted: {stdout}"
    );
    assert!(stdout.ends_with("OK\n"), "{stdout}");
}

#[test]
fn the_replicate_example_runs_a_policy_and_a_direct_copy() {
    let path = example("replicate");
    assert!(path.exists(), "{} was not built", path.display());
    let out = Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "example failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pushed mirror/web:v1"), "{stdout}");
    assert!(
        !stdout.contains("v2-rc1"),
        "the rc tag is filtered out: {stdout}"
    );
    assert!(stdout.ends_with("OK\n"), "{stdout}");
}
