//! The crate's error type and the OCI distribution error codes it maps to.

use std::fmt;

/// The error codes of the OCI distribution-spec (plus the ones CNCF distribution
/// adds), so that every failure can be answered in the protocol's own form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The blob is unknown to the registry.
    BlobUnknown,
    /// The blob upload encountered an error and can no longer proceed.
    BlobUploadInvalid,
    /// The upload session is unknown.
    BlobUploadUnknown,
    /// The provided digest did not match the uploaded content.
    DigestInvalid,
    /// A blob or manifest referenced by a manifest is unknown.
    ManifestBlobUnknown,
    /// The manifest is invalid.
    ManifestInvalid,
    /// The manifest is unknown.
    ManifestUnknown,
    /// The repository name is invalid.
    NameInvalid,
    /// The repository is unknown.
    NameUnknown,
    /// The content does not match the declared size.
    SizeInvalid,
    /// Authentication is required.
    Unauthorized,
    /// Access to the resource was denied.
    Denied,
    /// The operation is not supported.
    Unsupported,
    /// Too many requests.
    TooManyRequests,
    /// A tag is invalid.
    TagInvalid,
    /// A requested byte range cannot be served or an upload chunk is out of order.
    RangeInvalid,
    /// The request body is larger than the registry accepts.
    TooLarge,
    /// A pagination parameter (`n`) is not a valid number.
    PaginationNumberInvalid,
    /// The resource already exists (Harbor's `CONFLICT`).
    Conflict,
    /// The resource does not exist (Harbor's `NOT_FOUND`).
    NotFound,
    /// The request is malformed (Harbor's `BAD_REQUEST`).
    BadRequest,
    /// The resource is in a state that forbids the request (Harbor's `PRECONDITION`).
    Precondition,
    /// An internal failure: a backend, the disk or a bug.
    Unknown,
}

impl ErrorCode {
    /// The code as it appears in the `code` field of an error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::RangeInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::TooLarge => "SIZE_INVALID",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Precondition => "PRECONDITION",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the core: a protocol error with its OCI code,
/// or a backend failure carrying the backend's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure the distribution protocol defines, answered with its code.
    #[error("{code}: {message}")]
    Protocol {
        /// The OCI error code.
        code: ErrorCode,
        /// A message for a person.
        message: String,
        /// Structured detail (for example the digest or name at fault).
        detail: Option<serde_json::Value>,
    },
    /// A storage backend failed (I/O, database); the request may be retried.
    #[error("{backend} backend failed: {source}")]
    Backend {
        /// Which backend (`filesystem`, `sqlite`, ...).
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// A protocol error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Protocol {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// A protocol error carrying structured detail.
    pub fn with_detail(
        code: ErrorCode,
        message: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        Error::Protocol {
            code,
            message: message.into(),
            detail: Some(detail),
        }
    }

    /// Wraps a backend's error.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Backend {
            backend,
            source: source.into(),
        }
    }

    /// The OCI code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Protocol { code, .. } => *code,
            Error::Backend { .. } => ErrorCode::Unknown,
        }
    }

    /// The message for the error body.
    pub fn message(&self) -> String {
        match self {
            Error::Protocol { message, .. } => message.clone(),
            Error::Backend { backend, .. } => format!("internal error in the {backend} backend"),
        }
    }

    /// Structured detail for the error body, if any.
    pub fn detail(&self) -> Option<&serde_json::Value> {
        match self {
            Error::Protocol { detail, .. } => detail.as_ref(),
            Error::Backend { .. } => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and each of its causes on one line (`outer: cause: root`), for a
/// log line or a status text where `Display` says only the outermost part. A
/// cause whose text is already in the line is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chain_names_every_cause_once() {
        let root = std::io::Error::other("disk full");
        let e = super::Error::backend("filesystem", root);
        assert_eq!(
            super::chain(&e),
            "filesystem backend failed: disk full",
            "a cause already in the message is not repeated"
        );
        #[derive(Debug, thiserror::Error)]
        #[error("saving the blob")]
        struct Outer(#[source] super::Error);
        assert_eq!(
            super::chain(&Outer(e)),
            "saving the blob: filesystem backend failed: disk full"
        );
    }
}
