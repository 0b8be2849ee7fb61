//! The `Registry` engine: every operation of the OCI distribution API as plain
//! async Rust calls over one [`BlobStore`] and one [`MetaStore`].

mod blobs;
mod manifests;
mod uploads;

use std::sync::Arc;

use crate::blob_store::BlobStore;
use crate::error::{Error, ErrorCode, Result};
use crate::meta_store::MetaStore;
use crate::name::RepositoryName;

pub use blobs::{BlobContent, BlobFile};
pub use manifests::{ManifestContent, PushedManifest};
pub use uploads::UploadStatus;

/// The most entries one page of `tags/list` or `_catalog` returns; a client
/// asking for more gets this many and a `Link` to the rest.
pub const MAX_PAGE: usize = 10_000;

/// The registry engine. Cheap to clone; clones share the stores.
///
/// ```
/// # async fn demo(registry: harbor_core::Registry) -> harbor_core::Result<()> {
/// use harbor_core::{Digest, RepositoryName};
/// let repo = RepositoryName::parse("library/hello")?;
/// let digest = Digest::sha256(b"layer bytes");
/// registry.put_blob(&repo, &digest, harbor_core::bytes_stream(b"layer bytes".to_vec()), None).await?;
/// assert_eq!(registry.stat_blob(&repo, &digest).await?, Some(11));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
}

impl Registry {
    /// An engine over the given stores.
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>) -> Self {
        Registry { blobs, meta }
    }

    /// The blob store, for tools such as garbage collection.
    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// The metadata store.
    pub fn meta_store(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    /// Repository names in order, after `last`, at most `n` (capped at [`MAX_PAGE`]).
    /// Returns the page and whether more may follow.
    pub async fn catalog(
        &self,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<(Vec<String>, bool)> {
        let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        if limit == 0 {
            return Ok((Vec::new(), false));
        }
        let mut names = self.meta.list_repositories(last, limit + 1).await?;
        let more = names.len() > limit;
        names.truncate(limit);
        Ok((names, more))
    }

    /// Tags of a repository in order, after `last`, at most `n` (capped at
    /// [`MAX_PAGE`]); `NAME_UNKNOWN` for a repository that does not exist.
    /// Returns the page and whether more may follow.
    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<(Vec<String>, bool)> {
        self.require_repository(repo).await?;
        let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        if limit == 0 {
            return Ok((Vec::new(), false));
        }
        let mut tags = self.meta.list_tags(repo, last, limit + 1).await?;
        let more = tags.len() > limit;
        tags.truncate(limit);
        Ok((tags, more))
    }

    async fn require_repository(&self, repo: &RepositoryName) -> Result<()> {
        if self.meta.repository_exists(repo).await? {
            Ok(())
        } else {
            Err(name_unknown(repo))
        }
    }
}

fn name_unknown(repo: &RepositoryName) -> Error {
    Error::with_detail(
        ErrorCode::NameUnknown,
        format!("repository {repo} is not known to this registry"),
        serde_json::json!({ "name": repo.as_str() }),
    )
}
