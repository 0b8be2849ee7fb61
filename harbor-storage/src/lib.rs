//! Storage backends for `harbor-core`, and the conformance suites that every
//! backend (ours or a third party's) must pass.
//!
//! - [`FsBlobStore`]: blobs on a local file system, crash-safe.
//! - [`MemoryBlobStore`]: blobs in memory, for tests and embedding.
//! - `S3BlobStore`: blobs in S3-compatible object storage; feature `s3`.
//! - `SqliteMetaStore`: metadata, users, projects and replication in SQLite
//!   (a file, or in memory); feature `sqlite`, on by default, which compiles
//!   a bundled SQLite.
//! - `PgStore`: the same in PostgreSQL, for several instances of the
//!   registry over one database (no per-process cache; leases by the
//!   server's clock); feature `postgres`, off by default. With
//!   `conformance` too, `postgres::testing::TempCluster` runs a throwaway
//!   server from Debian's binaries for tests.
//! - `conformance`: the suites every `BlobStore`, `MetaStore`,
//!   `IdentityStore`, `ReplicationStore` and `LeaseStore` passes; feature `conformance`,
//!   off by default. A third-party backend runs them from its tests with
//!   `harbor-storage = { default-features = false, features = ["conformance"] }`
//!   among its dev-dependencies, which compiles no SQLite.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> harbor_core::Result<()> {
//! use std::sync::Arc;
//! use harbor_core::{bytes_stream, Digest, Registry, RepositoryName};
//! use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
//!
//! let registry = Registry::new(
//!     Arc::new(MemoryBlobStore::new()),
//!     Arc::new(SqliteMetaStore::in_memory()?),
//! );
//! let repo = RepositoryName::parse("library/hello")?;
//! let digest = Digest::sha256(b"a layer");
//! registry.put_blob(&repo, &digest, bytes_stream(&b"a layer"[..]), None).await?;
//! assert_eq!(registry.stat_blob(&repo, &digest).await?, Some(7));
//! # Ok(()) }
//! ```

#[cfg(any(feature = "conformance", test))]
pub mod conformance;
mod error;
mod fs_blob;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod immutable_sql;
mod memory_blob;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod quota_sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod retention_sql;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod webhook_sql;

pub use error::StorageError;
pub use fs_blob::FsBlobStore;
pub use memory_blob::MemoryBlobStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "s3")]
pub use s3::{S3BlobStore, S3Config, MIN_PART_SIZE};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteMetaStore;
