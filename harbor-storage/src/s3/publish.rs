//! Publishing a verified upload as its blob: by completing the multipart
//! upload in the session and copying it to the blob's place, or, for a
//! blob received whole in one request, by completing a multipart upload
//! made at the blob's place from the start (no copy, and no 5 GiB limit of
//! S3's copy).

use bytes::Bytes;
use harbor_core::{Digest, Result};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use super::sha256_state::Sha256State;
use super::upload::{verify_sha256, Received, Session};
use super::{found, s3_error, S3BlobStore};

impl S3BlobStore {
    /// Publishes a verified session whose bytes are its parts and `tail`,
    /// and removes the session.
    pub(super) async fn publish_session(
        &self,
        id: &str,
        mut s: Session,
        tail: Bytes,
        expected: &Digest,
    ) -> Result<u64> {
        if self.published(expected, s.size).await? {
            // The session's multipart upload is aborted with it.
        } else if s.multipart.is_none() {
            // A blob smaller than a part: one atomic PUT publishes it.
            self.s3
                .put(&self.blob_path(expected), PutPayload::from(tail))
                .await
                .map_err(|e| s3_error(format!("publish {expected}"), e))?;
        } else {
            self.assemble(id, &mut s, tail).await?;
            // Complete: nothing to abort.
            s.multipart = None;
            self.publish(&self.upload_path(id, "data"), expected)
                .await?;
        }
        let size = s.size;
        self.remove_session(id, &s).await;
        Ok(size)
    }

    /// Publishes a whole blob received in one request straight at its place
    /// (see `receive`): verified first, then the multipart upload there is
    /// completed, with no copy. On a mismatch nothing becomes visible and
    /// the session ends (its bytes were never set aside to keep); on any
    /// other failure the session is as it was before the request.
    pub(super) async fn publish_direct(
        &self,
        id: &str,
        r: Received,
        expected: &Digest,
    ) -> Result<u64> {
        let mut s = r.session;
        let size = s.size;
        let target = &r.target;
        let abort = |m: Option<String>| async move {
            if let Some(m) = m {
                let _ = self.s3.abort_multipart(target, &m).await;
            }
        };
        if let Err(e) = verify_sha256(&s, &r.tail, expected).await {
            abort(s.multipart.take()).await;
            self.remove_session(id, &s).await;
            return Err(e);
        }
        if self.published(expected, size).await? {
            // Already there (the same blob pushed before or meanwhile): it
            // is left as it is, for the readers it may have.
            abort(s.multipart.take()).await;
        } else if let Some(multipart) = s.multipart.take() {
            let outcome = self
                .complete(id, &r.target, &multipart, &s.parts, r.tail.clone())
                .await;
            if let Err(e) = outcome {
                // The session was not touched: the request may be sent again.
                abort(Some(multipart)).await;
                return Err(e);
            }
        } else {
            // Smaller than a part: one atomic PUT.
            self.s3
                .put(&r.target, PutPayload::from(r.tail.clone()))
                .await
                .map_err(|e| s3_error(format!("publish {expected}"), e))?;
        }
        self.remove_session(id, &s).await;
        Ok(size)
    }

    /// Completes the multipart upload into `data`, the tail as last part.
    pub(super) async fn assemble(&self, id: &str, s: &mut Session, tail: Bytes) -> Result<()> {
        let Some(multipart) = s.multipart.clone() else {
            return Ok(());
        };
        self.complete(
            id,
            &self.upload_path(id, "data"),
            &multipart,
            &s.parts,
            tail,
        )
        .await
    }

    /// Completes `multipart` into `target` from the parts written (their
    /// ETags) and `tail` as the last part.
    async fn complete(
        &self,
        id: &str,
        target: &Path,
        multipart: &str,
        written: &[String],
        tail: Bytes,
    ) -> Result<()> {
        let mut parts: Vec<PartId> = written
            .iter()
            .map(|c| PartId {
                content_id: c.clone(),
            })
            .collect();
        if !tail.is_empty() {
            let (pid, _) = self
                .put_part(
                    id,
                    target,
                    multipart,
                    parts.len(),
                    vec![tail],
                    Sha256State::default(),
                )
                .await?;
            parts.push(pid);
        }
        self.s3
            .complete_multipart(target, &multipart.to_owned(), parts)
            .await
            .map_err(|e| s3_error(format!("complete upload {id}"), e))?;
        Ok(())
    }

    /// Copies verified data to its blob path: S3 writes it atomically.
    pub(super) async fn publish(&self, data: &Path, digest: &Digest) -> Result<()> {
        self.s3
            .copy(data, &self.blob_path(digest))
            .await
            .map_err(|e| s3_error(format!("publish {digest}"), e))
    }

    /// Whether the blob is published already (the same digest pushed
    /// before, or by a concurrent upload). It is then left as it is:
    /// rewriting identical bytes gains nothing, and a store that does not
    /// swap an object atomically for its readers (moto serves an empty body
    /// to a read that races an overwrite) would fail a concurrent pull.
    pub(super) async fn published(&self, digest: &Digest, size: u64) -> Result<bool> {
        let meta = found(self.s3.head(&self.blob_path(digest)).await)
            .map_err(|e| s3_error(format!("stat {digest}"), e))?;
        Ok(meta.is_some_and(|m| m.size == size))
    }
}
