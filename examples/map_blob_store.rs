//! `MapBlobStore`: a minimal third-party `BlobStore`, blobs and upload
//! sessions in maps. Only the ten required methods; `put` and `open_local`
//! keep their defaults. Used by the `custom_blob_store` example (which runs
//! the conformance suite on it) and the `mount_api` example (which serves
//! the registry from it).

use std::collections::HashMap;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use harbor_core::blob_store::{blob_unknown, upload_unknown};
use harbor_core::ErrorCode::{BlobUploadInvalid, DigestInvalid, RangeInvalid, SizeInvalid};
use harbor_core::{
    bytes_stream, BlobStore, ByteStream, Digest, Error, Result, StoredBlob, UploadInfo,
};
use tokio::sync::Mutex;

/// Blobs by digest, and upload sessions with their bytes so far.
#[derive(Debug, Default)]
pub(crate) struct MapBlobStore {
    blobs: Mutex<HashMap<Digest, Bytes>>,
    uploads: Mutex<HashMap<String, (Vec<u8>, UploadInfo)>>,
}

#[async_trait]
impl BlobStore for MapBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.blobs.lock().await.get(digest).map(|b| b.len() as u64))
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream> {
        let blob = self.blobs.lock().await.get(digest).cloned();
        let blob = blob.ok_or_else(|| blob_unknown(digest))?;
        let r = range.unwrap_or(0..blob.len() as u64); // already within the blob
        Ok(bytes_stream(blob.slice(r.start as usize..r.end as usize)))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        Ok(self.blobs.lock().await.remove(digest).is_some())
    }

    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob>>> {
        let blobs: Vec<_> = self
            .blobs
            .lock()
            .await
            .iter()
            .map(|(digest, data)| {
                Ok(StoredBlob {
                    digest: digest.clone(),
                    size: data.len() as u64,
                })
            })
            .collect();
        Ok(stream::iter(blobs).boxed())
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        let info = UploadInfo {
            id: id.to_owned(),
            started_at: SystemTime::now(),
        };
        self.uploads.lock().await.insert(id.into(), (vec![], info));
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        Ok(self.uploads.lock().await.get(id).map(|u| u.0.len() as u64))
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        // The whole chunk first, so that a failed one changes nothing.
        let cut_off = |e: std::io::Error| Error::new(BlobUploadInvalid, e.to_string());
        let chunk: Vec<Bytes> = body.try_collect().await.map_err(cut_off)?;
        let chunk = chunk.concat();
        if expected_len.is_some_and(|n| n != chunk.len() as u64) {
            return Err(Error::new(SizeInvalid, "wrong chunk length"));
        }
        let mut uploads = self.uploads.lock().await;
        let (data, _) = uploads.get_mut(id).ok_or_else(|| upload_unknown(id))?;
        if data.len() as u64 != offset {
            return Err(Error::new(RangeInvalid, "chunk at the wrong offset"));
        }
        data.extend_from_slice(&chunk);
        Ok(data.len() as u64)
    }

    async fn commit_upload(&self, id: &str, digest: &Digest) -> Result<u64> {
        let mut uploads = self.uploads.lock().await;
        let (data, _) = uploads.get(id).ok_or_else(|| upload_unknown(id))?;
        if Digest::compute(digest.algorithm(), data) != *digest {
            return Err(Error::new(DigestInvalid, "the content has another digest"));
        }
        let (data, _) = uploads.remove(id).ok_or_else(|| upload_unknown(id))?;
        let size = data.len() as u64;
        self.blobs.lock().await.insert(digest.clone(), data.into());
        Ok(size)
    }

    async fn abort_upload(&self, id: &str) -> Result<()> {
        self.uploads.lock().await.remove(id);
        Ok(())
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        let uploads = self.uploads.lock().await;
        Ok(uploads.values().map(|(_, info)| info.clone()).collect())
    }
}
