//! The `local` adapter: the in-process `Registry` engine, so that replication
//! into or out of the embedding program moves no bytes over HTTP.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::{
    ByteStream, Digest, ErrorCode, Reference, Registry, RegistryType, RepositoryName,
};

use crate::adapter::{AdapterInfo, PulledManifest, RegistryAdapter};
use crate::error::Result;

/// What to do before pushing into repositories (e.g. create their projects).
pub type PrepareHook = std::sync::Arc<
    dyn Fn(Vec<String>) -> futures::future::BoxFuture<'static, Result<()>> + Send + Sync,
>;

/// The embedded registry as a replication source or destination.
#[derive(Clone)]
pub struct Local {
    registry: Registry,
    prepare: Option<PrepareHook>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Local {
    /// The name this adapter reports as its type, `local`.
    ///
    /// It is `RegistryType::Other("local")` rather than a variant of its own:
    /// the embedded registry is never a stored endpoint (a policy's local
    /// end is implicit, as in Harbor), so no factory makes it and no
    /// `RegistryRecord` should name it; a variant would invite both.
    pub const TYPE: &'static str = "local";

    /// An adapter over `registry`.
    pub fn new(registry: Registry) -> Self {
        Local {
            registry,
            prepare: None,
        }
    }

    /// An adapter that runs `hook` before pushes (the server creates missing
    /// projects with it).
    pub fn with_prepare(registry: Registry, hook: PrepareHook) -> Self {
        Local {
            registry,
            prepare: Some(hook),
        }
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
            kind: RegistryType::Other(Local::TYPE.into()),
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

    async fn pull_blob_from(&self, name: &str, digest: &Digest, offset: u64) -> Result<ByteStream> {
        let b = self
            .registry
            .get_blob(
                &repo(name)?,
                digest,
                Some(harbor_core::ByteRange::From(offset)),
            )
            .await?;
        Ok(b.body)
    }

    async fn mount_blob(&self, name: &str, digest: &Digest, from: &str) -> Result<bool> {
        Ok(self
            .registry
            .mount_blob(&repo(name)?, digest, Some(&repo(from)?))
            .await?
            .is_some())
    }

    async fn prepare_for_push(&self, repos: &[String]) -> Result<()> {
        match &self.prepare {
            Some(hook) => hook(repos.to_vec()).await,
            None => Ok(()),
        }
    }
}

/// Reads a whole stream (small bodies only; used by tests).
pub async fn collect(stream: ByteStream) -> std::io::Result<Vec<u8>> {
    let parts: Vec<Bytes> = stream.try_collect().await?;
    Ok(parts.concat())
}
