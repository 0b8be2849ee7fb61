//! The auth crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// What authentication, authorization and token issuance can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Credentials are missing or wrong.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The principal may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many failed logins for this account or address.
    #[error("too many failed login attempts; retry in {} s", retry_after.as_secs())]
    TooManyAttempts {
        /// When to try again.
        retry_after: Duration,
    },
    /// A token failed verification.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A cryptographic operation or key failed.
    #[error("crypto: {what}")]
    Crypto {
        /// What failed.
        what: String,
        /// The library's error, when it gives one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A key or certificate file could not be used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The LDAP directory could not be reached or refused what was asked
    /// (not: wrong credentials, which are `Unauthorized`).
    #[error("LDAP: {0}")]
    Directory(String),
    /// The OpenID Connect provider could not be used (discovery, an
    /// endpoint missing, an answer that makes no sense).
    #[error("OIDC provider: {0}")]
    Provider(String),
    /// The identity store failed.
    #[error(transparent)]
    Store(#[from] harbor_core::Error),
}

impl AuthError {
    /// A cryptographic failure with no underlying error to keep (ring's
    /// errors say nothing more than that it failed).
    pub fn crypto(what: impl Into<String>) -> Self {
        AuthError::Crypto {
            what: what.into(),
            source: None,
        }
    }

    /// A cryptographic failure caused by `source`.
    pub fn crypto_because(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        AuthError::Crypto {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}
