//! Runnable examples of embedding harbor-rs; see the `[[example]]` targets
//! and the README's list. This library holds only what the examples need
//! but do not show: registries in memory and a test image to replicate. The test in `tests/` runs every example.

use std::error::Error;
use std::sync::Arc;

use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{
    bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry, RepositoryName,
    Tag,
};
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

/// A registry in memory: blobs in a `MemoryBlobStore`, metadata in an
/// in-memory SQLite database.
pub fn memory_registry() -> Result<Registry, Box<dyn Error>> {
    let meta = SqliteMetaStore::in_memory()?;
    Ok(Registry::new(
        Arc::new(MemoryBlobStore::new()),
        Arc::new(meta),
    ))
}

/// Pushes a small single-layer image to `registry` as `repo:tag` (its layer
/// names the repository, so different repositories hold different blobs).
pub async fn push_image(registry: &Registry, repo: &str, tag: &str) -> Result<(), Box<dyn Error>> {
    let name = RepositoryName::parse(repo)?;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = format!("the only layer of {repo}\n")
        .repeat(4096)
        .into_bytes();
    for blob in [&config[..], &layer] {
        let body = bytes_stream(blob.to_vec());
        registry
            .put_blob(&name, &Digest::sha256(blob), body, None)
            .await?;
    }
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
        .layer(Descriptor::for_blob(OCI_LAYER_TAR, &layer))
        .build()?;
    let reference = Reference::Tag(Tag::parse(tag)?);
    registry
        .put_manifest(&name, &reference, None, manifest.into_bytes())
        .await?;
    Ok(())
}
