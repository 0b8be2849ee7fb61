//! Embeds the registry engine in a program, with no HTTP: pushes an image
//! (a config, a layer uploaded in chunks, a manifest under a tag) into the
//! embedded default storage, then pulls it back and checks every digest.
//!
//! Run it with `cargo run -p harbor-examples --example embedded_registry`.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{
    bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry, RepositoryName,
    Tag,
};
use harbor_storage::{FsBlobStore, SqliteMetaStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The embedded default: blobs on disk, metadata in SQLite, in one directory.
    let dir = tempfile::tempdir()?;
    let registry = Registry::new(
        Arc::new(FsBlobStore::open(dir.path())?),
        Arc::new(SqliteMetaStore::open(dir.path().join("registry.db"))?),
    );
    let repo = RepositoryName::parse("library/embedded")?;

    // A config blob, pushed in one call.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = Digest::sha256(config);
    registry
        .put_blob(
            &repo,
            &config_digest,
            bytes_stream(&config[..]),
            Some(config.len() as u64),
        )
        .await?;

    // A layer, uploaded in two chunks through a resumable session.
    let layer: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let layer_digest = Digest::sha256(&layer);
    let session = registry.start_upload(&repo).await?;
    let (first, rest) = layer.split_at(400_000);
    let status = registry
        .append_upload(
            &repo,
            &session.id,
            Some((0, first.len() as u64 - 1)),
            None,
            bytes_stream(first.to_vec()),
        )
        .await?;
    println!("uploaded {} bytes of the layer so far", status.offset);
    let size = registry
        .complete_upload(
            &repo,
            &session.id,
            &layer_digest,
            Some((bytes_stream(rest.to_vec()), None)),
        )
        .await?;
    println!("layer {layer_digest} stored, {size} bytes");

    // The manifest, under a tag: descriptors of what was pushed, serialised
    // once by the builder.
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
        .layer(Descriptor::new(
            OCI_LAYER_TAR,
            layer_digest.clone(),
            layer.len() as u64,
        ))
        .build()?;
    let tag = Reference::Tag(Tag::parse("v1")?);
    let pushed = registry
        .put_manifest(
            &repo,
            &tag,
            Some(manifest.media_type()),
            manifest.bytes().clone(),
        )
        .await?;
    println!("pushed {repo}:v1 as {}", pushed.digest);

    // Pull it back and verify.
    let pulled = registry.get_manifest(&repo, &tag, None).await?;
    assert_eq!(pulled.payload, manifest.bytes(), "manifest bytes differ");
    assert_eq!(pulled.digest, Digest::sha256(manifest.bytes()));
    let blob = registry.get_blob(&repo, &layer_digest, None).await?;
    let parts: Vec<Bytes> = blob.body.try_collect().await?;
    let pulled_layer = parts.concat();
    if Digest::sha256(&pulled_layer) != layer_digest {
        return Err("layer digest differs after the round trip".into());
    }
    let (tags, _) = registry.list_tags(&repo, None, None).await?;
    println!("tags of {repo}: {tags:?}");
    println!(
        "OK: pulled {} manifest bytes and a {}-byte layer with matching digests",
        pulled.payload.len(),
        pulled_layer.len()
    );
    Ok(())
}
