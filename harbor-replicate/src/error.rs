//! The replication crate's error type.

/// What a copy or an adapter call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicateError {
    /// The remote answered with an error status.
    #[error("{registry} answered {status} to {method} {path}: {message}")]
    Remote {
        /// Which registry.
        registry: String,
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The error code and message from the body, or the body itself.
        message: String,
        /// The `Retry-After` the remote asked for, in seconds.
        retry_after: Option<u64>,
    },
    /// The connection failed or was cut.
    #[error("cannot reach {registry}: {message}")]
    Transport {
        /// Which registry.
        registry: String,
        /// What went wrong.
        message: String,
    },
    /// Credentials were refused.
    #[error("{registry} refused the credentials: {message}")]
    Unauthorized {
        /// Which registry.
        registry: String,
        /// What it said.
        message: String,
    },
    /// What arrived is not what was promised (digest or size).
    #[error("content of {digest} does not verify: {message}")]
    Corrupt {
        /// The digest expected.
        digest: String,
        /// What went wrong.
        message: String,
    },
    /// The request or the configuration is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The embedded registry failed.
    #[error(transparent)]
    Core(#[from] harbor_core::Error),
}

impl ReplicateError {
    /// Whether retrying may help: connection failures, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            ReplicateError::Transport { .. } | ReplicateError::Corrupt { .. } => true,
            ReplicateError::Remote { status, .. } => *status >= 500 || *status == 429,
            ReplicateError::Core(e) => e.code() == harbor_core::ErrorCode::Unknown,
            _ => false,
        }
    }

    /// Whether the remote said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            ReplicateError::Remote { status, .. } => *status == 404,
            ReplicateError::Core(e) => matches!(
                e.code(),
                harbor_core::ErrorCode::ManifestUnknown
                    | harbor_core::ErrorCode::BlobUnknown
                    | harbor_core::ErrorCode::NameUnknown
            ),
            _ => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = ReplicateError> = std::result::Result<T, E>;
