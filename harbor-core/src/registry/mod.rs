//! The `Registry` engine: every operation of the OCI distribution API as plain
//! async Rust calls over one [`BlobStore`] and one [`MetaStore`].

mod blobs;
mod immutable;
mod manifests;
mod repository;
mod uploads;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::blob_store::BlobStore;
use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::immutable::ImmutableRules;
use crate::meta_store::MetaStore;
use crate::name::RepositoryName;
use crate::quota::{QuotaEvent, QuotaExceeded, DEFAULT_WARNING_PERCENT};
use crate::retention::PullTimes;

pub use blobs::{BlobContent, BlobFile};
pub use manifests::{ManifestContent, PushedManifest};
pub use repository::DeletedArtifact;
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
    quota_events: broadcast::Sender<QuotaEvent>,
    warning_percent: u8,
    read_only: Arc<AtomicBool>,
    immutable: Option<Arc<ImmutableRules>>,
    pulls: Arc<PullTimes>,
}

/// Harbor's words for a change refused in read-only mode.
pub const READ_ONLY_MESSAGE: &str =
    "The system is in read only mode. Any modification is prohibited.";

/// Quota events kept for a subscriber that lags; older ones are dropped
/// (the subscriber learns how many).
const QUOTA_EVENT_BACKLOG: usize = 1024;

impl Registry {
    /// An engine over the given stores.
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>) -> Self {
        Registry {
            blobs,
            meta,
            quota_events: broadcast::channel(QUOTA_EVENT_BACKLOG).0,
            warning_percent: DEFAULT_WARNING_PERCENT,
            read_only: Arc::default(),
            immutable: None,
            pulls: Arc::default(),
        }
    }

    /// Notes a pull of manifest `digest` of `repo` now, in memory: the
    /// pulls are written in batches by whoever calls
    /// [`Registry::flush_pulls`] (the server does every second), so a pull
    /// never waits on the database.
    pub fn note_pull(&self, repo: &RepositoryName, digest: &Digest) {
        self.pulls
            .record(repo, digest, std::time::SystemTime::now());
    }

    /// Writes the pulls noted since the last flush to the metadata store,
    /// in one call; returns how many artifacts it updated.
    pub async fn flush_pulls(&self) -> Result<usize> {
        self.pulls.flush(self.meta.as_ref()).await
    }

    /// Enforces the projects' immutable tag rules from `rules`: pushes
    /// moving, and deletes removing, an immutable tag are refused with
    /// [`TagImmutable`](crate::immutable::TagImmutable). Without it no tag
    /// is immutable.
    pub fn with_immutable_rules(mut self, rules: Arc<ImmutableRules>) -> Self {
        self.immutable = Some(rules);
        self
    }

    /// The immutable tag rules enforced, if any.
    pub fn immutable_rules(&self) -> Option<&Arc<ImmutableRules>> {
        self.immutable.as_ref()
    }

    /// Turns read-only mode on or off for this engine and all its clones:
    /// while on, every push, mount and delete is refused with `DENIED`
    /// ([`READ_ONLY_MESSAGE`]); pulls go on.
    pub fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::Relaxed);
    }

    /// Whether read-only mode is on.
    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// `DENIED` in read-only mode.
    fn writable(&self) -> Result<()> {
        if self.is_read_only() {
            Err(Error::new(ErrorCode::Denied, READ_ONLY_MESSAGE))
        } else {
            Ok(())
        }
    }

    /// The usage, as a percentage of a project's limit, from which each
    /// manifest push raises [`QuotaEvent::Warning`] (Harbor's 85 by
    /// default; above 100 never).
    pub fn with_quota_warning_percent(mut self, percent: u8) -> Self {
        self.warning_percent = percent;
        self
    }

    /// Quota events from now on: a warning when a manifest push leaves a
    /// project at or above the warning percentage, a refusal when a push
    /// would go past the limit. Events raised while nobody listens are not
    /// kept.
    pub fn subscribe_quota_events(&self) -> broadcast::Receiver<QuotaEvent> {
        self.quota_events.subscribe()
    }

    /// Raises `event` for whoever listens.
    fn raise(&self, event: QuotaEvent) {
        tracing::info!(
            event = event.event_type(),
            repository = %event.repository(),
            digest = %event.digest(),
            "{}",
            event.details()
        );
        // An error only says that nobody listens.
        let _ = self.quota_events.send(event);
    }

    /// Passes `result` on, raising [`QuotaEvent::Exceeded`] if it is a
    /// quota refusal of `digest` in `repo`.
    fn watch_quota<T>(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        result: Result<T>,
    ) -> Result<T> {
        if let Err(e) = &result {
            if let Some(refusal) = QuotaExceeded::from_error(e) {
                self.raise(QuotaEvent::Exceeded {
                    repository: repo.clone(),
                    digest: digest.clone(),
                    refusal,
                });
            }
        }
        result
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
