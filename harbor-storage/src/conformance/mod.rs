//! Conformance suites: the behaviour every [`harbor_core::BlobStore`] and
//! [`harbor_core::MetaStore`] must show, written once as functions that take
//! any implementation. Our backends run them in their tests; a third-party
//! backend calls [`blob_store::run_all`] and [`meta_store::run_all`] from its own.
//!
//! The functions panic (like `assert!`) on the first deviation, naming it.
//!
//! This module is compiled only with the `conformance` feature (and in this
//! crate's own tests), so that the default library does not carry it. It is
//! for tests, not a stable API: suites gain checks, and functions may be
//! renamed, in any release.
//!
//! ```toml
//! [dev-dependencies]
//! harbor-storage = { version = "0.1", default-features = false, features = ["conformance"] }
//! ```
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In your backend's tests, with your store in place of ours:
//! let store = harbor_storage::MemoryBlobStore::new();
//! harbor_storage::conformance::blob_store::run_all(&store).await;
//! # }
//! ```

pub mod blob_store;
pub mod gc;
pub mod groups;
pub mod identity;
pub mod immutable;
pub mod jobs;
pub mod label;
pub mod lease;
pub mod meta_store;
pub mod oidc_user;
pub mod quota;
pub mod replication;
pub mod retention;
pub mod sessions;
pub mod settings;
pub mod webhook;

/// Unwraps a result inside a suite, panicking with the step that failed.
fn ok<T, E: std::fmt::Display>(step: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{step}: {e}"),
    }
}
