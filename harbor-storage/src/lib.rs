//! Storage backends for `harbor-core`, and the conformance suites that every
//! backend (ours or a third party's) must pass.
//!
//! - [`FsBlobStore`]: blobs on a local file system, crash-safe.
//! - [`MemoryBlobStore`]: blobs in memory, for tests and embedding.
//! - [`SqliteMetaStore`]: metadata in SQLite (a file, or in memory).
//!
//! ```
//! # async fn demo() -> harbor_core::Result<()> {
//! use std::sync::Arc;
//! use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
//! let registry = harbor_core::Registry::new(
//!     Arc::new(MemoryBlobStore::new()),
//!     Arc::new(SqliteMetaStore::in_memory()?),
//! );
//! # let _ = registry; Ok(()) }
//! ```

pub mod conformance;
mod error;
mod fs_blob;
mod memory_blob;
mod sqlite;

pub use error::StorageError;
pub use fs_blob::FsBlobStore;
pub use memory_blob::MemoryBlobStore;
pub use sqlite::SqliteMetaStore;
