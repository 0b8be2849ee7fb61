//! Embeds the registry engine in a program, with no HTTP: pushes an image
//! (a config, a layer uploaded in two chunks, a manifest under a tag) into the
//! embedded default storage, then pulls it back and checks every digest.
//!
//! User code: 28 lines (all of `main` with its attribute and braces; no
//! imports, comments or blank lines).
//!
//! Run it with `cargo run -p harbor-examples --example embedded_registry`.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::RepositoryName;
use harbor_core::{bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry};
use harbor_storage::{FsBlobStore, SqliteMetaStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The embedded default: blobs on disk, metadata in SQLite, in one directory.
    let dir = tempfile::tempdir()?;
    let blobs = Arc::new(FsBlobStore::open(dir.path())?);
    let meta = Arc::new(SqliteMetaStore::open(dir.path().join("registry.db"))?);
    let registry = Registry::new(blobs, meta);
    let (repo, tag) = (RepositoryName::parse("team/app")?, Reference::parse("v1")?);

    // A config blob in one call.
    let json = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config = Descriptor::for_blob(OCI_CONFIG, json);
    let body = bytes_stream(&json[..]);
    registry.put_blob(&repo, &config.digest, body, None).await?;

    // A layer in two chunks, through a resumable upload session.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let layer = Descriptor::for_blob(OCI_LAYER_TAR, &data);
    let (digest, id) = (layer.digest.clone(), registry.start_upload(&repo).await?.id);
    let part = bytes_stream(data[..400_000].to_vec());
    registry.append_upload(&repo, &id, None, None, part).await?;
    let last = Some((bytes_stream(data[400_000..].to_vec()), None));
    registry.complete_upload(&repo, &id, &digest, last).await?;

    // The manifest, serialised from the descriptors by the builder, under a tag.
    let manifest = ImageManifestBuilder::oci(config).layer(layer).build()?;
    let bytes = manifest.into_bytes();
    let pushed = registry.put_manifest(&repo, &tag, None, bytes).await?;

    // Pull both back and check them.
    let pulled = registry.get_manifest(&repo, &tag, None).await?;
    let blob = registry.get_blob(&repo, &digest, None).await?;
    let parts: Vec<Bytes> = blob.body.try_collect().await?;
    assert!(Digest::sha256(&pulled.payload) == pushed.digest && parts.concat() == data);
    println!("OK: pulled {repo}:v1 and its layer back, digests match");
    Ok(())
}
