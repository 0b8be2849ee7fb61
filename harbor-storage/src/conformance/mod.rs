//! Conformance suites: the behaviour every [`harbor_core::BlobStore`] and
//! [`harbor_core::MetaStore`] must show, written once as functions that take
//! any implementation. Our backends run them in their tests; a third-party
//! backend calls [`blob_store::run_all`] and [`meta_store::run_all`] from its own.
//!
//! The functions panic (like `assert!`) on the first deviation, naming it.

pub mod blob_store;
pub mod identity;
pub mod meta_store;
pub mod replication;

/// Unwraps a result inside a suite, panicking with the step that failed.
fn ok<T, E: std::fmt::Display>(step: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{step}: {e}"),
    }
}
