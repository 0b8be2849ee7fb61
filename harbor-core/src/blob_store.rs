//! The `BlobStore` trait: content-addressed blob storage with resumable uploads.

use std::fmt::Debug;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};

/// A blob as [`BlobStore::list`] names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A stream of body bytes, as it arrives from or leaves for the network.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// A byte range of a blob, as a client asks for one (HTTP spells it in a
/// `Range` header; the server parses that spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-end`, both inclusive.
    FromTo(u64, u64),
    /// `bytes=start-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open range of a blob of `size` bytes this selects, or `None`
    /// when it cannot be satisfied (a start beyond the blob, or beyond the
    /// end: `FromTo(9, 0)` selects nothing rather than an inverted range).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            ByteRange::FromTo(s, e) if s <= e && s < size => Some(s..e.min(size - 1) + 1),
            ByteRange::From(s) if s < size => Some(s..size),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Some(size - n.min(size)..size),
            _ => None,
        }
    }
}

/// An upload session that a [`BlobStore`] holds bytes for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// The session id.
    pub id: String,
    /// When the session began.
    pub started_at: SystemTime,
}

/// A stored blob as an open local file, handed out by
/// [`BlobStore::open_local`] so that a server can send it with `sendfile`.
#[derive(Debug)]
pub struct LocalFile {
    /// The blob's file, opened for reading at offset 0.
    pub file: std::fs::File,
    /// Its size in bytes.
    pub size: u64,
}

/// Content-addressed blob storage.
///
/// Blobs become visible only once complete and verified: an upload writes to a
/// private session, [`BlobStore::commit_upload`] checks the digest and publishes
/// atomically. Implementations must stream: no method may hold a whole blob in
/// memory. Every backend runs the shared conformance suite in `harbor-storage`.
///
/// # The upload contract
///
/// An upload session is shaped like an object store's multipart upload, so
/// that a file system and S3 implement the same promises:
/// - **Appends of any size.** A client may send one chunk of gigabytes or
///   many of a byte. A backend regroups them into its own parts (S3 takes
///   parts of 5 MiB or more but for the last) and holds at most one part per
///   upload in memory, whatever the chunk size.
/// - **All or nothing per append.** Once [`BlobStore::append_upload`]
///   returns, the bytes are durable; if it fails (the stream breaks, the
///   length differs), the session is as it was.
/// - **No session state only in memory.** Everything a session needs lives
///   in the store, so that an upload begun on one instance of a cluster
///   continues on another over the same storage, and across a restart. A
///   backend may keep a cache (the file system keeps the running hash) as
///   long as another handle on the same storage gets the same answers.
/// - **Verification without reading back**, where the backend can: the S3
///   store saves the SHA-256 state with each part and finishes it at commit
///   from at most one part's worth of bytes.
/// - **Visible only complete and verified.** A crash at any point leaves
///   either no blob or the whole verified one, plus session leftovers that
///   [`BlobStore::list_uploads`] reports for purging.
#[async_trait]
pub trait BlobStore: Debug + Send + Sync + 'static {
    /// The size of a stored blob, or `None` if absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Streams a blob, or the `range` of it (already resolved against its size).
    /// `BLOB_UNKNOWN` if absent.
    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream>;

    /// The blob as an open local file, so that a server can send it without
    /// copying it through user space (`sendfile`). `Ok(None)` when this backend
    /// does not keep blobs in local files, which is the default; callers then
    /// stream it with [`BlobStore::get`]. `BLOB_UNKNOWN` if absent.
    async fn open_local(&self, digest: &Digest) -> Result<Option<LocalFile>> {
        let _ = digest;
        Ok(None)
    }

    /// A URL from which a client may fetch the blob itself, valid for a
    /// while (a presigned object-storage URL), so that a server can answer
    /// a download with a redirect instead of relaying the bytes. `Ok(None)`,
    /// the default, when this backend offers none or has them turned off.
    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        let _ = digest;
        Ok(None)
    }

    /// Removes a blob; `false` if it was not there.
    async fn delete(&self, digest: &Digest) -> Result<bool>;

    /// Removes blobs, absent ones included: garbage collection's deletions,
    /// in as few requests as the backend allows (S3 deletes up to 1,000 in
    /// one `DeleteObjects`). The default deletes them one by one.
    async fn delete_many(&self, digests: &[Digest]) -> Result<()> {
        for digest in digests {
            self.delete(digest).await?;
        }
        Ok(())
    }

    /// Every stored blob with its size (for garbage collection), listed as
    /// it goes: a store of millions of blobs is never held in memory.
    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob>>>;

    /// Opens an empty upload session `id`.
    async fn create_upload(&self, id: &str) -> Result<()>;

    /// The number of bytes an upload holds, or `None` if the session is unknown.
    async fn upload_size(&self, id: &str) -> Result<Option<u64>>;

    /// Appends `body` at `offset` (which must equal the current size, else
    /// `RANGE_INVALID`). The chunk is all-or-nothing: if the stream fails, or its
    /// length differs from `expected_len` (`SIZE_INVALID`), the session is left
    /// as it was. Returns the new size, durable once this returns.
    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64>;

    /// Verifies that the upload's content has digest `expected` and makes it
    /// visible as that blob, ending the session. On a mismatch it answers
    /// `DIGEST_INVALID` and leaves the session as it was. Returns the blob's size.
    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64>;

    /// Appends `body` at `offset` and commits the upload under `expected`:
    /// the last chunk and the completion of one request. Exactly
    /// [`BlobStore::append_upload`] then [`BlobStore::commit_upload`], which
    /// is what the default does; a backend may skip saving the session in
    /// between (S3 then never writes the last bytes aside to read them back,
    /// and a blob that comes whole in this one request is written straight
    /// to its place). A failed append changes nothing. After a digest
    /// mismatch nothing is published, and the session holds the appended
    /// bytes, as the two calls would leave it, except when the session held
    /// nothing before: a backend that wrote the whole blob straight to its
    /// place may then have ended the session (callers end it either way).
    async fn append_and_commit(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
        expected: &Digest,
    ) -> Result<u64> {
        self.append_upload(id, offset, body, expected_len).await?;
        self.commit_upload(id, expected).await
    }

    /// Drops an upload session and its bytes; a no-op if unknown.
    async fn abort_upload(&self, id: &str) -> Result<()>;

    /// Every open upload session, for purging abandoned ones.
    async fn list_uploads(&self) -> Result<Vec<UploadInfo>>;

    /// Stores a whole blob in one call, verified against `digest`.
    async fn put(
        &self,
        digest: &Digest,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let id = format!("put-{}", uuid::Uuid::new_v4());
        self.create_upload(&id).await?;
        let result = self
            .append_and_commit(&id, 0, body, expected_len, digest)
            .await;
        if result.is_err() {
            // The blob was never published; the session's bytes are garbage.
            let _ = self.abort_upload(&id).await;
        }
        result
    }
}

/// A [`ByteStream`] over bytes already in memory (small bodies, tests).
pub fn bytes_stream(data: impl Into<Bytes>) -> ByteStream {
    let data: Bytes = data.into();
    Box::pin(futures::stream::once(async move { Ok(data) }))
}

/// The error a backend answers when an upload session does not exist.
pub fn upload_unknown(id: &str) -> Error {
    Error::with_detail(
        ErrorCode::BlobUploadUnknown,
        format!("upload session {id} is unknown"),
        serde_json::json!({ "uuid": id }),
    )
}

/// The error a backend answers when a blob does not exist.
pub fn blob_unknown(digest: &Digest) -> Error {
    Error::with_detail(
        ErrorCode::BlobUnknown,
        format!("blob {digest} is unknown"),
        serde_json::json!({ "digest": digest.to_string() }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_blob_size() {
        assert_eq!(ByteRange::FromTo(0, 99).resolve(10), Some(0..10));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some(7..10));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some(0..10));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(
            ByteRange::FromTo(0, u64::MAX).resolve(u64::MAX),
            Some(0..u64::MAX)
        );
    }

    #[test]
    fn a_range_that_ends_before_it_starts_selects_nothing() {
        // Found by the `range` fuzz target: it resolved to `9..1`, whose
        // length `end - start` overflows wherever a caller computes it.
        assert_eq!(ByteRange::FromTo(9, 0).resolve(100), None);
        assert_eq!(ByteRange::FromTo(55_555_456, 6).resolve(u64::MAX), None);
        assert_eq!(ByteRange::FromTo(5, 5).resolve(100), Some(5..6));
    }
}
