//! Upload sessions: start, chunked and streamed appends, status, completion,
//! cancellation and purging of abandoned sessions.

use std::time::{Duration, SystemTime};

use super::Registry;
use crate::blob_store::{upload_unknown, ByteStream};
use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::meta_store::UploadSession;
use crate::name::RepositoryName;

/// How long a push waits for garbage collection to finish deleting an
/// earlier blob of the digest it is publishing.
pub(super) const CLAIM_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting push looks again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// The answer to a push that met garbage collection deleting its blob: the
/// client retries.
fn being_collected(digest: &Digest) -> Error {
    Error::new(
        ErrorCode::TooManyRequests,
        format!("blob {digest} is being deleted by garbage collection; retry the push"),
    )
}

/// Where an upload session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// The session id, for the `Location` and `Docker-Upload-UUID` headers.
    pub id: String,
    /// Bytes received so far.
    pub offset: u64,
}

impl Registry {
    /// Opens an upload session for `repo`.
    pub async fn start_upload(&self, repo: &RepositoryName) -> Result<UploadStatus> {
        self.writable()?;
        let id = uuid::Uuid::new_v4().to_string();
        // Bytes first, then metadata: a crash in between leaves only an orphan
        // that the purge removes, never a session without storage.
        self.blobs.create_upload(&id).await?;
        let session = UploadSession {
            id: id.clone(),
            repository: repo.clone(),
            started_at: SystemTime::now(),
        };
        if let Err(e) = self.meta.create_upload(&session).await {
            let _ = self.blobs.abort_upload(&id).await;
            return Err(e);
        }
        Ok(UploadStatus { id, offset: 0 })
    }

    /// The state of upload `id` of `repo`; `BLOB_UPLOAD_UNKNOWN` if there is none.
    pub async fn upload_status(&self, repo: &RepositoryName, id: &str) -> Result<UploadStatus> {
        self.session(repo, id).await?;
        let offset = self
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| upload_unknown(id))?;
        Ok(UploadStatus {
            id: id.to_owned(),
            offset,
        })
    }

    /// Appends a chunk to upload `id`. With `range` (the inclusive
    /// `Content-Range` start and end) the chunk must start where the upload
    /// stands, else `RANGE_INVALID` (416); its length must match the range and
    /// `content_length`, else `SIZE_INVALID`. Without a range the body is
    /// streamed on at the current offset. A failed chunk leaves the upload as
    /// it was.
    pub async fn append_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        range: Option<(u64, u64)>,
        content_length: Option<u64>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        self.writable()?;
        let current = self.upload_status(repo, id).await?.offset;
        let expected_len = match range {
            Some((start, end)) => {
                if start != current || end < start {
                    return Err(Error::with_detail(
                        ErrorCode::RangeInvalid,
                        format!("chunk starts at {start} but the upload holds {current} bytes"),
                        serde_json::json!({ "offset": current }),
                    ));
                }
                // `end` comes from the client: `0-18446744073709551615`
                // must not wrap around to an empty chunk.
                let Some(len) = (end - start).checked_add(1) else {
                    return Err(Error::with_detail(
                        ErrorCode::RangeInvalid,
                        format!("chunk range {start}-{end} is larger than any blob"),
                        serde_json::json!({ "offset": current }),
                    ));
                };
                if content_length.is_some_and(|cl| cl != len) {
                    return Err(Error::new(
                        ErrorCode::SizeInvalid,
                        "Content-Length does not match Content-Range",
                    ));
                }
                Some(len)
            }
            None => content_length,
        };
        let offset = self
            .blobs
            .append_upload(id, current, body, expected_len)
            .await?;
        Ok(UploadStatus {
            id: id.to_owned(),
            offset,
        })
    }

    /// Completes upload `id`: appends the optional final chunk, verifies the
    /// whole content against `digest`, publishes the blob and links it into
    /// `repo`. On a digest mismatch the session is cancelled and nothing
    /// becomes visible. Returns the blob's size.
    pub async fn complete_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        final_chunk: Option<(ByteStream, Option<u64>)>,
    ) -> Result<u64> {
        self.writable()?;
        // Pinned before the bytes are published: garbage collection cannot
        // claim the digest between publishing and linking.
        self.session(repo, id).await?;
        self.pin(id, digest).await?;
        let committed = match final_chunk {
            Some((body, len)) => {
                // The session was checked above: only the offset is read.
                let current = self
                    .blobs
                    .upload_size(id)
                    .await?
                    .ok_or_else(|| upload_unknown(id))?;
                self.blobs
                    .append_and_commit(id, current, body, len, digest)
                    .await
            }
            None => self.blobs.commit_upload(id, digest).await,
        };
        let size = match committed {
            Ok(size) => size,
            Err(e) => {
                if e.code() == ErrorCode::DigestInvalid {
                    self.end_session(id).await?;
                }
                return Err(e);
            }
        };
        self.link_pinned(repo, digest, size).await?;
        self.meta.delete_upload(id).await?;
        tracing::debug!(%repo, %digest, size, "upload completed");
        Ok(size)
    }

    /// Cancels upload `id`, dropping what it received.
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        self.writable()?;
        self.session(repo, id).await?;
        self.end_session(id).await
    }

    /// Removes upload sessions begun longer than `max_age` ago, and storage left
    /// behind by sessions whose metadata is gone. Returns how many were removed.
    pub async fn purge_uploads(&self, max_age: Duration) -> Result<usize> {
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut purged = 0;
        for session in self.meta.uploads_started_before(cutoff).await? {
            self.end_session(&session.id).await?;
            purged += 1;
        }
        for info in self.blobs.list_uploads().await? {
            if info.started_at < cutoff && self.meta.get_upload(&info.id).await?.is_none() {
                self.blobs.abort_upload(&info.id).await?;
                purged += 1;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "purged abandoned upload sessions");
        }
        Ok(purged)
    }

    /// Pins upload `id` to `digest` ([`MetaStore::pin_upload`]), waiting
    /// while garbage collection deletes an earlier blob of that digest (a
    /// claim lasts as long as one delete); `TOOMANYREQUESTS` if it outlasts
    /// [`CLAIM_WAIT`].
    ///
    /// [`MetaStore::pin_upload`]: crate::MetaStore::pin_upload
    pub(super) async fn pin(&self, id: &str, digest: &Digest) -> Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            if self.meta.pin_upload(id, digest).await? {
                return Ok(());
            }
            if started.elapsed() >= CLAIM_WAIT {
                return Err(being_collected(digest));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// Links a blob whose upload is pinned: no claim can stand in the way,
    /// but a store that refuses is still an error, never a silent success.
    pub(super) async fn link_pinned(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let linked = self.meta.link_blob(repo, digest, size).await;
        if self.watch_quota(repo, digest, linked)? {
            Ok(())
        } else {
            Err(being_collected(digest))
        }
    }

    async fn end_session(&self, id: &str) -> Result<()> {
        self.blobs.abort_upload(id).await?;
        self.meta.delete_upload(id).await?;
        Ok(())
    }

    async fn session(&self, repo: &RepositoryName, id: &str) -> Result<UploadSession> {
        // Ids come from URLs: only our own UUIDs are ever looked up.
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(upload_unknown(id));
        }
        match self.meta.get_upload(id).await? {
            Some(s) if &s.repository == repo => Ok(s),
            _ => Err(upload_unknown(id)),
        }
    }
}
