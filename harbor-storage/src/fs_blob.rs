//! `FsBlobStore`: blobs on a local file system.
//!
//! Layout under the root directory:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: published blobs, immutable;
//! - `uploads/<id>/data` and `uploads/<id>/startedat`: open upload sessions.
//!
//! An upload is appended to its session file, fsynced before each chunk is
//! acknowledged, then verified and renamed into `blobs/`, and the directory is
//! fsynced. A crash at any point leaves either no blob or the whole verified
//! blob, and upload sessions survive a restart. Digests are computed in the
//! same pass that writes; after a restart the hash is recomputed from disk.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use harbor_core::blob_store::{blob_unknown, upload_unknown};
use harbor_core::{
    Algorithm, BlobStore, ByteStream, Digest, Error, ErrorCode, Hasher, LocalFile, Result,
    StoredBlob, UploadInfo,
};

use crate::error::StorageError;

/// Bytes gathered from the network before one blocking write.
const WRITE_BATCH: usize = 1024 * 1024;
/// Read size when streaming a blob out.
const READ_CHUNK: usize = 256 * 1024;
/// Chunks read ahead of the network per blob being sent: with the one being
/// read and the one being written, 768 KiB per stream at most, so that 32
/// clients pulling at once stay well under 64 MiB.
const READ_AHEAD: usize = 1;

/// A crash-safe, content-addressed blob store in a local directory.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<HashState>>>>,
}

/// The running hash of an upload, valid while `hashed` equals its size.
#[derive(Debug, Default)]
struct HashState {
    hasher: Option<Hasher>,
    hashed: u64,
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`. Call at start-up,
    /// not on an async worker: it creates directories synchronously.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        for dir in ["blobs", "uploads"] {
            let p = root.join(dir);
            std::fs::create_dir_all(&p).map_err(|e| StorageError::io(&p, e))?;
        }
        Ok(FsBlobStore {
            root,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_dir(&self, id: &str) -> Result<PathBuf> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(upload_unknown(id));
        }
        Ok(self.root.join("uploads").join(id))
    }

    fn session_state(&self, id: &str) -> Arc<tokio::sync::Mutex<HashState>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    fn forget_session(&self, id: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

/// Streams `len` bytes of `file` from its current position: one blocking
/// task reads `READ_CHUNK`s straight into the buffers handed to the network
/// (one copy, from the page cache), at most `READ_AHEAD` ahead, and stops
/// when the reader goes away.
fn read_ahead(file: std::fs::File, len: u64, path: PathBuf) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut left = len;
        while left > 0 {
            let n = left.min(READ_CHUNK as u64);
            let mut buf = Vec::with_capacity(n as usize);
            let item = match (&mut file).take(n).read_to_end(&mut buf) {
                Ok(k) if k as u64 == n => {
                    left -= n;
                    Ok(Bytes::from(buf))
                }
                Ok(_) => Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("{} ended {left} bytes early", path.display()),
                )),
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
    .boxed()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await?
}

fn sync_dir(path: &Path) -> Result<(), StorageError> {
    std::fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(path, e))
}

fn system_time_from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Moves the session file and hasher between the async side and blocking
/// writes, so that a failed write still leaves the file in hand for rollback.
struct ChunkWriter {
    file: Option<std::fs::File>,
    hasher: Option<Hasher>,
    path: PathBuf,
}

impl ChunkWriter {
    async fn write(&mut self, bufs: Vec<Bytes>) -> Result<(), StorageError> {
        if bufs.is_empty() {
            return Ok(());
        }
        let mut file = self
            .file
            .take()
            .ok_or_else(|| StorageError::Corrupt("upload writer used after failure".into()))?;
        let mut hasher = self.hasher.take();
        let (file, hasher, res) = tokio::task::spawn_blocking(move || {
            let mut res = Ok(());
            for b in &bufs {
                if let Err(e) = file.write_all(b) {
                    res = Err(e);
                    break;
                }
                if let Some(h) = hasher.as_mut() {
                    h.update(b);
                }
            }
            (file, hasher, res)
        })
        .await?;
        self.file = Some(file);
        self.hasher = hasher;
        res.map_err(|e| StorageError::io(&self.path, e))
    }

    /// Makes what was written durable.
    async fn sync(&mut self) -> Result<(), StorageError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| StorageError::Corrupt("upload writer used after failure".into()))?;
        let path = self.path.clone();
        let file = blocking(move || {
            file.sync_data().map_err(|e| StorageError::io(&path, e))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        Ok(())
    }

    /// Cuts the file back to `len` bytes, undoing a failed chunk.
    async fn rollback(mut self, len: u64) -> Result<(), StorageError> {
        let path = self.path.clone();
        let file = match self.file.take() {
            Some(f) => f,
            None => std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| StorageError::io(&path, e))?,
        };
        blocking(move || {
            file.set_len(len)
                .and_then(|_| file.sync_data())
                .map_err(|e| StorageError::io(&path, e))
        })
        .await
    }
}

async fn hash_file(path: PathBuf, algorithm: Algorithm) -> Result<Digest, StorageError> {
    blocking(move || {
        let mut f = std::fs::File::open(&path).map_err(|e| StorageError::io(&path, e))?;
        let mut h = Hasher::new(algorithm);
        let mut buf = vec![0u8; WRITE_BATCH];
        loop {
            let n = f.read(&mut buf).map_err(|e| StorageError::io(&path, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finish())
    })
    .await
}

fn size_invalid(expected: u64, got: u64) -> Error {
    Error::with_detail(
        ErrorCode::SizeInvalid,
        format!("expected {expected} bytes, received {got}"),
        serde_json::json!({ "expected": expected, "received": got }),
    )
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(self.blob_path(digest), e).into()),
        }
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream> {
        let path = self.blob_path(digest);
        // Open, size and seek in one hop to the blocking pool; a missing blob
        // is an error now, before any byte is promised.
        let opened = blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StorageError::io(&path, e)),
            };
            let (start, len) = match range {
                Some(r) => (r.start, r.end.saturating_sub(r.start)),
                None => {
                    let len = file
                        .metadata()
                        .map_err(|e| StorageError::io(&path, e))?
                        .len();
                    (0, len)
                }
            };
            if start > 0 {
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
                    .map_err(|e| StorageError::io(&path, e))?;
            }
            Ok(Some((file, len, path)))
        })
        .await?;
        let Some((file, len, path)) = opened else {
            return Err(blob_unknown(digest));
        };
        Ok(read_ahead(file, len, path))
    }

    async fn open_local(&self, digest: &Digest) -> Result<Option<LocalFile>> {
        let path = self.blob_path(digest);
        // Published blobs are immutable (a new push of the same digest renames
        // identical bytes over it), so the open file stays valid to send.
        let opened = blocking(move || {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StorageError::io(&path, e)),
            };
            let size = file
                .metadata()
                .map_err(|e| StorageError::io(&path, e))?
                .len();
            Ok(Some(LocalFile { file, size }))
        })
        .await?;
        opened.map(Some).ok_or_else(|| blob_unknown(digest))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io(&path, e).into()),
        }
    }

    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob>>> {
        // One two-hex-digit directory at a time, so that a store of millions
        // of blobs is listed in memory of one directory's names.
        let root = self.root.join("blobs");
        let dirs = blocking(move || {
            let mut dirs = Vec::new();
            for alg in ["sha256", "sha512"] {
                let alg_dir = root.join(alg);
                let Ok(prefixes) = std::fs::read_dir(&alg_dir) else {
                    continue;
                };
                for prefix in prefixes {
                    let prefix = prefix.map_err(|e| StorageError::io(&alg_dir, e))?;
                    dirs.push((alg, prefix.path()));
                }
            }
            dirs.sort();
            Ok(dirs)
        })
        .await?;
        let listing = stream::iter(dirs)
            .then(|(alg, dir)| {
                blocking(move || {
                    let mut out = Vec::new();
                    let files = std::fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
                    for file in files {
                        let file = file.map_err(|e| StorageError::io(&dir, e))?;
                        let name = file.file_name();
                        let Ok(digest) =
                            Digest::parse(&format!("{alg}:{}", name.to_string_lossy()))
                        else {
                            continue;
                        };
                        match file.metadata() {
                            Ok(meta) => out.push(StoredBlob {
                                digest,
                                size: meta.len(),
                            }),
                            // Deleted since the directory was read.
                            Err(e) if e.kind() == ErrorKind::NotFound => {}
                            Err(e) => return Err(StorageError::io(file.path(), e)),
                        }
                    }
                    out.sort_by(|a, b| a.digest.cmp(&b.digest));
                    Ok(out)
                })
            })
            .flat_map(|found| match found {
                Ok(digests) => stream::iter(digests.into_iter().map(Ok)).left_stream(),
                Err(e) => stream::iter(std::iter::once(Err(e.into()))).right_stream(),
            });
        Ok(listing.boxed())
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        let dir = self.upload_dir(id)?;
        let id = id.to_owned();
        blocking(move || {
            std::fs::create_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
            let data = dir.join("data");
            std::fs::File::create(&data)
                .and_then(|f| f.sync_all())
                .map_err(|e| StorageError::io(&data, e))?;
            let started = dir.join("startedat");
            std::fs::write(&started, millis(SystemTime::now()).to_string())
                .map_err(|e| StorageError::io(&started, e))?;
            sync_dir(&dir)?;
            sync_dir(dir.parent().unwrap_or(&dir))?;
            tracing::trace!(%id, "upload session created");
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        let data = self.upload_dir(id)?.join("data");
        match tokio::fs::metadata(&data).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(data, e).into()),
        }
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let data = self.upload_dir(id)?.join("data");
        let state = self.session_state(id);
        let mut state = state.lock().await;
        let path = data.clone();
        let opened = blocking(
            move || match std::fs::OpenOptions::new().append(true).open(&path) {
                Ok(f) => {
                    let len = f.metadata().map_err(|e| StorageError::io(&path, e))?.len();
                    Ok(Some((f, len)))
                }
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StorageError::io(&path, e)),
            },
        )
        .await?;
        let Some((file, len)) = opened else {
            return Err(upload_unknown(id));
        };
        if len != offset {
            return Err(Error::with_detail(
                ErrorCode::RangeInvalid,
                format!("upload holds {len} bytes, chunk starts at {offset}"),
                serde_json::json!({ "offset": len }),
            ));
        }
        let hasher = if offset == 0 {
            Some(Hasher::new(Algorithm::Sha256))
        } else if state.hashed == offset {
            state.hasher.clone()
        } else {
            None
        };
        let mut writer = ChunkWriter {
            file: Some(file),
            hasher,
            path: data,
        };
        let written: Result<u64> = async {
            let mut total = 0u64;
            let mut pending = Vec::new();
            let mut pending_len = 0usize;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    Error::new(
                        ErrorCode::BlobUploadInvalid,
                        format!("upload body was cut off: {e}"),
                    )
                })?;
                total += chunk.len() as u64;
                if let Some(exp) = expected_len.filter(|exp| total > *exp) {
                    return Err(size_invalid(exp, total));
                }
                pending_len += chunk.len();
                pending.push(chunk);
                if pending_len >= WRITE_BATCH {
                    writer.write(std::mem::take(&mut pending)).await?;
                    pending_len = 0;
                }
            }
            writer.write(pending).await?;
            if let Some(exp) = expected_len.filter(|exp| total != *exp) {
                return Err(size_invalid(exp, total));
            }
            writer.sync().await?;
            Ok(total)
        }
        .await;
        match written {
            Ok(total) => {
                state.hasher = writer.hasher.take();
                state.hashed = offset + total;
                Ok(offset + total)
            }
            Err(e) => {
                writer.rollback(offset).await?;
                Err(e)
            }
        }
    }

    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64> {
        let dir = self.upload_dir(id)?;
        let data = dir.join("data");
        let state = self.session_state(id);
        let state = state.lock().await;
        let size = match tokio::fs::metadata(&data).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(upload_unknown(id)),
            Err(e) => return Err(StorageError::io(&data, e).into()),
        };
        let running = state
            .hasher
            .as_ref()
            .filter(|h| state.hashed == size && h.algorithm() == expected.algorithm());
        let actual = match running {
            Some(h) => h.clone().finish(),
            None => hash_file(data.clone(), expected.algorithm()).await?,
        };
        if &actual != expected {
            return Err(Error::with_detail(
                ErrorCode::DigestInvalid,
                format!("uploaded content has digest {actual}, not {expected}"),
                serde_json::json!({ "digest": expected.to_string() }),
            ));
        }
        let target = self.blob_path(expected);
        blocking(move || {
            let parent = target.parent().unwrap_or(&target).to_path_buf();
            std::fs::create_dir_all(&parent).map_err(|e| StorageError::io(&parent, e))?;
            if !target.exists() {
                std::fs::rename(&data, &target).map_err(|e| StorageError::io(&target, e))?;
                sync_dir(&parent)?;
            }
            std::fs::remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            Ok(())
        })
        .await?;
        drop(state);
        self.forget_session(id);
        Ok(size)
    }

    async fn abort_upload(&self, id: &str) -> Result<()> {
        let dir = self.upload_dir(id)?;
        let state = self.session_state(id);
        let guard = state.lock().await;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&dir, e).into()),
        }
        drop(guard);
        self.forget_session(id);
        Ok(())
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        let uploads = self.root.join("uploads");
        let infos = blocking(move || {
            let mut out = Vec::new();
            let entries = std::fs::read_dir(&uploads).map_err(|e| StorageError::io(&uploads, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| StorageError::io(&uploads, e))?;
                let id = entry.file_name().to_string_lossy().into_owned();
                let started = std::fs::read_to_string(entry.path().join("startedat"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(system_time_from_millis)
                    .or_else(|| entry.metadata().and_then(|m| m.modified()).ok())
                    .unwrap_or(UNIX_EPOCH);
                out.push(UploadInfo {
                    id,
                    started_at: started,
                });
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
        .await?;
        Ok(infos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbor_core::bytes_stream;

    #[tokio::test]
    async fn a_blob_is_published_atomically_under_its_digest_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let digest = Digest::sha256(b"hello");
        store
            .put(&digest, bytes_stream(&b"hello"[..]), Some(5))
            .await
            .unwrap();
        let path = dir
            .path()
            .join("blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex());
        assert_eq!(std::fs::read(path).ok().as_deref(), Some(&b"hello"[..]));
        // Nothing left behind in uploads/.
        assert_eq!(
            std::fs::read_dir(dir.path().join("uploads"))
                .map(|d| d.count())
                .ok(),
            Some(0)
        );
    }

    #[tokio::test]
    async fn an_upload_survives_a_restart_and_is_rehashed_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::sha256(b"first second");
        {
            let store = FsBlobStore::open(dir.path()).unwrap();
            store.create_upload("u1").await.unwrap();
            store
                .append_upload("u1", 0, bytes_stream(&b"first "[..]), None)
                .await
                .unwrap();
        }
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(store.upload_size("u1").await.ok().flatten(), Some(6));
        store
            .append_upload("u1", 6, bytes_stream(&b"second"[..]), Some(6))
            .await
            .unwrap();
        assert_eq!(store.commit_upload("u1", &digest).await.ok(), Some(12));
        assert_eq!(store.stat(&digest).await.ok().flatten(), Some(12));
    }

    #[tokio::test]
    async fn ids_that_could_escape_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        for bad in ["../x", "a/b", "", "."] {
            let e = store.create_upload(bad).await.err().map(|e| e.code());
            assert_eq!(e, Some(ErrorCode::BlobUploadUnknown), "{bad:?}");
        }
    }
}
