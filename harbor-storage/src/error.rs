//! The storage crate's error type, converted into `harbor_core::Error` at the
//! trait boundary.

use std::path::PathBuf;

/// What a storage backend can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file system operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed: a statement, or the connection under it.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL error: {}", crate::postgres::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the PostgreSQL pool.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL connection pool: {0}")]
    PostgresPool(#[from] deadpool_postgres::PoolError),
    /// The PostgreSQL database could not be reached at start-up, or its URL
    /// is not valid.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to PostgreSQL database {database}: {reason}")]
    PostgresConnect {
        /// The database (name, and where it was looked for; no password).
        database: String,
        /// What went wrong, in words.
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// Stored data is not what this version writes (a missing row, an
    /// unknown name).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A stored JSON value does not decode, or one does not encode.
    #[error("{what}: {source}")]
    Encoding {
        /// Which value.
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Object storage failed.
    #[cfg(feature = "s3")]
    #[error("{what}: {source}")]
    ObjectStore {
        /// What was being done, naming the object or bucket.
        what: String,
        /// The `object_store` error.
        #[source]
        source: object_store::Error,
    },
    /// A backend's settings are unusable.
    #[error("{0}")]
    Config(String),
    /// A unique name is already taken.
    #[error("{0}")]
    Conflict(String),
    /// What a change names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A change would take a project past its storage limit; the
    /// transaction that found it was rolled back.
    #[error("{}", .0.details())]
    QuotaExceeded(harbor_core::QuotaExceeded),
    /// The database was written by a newer version of this software.
    #[error("database schema version {found} is newer than the {supported} this build supports")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
}

impl StorageError {
    /// A JSON value that does not decode or encode.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn encoding(what: impl Into<String>, source: serde_json::Error) -> Self {
        StorageError::Encoding {
            what: what.into(),
            source,
        }
    }

    /// An object storage failure while doing `what`.
    #[cfg(feature = "s3")]
    pub(crate) fn object_store(what: impl Into<String>, source: object_store::Error) -> Self {
        StorageError::ObjectStore {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            StorageError::Io { .. } => "filesystem",
            StorageError::Join(_) | StorageError::Config(_) => "storage",
            #[cfg(feature = "s3")]
            StorageError::ObjectStore { .. } => "s3",
            #[cfg(feature = "sqlite")]
            StorageError::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            StorageError::Postgres(_)
            | StorageError::PostgresPool(_)
            | StorageError::PostgresConnect { .. } => "postgres",
            // Corrupt data is the metadata store's, or (an upload writer
            // used after a failure) the file system's; both say which.
            StorageError::Corrupt(_) => "storage",
            // Either metadata backend's (the message says which database).
            StorageError::Encoding { .. }
            | StorageError::SchemaTooNew { .. }
            | StorageError::Conflict(_)
            | StorageError::NotFound(_)
            | StorageError::QuotaExceeded(_) => "metadata",
        }
    }
}

impl From<StorageError> for harbor_core::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(msg) => {
                harbor_core::Error::new(harbor_core::ErrorCode::Conflict, msg)
            }
            StorageError::NotFound(msg) => {
                harbor_core::Error::new(harbor_core::ErrorCode::NotFound, msg)
            }
            StorageError::QuotaExceeded(q) => q.into(),
            e => harbor_core::Error::backend(e.backend(), e),
        }
    }
}

/// Turns a unique-constraint violation into [`StorageError::Conflict`] with `msg`.
#[cfg(feature = "sqlite")]
pub(crate) fn conflict_on_unique(e: rusqlite::Error, msg: impl FnOnce() -> String) -> StorageError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StorageError::Conflict(msg())
        }
        _ => StorageError::Sqlite(e),
    }
}

/// Turns an integrity-constraint violation (a unique key, or as with SQLite
/// any other constraint) into [`StorageError::Conflict`] with `msg`.
#[cfg(feature = "postgres")]
pub(crate) fn pg_conflict(e: tokio_postgres::Error, msg: impl FnOnce() -> String) -> StorageError {
    match e.code() {
        // Class 23: integrity constraint violation.
        Some(code) if code.code().starts_with("23") => StorageError::Conflict(msg()),
        _ => StorageError::Postgres(e),
    }
}
