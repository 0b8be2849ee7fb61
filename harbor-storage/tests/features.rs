//! What each cargo feature brings in, checked with `cargo tree` as a backend
//! author would check it.

use std::process::Command;

/// The normal (non-dev, non-build) dependency tree of this crate with the
/// given feature flags.
fn dependency_tree(feature_flags: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none"])
        .args(["--manifest-path", manifest, "--package", "harbor-storage"])
        .args(feature_flags)
        .output()
        .unwrap_or_else(|e| panic!("run cargo tree: {e}"));
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_backend_running_the_conformance_suites_compiles_no_sqlite() {
    let tree = dependency_tree(&["--no-default-features", "--features", "conformance"]);
    assert!(tree.contains("harbor-core"), "unexpected tree:\n{tree}");
    assert!(
        !tree.contains("rusqlite") && !tree.contains("libsqlite3-sys"),
        "`default-features = false, features = [\"conformance\"]` pulls in SQLite:\n{tree}"
    );
}

#[test]
fn the_default_features_include_the_bundled_sqlite() {
    let tree = dependency_tree(&[]);
    assert!(tree.contains("rusqlite"), "{tree}");
    assert!(tree.contains("libsqlite3-sys"), "{tree}");
}

#[test]
fn the_postgres_driver_comes_only_with_the_postgres_feature() {
    let default = dependency_tree(&[]);
    assert!(!default.contains("tokio-postgres"), "{default}");
    let with = dependency_tree(&["--features", "postgres"]);
    assert!(with.contains("tokio-postgres"), "{with}");
    assert!(with.contains("deadpool-postgres"), "{with}");
}
