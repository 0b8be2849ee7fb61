//! Replication as a library: runs a Harbor-style policy between two
//! registries, syncs a repository (watching its events as a stream) and
//! copies one image directly, printing progress events.
//!
//! Both registries are embedded here (the `local` adapter), so the example
//! runs anywhere; for remote registries use
//! `AdapterRegistry::with_defaults().create("docker-registry" | "harbor", &Endpoint { .. })`.
//!
//! Run it with `cargo run -p harbor-examples --example replicate`.

use std::sync::Arc;

use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{
    bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry, RepositoryName,
    Tag,
};
use harbor_replicate::adapters::Local;
use harbor_replicate::{Copier, CopyEvent, CopyOptions, Policy, Replicator};
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

fn registry() -> Result<Registry, Box<dyn std::error::Error>> {
    Ok(Registry::new(
        Arc::new(MemoryBlobStore::new()),
        Arc::new(SqliteMetaStore::in_memory()?),
    ))
}

async fn push(r: &Registry, repo: &str, tag: &str) -> Result<(), Box<dyn std::error::Error>> {
    let name = RepositoryName::parse(repo)?;
    let config = format!(r#"{{"os":"linux","architecture":"amd64","repo":"{repo}"}}"#).into_bytes();
    let layer = format!("the only layer of {repo}")
        .repeat(4096)
        .into_bytes();
    for blob in [&config, &layer] {
        r.put_blob(
            &name,
            &Digest::sha256(blob),
            bytes_stream(blob.clone()),
            None,
        )
        .await?;
    }
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, &config))
        .layer(Descriptor::for_blob(OCI_LAYER_TAR, &layer))
        .build()?;
    r.put_manifest(
        &name,
        &Reference::Tag(Tag::parse(tag)?),
        None,
        manifest.into_bytes(),
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (src, dst) = (registry()?, registry()?);
    push(&src, "library/web", "v1").await?;
    push(&src, "library/web", "v2-rc1").await?;
    push(&src, "team/tools/builder", "latest").await?;

    // A push-mode policy: library/** without release candidates, into `mirror`, flattened.
    let policy: Policy = serde_json::from_str(
        r#"{"name":"mirror-library","dest_registry":{"id":1},"dest_namespace":"mirror",
            "dest_namespace_replace_count":-1,
            "filters":[{"type":"name","value":"library/**"},{"type":"tag","value":"*-rc*","decoration":"excludes"}],
            "trigger":{"type":"manual"},"override":true}"#,
    )?;
    let progress = Arc::new(|e: &CopyEvent| {
        if let CopyEvent::ManifestPushed {
            repository,
            reference,
        } = e
        {
            println!("  pushed {repository}:{reference}");
        }
    });
    let report = Replicator::default()
        .run_policy(
            &policy,
            Arc::new(Local::new(src.clone())),
            Arc::new(Local::new(dst.clone())),
            Some(progress),
        )
        .await?;
    println!(
        "policy {}: {} succeeded, {} failed",
        policy.name,
        report.succeeded(),
        report.failed()
    );

    // A whole repository, every tag, watching the copy as a stream of events.
    let (events, mut stream) = harbor_replicate::event_stream();
    let copier = Copier::new(
        Arc::new(Local::new(src.clone())),
        Arc::new(Local::new(dst.clone())),
        CopyOptions {
            progress: Some(events),
            ..CopyOptions::default()
        },
    );
    let synced = Replicator::default()
        .sync_repository(
            copier,
            &RepositoryName::parse("library/web")?,
            &RepositoryName::parse("archive/web")?,
        )
        .await?;
    let mut blobs = 0;
    while let Some(e) = futures::StreamExt::next(&mut stream).await {
        if matches!(
            e,
            CopyEvent::BlobDone { .. } | CopyEvent::BlobSkipped { .. }
        ) {
            blobs += 1;
        }
    }
    println!(
        "synced library/web: {} tags, {blobs} blobs seen",
        synced.succeeded()
    );

    // One image, directly.
    let copier = Copier::new(
        Arc::new(Local::new(src)),
        Arc::new(Local::new(dst.clone())),
        CopyOptions::default(),
    );
    let copied = copier
        .copy_image(
            &RepositoryName::parse("team/tools/builder")?,
            &Reference::parse("latest")?,
            &RepositoryName::parse("mirror/builder")?,
            Some(&Tag::parse("latest")?),
        )
        .await?;
    println!(
        "copied builder: {} blobs, {} bytes",
        copied.blobs_copied, copied.bytes
    );

    let (repos, _) = dst.catalog(None, None).await?;
    println!("destination repositories: {repos:?}");
    if repos != ["archive/web", "mirror/builder", "mirror/web"]
        || report.succeeded() != 1
        || synced.succeeded() != 2
    {
        return Err("unexpected replication result".into());
    }
    println!("OK");
    Ok(())
}
