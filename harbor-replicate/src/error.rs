//! The replication crate's error type.

/// Any error a transport or a parser can give, kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a copy, an adapter call or the replication service can fail with.
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
    #[error("cannot reach {registry}: {context}")]
    Transport {
        /// Which registry.
        registry: String,
        /// What was being done.
        context: String,
        /// The transport's error.
        #[source]
        source: BoxError,
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
    /// A remote answered something that is not what the protocol promises
    /// (a body that does not parse, a missing header).
    #[error("{registry} answered unexpectedly: {message}")]
    Protocol {
        /// Which registry.
        registry: String,
        /// What was wrong.
        message: String,
        /// The parser's error, if one failed.
        #[source]
        source: Option<BoxError>,
    },
    /// The request or the configuration is wrong (a policy, a filter, a URL,
    /// a registry type): says what, with the parser's error when there is one.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The underlying parse error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A policy, registry or execution that does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// `policy`, `registry`, `execution`.
        kind: &'static str,
        /// Its id.
        id: i64,
    },
    /// The operation cannot be done now (a policy already running with
    /// `single_active_replication`).
    #[error("{0}")]
    Busy(String),
    /// An adapter cannot do what was asked (e.g. read a blob from an offset).
    #[error("{adapter} cannot {what}")]
    Unsupported {
        /// The adapter type.
        adapter: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// A stored credential could not be sealed or opened.
    #[error("credential encryption: {0}")]
    Secret(&'static str),
    /// A file (key, checkpoint) could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded registry or a store failed.
    #[error(transparent)]
    Core(#[from] harbor_core::Error),
}

impl ReplicateError {
    /// A request or configuration error with no underlying error.
    pub fn invalid(message: impl Into<String>) -> Self {
        ReplicateError::Invalid {
            message: message.into(),
            source: None,
        }
    }

    /// A request or configuration error caused by `source`.
    pub fn invalid_because(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ReplicateError::Invalid {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// This error and every source under it, `: `-separated: the whole
    /// story for a log line or a task's status text, where `Display` says
    /// only the outermost part. A source whose text is already in the
    /// message is not repeated.
    pub fn chain(&self) -> String {
        harbor_core::error::chain(self)
    }

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
            ReplicateError::NotFound { .. } => true,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_tells_every_source_once() {
        let e = ReplicateError::invalid_because(
            "the Content-Length is not a number",
            std::io::Error::other("invalid digit found in string"),
        );
        assert_eq!(
            e.chain(),
            "the Content-Length is not a number: invalid digit found in string"
        );
        let io = ReplicateError::Io {
            path: "key".into(),
            source: std::io::Error::other("denied"),
        };
        assert_eq!(io.chain(), "cannot use key: denied");
    }
}
