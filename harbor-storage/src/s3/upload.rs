//! Upload sessions of [`S3BlobStore`], shaped for object storage.
//!
//! S3 cannot append, and takes a multipart upload's parts only at
//! [`MIN_PART_SIZE`](super::MIN_PART_SIZE) or more (but for the last). A
//! session is therefore:
//! - one S3 multipart upload into `uploads/<id>/data`, created with the
//!   first whole part, holding every whole part received so far;
//! - `uploads/<id>/tail.<n>`: the bytes after the last whole part (fewer
//!   than a part), rewritten under a new name by each append that changes
//!   them;
//! - `uploads/<id>/state`: JSON naming the multipart upload, its parts'
//!   ids, the size, the tail's generation and the SHA-256 state of the bytes
//!   in the parts. Writing it is the single point at which an append takes
//!   effect: a chunk that fails half-way leaves the state, hence the
//!   session, as it was (parts it wrote under later numbers are overwritten
//!   by the next append; a tail it wrote is never named).
//!
//! An append of any size holds at most one part in memory. The commit
//! finishes the hash from the saved state and the tail (at most one part
//! read back, never the blob), refuses a mismatch before anything is
//! assembled, then completes the multipart upload and copies the data to its
//! blob path, atomically visible. A crash anywhere leaves either no blob or
//! the verified one, plus session leftovers that the purge removes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use harbor_core::blob_store::upload_unknown;
use harbor_core::{Algorithm, ByteStream, Digest, Error, ErrorCode, Hasher, Result, UploadInfo};
use object_store::multipart::MultipartStore;
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::parts::PartBuffer;
use super::sha256_state::Sha256State;
use super::streamed::{streamable_part, PartSource};
use super::{found, s3_error, S3BlobStore};
use crate::error::StorageError;

/// S3's largest part number.
const MAX_PARTS: usize = 10_000;

/// A chunk received but not yet saved: the session as it will be, the
/// bytes after its last whole part, and the tail it replaces.
pub(super) struct Received {
    pub(super) session: Session,
    pub(super) tail: Bytes,
    /// The previous tail's generation and length, when the tail changed.
    old_tail: Option<(u64, u64)>,
    /// Where the session's multipart upload lives: `uploads/<id>/data`, or,
    /// for a whole blob in one request, the blob's own place (`direct`).
    pub(super) target: Path,
    direct: bool,
}

/// Whether the parts' saved hash and `tail` make `expected` (SHA-256),
/// finished on the blocking pool.
pub(super) async fn verify_sha256(s: &Session, tail: &Bytes, expected: &Digest) -> Result<()> {
    let mut hash = s.hash.clone();
    let hashing = tail.clone();
    let hex = tokio::task::spawn_blocking(move || {
        hash.update(&hashing);
        hash.finish_hex()
    })
    .await
    .map_err(StorageError::from)?;
    if hex != expected.hex() {
        return Err(digest_invalid(expected, &format!("sha256:{hex}")));
    }
    Ok(())
}

/// `index` as a part index, if S3 takes that many parts.
fn part_index(id: &str, index: usize, part_size: usize) -> Result<usize> {
    if index >= MAX_PARTS {
        return Err(Error::new(
            ErrorCode::BlobUploadInvalid,
            format!("upload {id} exceeds S3's {MAX_PARTS} parts (of {part_size} bytes or more)"),
        ));
    }
    Ok(index)
}

/// What `uploads/<id>/state` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
    /// When the session began (epoch milliseconds).
    started_at_ms: u64,
    /// Bytes received.
    pub(super) size: u64,
    /// The S3 multipart upload, once the first whole part was written.
    pub(super) multipart: Option<String>,
    /// The content ids (ETags) of the parts, in order.
    pub(super) parts: Vec<String>,
    /// The hash of the bytes in `parts`.
    pub(super) hash: Sha256State,
    /// The generation of the tail object; `tail_len` bytes (0: none).
    tail_gen: u64,
    tail_len: u64,
    /// The parts were assembled into `data` for a digest the saved hash does
    /// not cover (SHA-512); the session takes no more bytes.
    #[serde(default)]
    pub(super) assembled: bool,
}

/// Upload ids become object keys: only plain names are accepted.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) fn cut_off(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::BlobUploadInvalid,
        format!("upload body was cut off: {e}"),
    )
}

pub(super) fn size_invalid(expected: u64, got: u64) -> Error {
    Error::new(
        ErrorCode::SizeInvalid,
        format!("expected {expected} bytes, received {got}"),
    )
}

impl S3BlobStore {
    pub(super) fn upload_path(&self, id: &str, name: &str) -> Path {
        self.path(&format!("uploads/{id}/{name}"))
    }

    fn tail_path(&self, id: &str, generation: u64) -> Path {
        self.upload_path(id, &format!("tail.{generation}"))
    }

    pub(super) async fn create_session(&self, id: &str) -> Result<()> {
        if !valid_id(id) {
            return Err(Error::new(
                ErrorCode::BlobUploadInvalid,
                format!("{id:?} is not a valid upload id"),
            ));
        }
        let session = Session {
            started_at_ms: millis(SystemTime::now()),
            size: 0,
            multipart: None,
            parts: Vec::new(),
            hash: Sha256State::default(),
            tail_gen: 0,
            tail_len: 0,
            assembled: false,
        };
        self.save(id, &session).await
    }

    pub(super) async fn load_session(&self, id: &str) -> Result<Option<Session>> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = self.upload_path(id, "state");
        let Some(got) = found(self.s3.get(&path).await)
            .map_err(|e| s3_error(format!("read upload {id}"), e))?
        else {
            return Ok(None);
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| s3_error(format!("read upload {id}"), e))?;
        let session = serde_json::from_slice(&bytes).map_err(|source| StorageError::Encoding {
            what: format!("upload {id} state"),
            source,
        })?;
        Ok(Some(session))
    }

    async fn session(&self, id: &str) -> Result<Session> {
        self.load_session(id)
            .await?
            .ok_or_else(|| upload_unknown(id))
    }

    async fn save(&self, id: &str, session: &Session) -> Result<()> {
        let json = serde_json::to_vec(session).map_err(|source| StorageError::Encoding {
            what: format!("upload {id} state"),
            source,
        })?;
        self.s3
            .put(&self.upload_path(id, "state"), PutPayload::from(json))
            .await
            .map_err(|e| s3_error(format!("save upload {id}"), e))?;
        Ok(())
    }

    async fn read_tail(&self, id: &str, s: &Session) -> Result<Bytes> {
        if s.tail_len == 0 {
            return Ok(Bytes::new());
        }
        let path = self.tail_path(id, s.tail_gen);
        let got = self
            .s3
            .get(&path)
            .await
            .map_err(|e| s3_error(format!("read upload {id} tail"), e))?;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| s3_error(format!("read upload {id} tail"), e))?;
        if bytes.len() as u64 != s.tail_len {
            return Err(StorageError::Corrupt(format!(
                "upload {id}: tail holds {} bytes, its state says {}",
                bytes.len(),
                s.tail_len
            ))
            .into());
        }
        Ok(bytes)
    }

    /// The session's multipart upload, created (and kept in `created`) with
    /// its first part.
    async fn multipart_for(
        &self,
        id: &str,
        target: &Path,
        s: &Session,
        created: &mut Option<String>,
    ) -> Result<String> {
        if let Some(m) = s.multipart.clone().or_else(|| created.clone()) {
            return Ok(m);
        }
        let m = self
            .s3
            .create_multipart(target)
            .await
            .map_err(|e| s3_error(format!("start upload {id}"), e))?;
        *created = Some(m.clone());
        Ok(m)
    }

    /// Writes one whole part: hashed on the blocking pool, then uploaded.
    pub(super) async fn put_part(
        &self,
        id: &str,
        target: &Path,
        multipart: &str,
        index: usize,
        part: Vec<Bytes>,
        hash: Sha256State,
    ) -> Result<(PartId, Sha256State)> {
        // Hashed on the blocking pool while it travels.
        let hashing = part.clone();
        let hash = tokio::task::spawn_blocking(move || {
            let mut hash = hash;
            for frame in &hashing {
                hash.update(frame);
            }
            hash
        });
        let multipart_id = multipart.to_owned();
        let upload = self
            .s3
            .put_part(target, &multipart_id, index, PutPayload::from_iter(part));
        let (hash, pid) = tokio::join!(hash, upload);
        let hash = hash.map_err(StorageError::from)?;
        let pid = pid.map_err(|e| s3_error(format!("upload {id} part {index}"), e))?;
        Ok((pid, hash))
    }

    /// Receives a chunk: whole parts go to S3 as they fill; the session's
    /// new state and tail are returned, not yet saved. With `direct`, a
    /// chunk that is the whole blob (the session holds nothing yet) is sent
    /// to a multipart upload at that blob's place, so that publishing it
    /// needs no copy.
    async fn receive(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        expected_len: Option<u64>,
        direct: Option<&Digest>,
    ) -> Result<Received> {
        let mut s = self.session(id).await?;
        if !s.assembled && s.hash.len() + s.tail_len != s.size {
            return Err(StorageError::Corrupt(format!(
                "upload {id}: its state counts {} bytes in parts and {} in the tail, but a size of {}",
                s.hash.len(),
                s.tail_len,
                s.size
            ))
            .into());
        }
        if s.assembled {
            return Err(Error::new(
                ErrorCode::BlobUploadInvalid,
                format!("upload {id} was assembled for verification and takes no more bytes"),
            ));
        }
        if offset != s.size {
            return Err(Error::with_detail(
                ErrorCode::RangeInvalid,
                format!("upload holds {} bytes, chunk starts at {offset}", s.size),
                serde_json::json!({ "offset": s.size }),
            ));
        }
        let fresh = s.size == 0 && s.multipart.is_none() && s.tail_len == 0;
        let (target, direct) = match direct {
            Some(d) if fresh && d.algorithm() == Algorithm::Sha256 => (self.blob_path(d), true),
            _ => (self.upload_path(id, "data"), false),
        };
        let mut buf = PartBuffer::default();
        buf.push(self.read_tail(id, &s).await?);
        let mut created: Option<String> = None;
        let mut new_parts = Vec::new();
        let mut hash = s.hash.clone();
        let mut received = 0u64;
        let outcome: Result<()> = async {
            loop {
                let streamable = expected_len.and_then(|expected| {
                    streamable_part(buf.len(), received, expected, self.part_size)
                        .map(|size| (expected, size))
                });
                if let Some((expected, size)) = streamable {
                    let multipart = self.multipart_for(id, &target, &s, &mut created).await?;
                    let index = part_index(id, s.parts.len() + new_parts.len(), self.part_size)?;
                    let src = PartSource {
                        held: &mut buf,
                        body: &mut body,
                        received: &mut received,
                        expected,
                        size,
                    };
                    let (etag, next) = self
                        .stream_part(
                            id,
                            &target,
                            &multipart,
                            index,
                            src,
                            std::mem::take(&mut hash),
                        )
                        .await?;
                    hash = next;
                    new_parts.push(etag);
                    continue;
                }
                let Some(chunk) = body.next().await else {
                    break;
                };
                let chunk = chunk.map_err(cut_off)?;
                received += chunk.len() as u64;
                if let Some(exp) = expected_len.filter(|exp| received > *exp) {
                    return Err(size_invalid(exp, received));
                }
                buf.push(chunk);
                while let Some(part) = buf.take_part(self.part_size) {
                    let multipart = self.multipart_for(id, &target, &s, &mut created).await?;
                    let index = part_index(id, s.parts.len() + new_parts.len(), self.part_size)?;
                    let (pid, next) = self
                        .put_part(
                            id,
                            &target,
                            &multipart,
                            index,
                            part,
                            std::mem::take(&mut hash),
                        )
                        .await?;
                    hash = next;
                    new_parts.push(pid.content_id);
                }
            }
            if let Some(exp) = expected_len.filter(|exp| received != *exp) {
                return Err(size_invalid(exp, received));
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            if let Some(m) = created {
                // Nothing names it: without this it would only cost money.
                let _ = self.s3.abort_multipart(&target, &m).await;
            }
            return Err(e);
        }
        let old_tail = (s.tail_gen, s.tail_len);
        let tail_changed =
            received > 0 && (buf.len() as u64 != s.tail_len || !new_parts.is_empty());
        let tail: Bytes = buf.into_frames().concat().into();
        if tail_changed {
            s.tail_gen += 1;
            s.tail_len = tail.len() as u64;
        }
        s.size += received;
        s.parts.extend(new_parts);
        s.hash = hash;
        if s.multipart.is_none() {
            s.multipart = created;
        }
        Ok(Received {
            session: s,
            tail,
            old_tail: tail_changed.then_some(old_tail),
            target,
            direct,
        })
    }

    /// Saves a received chunk: its tail under a new name, then the state
    /// (the point at which the chunk counts), then the old tail goes.
    async fn persist(&self, id: &str, r: Received) -> Result<u64> {
        let s = r.session;
        if let Some(old) = r.old_tail {
            if !r.tail.is_empty() {
                self.s3
                    .put(&self.tail_path(id, s.tail_gen), PutPayload::from(r.tail))
                    .await
                    .map_err(|e| s3_error(format!("upload {id} tail"), e))?;
            }
            self.save(id, &s).await?;
            if old.1 > 0 {
                let _ = self.s3.delete(&self.tail_path(id, old.0)).await;
            }
        } else {
            self.save(id, &s).await?;
        }
        Ok(s.size)
    }

    pub(super) async fn append(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let received = self.receive(id, offset, body, expected_len, None).await?;
        self.persist(id, received).await
    }

    /// The last chunk and the commit of one request: when the digest is
    /// SHA-256 the tail goes straight into the blob, never written to the
    /// bucket and read back, and a chunk that is the whole blob is written
    /// at the blob's place (`publish_direct`). A mismatch saves the chunk,
    /// as an append and a failed commit would leave it, except in that last
    /// case, where the session ends.
    pub(super) async fn append_then_commit(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
        expected: &Digest,
    ) -> Result<u64> {
        let received = self
            .receive(id, offset, body, expected_len, Some(expected))
            .await?;
        if received.direct {
            return self.publish_direct(id, received, expected).await;
        }
        if expected.algorithm() != Algorithm::Sha256 {
            self.persist(id, received).await?;
            return self.commit(id, expected).await;
        }
        if let Err(e) = verify_sha256(&received.session, &received.tail, expected).await {
            self.persist(id, received).await?;
            return Err(e);
        }
        self.publish_session(id, received.session, received.tail, expected)
            .await
    }

    pub(super) async fn commit(&self, id: &str, expected: &Digest) -> Result<u64> {
        let mut s = self.session(id).await?;
        if !s.assembled && expected.algorithm() == Algorithm::Sha256 {
            let tail = self.read_tail(id, &s).await?;
            verify_sha256(&s, &tail, expected).await?;
            return self.publish_session(id, s, tail, expected).await;
        }
        let data = self.upload_path(id, "data");
        if !s.assembled {
            let tail = self.read_tail(id, &s).await?;
            if s.multipart.is_none() {
                self.s3
                    .put(&data, PutPayload::from(tail))
                    .await
                    .map_err(|e| s3_error(format!("assemble upload {id}"), e))?;
            } else {
                self.assemble(id, &mut s, tail).await?;
            }
            s.assembled = true;
            self.save(id, &s).await?;
        }
        let actual = self.hash_object(&data, expected.algorithm()).await?;
        if &actual != expected {
            return Err(digest_invalid(expected, &actual.to_string()));
        }
        if !self.published(expected, s.size).await? {
            self.publish(&data, expected).await?;
        }
        let size = s.size;
        s.multipart = None;
        self.remove_session(id, &s).await;
        Ok(size)
    }

    async fn hash_object(&self, path: &Path, algorithm: Algorithm) -> Result<Digest> {
        let got = self
            .s3
            .get(path)
            .await
            .map_err(|e| s3_error("read assembled upload", e))?;
        let mut stream = got.into_stream();
        let mut hasher = Some(Hasher::new(algorithm));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| s3_error("read assembled upload", e))?;
            let mut h = hasher.take().ok_or_else(|| {
                Error::new(ErrorCode::Unknown, "hasher lost while reading an upload")
            })?;
            h = tokio::task::spawn_blocking(move || {
                h.update(&chunk);
                h
            })
            .await
            .map_err(StorageError::from)?;
            hasher = Some(h);
        }
        hasher
            .map(Hasher::finish)
            .ok_or_else(|| Error::new(ErrorCode::Unknown, "hasher lost while reading an upload"))
    }

    /// Deletes what a session left: data and tails first, the state last,
    /// so that an interrupted removal is still listed and purged later.
    pub(super) async fn remove_session(&self, id: &str, s: &Session) {
        if !s.assembled {
            if let Some(m) = &s.multipart {
                // Completed already when committed; a no-op answer is fine.
                let _ = self
                    .s3
                    .abort_multipart(&self.upload_path(id, "data"), m)
                    .await;
            }
        }
        self.delete_session_objects(id).await;
    }

    /// Deletes every object of session `id`, its state last.
    async fn delete_session_objects(&self, id: &str) {
        let prefix = self.path(&format!("uploads/{id}"));
        let state = self.upload_path(id, "state");
        let listed: Vec<Path> = self
            .s3
            .list(Some(&prefix))
            .filter_map(|m| futures::future::ready(m.ok().map(|m| m.location)))
            .collect()
            .await;
        for path in listed.iter().filter(|p| **p != state) {
            let _ = self.s3.delete(path).await;
        }
        let _ = self.s3.delete(&state).await;
    }

    pub(super) async fn abort(&self, id: &str) -> Result<()> {
        if !valid_id(id) {
            return Ok(());
        }
        let s = self.load_session(id).await?;
        match s {
            Some(s) => self.remove_session(id, &s).await,
            // Leftovers of an interrupted removal, if any.
            None => self.delete_session_objects(id).await,
        }
        Ok(())
    }

    pub(super) async fn sessions(&self) -> Result<Vec<UploadInfo>> {
        let root = self.path("uploads");
        let skip = root.parts().count();
        let mut stream = self.s3.list(Some(&root));
        // Each session's id with its oldest object's time, which stands for
        // its start when the state itself is gone (an interrupted removal).
        let mut found_ids: std::collections::BTreeMap<String, SystemTime> = Default::default();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| s3_error("list uploads", e))?;
            let Some(id) = meta.location.parts().nth(skip) else {
                continue;
            };
            let modified = UNIX_EPOCH
                + Duration::from_millis(meta.last_modified.timestamp_millis().max(0) as u64);
            let entry = found_ids.entry(id.as_ref().to_owned()).or_insert(modified);
            *entry = (*entry).min(modified);
        }
        let mut out = Vec::with_capacity(found_ids.len());
        for (id, oldest) in found_ids {
            let started_at = match self.load_session(&id).await {
                Ok(Some(s)) => UNIX_EPOCH + Duration::from_millis(s.started_at_ms),
                _ => oldest,
            };
            out.push(UploadInfo { id, started_at });
        }
        Ok(out)
    }
}

fn digest_invalid(expected: &Digest, actual: &str) -> Error {
    Error::with_detail(
        ErrorCode::DigestInvalid,
        format!("content has digest {actual}, not {expected}"),
        serde_json::json!({ "expected": expected.to_string(), "actual": actual }),
    )
}
