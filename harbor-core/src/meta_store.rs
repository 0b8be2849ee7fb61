//! The `MetaStore` trait: repositories, manifests, tags, blob links, referrers
//! and upload sessions.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::Page;
use crate::manifest::{Descriptor, Manifest};
use crate::name::{RepositoryName, Tag};
use crate::quota::StorageCharge;

/// A manifest as stored: its exact bytes and what was learnt from parsing them.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    /// Digest of `payload`.
    pub digest: Digest,
    /// Media type it was pushed with.
    pub media_type: String,
    /// The exact bytes the client pushed.
    pub payload: Bytes,
    /// The manifest it refers to, for the referrers API.
    pub subject: Option<Digest>,
    /// Its artifact type, for the referrers API.
    pub artifact_type: Option<String>,
    /// Its top-level annotations, for the referrers API.
    pub annotations: BTreeMap<String, String>,
    /// Every blob and child manifest it references.
    pub references: Vec<Digest>,
    /// When it was pushed.
    pub pushed_at: SystemTime,
}

impl ManifestRecord {
    /// The record for a parsed manifest and its bytes, pushed now.
    pub fn new(manifest: &Manifest, payload: Bytes) -> Self {
        ManifestRecord {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            payload,
            subject: manifest.subject.as_ref().map(|s| s.digest.clone()),
            artifact_type: manifest.artifact_type.clone(),
            annotations: manifest.annotations.clone(),
            references: manifest.references(),
            pushed_at: SystemTime::now(),
        }
    }

    /// The descriptor that names this manifest in a referrers list.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.payload.len() as u64,
            urls: Vec::new(),
            annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
            platform: None,
            artifact_type: self.artifact_type.clone(),
        }
    }
}

/// A blob upload session's metadata; its bytes live in the `BlobStore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The session id (a UUID).
    pub id: String,
    /// The repository the blob is being pushed to.
    pub repository: RepositoryName,
    /// When it began.
    pub started_at: SystemTime,
}

/// A repository with the figures the management API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    /// Id.
    pub id: i64,
    /// Full name, `<project>/<repo...>`.
    pub name: String,
    /// First content received.
    pub created_at: SystemTime,
    /// Last manifest pushed (or creation).
    pub updated_at: SystemTime,
    /// Top-level artifacts: manifests no index of the repository lists.
    pub artifact_count: u64,
}

/// A tag as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// The tag.
    pub name: String,
    /// When it was last pointed at its manifest.
    pub updated_at: SystemTime,
}

/// A manifest as the management API lists it (an "artifact").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// Id, unique within the registry.
    pub id: i64,
    /// Its digest.
    pub digest: Digest,
    /// Its manifest media type.
    pub media_type: String,
    /// Its artifact type (config media type for images).
    pub artifact_type: Option<String>,
    /// When it was pushed.
    pub pushed_at: SystemTime,
    /// When it was last pulled (by digest or by a tag), if ever: recorded
    /// in batches, so up to a few seconds late.
    pub pulled_at: Option<SystemTime>,
    /// Its tags, by name.
    pub tags: Vec<TagInfo>,
}

/// The error of [`MetaStore::put_manifest`] when `repo` does not hold a
/// digest the manifest requires.
pub fn manifest_blob_unknown(digest: &Digest) -> Error {
    Error::with_detail(
        ErrorCode::ManifestBlobUnknown,
        format!("manifest references {digest}, which this repository does not hold"),
        serde_json::json!({ "digest": digest.to_string() }),
    )
}

/// Registry metadata storage.
///
/// Each method is one atomic step: a tag move, a manifest put with its tag or a
/// manifest delete with its tags either happens whole or not at all. Listing
/// methods return names in byte order after `last`, at most `limit` of them.
/// Every backend runs the shared conformance suite in `harbor-storage`.
#[async_trait]
pub trait MetaStore: Debug + Send + Sync + 'static {
    /// Whether the repository has ever received content.
    async fn repository_exists(&self, repo: &RepositoryName) -> Result<bool>;

    /// Repository names in order, after `last`, at most `limit`.
    async fn list_repositories(&self, last: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// Records that `repo` holds blob `digest` of `size` bytes, creating the
    /// repository if needed; linking again refreshes the link's time.
    /// `false`, linking nothing, while garbage collection holds a claim on
    /// the digest (its bytes are being deleted: see
    /// [`MetaStore::claim_blobs`]).
    ///
    /// A blob the project of `repo` does not count yet and that would take
    /// its usage past its limit once counted is refused, nothing linked:
    /// `DENIED` ([`QuotaExceeded`](crate::QuotaExceeded); see the `quota`
    /// module). Blobs count when a manifest references them.
    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> Result<bool>;

    /// The size of a blob linked into `repo`, or `None`.
    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>>;

    /// Removes a blob link; `false` if there was none.
    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool>;

    /// Stores a manifest and, if given, points `tag` at it, in one transaction.
    /// Storing the same digest again is idempotent.
    ///
    /// Every digest of `required` (the blobs and child manifests the
    /// manifest needs) must be held by `repo`, a blob link or a manifest, in
    /// that same transaction: otherwise nothing is stored and the answer is
    /// `MANIFEST_BLOB_UNKNOWN` naming the missing digest. Checked there, a
    /// delete or a garbage collection racing the push cannot leave a stored
    /// manifest whose content is gone.
    ///
    /// The manifest and what it requires count towards the project's
    /// storage (each digest once per project); past the project's limit
    /// nothing is stored and the answer is `DENIED`
    /// ([`QuotaExceeded`](crate::QuotaExceeded)). Returns the project's
    /// storage after the put.
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        record: &ManifestRecord,
        tag: Option<&Tag>,
        required: &[Digest],
    ) -> Result<StorageCharge>;

    /// A manifest of `repo` by digest.
    async fn get_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>>;

    /// The digest a tag points at.
    async fn resolve_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<Option<Digest>>;

    /// Tags of `repo` in order, after `last`, at most `limit`.
    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// Removes a tag; `false` if there was none.
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool>;

    /// Removes a manifest and every tag pointing at it, in one transaction;
    /// `false` if there was no such manifest. The project stops counting the
    /// manifest and what it referenced, save what its remaining manifests
    /// still reference.
    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool>;

    /// Descriptors of the manifests in `repo` whose subject is `subject`,
    /// ordered by digest.
    async fn referrers(&self, repo: &RepositoryName, subject: &Digest) -> Result<Vec<Descriptor>>;

    /// Repositories whose names start with `prefix` (and contain
    /// `name_contains`, when given), by name, one page of them and the total
    /// count.
    async fn repositories_with_prefix(
        &self,
        prefix: &str,
        name_contains: Option<&str>,
        page: Page,
    ) -> Result<(Vec<RepositoryInfo>, u64)>;

    /// One repository's figures.
    async fn repository_info(&self, repo: &RepositoryName) -> Result<Option<RepositoryInfo>>;

    /// The top-level artifacts of `repo`, newest first, one page and the total.
    async fn list_artifacts(
        &self,
        repo: &RepositoryName,
        page: Page,
    ) -> Result<(Vec<ArtifactInfo>, u64)>;

    /// One artifact of `repo` by digest, with its tags.
    async fn artifact(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ArtifactInfo>>;

    /// Records pulls: each manifest's last pull time becomes the later of
    /// the one stored and the one given; unknown manifests are skipped.
    /// Called in batches off the request path
    /// ([`PullTimes`](crate::retention::PullTimes)).
    async fn record_pulls(&self, pulls: &[(RepositoryName, Digest, SystemTime)]) -> Result<()>;

    /// Records a new upload session.
    async fn create_upload(&self, session: &UploadSession) -> Result<()>;

    /// An upload session by id.
    async fn get_upload(&self, id: &str) -> Result<Option<UploadSession>>;

    /// Ends an upload session; `false` if unknown.
    async fn delete_upload(&self, id: &str) -> Result<bool>;

    /// Upload sessions begun before `before`, for purging.
    async fn uploads_started_before(&self, before: SystemTime) -> Result<Vec<UploadSession>>;

    /// Marks upload `id` as about to publish blob `digest`, which keeps
    /// garbage collection from claiming the digest until the session ends.
    /// `false`, marking nothing, while a claim on the digest is held.
    async fn pin_upload(&self, id: &str, digest: &Digest) -> Result<bool>;

    // Garbage collection (see the `gc` module for the protocol).

    /// Manifests pushed before `cutoff` that no tag points at and no
    /// manifest of their repository references, and that are not referrers
    /// of a manifest their repository holds: one page in (repository,
    /// digest) order after `after`.
    async fn untagged_manifests(
        &self,
        cutoff: SystemTime,
        after: Option<&(RepositoryName, Digest)>,
        limit: usize,
    ) -> Result<Vec<(RepositoryName, Digest)>>;

    /// Deletes a manifest of [`MetaStore::untagged_manifests`] if it still
    /// is one, atomically with pushes (a tag or an index arriving meanwhile
    /// keeps it); `true` if it was deleted. Usage is brought down as by
    /// [`MetaStore::delete_manifest`].
    async fn delete_untagged_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        cutoff: SystemTime,
    ) -> Result<bool>;

    /// Repositories created before `cutoff` that hold no manifest and no
    /// blob link as recent as `cutoff` (older links are abandoned uploads'
    /// and go with the repository): one page in name order after `after`.
    /// With `ignoring_untagged`, the manifests
    /// [`MetaStore::untagged_manifests`] lists do not count (a dry run's
    /// answer).
    async fn empty_repositories(
        &self,
        cutoff: SystemTime,
        after: Option<&RepositoryName>,
        limit: usize,
        ignoring_untagged: bool,
    ) -> Result<Vec<RepositoryName>>;

    /// Removes a repository of [`MetaStore::empty_repositories`] if it
    /// still is one, with its old links, atomically with pushes (a link or
    /// a manifest arriving meanwhile keeps it); `true` if it was removed.
    async fn delete_empty_repository(
        &self,
        repo: &RepositoryName,
        cutoff: SystemTime,
    ) -> Result<bool>;

    /// Of `digests`, those garbage collection may claim now: not claimed
    /// yet, no manifest of any repository references them, no link to them
    /// is as recent as `cutoff`, and no upload is pinned to them. With
    /// `ignoring_untagged`, references from the manifests that
    /// [`MetaStore::untagged_manifests`] lists do not count (what a run
    /// that deletes those first will find: a dry run's answer).
    async fn unreferenced_blobs(
        &self,
        digests: &[Digest],
        cutoff: SystemTime,
        ignoring_untagged: bool,
    ) -> Result<Vec<Digest>>;

    /// Claims those of `digests` that [`MetaStore::unreferenced_blobs`]
    /// would still return, each atomically: its links are removed and a
    /// claim recorded, which makes [`MetaStore::link_blob`] and
    /// [`MetaStore::pin_upload`] refuse the digest until the claim is
    /// released; no project counts them any more. Returns the digests
    /// claimed.
    async fn claim_blobs(&self, digests: &[Digest], cutoff: SystemTime) -> Result<Vec<Digest>>;

    /// Claims held, at most `limit` of them (those a crashed collection
    /// left are finished by the next).
    async fn blob_claims(&self, limit: usize) -> Result<Vec<Digest>>;

    /// Releases claims, once their blobs' bytes are gone.
    async fn release_blob_claims(&self, digests: &[Digest]) -> Result<()>;
}
