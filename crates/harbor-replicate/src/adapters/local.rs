//! The `local` adapter: the in-process `Registry` engine, so that replication
//! into or out of the embedding program moves no bytes over HTTP.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::{ByteStream, Digest, ErrorCode, Reference, Registry, RepositoryName};

use crate::adapter::{AdapterInfo, PulledManifest, RegistryAdapter};
use crate::error::Result;

/// The embedded registry as a replication source or destination.
#[derive(Debug, Clone)]
pub struct Local {
    registry: Registry,
}

impl Local {
    /// An adapter over `registry`.
    pub fn new(registry: Registry) -> Self {
        Local { registry }
    }
}

fn repo(name: &str) -> Result<RepositoryName> {
    Ok(RepositoryName::parse(name)?)
}

fn reference(r: &str) -> Result<Reference> {
    Ok(Reference::parse(r)?)
}

#[async_trait]
impl RegistryAdapter for Local {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: "local".into(),
            supports_mount: true,
            max_page: harbor_core::registry::MAX_PAGE,
        }
    }

    async fn health(&self) -> Result<()> {
        self.registry
            .meta_store()
            .list_repositories(None, 1)
            .await?;
        Ok(())
    }

    async fn list_repositories(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let (page, more) = self
                .registry
                .catalog(out.last().map(String::as_str), None)
                .await?;
            out.extend(page);
            if !more {
                return Ok(out);
            }
        }
    }

    async fn list_tags(&self, name: &str) -> Result<Vec<String>> {
        let r = repo(name)?;
        let mut out: Vec<String> = Vec::new();
        loop {
            let (page, more) = self
                .registry
                .list_tags(&r, out.last().map(String::as_str), None)
                .await?;
            out.extend(page);
            if !more {
                return Ok(out);
            }
        }
    }

    async fn manifest_digest(&self, name: &str, r: &str) -> Result<Option<Digest>> {
        match self
            .registry
            .get_manifest(&repo(name)?, &reference(r)?, None)
            .await
        {
            Ok(m) => Ok(Some(m.digest)),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::ManifestUnknown | ErrorCode::NameUnknown
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn pull_manifest(&self, name: &str, r: &str) -> Result<PulledManifest> {
        let m = self
            .registry
            .get_manifest(&repo(name)?, &reference(r)?, None)
            .await?;
        Ok(PulledManifest {
            payload: m.payload,
            media_type: m.media_type,
            digest: m.digest,
        })
    }

    async fn push_manifest(
        &self,
        name: &str,
        r: &str,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest> {
        let pushed = self
            .registry
            .put_manifest(&repo(name)?, &reference(r)?, Some(media_type), payload)
            .await?;
        Ok(pushed.digest)
    }

    async fn delete_manifest(&self, name: &str, r: &str) -> Result<()> {
        Ok(self
            .registry
            .delete_manifest(&repo(name)?, &reference(r)?)
            .await?)
    }

    async fn blob_size(&self, name: &str, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.registry.stat_blob(&repo(name)?, digest).await?)
    }

    async fn pull_blob(&self, name: &str, digest: &Digest) -> Result<(u64, ByteStream)> {
        let b = self.registry.get_blob(&repo(name)?, digest, None).await?;
        Ok((b.size, b.body))
    }

    async fn push_blob(
        &self,
        name: &str,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()> {
        self.registry
            .put_blob(&repo(name)?, digest, body, Some(size))
            .await?;
        Ok(())
    }

    async fn mount_blob(&self, name: &str, digest: &Digest, from: &str) -> Result<bool> {
        Ok(self
            .registry
            .mount_blob(&repo(name)?, digest, Some(&repo(from)?))
            .await?
            .is_some())
    }

    async fn prepare_for_push(&self, _repos: &[String]) -> Result<()> {
        Ok(())
    }
}

/// Reads a whole stream (small bodies only; used by tests).
pub async fn collect(stream: ByteStream) -> std::io::Result<Vec<u8>> {
    let parts: Vec<Bytes> = stream.try_collect().await?;
    Ok(parts.concat())
}
