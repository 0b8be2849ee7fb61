//! Blob reads, monolithic pushes, mounts and deletes.

use std::ops::Range;
use std::time::SystemTime;

use super::Registry;
use crate::blob_store::{blob_unknown, ByteRange, ByteStream};
use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::meta_store::UploadSession;
use crate::name::RepositoryName;

/// A blob, or part of one, ready to stream to a client.
pub struct BlobContent {
    /// The whole blob's size.
    pub size: u64,
    /// The part being sent (all of it when no range was asked for).
    pub range: Range<u64>,
    /// The bytes of `range`.
    pub body: ByteStream,
}

impl std::fmt::Debug for BlobContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobContent")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A blob, or part of one, as a local file: what [`Registry::get_blob_file`]
/// hands to a server that sends files with `sendfile`.
#[derive(Debug)]
pub struct BlobFile {
    /// The whole blob's size.
    pub size: u64,
    /// The part being sent (all of it when no range was asked for).
    pub range: Range<u64>,
    /// The blob's file; `range` is relative to its start.
    pub file: std::fs::File,
}

/// Resolves a client's `range` against a blob of `size` bytes: the part to
/// send, and that part again when it is not the whole blob. An unsatisfiable
/// range is `RANGE_INVALID` (416) with the size in the detail.
fn resolve(size: u64, range: Option<ByteRange>) -> Result<(Range<u64>, Option<Range<u64>>)> {
    match range {
        None => Ok((0..size, None)),
        Some(r) => {
            let resolved = r.resolve(size).ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::RangeInvalid,
                    format!("range cannot be satisfied for a blob of {size} bytes"),
                    serde_json::json!({ "size": size }),
                )
            })?;
            Ok((resolved.clone(), Some(resolved)))
        }
    }
}

impl Registry {
    /// The size of a blob that `repo` holds, or `None`.
    pub async fn stat_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        if self.meta.linked_blob(repo, digest).await?.is_none() {
            return Ok(None);
        }
        self.blobs.stat(digest).await
    }

    /// Streams a blob of `repo`, or the `range` of it. `BLOB_UNKNOWN` if `repo`
    /// does not hold it; an unsatisfiable range is `RANGE_INVALID` (416) with
    /// the blob's size in the detail.
    pub async fn get_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobContent> {
        let size = self
            .stat_blob(repo, digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        let (range, partial) = resolve(size, range)?;
        let body = self.blobs.get(digest, partial).await?;
        Ok(BlobContent { size, range, body })
    }

    /// Like [`Registry::get_blob`], but the blob's local file instead of a
    /// stream, when the blob store keeps blobs in local files
    /// ([`BlobStore::open_local`](crate::BlobStore::open_local)); `Ok(None)`
    /// when it does not, and the caller streams with `get_blob`.
    pub async fn get_blob_file(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Option<BlobFile>> {
        // The store first: one that keeps no local files answers at once, and
        // the caller's `get_blob` then makes the repository check only once.
        let Some(local) = self.blobs.open_local(digest).await? else {
            return Ok(None);
        };
        if self.meta.linked_blob(repo, digest).await?.is_none() {
            return Err(blob_unknown(digest));
        }
        let (range, _) = resolve(local.size, range)?;
        Ok(Some(BlobFile {
            size: local.size,
            range,
            file: local.file,
        }))
    }

    /// A URL to send the client to for a blob of `repo`, when the blob store
    /// hands out such URLs ([`BlobStore::redirect_url`](crate::BlobStore::redirect_url)),
    /// so that the bytes bypass this server; `Ok(None)` otherwise.
    /// `BLOB_UNKNOWN` if `repo` does not hold the blob.
    pub async fn blob_redirect(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<String>> {
        // The store first: one without redirects answers at once.
        let Some(url) = self.blobs.redirect_url(digest).await? else {
            return Ok(None);
        };
        if self.stat_blob(repo, digest).await?.is_none() {
            return Err(blob_unknown(digest));
        }
        Ok(Some(url))
    }

    /// Pushes a whole blob into `repo` in one request, verified against `digest`.
    /// Returns its size.
    pub async fn put_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        self.writable()?;
        // A session row only to pin the digest (see `complete_upload`);
        // the purge removes it if this process dies before the end.
        let id = uuid::Uuid::new_v4().to_string();
        self.meta
            .create_upload(&UploadSession {
                id: id.clone(),
                repository: repo.clone(),
                started_at: SystemTime::now(),
            })
            .await?;
        let pushed = async {
            self.pin(&id, digest).await?;
            let size = self.blobs.put(digest, body, expected_len).await?;
            self.link_pinned(repo, digest, size).await?;
            Ok::<u64, Error>(size)
        }
        .await;
        self.meta.delete_upload(&id).await?;
        let size = pushed?;
        tracing::debug!(%repo, %digest, size, "blob pushed");
        Ok(size)
    }

    /// Mounts a blob into `repo` without moving bytes: from repository `from`
    /// when given (which must hold it), otherwise from any repository of this
    /// registry. Returns the size, or `None` when the mount cannot be done and
    /// the client should upload instead.
    pub async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<Option<u64>> {
        self.writable()?;
        if let Some(from) = from {
            if self.meta.linked_blob(from, digest).await?.is_none() {
                return Ok(None);
            }
        }
        let Some(size) = self.blobs.stat(digest).await? else {
            return Ok(None);
        };
        // A claim refuses the link; a collection that claimed, deleted and
        // released between the stat and the link is caught by the second
        // stat, and the link it would leave dangling goes.
        let linked = self.meta.link_blob(repo, digest, size).await;
        if !self.watch_quota(repo, digest, linked)? {
            return Ok(None);
        }
        if self.blobs.stat(digest).await?.is_none() {
            self.meta.unlink_blob(repo, digest).await?;
            return Ok(None);
        }
        tracing::debug!(%repo, %digest, ?from, "blob mounted");
        Ok(Some(size))
    }

    /// Removes a blob from `repo` (its bytes go when garbage collection finds
    /// no repository holding them). `BLOB_UNKNOWN` if `repo` did not hold it.
    pub async fn delete_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        self.writable()?;
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(blob_unknown(digest))
        }
    }
}
