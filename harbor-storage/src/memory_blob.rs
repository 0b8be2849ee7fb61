//! `MemoryBlobStore`: blobs held in memory, for tests and short-lived embeddings.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use harbor_core::blob_store::{blob_unknown, upload_unknown};
use harbor_core::{
    BlobStore, ByteStream, Digest, Error, ErrorCode, Result, StoredBlob, UploadInfo,
};

/// A blob store in memory. Everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    blobs: BTreeMap<Digest, Bytes>,
    uploads: HashMap<String, Upload>,
}

#[derive(Debug)]
struct Upload {
    data: BytesMut,
    started_at: SystemTime,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.lock().blobs.get(digest).map(|b| b.len() as u64))
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream> {
        let blob = self
            .lock()
            .blobs
            .get(digest)
            .cloned()
            .ok_or_else(|| blob_unknown(digest))?;
        let part = match range {
            Some(r) => {
                let end = (r.end as usize).min(blob.len());
                blob.slice((r.start as usize).min(end)..end)
            }
            None => blob,
        };
        Ok(stream::once(async move { Ok(part) }).boxed())
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        Ok(self.lock().blobs.remove(digest).is_some())
    }

    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob>>> {
        let blobs: Vec<StoredBlob> = self
            .lock()
            .blobs
            .iter()
            .map(|(digest, data)| StoredBlob {
                digest: digest.clone(),
                size: data.len() as u64,
            })
            .collect();
        Ok(stream::iter(blobs.into_iter().map(Ok)).boxed())
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        self.lock().uploads.insert(
            id.to_owned(),
            Upload {
                data: BytesMut::new(),
                started_at: SystemTime::now(),
            },
        );
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        Ok(self.lock().uploads.get(id).map(|u| u.data.len() as u64))
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let check_offset = |inner: &Inner| -> Result<()> {
            let len = inner
                .uploads
                .get(id)
                .ok_or_else(|| upload_unknown(id))?
                .data
                .len() as u64;
            if len != offset {
                return Err(Error::with_detail(
                    ErrorCode::RangeInvalid,
                    format!("upload holds {len} bytes, chunk starts at {offset}"),
                    serde_json::json!({ "offset": len }),
                ));
            }
            Ok(())
        };
        check_offset(&self.lock())?;
        // Gather the chunk aside so that a failed one changes nothing.
        let mut chunk = BytesMut::new();
        while let Some(part) = body.next().await {
            let part = part.map_err(|e| {
                Error::new(
                    ErrorCode::BlobUploadInvalid,
                    format!("upload body was cut off: {e}"),
                )
            })?;
            chunk.extend_from_slice(&part);
            if expected_len.is_some_and(|exp| chunk.len() as u64 > exp) {
                break;
            }
        }
        if let Some(exp) = expected_len.filter(|exp| chunk.len() as u64 != *exp) {
            return Err(Error::new(
                ErrorCode::SizeInvalid,
                format!("expected {exp} bytes, received {}", chunk.len()),
            ));
        }
        let mut inner = self.lock();
        check_offset(&inner)?;
        let upload = inner
            .uploads
            .get_mut(id)
            .ok_or_else(|| upload_unknown(id))?;
        upload.data.extend_from_slice(&chunk);
        Ok(upload.data.len() as u64)
    }

    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64> {
        let mut inner = self.lock();
        let upload = inner.uploads.get(id).ok_or_else(|| upload_unknown(id))?;
        let actual = Digest::compute(expected.algorithm(), &upload.data);
        if &actual != expected {
            return Err(Error::new(
                ErrorCode::DigestInvalid,
                format!("uploaded content has digest {actual}, not {expected}"),
            ));
        }
        let upload = inner.uploads.remove(id).ok_or_else(|| upload_unknown(id))?;
        let size = upload.data.len() as u64;
        inner.blobs.insert(actual, upload.data.freeze());
        Ok(size)
    }

    async fn abort_upload(&self, id: &str) -> Result<()> {
        self.lock().uploads.remove(id);
        Ok(())
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        let mut out: Vec<UploadInfo> = self
            .lock()
            .uploads
            .iter()
            .map(|(id, u)| UploadInfo {
                id: id.clone(),
                started_at: u.started_at,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
