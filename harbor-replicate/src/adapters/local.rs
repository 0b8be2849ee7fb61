//! The `local` adapter: the in-process `Registry` engine, so that replication
//! into or out of the embedding program moves no bytes over HTTP.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::{
    ByteStream, Digest, ErrorCode, LabelStore, Reference, Registry, RegistryType, RepositoryName,
    Tag,
};

use crate::adapter::{AdapterInfo, PulledManifest, RegistryAdapter};
use crate::error::Result;

/// What to do before pushing into repositories (e.g. create their projects).
pub type PrepareHook = std::sync::Arc<
    dyn Fn(Vec<RepositoryName>) -> futures::future::BoxFuture<'static, Result<()>> + Send + Sync,
>;

/// The embedded registry as a replication source or destination.
#[derive(Clone)]
pub struct Local {
    registry: Registry,
    prepare: Option<PrepareHook>,
    labels: Option<Arc<dyn LabelStore>>,
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
            labels: None,
        }
    }

    /// Reads artifacts' labels from `labels`, for label filters.
    #[must_use]
    pub fn with_labels(mut self, labels: Arc<dyn LabelStore>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// An adapter that runs `hook` before pushes (the server creates missing
    /// projects with it).
    pub fn with_prepare(registry: Registry, hook: PrepareHook) -> Self {
        Local {
            registry,
            prepare: Some(hook),
            labels: None,
        }
    }
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

    async fn list_repositories(&self) -> Result<Vec<RepositoryName>> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let (page, more) = self
                .registry
                .catalog(names.last().map(String::as_str), None)
                .await?;
            names.extend(page);
            if !more {
                break;
            }
        }
        // The engine stores only names it has parsed: one that does not
        // parse back is a damaged store, and an error rather than a skip.
        Ok(names
            .iter()
            .map(|n| RepositoryName::parse(n))
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Vec<String>>> {
        let Some(labels) = &self.labels else {
            return Ok(None);
        };
        let Some(digest) = self.registry.meta_store().resolve_tag(repo, tag).await? else {
            return Ok(Some(Vec::new()));
        };
        let on = labels
            .artifact_labels(repo, std::slice::from_ref(&digest))
            .await?;
        Ok(Some(on.into_iter().map(|(_, l)| l.name).collect()))
    }

    async fn list_tags(&self, repo: &RepositoryName) -> Result<Vec<Tag>> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let (page, more) = self
                .registry
                .list_tags(repo, names.last().map(String::as_str), None)
                .await?;
            names.extend(page);
            if !more {
                break;
            }
        }
        Ok(names
            .iter()
            .map(|n| Tag::parse(n))
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn manifest_digest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<Digest>> {
        match self.registry.get_manifest(repo, reference, None).await {
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

    async fn pull_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<PulledManifest> {
        let m = self.registry.get_manifest(repo, reference, None).await?;
        Ok(PulledManifest {
            payload: m.payload,
            media_type: m.media_type,
            digest: m.digest,
        })
    }

    async fn push_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest> {
        let pushed = self
            .registry
            .put_manifest(repo, reference, Some(media_type), payload)
            .await?;
        Ok(pushed.digest)
    }

    async fn delete_manifest(&self, repo: &RepositoryName, reference: &Reference) -> Result<()> {
        Ok(self.registry.delete_manifest(repo, reference).await?)
    }

    async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.registry.stat_blob(repo, digest).await?)
    }

    async fn pull_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<(u64, ByteStream)> {
        let b = self.registry.get_blob(repo, digest, None).await?;
        Ok((b.size, b.body))
    }

    async fn push_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()> {
        self.registry
            .put_blob(repo, digest, body, Some(size))
            .await?;
        Ok(())
    }

    async fn pull_blob_from(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        offset: u64,
    ) -> Result<ByteStream> {
        let b = self
            .registry
            .get_blob(repo, digest, Some(harbor_core::ByteRange::From(offset)))
            .await?;
        Ok(b.body)
    }

    async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool> {
        Ok(self
            .registry
            .mount_blob(repo, digest, Some(from))
            .await?
            .is_some())
    }

    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> Result<()> {
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
