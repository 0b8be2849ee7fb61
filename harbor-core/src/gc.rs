//! Garbage collection: deletes untagged manifests (on request) and the
//! blobs nothing needs any more, while pushes go on.
//!
//! # Why it is safe while pushes run
//!
//! A blob's bytes may go only once the metadata store has granted a
//! **claim** on its digest ([`MetaStore::claim_blobs`]). A claim is granted,
//! atomically with every push step, only if at that instant
//! - no manifest of any repository references the digest,
//! - no repository link to it is younger than the time window, and
//! - no upload is pinned to it;
//!
//! granting it removes the digest's links. While it is held,
//! [`MetaStore::link_blob`] and [`MetaStore::pin_upload`] refuse the digest.
//! The bytes are deleted next and the claim released last. So:
//! - a manifest push needs each of its blobs linked in its repository in
//!   the transaction that stores it ([`MetaStore::put_manifest`]'s
//!   `required`): before a claim it holds a reference that prevents the
//!   claim; after one it finds the link gone and fails with
//!   `MANIFEST_BLOB_UNKNOWN`, which the client answers by pushing the blob;
//! - an upload pins its digest before publishing the bytes and links them
//!   before unpinning: a claim granted before the pin makes the upload wait
//!   until the bytes are deleted and the claim released, then publish anew;
//!   no claim can be granted after the pin;
//! - a mount links before it trusts the bytes: a claim makes the link
//!   fail (the client uploads instead), and a claim granted and released
//!   before the link is caught by a second look at the bytes;
//! - a blob pushed but not yet referenced keeps a young link for the time
//!   window, which is how long a client may take between a blob and its
//!   manifest.
//!
//! Untagged manifests are deleted one by one, each in a transaction that
//! checks again that it has no tag, no referencing index and no subject in
//! its repository, so a tag or an index arriving meanwhile keeps it.
//!
//! Last, repositories left holding nothing (no manifest, no link younger
//! than the window) are removed, each checked again as it is deleted, and upload sessions
//! older than [`GcOptions::upload_max_age`] are ended.
//!
//! A run that dies leaves at most claims whose bytes are partly deleted;
//! the next run finishes them first. Nothing a reader can reach is ever
//! half-deleted: a claimed digest is linked nowhere and referenced by
//! nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};

use crate::blob_store::BlobStore;
use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::meta_store::MetaStore;
use crate::name::RepositoryName;
use crate::registry::Registry;

/// Harbor's default time window: blobs linked more recently are kept.
pub const DEFAULT_TIME_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);

/// Harbor's upload purging age: sessions begun longer ago are abandoned.
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(168 * 60 * 60);

/// The most blob deletions in flight at once (Harbor's `workers` limit).
pub const MAX_WORKERS: usize = 5;

/// Digests examined per metadata query and per claim.
const BATCH: usize = 500;

/// The most blobs one `delete_many` call is given: S3's `DeleteObjects`
/// takes up to 1,000 keys.
const MAX_BULK_DELETE: usize = 1000;

/// What a run does (Harbor's `job_parameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Also delete manifests no tag reaches (`delete_untagged`).
    pub delete_untagged: bool,
    /// Report what would be deleted and delete nothing (`dry_run`).
    pub dry_run: bool,
    /// Blob deletions in flight at once, 1 to [`MAX_WORKERS`] (`workers`).
    pub workers: usize,
    /// Blobs linked and manifests pushed more recently than this are kept.
    pub time_window: Duration,
    /// Upload sessions begun longer ago than this are ended and their
    /// parts deleted; `None` leaves them to the upload purging. Set it
    /// well above the longest upload (Harbor purges after 168 h).
    pub upload_max_age: Option<Duration>,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            delete_untagged: false,
            dry_run: false,
            workers: 1,
            time_window: DEFAULT_TIME_WINDOW,
            upload_max_age: Some(DEFAULT_UPLOAD_MAX_AGE),
        }
    }
}

impl GcOptions {
    /// `BAD_REQUEST` unless `workers` is within 1 to [`MAX_WORKERS`].
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!(
                    "workers must be between 1 and {MAX_WORKERS}, not {}",
                    self.workers
                ),
            ));
        }
        Ok(())
    }
}

/// Something a run did (or, in a dry run, would do), as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcEvent {
    /// Claims left by an interrupted run are being finished.
    ResumingClaims {
        /// How many.
        count: usize,
    },
    /// An untagged manifest was deleted.
    ManifestDeleted {
        /// Its repository.
        repository: RepositoryName,
        /// Its digest.
        digest: Digest,
    },
    /// A blob's bytes were deleted.
    BlobDeleted {
        /// Its digest.
        digest: Digest,
        /// Its size, when it could be read before the delete.
        size: u64,
    },
    /// A repository left holding nothing was removed.
    RepositoryDeleted {
        /// Its name.
        repository: RepositoryName,
    },
    /// Abandoned upload sessions were ended.
    UploadsPurged {
        /// How many.
        count: usize,
    },
    /// Blobs examined so far.
    Progress {
        /// Blobs of the store looked at.
        examined: u64,
        /// Of them, deleted (or to delete).
        deleted: u64,
    },
}

/// What a run found and freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Whether nothing was deleted (a dry run).
    pub dry_run: bool,
    /// Untagged manifests deleted.
    pub manifests_deleted: u64,
    /// Blobs deleted.
    pub blobs_deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Blobs examined.
    pub blobs_examined: u64,
    /// Empty repositories removed.
    pub repositories_deleted: u64,
    /// Abandoned upload sessions ended.
    pub uploads_purged: u64,
    /// Whether the run was stopped before the end.
    pub stopped: bool,
}

/// Runs garbage collection over a registry's stores. Cheap to clone.
///
/// One run at a time per registry: a cluster serialises runs with a lease
/// (the server's scheduler does), and this type does not.
#[derive(Debug, Clone)]
pub struct GarbageCollector {
    registry: Registry,
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    busy: Option<BusyProbe>,
}

/// Tells a collection whether the registry is serving requests, so that
/// it can give way (see [`GarbageCollector::yield_to`]).
#[derive(Clone)]
pub struct BusyProbe(Arc<dyn Fn() -> bool + Send + Sync>);

impl BusyProbe {
    /// A probe that calls `busy`.
    pub fn new(busy: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        BusyProbe(Arc::new(busy))
    }

    /// What the probe says now.
    pub fn busy(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for BusyProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusyProbe")
    }
}

impl GarbageCollector {
    /// A collector over `registry`'s stores.
    pub fn new(registry: &Registry) -> Self {
        GarbageCollector {
            registry: registry.clone(),
            meta: registry.meta_store().clone(),
            blobs: registry.blob_store().clone(),
            busy: None,
        }
    }

    /// Gives way to the registry's own work: after each batch of blobs, if
    /// `probe` says requests are being served, the run pauses as long as
    /// the batch took, so that it takes at most half the time it shares
    /// with pushes (an idle registry is collected at full speed).
    pub fn yield_to(mut self, probe: BusyProbe) -> Self {
        self.busy = Some(probe);
        self
    }

    /// Pauses as long as `since` ago when the registry is busy.
    async fn give_way(&self, since: tokio::time::Instant) {
        if self.busy.as_ref().is_some_and(BusyProbe::busy) {
            tokio::time::sleep(since.elapsed()).await;
        }
    }

    /// One run. `events` hears each deletion as it happens; setting `stop`
    /// ends the run at the next step, with what was done so far reported.
    pub async fn run(
        &self,
        options: &GcOptions,
        stop: &AtomicBool,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<GcReport> {
        options.validate()?;
        let cutoff = SystemTime::now()
            .checked_sub(options.time_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        self.resume_claims(options, &mut report, events).await?;
        if options.delete_untagged && !stop.load(Ordering::Relaxed) {
            self.untagged(options, cutoff, stop, &mut report, events)
                .await?;
        }
        if !stop.load(Ordering::Relaxed) {
            self.sweep(options, cutoff, stop, &mut report, events)
                .await?;
        }
        if !stop.load(Ordering::Relaxed) {
            self.empty_repositories(options, cutoff, stop, &mut report, events)
                .await?;
        }
        if let (Some(age), false) = (options.upload_max_age, stop.load(Ordering::Relaxed)) {
            self.uploads(options, age, &mut report, events).await?;
        }
        report.stopped = stop.load(Ordering::Relaxed);
        Ok(report)
    }

    /// Finishes the claims an interrupted run left: their digests are
    /// linked nowhere and referenced by nothing, so their bytes go.
    async fn resume_claims(
        &self,
        options: &GcOptions,
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        let left = self.meta.blob_claims(usize::MAX).await?;
        if left.is_empty() {
            return Ok(());
        }
        events(GcEvent::ResumingClaims { count: left.len() });
        for batch in left.chunks(BATCH) {
            // Rare (after a crash): their sizes are looked up one by one.
            let mut sized = Vec::with_capacity(batch.len());
            for digest in batch {
                let size = self.blobs.stat(digest).await?.unwrap_or(0);
                sized.push((digest.clone(), size));
            }
            self.delete_claimed(options, &sized, report, events).await?;
        }
        Ok(())
    }

    async fn untagged(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        stop: &AtomicBool,
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        let mut after: Option<(RepositoryName, Digest)> = None;
        loop {
            let started = tokio::time::Instant::now();
            let page = self
                .meta
                .untagged_manifests(cutoff, after.as_ref(), BATCH)
                .await?;
            let Some(last) = page.last().cloned() else {
                return Ok(());
            };
            for (repository, digest) in page {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let deleted = options.dry_run
                    || self
                        .meta
                        .delete_untagged_manifest(&repository, &digest, cutoff)
                        .await?;
                if deleted {
                    report.manifests_deleted += 1;
                    events(GcEvent::ManifestDeleted { repository, digest });
                }
            }
            after = Some(last);
            self.give_way(started).await;
        }
    }

    /// Repositories holding nothing (no manifest, no young link), created
    /// before `cutoff`: each removed by a delete that checks again (a dry
    /// run does not count the untagged manifests the real run deletes).
    async fn empty_repositories(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        stop: &AtomicBool,
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        let mut after: Option<RepositoryName> = None;
        loop {
            let page = self
                .meta
                .empty_repositories(
                    cutoff,
                    after.as_ref(),
                    BATCH,
                    options.dry_run && options.delete_untagged,
                )
                .await?;
            let Some(last) = page.last().cloned() else {
                return Ok(());
            };
            for repository in page {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let deleted = options.dry_run
                    || self
                        .meta
                        .delete_empty_repository(&repository, cutoff)
                        .await?;
                if deleted {
                    report.repositories_deleted += 1;
                    events(GcEvent::RepositoryDeleted { repository });
                }
            }
            after = Some(last);
        }
    }

    /// Upload sessions begun more than `age` ago, ended with their parts
    /// (in a dry run, counted).
    async fn uploads(
        &self,
        options: &GcOptions,
        age: Duration,
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        let count = if options.dry_run {
            let before = SystemTime::now()
                .checked_sub(age)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            self.meta.uploads_started_before(before).await?.len()
        } else {
            self.registry.purge_uploads(age).await?
        };
        if count > 0 {
            report.uploads_purged += count as u64;
            events(GcEvent::UploadsPurged { count });
        }
        Ok(())
    }

    /// Every blob of the store, in batches: those nothing needs are claimed
    /// and deleted.
    async fn sweep(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        stop: &AtomicBool,
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        let mut listing = self.blobs.list().await?.try_chunks(BATCH);
        while let Some(batch) = listing.next().await {
            let started = tokio::time::Instant::now();
            let batch = batch.map_err(|e| e.1)?;
            report.blobs_examined += batch.len() as u64;
            let digests: Vec<Digest> = batch.iter().map(|b| b.digest.clone()).collect();
            let sizes: HashMap<Digest, u64> =
                batch.into_iter().map(|b| (b.digest, b.size)).collect();
            let doomed = if options.dry_run {
                // The real run deletes the untagged manifests first: their
                // references do not count.
                self.meta
                    .unreferenced_blobs(&digests, cutoff, options.delete_untagged)
                    .await?
            } else {
                self.meta.claim_blobs(&digests, cutoff).await?
            };
            let doomed: Vec<(Digest, u64)> = doomed
                .into_iter()
                .map(|d| {
                    let size = sizes.get(&d).copied().unwrap_or(0);
                    (d, size)
                })
                .collect();
            self.delete_claimed(options, &doomed, report, events)
                .await?;
            events(GcEvent::Progress {
                examined: report.blobs_examined,
                deleted: report.blobs_deleted,
            });
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            self.give_way(started).await;
        }
        Ok(())
    }

    /// Deletes claimed blobs' bytes in `workers` parallel groups (each
    /// one request where the backend deletes in bulk), then releases the
    /// claims (in a dry run, only counts them).
    async fn delete_claimed(
        &self,
        options: &GcOptions,
        claimed: &[(Digest, u64)],
        report: &mut GcReport,
        events: &(dyn Fn(GcEvent) + Send + Sync),
    ) -> Result<()> {
        if claimed.is_empty() {
            return Ok(());
        }
        let dry_run = options.dry_run;
        let size = claimed
            .len()
            .div_ceil(options.workers)
            .clamp(1, MAX_BULK_DELETE);
        let groups: Vec<Vec<(Digest, u64)>> = claimed.chunks(size).map(<[_]>::to_vec).collect();
        let mut deletions = futures::stream::iter(groups)
            .map(|group| {
                let blobs = self.blobs.clone();
                async move {
                    if !dry_run {
                        let digests: Vec<Digest> = group.iter().map(|(d, _)| d.clone()).collect();
                        blobs.delete_many(&digests).await?;
                    }
                    Ok::<_, Error>(group)
                }
            })
            .buffer_unordered(options.workers);
        let mut outcome = Ok(());
        while let Some(done) = deletions.next().await {
            match done {
                Ok(group) => {
                    for (digest, size) in group {
                        report.blobs_deleted += 1;
                        report.bytes_freed += size;
                        events(GcEvent::BlobDeleted { digest, size });
                    }
                }
                // The others finish; the claims stay for the next run.
                Err(e) => outcome = Err(e),
            }
        }
        outcome?;
        if !dry_run {
            let digests: Vec<Digest> = claimed.iter().map(|(d, _)| d.clone()).collect();
            self.meta.release_blob_claims(&digests).await?;
        }
        Ok(())
    }
}
