//! Deleting a whole repository: every artifact in it, then the repository.

use std::time::{Duration, SystemTime};

use super::{name_unknown, Registry};
use crate::digest::Digest;
use crate::error::Result;
use crate::identity::Page;
use crate::name::RepositoryName;

/// An artifact [`Registry::delete_repository`] removed: what events about
/// it name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedArtifact {
    /// Its digest.
    pub digest: Digest,
    /// The tags it had.
    pub tags: Vec<String>,
}

/// Artifacts read per step.
const BATCH: u64 = 100;

impl Registry {
    /// Deletes `repo`: each artifact (an index before its children, each as
    /// [`Registry::delete_manifest`] deletes it, usage included), then the
    /// repository itself with its blob links. Refused before anything is
    /// deleted when a tag of it is immutable (`DENIED`, naming the rule) or
    /// the registry is read-only; `NAME_UNKNOWN` for an unknown repository.
    /// Blobs stay for garbage collection. Returns what was deleted.
    pub async fn delete_repository(&self, repo: &RepositoryName) -> Result<Vec<DeletedArtifact>> {
        self.writable()?;
        if !self.meta.repository_exists(repo).await? {
            return Err(name_unknown(repo));
        }
        let mut page = Page {
            page: 1,
            page_size: BATCH,
        };
        loop {
            let (artifacts, total) = self.meta.list_artifacts(repo, page).await?;
            for a in &artifacts {
                self.check_manifest_delete(repo, &a.digest).await?;
            }
            if artifacts.is_empty() || page.page.saturating_mul(BATCH) >= total {
                break;
            }
            page.page += 1;
        }
        let first = Page {
            page: 1,
            page_size: BATCH,
        };
        let mut deleted = Vec::new();
        loop {
            // Deleting an index makes its children top-level: they come up
            // in the next round.
            let (artifacts, _) = self.meta.list_artifacts(repo, first).await?;
            let before = deleted.len();
            for a in artifacts {
                if self.meta.delete_manifest(repo, &a.digest).await? {
                    deleted.push(DeletedArtifact {
                        digest: a.digest,
                        tags: a.tags.into_iter().map(|t| t.name).collect(),
                    });
                }
            }
            if deleted.len() == before {
                break;
            }
        }
        // Links of any age go with it: every one is older than this.
        let cutoff = SystemTime::now() + Duration::from_secs(1);
        self.meta.delete_empty_repository(repo, cutoff).await?;
        tracing::info!(%repo, artifacts = deleted.len(), "repository deleted");
        Ok(deleted)
    }
}
