//! The server crate's error type: what can stop the server from starting or running.

use std::path::PathBuf;

/// Start-up and run-time failures of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration file or a setting is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS setup failed: {what}")]
    Tls {
        /// Which file, or what step.
        what: String,
        /// The parser's or rustls' error, if one failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Users or the token signing key could not be set up.
    #[error("auth setup failed: {0}")]
    Auth(#[from] harbor_auth::AuthError),
    /// Replication could not be set up (its secret key).
    #[error("replication setup failed: {0}")]
    Replication(#[from] harbor_replicate::ReplicateError),
    /// A store could not be read or written at start-up.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: &'static str,
        /// The store's error.
        #[source]
        source: harbor_core::Error,
    },
    /// A storage backend could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] harbor_storage::StorageError),
    /// A start-up task could not run to its end (it panicked or the runtime
    /// is shutting down).
    #[error("a start-up task failed: {0}")]
    Startup(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}
