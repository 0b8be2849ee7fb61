//! The copier between two embedded registries (the `local` adapter): images
//! and indexes arrive whole with the same digests, present blobs are skipped,
//! mounts are used within one registry, `override: false` keeps a differing
//! tag, and corrupt source bytes never become a blob.

mod common;

use common::{registry, repo, tag, tagged};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST};
use harbor_core::{
    bytes_stream, ByteStream, Descriptor, Digest, ImageIndexBuilder, ImageManifestBuilder,
    Platform, Reference, Registry, RepositoryName, Tag,
};
use harbor_replicate::adapters::{collect, Local};
use harbor_replicate::{
    AdapterInfo, Copier, CopyEvent, CopyOptions, PulledManifest, RegistryAdapter, ReplicateError,
};

async fn put_blob(r: &Registry, name: &str, data: &[u8]) -> (Digest, usize) {
    let d = Digest::sha256(data);
    r.put_blob(&repo(name), &d, bytes_stream(data.to_vec()), None)
        .await
        .expect("the blob goes in");
    (d, data.len())
}

/// Pushes an image with two layers; returns its manifest bytes and digest.
async fn image(r: &Registry, name: &str, reference: Option<&str>, seed: &str) -> (Bytes, Digest) {
    let (cd, cl) = put_blob(
        r,
        name,
        format!(r#"{{"os":"linux","seed":"{seed}"}}"#).as_bytes(),
    )
    .await;
    let (l1, n1) = put_blob(r, name, format!("layer one {seed}").repeat(1000).as_bytes()).await;
    let (l2, n2) = put_blob(r, name, format!("layer two {seed}").as_bytes()).await;
    let manifest = ImageManifestBuilder::oci(Descriptor::new(OCI_CONFIG, cd, cl as u64))
        .layer(Descriptor::new(OCI_LAYER_TAR, l1, n1 as u64))
        .layer(Descriptor::new(OCI_LAYER_TAR, l2, n2 as u64))
        .build()
        .expect("a valid manifest")
        .into_bytes();
    let d = Digest::sha256(&manifest);
    let reference = match reference {
        Some(t) => tagged(t),
        None => Reference::Digest(d.clone()),
    };
    r.put_manifest(
        &repo(name),
        &reference,
        Some(OCI_MANIFEST),
        manifest.clone(),
    )
    .await
    .expect("the manifest goes in");
    (manifest, d)
}

async fn manifest_at(r: &Registry, name: &str, reference: &str) -> Option<Bytes> {
    let reference = Reference::parse(reference).ok()?;
    r.get_manifest(&repo(name), &reference, None)
        .await
        .ok()
        .map(|m| m.payload)
}

async fn same_blobs(a: &Registry, a_repo: &str, b: &Registry, b_repo: &str, manifest: &[u8]) {
    let m = harbor_core::Manifest::parse(None, manifest, harbor_core::Algorithm::Sha256)
        .expect("the manifest parses");
    for blob in m.required_blobs() {
        let x = a
            .get_blob(&repo(a_repo), &blob.digest, None)
            .await
            .expect("the blob is there");
        let y = b
            .get_blob(&repo(b_repo), &blob.digest, None)
            .await
            .expect("the blob is there");
        let (x, y) = (
            collect(x.body).await.unwrap_or_default(),
            collect(y.body).await.unwrap_or_default(),
        );
        assert_eq!(x, y, "blob {}", blob.digest);
        assert_eq!(Digest::sha256(&y), blob.digest);
    }
}

#[tokio::test]
async fn an_image_arrives_whole_with_the_same_digest_and_a_second_copy_moves_nothing() {
    let (src, dst) = (registry(), registry());
    let (manifest, digest) = image(&src, "library/app", Some("v1"), "a").await;
    let copier = Copier::new(
        Arc::new(Local::new(src.clone())),
        Arc::new(Local::new(dst.clone())),
        CopyOptions::default(),
    );
    let report = copier
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!(report.digest, Some(digest.clone()));
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped, report.manifests),
        (3, 0, 1)
    );
    assert_eq!(
        manifest_at(&dst, "mirror/app", "v1").await.as_deref(),
        Some(&manifest[..])
    );
    same_blobs(&src, "library/app", &dst, "mirror/app", &manifest).await;

    let again = copier
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.blobs_copied, again.blobs_skipped, again.bytes),
        (0, 3, 0)
    );
}

#[tokio::test]
async fn an_index_is_copied_child_by_child_then_the_index() {
    let (src, dst) = (registry(), registry());
    let (amd, amd_d) = image(&src, "library/multi", None, "amd64").await;
    let (arm, arm_d) = image(&src, "library/multi", None, "arm64").await;
    let index = ImageIndexBuilder::oci()
        .manifest(
            Descriptor::new(OCI_MANIFEST, amd_d.clone(), amd.len() as u64)
                .with_platform(Platform::new("linux", "amd64")),
        )
        .manifest(
            Descriptor::new(OCI_MANIFEST, arm_d.clone(), arm.len() as u64)
                .with_platform(Platform::new("linux", "arm64")),
        )
        .build()
        .unwrap()
        .into_bytes();
    src.put_manifest(
        &repo("library/multi"),
        &tagged("latest"),
        Some(OCI_INDEX),
        index.clone(),
    )
    .await
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = CopyOptions {
        progress: Some(Arc::new(move |e: &CopyEvent| {
            if let Ok(mut v) = seen.lock() {
                v.push(e.clone());
            }
        })),
        ..Default::default()
    };
    let copier = Copier::new(
        Arc::new(Local::new(src.clone())),
        Arc::new(Local::new(dst.clone())),
        options,
    );
    let report = copier
        .copy_image(
            &repo("library/multi"),
            &tagged("latest"),
            &repo("mirror/multi"),
            Some(&tag("latest")),
        )
        .await
        .unwrap();
    assert_eq!(report.manifests, 3);
    assert_eq!(report.blobs_copied, 6);
    assert_eq!(
        manifest_at(&dst, "mirror/multi", "latest").await.as_deref(),
        Some(&index[..])
    );
    for (m, d) in [(&amd, &amd_d), (&arm, &arm_d)] {
        assert_eq!(
            manifest_at(&dst, "mirror/multi", &d.to_string())
                .await
                .as_deref(),
            Some(&m[..])
        );
        same_blobs(&src, "library/multi", &dst, "mirror/multi", m).await;
    }
    // The tag is the last thing written.
    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        events.last(),
        Some(&CopyEvent::ManifestPushed {
            repository: repo("mirror/multi"),
            reference: tagged("latest")
        })
    );
}

#[tokio::test]
async fn without_override_a_differing_destination_tag_is_kept() {
    let (src, dst) = (registry(), registry());
    image(&src, "library/app", Some("v1"), "new").await;
    let (old, old_d) = image(&dst, "mirror/app", Some("v1"), "old").await;
    let options = CopyOptions {
        override_tags: false,
        ..Default::default()
    };
    let copier = Copier::new(
        Arc::new(Local::new(src.clone())),
        Arc::new(Local::new(dst.clone())),
        options,
    );
    let report = copier
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert!(report.tag_kept);
    assert_eq!(report.digest, Some(old_d));
    assert_eq!(
        manifest_at(&dst, "mirror/app", "v1").await.as_deref(),
        Some(&old[..])
    );

    let overriding = Copier::new(
        Arc::new(Local::new(src)),
        Arc::new(Local::new(dst.clone())),
        CopyOptions::default(),
    );
    let report = overriding
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert!(!report.tag_kept);
    assert_ne!(
        manifest_at(&dst, "mirror/app", "v1").await.as_deref(),
        Some(&old[..])
    );
}

#[tokio::test]
async fn within_one_registry_blobs_are_mounted_not_copied() {
    let r = registry();
    let (manifest, _) = image(&r, "library/app", Some("v1"), "m").await;
    let local: Arc<dyn RegistryAdapter> = Arc::new(Local::new(r.clone()));
    let options = CopyOptions {
        same_registry: true,
        ..Default::default()
    };
    let report = Copier::new(local.clone(), local, options)
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("team/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!(
        (report.blobs_mounted, report.blobs_copied, report.bytes),
        (3, 0, 0)
    );
    same_blobs(&r, "library/app", &r, "team/app", &manifest).await;
}

/// A source that serves the right manifest but a tampered layer.
#[derive(Debug)]
struct Tampering(Local);

#[async_trait]
impl RegistryAdapter for Tampering {
    fn info(&self) -> AdapterInfo {
        self.0.info()
    }
    async fn health(&self) -> harbor_replicate::Result<()> {
        self.0.health().await
    }
    async fn list_repositories(&self) -> harbor_replicate::Result<Vec<RepositoryName>> {
        self.0.list_repositories().await
    }
    async fn list_tags(&self, repo: &RepositoryName) -> harbor_replicate::Result<Vec<Tag>> {
        self.0.list_tags(repo).await
    }
    async fn manifest_digest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> harbor_replicate::Result<Option<Digest>> {
        self.0.manifest_digest(repo, r).await
    }
    async fn pull_manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> harbor_replicate::Result<PulledManifest> {
        self.0.pull_manifest(repo, r).await
    }
    async fn push_manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
        mt: &str,
        p: Bytes,
    ) -> harbor_replicate::Result<Digest> {
        self.0.push_manifest(repo, r, mt, p).await
    }
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> harbor_replicate::Result<()> {
        self.0.delete_manifest(repo, r).await
    }
    async fn blob_size(
        &self,
        repo: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<Option<u64>> {
        self.0.blob_size(repo, d).await
    }
    async fn pull_blob(
        &self,
        repo: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<(u64, ByteStream)> {
        let (size, body) = self.0.pull_blob(repo, d).await?;
        let mut data = collect(body)
            .await
            .map_err(|e| ReplicateError::invalid_because("the source blob cannot be read", e))?;
        if let Some(b) = data.last_mut() {
            *b ^= 0xff;
        }
        Ok((size, bytes_stream(data)))
    }
    async fn push_blob(
        &self,
        repo: &RepositoryName,
        d: &Digest,
        size: u64,
        body: ByteStream,
    ) -> harbor_replicate::Result<()> {
        self.0.push_blob(repo, d, size, body).await
    }
    async fn mount_blob(
        &self,
        repo: &RepositoryName,
        d: &Digest,
        from: &RepositoryName,
    ) -> harbor_replicate::Result<bool> {
        self.0.mount_blob(repo, d, from).await
    }
    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> harbor_replicate::Result<()> {
        self.0.prepare_for_push(repos).await
    }
}

#[tokio::test]
async fn tampered_source_bytes_never_become_a_blob_or_a_tag() {
    let (src, dst) = (registry(), registry());
    let (manifest, _) = image(&src, "library/app", Some("v1"), "t").await;
    let copier = Copier::new(
        Arc::new(Tampering(Local::new(src))),
        Arc::new(Local::new(dst.clone())),
        CopyOptions::default(),
    );
    let e = copier
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await;
    assert!(e.is_err(), "a tampered copy must fail");
    assert_eq!(
        manifest_at(&dst, "mirror/app", "v1").await,
        None,
        "no tag for incomplete content"
    );
    let m = harbor_core::Manifest::parse(None, &manifest, harbor_core::Algorithm::Sha256).unwrap();
    for blob in m.required_blobs() {
        let visible = dst.blob_store().stat(&blob.digest).await.ok().flatten();
        assert_eq!(visible, None, "blob {} must not be visible", blob.digest);
    }
}

#[tokio::test]
async fn a_speed_limit_slows_the_transfer_to_the_rate_asked_for() {
    let (src, dst) = (registry(), registry());
    // About 11 KB of layers: half a second at 20 KB/s.
    image(&src, "library/app", Some("v1"), "s").await;
    let options = CopyOptions {
        speed_kbps: Some(20),
        ..Default::default()
    };
    let copier = Copier::new(
        Arc::new(Local::new(src)),
        Arc::new(Local::new(dst.clone())),
        options,
    );
    let started = std::time::Instant::now();
    let report = copier
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    let expected = report.bytes as f64 / (20.0 * 1024.0);
    let took = started.elapsed().as_secs_f64();
    assert!(report.bytes > 10_000, "{report:?}");
    assert!(
        took >= expected * 0.8,
        "took {took:.3} s for {} bytes at 20 KB/s",
        report.bytes
    );
}
