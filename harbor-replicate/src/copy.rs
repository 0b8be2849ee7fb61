//! Copying images between registries: indexes child by child and then the
//! index, blobs skipped when present and mounted when source and destination
//! are one registry, every byte streamed and its digest verified on the way,
//! and the tag written last so nobody sees a tag whose content is incomplete.

use std::fmt;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use harbor_core::{
    Algorithm, ByteStream, Descriptor, Digest, Hasher, Manifest, Reference, RepositoryName, Tag,
};

use crate::adapter::{ChunkedPush, RegistryAdapter};
use crate::checkpoint::UploadCheckpoints;
use crate::error::{ReplicateError, Result};

/// What happened during a copy, for progress bars and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyEvent {
    /// The destination already had the blob.
    BlobSkipped {
        /// Digest.
        digest: Digest,
        /// Size.
        size: u64,
    },
    /// The blob was mounted from another repository of the destination.
    BlobMounted {
        /// Digest.
        digest: Digest,
        /// Size.
        size: u64,
    },
    /// A blob transfer began.
    BlobStarted {
        /// Digest.
        digest: Digest,
        /// Size.
        size: u64,
    },
    /// Bytes of a blob moved (cumulative).
    BlobProgress {
        /// Digest.
        digest: Digest,
        /// Bytes sent so far.
        done: u64,
    },
    /// A blob arrived and verified.
    BlobDone {
        /// Digest.
        digest: Digest,
        /// Size.
        size: u64,
    },
    /// A manifest was written.
    ManifestPushed {
        /// Destination repository.
        repository: RepositoryName,
        /// Tag or digest written.
        reference: Reference,
    },
    /// The destination tag points elsewhere and `override` is off.
    TagKept {
        /// Destination repository.
        repository: RepositoryName,
        /// The tag left alone.
        tag: Tag,
    },
}

/// Receives [`CopyEvent`]s.
pub type Progress = Arc<dyn Fn(&CopyEvent) + Send + Sync>;

/// A [`Progress`] callback and the stream of the events it receives, for
/// callers who would rather consume events than be called back. The stream
/// ends once every copy of the callback (every `CopyOptions` holding it) is
/// dropped.
pub fn event_stream() -> (Progress, futures::stream::BoxStream<'static, CopyEvent>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let progress: Progress = Arc::new(move |e: &CopyEvent| {
        // A receiver that is gone just stops listening.
        let _ = tx.send(e.clone());
    });
    let events = stream::unfold(rx, |mut rx| async move {
        let e = rx.recv().await?;
        Some((e, rx))
    })
    .boxed();
    (progress, events)
}

/// How to copy.
#[derive(Clone)]
pub struct CopyOptions {
    /// Replace a destination tag that points at different content.
    pub override_tags: bool,
    /// Try cross-repository mounts (when source and destination are one registry).
    pub same_registry: bool,
    /// Called on every event.
    pub progress: Option<Progress>,
    /// Bandwidth limit per blob transfer, in KB/s (Harbor's `speed`).
    pub speed_kbps: Option<u64>,
    /// Push blobs larger than this by chunks of this many bytes, resuming
    /// from the last acknowledged chunk after a cut (Harbor's
    /// `copy_by_chunk`; [`DEFAULT_CHUNK`] is the usual size).
    pub chunk_size: Option<u64>,
    /// Where chunked uploads are remembered, so that a copy restarted after
    /// a crash continues them instead of starting each blob again.
    pub checkpoints: Option<Arc<dyn UploadCheckpoints>>,
}

/// The chunk size used for `copy_by_chunk` policies: 10 MiB, as Harbor's.
pub const DEFAULT_CHUNK: u64 = 10 << 20;

impl fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyOptions")
            .field("override_tags", &self.override_tags)
            .field("same_registry", &self.same_registry)
            .field("speed_kbps", &self.speed_kbps)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            override_tags: true,
            same_registry: false,
            progress: None,
            speed_kbps: None,
            chunk_size: None,
            checkpoints: None,
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// The digest of the copied manifest (or index).
    pub digest: Option<Digest>,
    /// Blobs transferred.
    pub blobs_copied: usize,
    /// Blobs the destination already had.
    pub blobs_skipped: usize,
    /// Blobs mounted.
    pub blobs_mounted: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Manifests written (children and the root).
    pub manifests: usize,
    /// True when the destination tag was left alone (`override` off).
    pub tag_kept: bool,
}

/// Copies images from one adapter to another.
#[derive(Debug, Clone)]
pub struct Copier {
    src: Arc<dyn RegistryAdapter>,
    dst: Arc<dyn RegistryAdapter>,
    options: CopyOptions,
}

impl Copier {
    /// A copier from `src` to `dst`.
    pub fn new(
        src: Arc<dyn RegistryAdapter>,
        dst: Arc<dyn RegistryAdapter>,
        options: CopyOptions,
    ) -> Self {
        Copier { src, dst, options }
    }

    /// The source adapter.
    pub fn source(&self) -> &Arc<dyn RegistryAdapter> {
        &self.src
    }

    /// The destination adapter.
    pub fn destination(&self) -> &Arc<dyn RegistryAdapter> {
        &self.dst
    }

    fn emit(&self, e: CopyEvent) {
        if let Some(p) = &self.options.progress {
            p(&e);
        }
    }

    /// Copies `src_repo:reference` (a tag or digest, every platform of an
    /// index) to `dst_repo`, under `dst_tag` if given and by digest
    /// otherwise.
    pub async fn copy_image(
        &self,
        src_repo: &RepositoryName,
        reference: &Reference,
        dst_repo: &RepositoryName,
        dst_tag: Option<&Tag>,
    ) -> Result<CopyReport> {
        let mut report = CopyReport::default();
        let root = self.src.pull_manifest(src_repo, reference).await?;
        if let Some(tag) = dst_tag {
            if !self.options.override_tags {
                let at = Reference::Tag(tag.clone());
                if let Some(existing) = self.dst.manifest_digest(dst_repo, &at).await? {
                    if existing != root.digest {
                        report.tag_kept = true;
                        report.digest = Some(existing);
                        self.emit(CopyEvent::TagKept {
                            repository: dst_repo.clone(),
                            tag: tag.clone(),
                        });
                        return Ok(report);
                    }
                }
            }
        }
        self.dst
            .prepare_for_push(std::slice::from_ref(dst_repo))
            .await?;
        self.copy_content(
            src_repo,
            dst_repo,
            &root.media_type,
            &root.payload,
            &root.digest,
            &mut report,
        )
        .await?;
        // Written by digest first, then the tag: a tag never names an
        // incomplete image.
        let reference = match dst_tag {
            Some(tag) => Reference::Tag(tag.clone()),
            None => Reference::Digest(root.digest.clone()),
        };
        self.dst
            .push_manifest(dst_repo, &reference, &root.media_type, root.payload.clone())
            .await?;
        report.manifests += 1;
        self.emit(CopyEvent::ManifestPushed {
            repository: dst_repo.clone(),
            reference,
        });
        report.digest = Some(root.digest);
        Ok(report)
    }

    /// Copies what a manifest references (children first for an index).
    async fn copy_content(
        &self,
        src_repo: &RepositoryName,
        dst_repo: &RepositoryName,
        media_type: &str,
        payload: &[u8],
        digest: &Digest,
        report: &mut CopyReport,
    ) -> Result<()> {
        let manifest = Manifest::parse(Some(media_type), payload, digest.algorithm())?;
        for child in &manifest.manifests {
            let at = Reference::Digest(child.digest.clone());
            let c = self.src.pull_manifest(src_repo, &at).await?;
            Box::pin(self.copy_content(
                src_repo,
                dst_repo,
                &c.media_type,
                &c.payload,
                &c.digest,
                report,
            ))
            .await?;
            let at = Reference::Digest(c.digest.clone());
            self.dst
                .push_manifest(dst_repo, &at, &c.media_type, c.payload.clone())
                .await?;
            report.manifests += 1;
            self.emit(CopyEvent::ManifestPushed {
                repository: dst_repo.clone(),
                reference: at,
            });
        }
        let blobs: Vec<Descriptor> = manifest.required_blobs().cloned().collect();
        for blob in blobs {
            self.copy_blob(src_repo, dst_repo, &blob, report).await?;
        }
        Ok(())
    }

    /// Opens `blob` at the source from any offset, for chunked pushes. From
    /// offset 0 the bytes are hashed on the way, as in a whole copy; a resumed
    /// tail cannot be hashed alone, and relies on the destination checking
    /// the digest when the upload completes (the distribution API requires
    /// it to).
    fn source_from(
        &self,
        src_repo: &RepositoryName,
        blob: &Descriptor,
    ) -> crate::adapter::BlobSource {
        let src = self.src.clone();
        let repo = src_repo.clone();
        let digest = blob.digest.clone();
        let size = blob.size;
        let progress = self.options.progress.clone();
        let speed = self.options.speed_kbps.filter(|k| *k > 0);
        Arc::new(move |offset| {
            let (src, repo, digest, progress) =
                (src.clone(), repo.clone(), digest.clone(), progress.clone());
            Box::pin(async move {
                let body = src.pull_blob_from(&repo, &digest, offset).await?;
                let body = if offset == 0 {
                    verified(body, digest, size, progress)
                } else {
                    counted(body, digest, offset, size, progress)
                };
                Ok(match speed {
                    Some(kbps) => throttled(body, kbps),
                    None => body,
                })
            })
        })
    }

    async fn copy_blob(
        &self,
        src_repo: &RepositoryName,
        dst_repo: &RepositoryName,
        blob: &Descriptor,
        report: &mut CopyReport,
    ) -> Result<()> {
        let digest = &blob.digest;
        if let Some(size) = self.dst.blob_size(dst_repo, digest).await? {
            report.blobs_skipped += 1;
            self.emit(CopyEvent::BlobSkipped {
                digest: digest.clone(),
                size,
            });
            return Ok(());
        }
        if self.options.same_registry
            && src_repo != dst_repo
            && self.dst.mount_blob(dst_repo, digest, src_repo).await?
        {
            report.blobs_mounted += 1;
            self.emit(CopyEvent::BlobMounted {
                digest: digest.clone(),
                size: blob.size,
            });
            return Ok(());
        }
        if let Some(chunk) = self.options.chunk_size.filter(|c| *c > 0 && blob.size > *c) {
            self.emit(CopyEvent::BlobStarted {
                digest: digest.clone(),
                size: blob.size,
            });
            let how = ChunkedPush {
                chunk,
                open: self.source_from(src_repo, blob),
                checkpoints: self.options.checkpoints.clone(),
            };
            self.dst
                .push_blob_chunked(dst_repo, digest, blob.size, how)
                .await?;
            report.blobs_copied += 1;
            // Sizes come from the source's manifest: saturating, not trusted.
            report.bytes = report.bytes.saturating_add(blob.size);
            self.emit(CopyEvent::BlobDone {
                digest: digest.clone(),
                size: blob.size,
            });
            return Ok(());
        }
        let (size, body) = self.src.pull_blob(src_repo, digest).await?;
        if size != blob.size {
            return Err(ReplicateError::Corrupt {
                digest: digest.to_string(),
                message: format!(
                    "the manifest says {} bytes, the source serves {size}",
                    blob.size
                ),
            });
        }
        self.emit(CopyEvent::BlobStarted {
            digest: digest.clone(),
            size,
        });
        let body = verified(body, digest.clone(), size, self.options.progress.clone());
        let body = match self.options.speed_kbps.filter(|k| *k > 0) {
            Some(kbps) => throttled(body, kbps),
            None => body,
        };
        self.dst.push_blob(dst_repo, digest, size, body).await?;
        report.blobs_copied += 1;
        report.bytes = report.bytes.saturating_add(size);
        self.emit(CopyEvent::BlobDone {
            digest: digest.clone(),
            size,
        });
        Ok(())
    }
}

/// Passes `body` through while hashing and counting it; ends in an error
/// (so the destination refuses the upload) if the bytes are not `digest`.
pub fn verified(
    body: ByteStream,
    digest: Digest,
    size: u64,
    progress: Option<Progress>,
) -> ByteStream {
    struct State {
        body: ByteStream,
        hasher: Option<Hasher>,
        digest: Digest,
        size: u64,
        done: u64,
    }
    let algorithm = digest.algorithm();
    let state = State {
        body,
        hasher: Some(Hasher::new(if algorithm == Algorithm::Sha512 {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        })),
        digest: digest.clone(),
        size,
        done: 0,
    };
    let checked = stream::unfold(state, |mut st| async move {
        let hasher = st.hasher.as_mut()?;
        match st.body.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                st.done += chunk.len() as u64;
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.hasher = None;
                Some((Err(e), st))
            }
            None => {
                let actual = st.hasher.take()?.finish();
                if actual == st.digest && st.done == st.size {
                    None
                } else {
                    let msg = format!(
                        "source sent {} bytes with digest {actual}, expected {} bytes of {}",
                        st.done, st.size, st.digest
                    );
                    Some((
                        Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg)),
                        st,
                    ))
                }
            }
        }
    })
    .boxed();
    counted(checked, digest, 0, size, progress)
}

/// Passes a blob from byte `offset` on through, reporting progress every MiB
/// and at its end.
fn counted(
    body: ByteStream,
    digest: Digest,
    offset: u64,
    size: u64,
    progress: Option<Progress>,
) -> ByteStream {
    let Some(progress) = progress else {
        return body;
    };
    let mut done = offset;
    let mut reported = offset;
    body.inspect(move |item| {
        if let Ok(chunk) = item {
            done += chunk.len() as u64;
            if done - reported >= 1 << 20 || done == size {
                reported = done;
                progress(&CopyEvent::BlobProgress {
                    digest: digest.clone(),
                    done,
                });
            }
        }
    })
    .boxed()
}

/// Limits `body` to `kbps` KB/s by pausing between chunks.
pub fn throttled(body: ByteStream, kbps: u64) -> ByteStream {
    let rate = kbps.saturating_mul(1024) as f64;
    let start = tokio::time::Instant::now();
    stream::unfold((body, 0u64), move |(mut body, sent)| async move {
        let item = body.next().await?;
        let sent = sent.saturating_add(item.as_ref().map(|c| c.len() as u64).unwrap_or(0));
        let due = start + std::time::Duration::from_secs_f64(sent as f64 / rate);
        tokio::time::sleep_until(due).await;
        Some((item, (body, sent)))
    })
    .boxed()
}
