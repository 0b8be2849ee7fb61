//! The `RegistryAdapter` trait: everything a copy needs from a registry, and
//! the factory that makes adapters by [`RegistryType`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::{ByteStream, Digest, Reference, RegistryType, RepositoryName, Tag};

use crate::checkpoint::UploadCheckpoints;
use crate::error::{ReplicateError, Result};

/// What an adapter can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// The adapter's type (`docker-registry`, `harbor`, `local`, a vendor's).
    pub kind: RegistryType,
    /// Whether cross-repository mounts are worth trying.
    pub supports_mount: bool,
    /// The largest page of tags or repositories the remote answers.
    pub max_page: usize,
}

/// A manifest as pulled: its bytes, media type and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledManifest {
    /// The exact bytes.
    pub payload: Bytes,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
}

/// Re-opens a blob's content from a byte offset, for resumable chunked pushes.
pub type BlobSource =
    Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, Result<ByteStream>> + Send + Sync>;

/// How to push a blob by chunks, and where to keep its resume point.
#[derive(Clone)]
pub struct ChunkedPush {
    /// Bytes per `PATCH`.
    pub chunk: u64,
    /// Opens the blob's content from a byte offset (0 first; after a cut, the
    /// offset the destination acknowledged).
    pub open: BlobSource,
    /// Where the upload session is remembered, so a copy restarted after a
    /// crash continues it.
    pub checkpoints: Option<Arc<dyn UploadCheckpoints>>,
}

impl Debug for ChunkedPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedPush")
            .field("chunk", &self.chunk)
            .field("checkpoints", &self.checkpoints)
            .finish_non_exhaustive()
    }
}

/// A registry replication reads from or writes to.
///
/// Repository names are full names on that registry (`project/repo`), typed
/// so that a name is checked once, where it enters. Listings of a remote
/// parse each name it sends and skip (with a warning) one that does not
/// parse: a remote's junk must not fail a whole listing. Blob bodies stream
/// both ways; nothing holds a whole blob in memory.
#[async_trait]
pub trait RegistryAdapter: Debug + Send + Sync + 'static {
    /// What this adapter is and can do.
    fn info(&self) -> AdapterInfo;

    /// Checks that the registry answers and accepts our credentials.
    async fn health(&self) -> Result<()>;

    /// Every repository (from the catalog, or however the registry lists them).
    async fn list_repositories(&self) -> Result<Vec<RepositoryName>>;

    /// Every tag of `repo`, paging as far as the remote allows.
    async fn list_tags(&self, repo: &RepositoryName) -> Result<Vec<Tag>>;

    /// The digest of `reference` in `repo`, or `None` if absent.
    async fn manifest_digest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<Digest>>;

    /// Pulls a manifest by tag or digest.
    async fn pull_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<PulledManifest>;

    /// Pushes a manifest under `reference` (a tag or its digest).
    async fn push_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        media_type: &str,
        payload: Bytes,
    ) -> Result<Digest>;

    /// Deletes a manifest (by digest) or a tag.
    async fn delete_manifest(&self, repo: &RepositoryName, reference: &Reference) -> Result<()>;

    /// The names of the labels on the artifact `tag` names, for label
    /// filters; `None` when this registry has no labels (the default),
    /// which a filter reads as an artifact without any.
    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Vec<String>>> {
        let _ = (repo, tag);
        Ok(None)
    }

    /// The size of a blob `repo` holds, or `None`.
    async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>>;

    /// Streams a blob.
    async fn pull_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<(u64, ByteStream)>;

    /// Pushes a blob of `size` bytes, verified against `digest` by the remote.
    async fn push_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        body: ByteStream,
    ) -> Result<()>;

    /// Streams a blob from byte `offset` on. The default serves only offset
    /// 0, and is [`ReplicateError::Unsupported`] otherwise, for registries
    /// that cannot serve ranges.
    async fn pull_blob_from(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        offset: u64,
    ) -> Result<ByteStream> {
        if offset == 0 {
            Ok(self.pull_blob(repo, digest).await?.1)
        } else {
            Err(ReplicateError::Unsupported {
                adapter: self.info().kind.to_string(),
                what: "read blobs from an offset",
            })
        }
    }

    /// Pushes a blob of `size` bytes in chunks; after a cut (or, with
    /// checkpoints, a crash) it resumes from the last chunk the registry
    /// acknowledged. The default sends the blob whole with `push_blob`.
    async fn push_blob_chunked(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        how: ChunkedPush,
    ) -> Result<()> {
        let body = (how.open)(0).await?;
        self.push_blob(repo, digest, size, body).await
    }

    /// Mounts a blob from another repository of the same registry; `false`
    /// when the registry would rather have it uploaded.
    async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool>;

    /// Makes sure pushes into `repos` can succeed (creates namespaces or
    /// projects where the registry needs them).
    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> Result<()>;
}

/// Where a registry is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Base URL, e.g. `https://registry.example.com`.
    pub url: String,
    /// Credentials, if any.
    pub credential: Option<Credential>,
    /// Accept any TLS certificate (self-signed registries).
    #[serde(default)]
    pub insecure: bool,
}

/// Credentials for a remote registry.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Credential {
    /// Username and password (or robot name and secret).
    Basic {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// A fixed bearer token.
    Bearer {
        /// The token.
        token: String,
    },
}

impl Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs.
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Bearer { .. } => f.write_str("Bearer(***)"),
        }
    }
}

/// Makes an adapter for an endpoint.
pub type AdapterFactory = Arc<dyn Fn(&Endpoint) -> Result<Arc<dyn RegistryAdapter>> + Send + Sync>;

/// Adapter factories by registry type, so vendors can be added without
/// touching the engine. [`AdapterRegistry::with_defaults`] knows
/// [`RegistryType::DockerRegistry`] and [`RegistryType::Harbor`].
#[derive(Clone, Default)]
pub struct AdapterRegistry {
    factories: Arc<RwLock<HashMap<RegistryType, AdapterFactory>>>,
}

impl Debug for AdapterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterRegistry")
            .field("types", &self.kinds())
            .finish()
    }
}

impl AdapterRegistry {
    /// The built-in adapter types.
    pub fn with_defaults() -> Self {
        let r = AdapterRegistry::default();
        r.register(
            RegistryType::DockerRegistry,
            Arc::new(|e: &Endpoint| {
                Ok(Arc::new(crate::adapters::DockerRegistry::new(e.clone())?)
                    as Arc<dyn RegistryAdapter>)
            }),
        );
        r.register(
            RegistryType::Harbor,
            Arc::new(|e: &Endpoint| {
                Ok(Arc::new(crate::adapters::Harbor::new(e.clone())?) as Arc<dyn RegistryAdapter>)
            }),
        );
        r
    }

    /// Registers (or replaces) the factory for `kind`.
    pub fn register(&self, kind: RegistryType, factory: AdapterFactory) {
        // A poisoned lock only means another registration panicked; the map
        // itself is still whole.
        let mut m = self.factories.write().unwrap_or_else(|e| e.into_inner());
        m.insert(kind, factory);
    }

    /// The registered types, by name.
    pub fn kinds(&self) -> Vec<RegistryType> {
        let m = self.factories.read().unwrap_or_else(|e| e.into_inner());
        let mut k: Vec<RegistryType> = m.keys().cloned().collect();
        k.sort();
        k
    }

    /// An adapter of type `kind` for `endpoint`.
    pub fn create(
        &self,
        kind: &RegistryType,
        endpoint: &Endpoint,
    ) -> Result<Arc<dyn RegistryAdapter>> {
        let factory = {
            let m = self.factories.read().unwrap_or_else(|e| e.into_inner());
            m.get(kind).cloned()
        };
        let factory = factory.ok_or_else(|| {
            ReplicateError::invalid(format!("unknown registry type {:?}", kind.as_str()))
        })?;
        factory(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            url: "http://127.0.0.1:1".into(),
            credential: None,
            insecure: false,
        }
    }

    #[test]
    fn the_defaults_make_both_built_in_types_and_refuse_unknown_ones() {
        let r = AdapterRegistry::with_defaults();
        assert_eq!(
            r.kinds(),
            [RegistryType::DockerRegistry, RegistryType::Harbor]
        );
        for kind in r.kinds() {
            let made = r.create(&kind, &endpoint()).map(|a| a.info().kind);
            assert_eq!(made.ok(), Some(kind));
        }
        let unknown = r.create(&RegistryType::parse("quay"), &endpoint());
        assert!(matches!(unknown, Err(ReplicateError::Invalid { .. })));
    }

    #[test]
    fn a_vendor_type_registered_at_run_time_is_made_by_its_name() {
        let r = AdapterRegistry::with_defaults();
        r.register(
            RegistryType::parse("acme"),
            Arc::new(|e: &Endpoint| {
                Ok(Arc::new(crate::adapters::DockerRegistry::new(e.clone())?)
                    as Arc<dyn RegistryAdapter>)
            }),
        );
        assert!(r.kinds().contains(&RegistryType::Other("acme".into())));
        assert!(r.create(&RegistryType::parse("acme"), &endpoint()).is_ok());
    }
}
