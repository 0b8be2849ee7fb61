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
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Users or the token signing key could not be set up.
    #[error("auth setup failed: {0}")]
    Auth(String),
    /// A storage backend could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] harbor_storage::StorageError),
}
