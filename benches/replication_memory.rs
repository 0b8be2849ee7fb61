//! Replicates an image with one large layer (default 1 GiB, `LAYER_MIB` to
//! change) between two servers over loopback with the `docker-registry`
//! adapter, and reports throughput and the peak resident memory of the
//! process (both servers and the copier together): every byte streams, so
//! memory stays flat however large the layer.
//!
//! `cargo bench -p harbor-benches --bench replication_memory`

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{Descriptor, ImageManifestBuilder, Reference, RepositoryName, Tag};
use harbor_replicate::{adapters::DockerRegistry, Copier, CopyOptions, Endpoint, RegistryAdapter};

const CHUNK: usize = 256 * 1024;

fn chunk_bytes(i: u64) -> Bytes {
    let mut v = vec![0u8; CHUNK];
    for (j, b) in v.iter_mut().enumerate().step_by(512) {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    Bytes::from(v)
}

async fn server(
    dir: &std::path::Path,
) -> Result<(String, tokio::sync::oneshot::Sender<()>), Box<dyn std::error::Error>> {
    let mut config = harbor_server::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    config.auth.mode = harbor_server::config::AuthMode::None;
    let server = harbor_server::Server::bind(config).await?;
    let url = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until(async move {
        let _ = rx.await;
    }));
    Ok((url, tx))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let mib: u64 = std::env::var("LAYER_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let chunks = mib * 1024 * 1024 / CHUNK as u64;
    let size = chunks * CHUNK as u64;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (a, _stop_a) = server(dir_a.path()).await?;
    let (b, _stop_b) = server(dir_b.path()).await?;
    let endpoint = |url: &str| Endpoint {
        url: url.to_owned(),
        credential: None,
        insecure: false,
    };
    let src: Arc<dyn RegistryAdapter> = Arc::new(DockerRegistry::new(endpoint(&a))?);
    let dst: Arc<dyn RegistryAdapter> = Arc::new(DockerRegistry::new(endpoint(&b))?);
    let (repo, mirror) = (
        RepositoryName::parse("bench/big")?,
        RepositoryName::parse("mirror/big")?,
    );
    let v1 = Tag::parse("v1")?;

    // The source image: a config and one large layer, pushed streaming.
    let mut h = harbor_core::Hasher::new(harbor_core::Algorithm::Sha256);
    for i in 0..chunks {
        h.update(&chunk_bytes(i));
    }
    let layer = h.finish();
    let body = futures::stream::iter(0..chunks)
        .map(|i| Ok::<_, std::io::Error>(chunk_bytes(i)))
        .boxed();
    src.push_blob(&repo, &layer, size, body).await?;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = harbor_core::Digest::sha256(config);
    src.push_blob(
        &repo,
        &config_digest,
        config.len() as u64,
        harbor_core::bytes_stream(&config[..]),
    )
    .await?;
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
        .layer(Descriptor::new(OCI_LAYER_TAR, layer.clone(), size))
        .build()?;
    src.push_manifest(
        &repo,
        &Reference::Tag(v1.clone()),
        manifest.media_type(),
        manifest.bytes().clone(),
    )
    .await?;
    let before = harbor_benches::peak_rss_kib();

    let started = Instant::now();
    let report = Copier::new(src, dst.clone(), CopyOptions::default())
        .copy_image(&repo, &Reference::Tag(v1.clone()), &mirror, Some(&v1))
        .await?;
    let secs = started.elapsed().as_secs_f64();
    if dst.blob_size(&mirror, &layer).await? != Some(size) {
        return Err("the layer did not arrive whole".into());
    }
    println!("layer size:            {mib} MiB");
    println!(
        "replication:           {:.1} MB/s ({secs:.2} s, {} bytes)",
        report.bytes as f64 / 1e6 / secs,
        report.bytes
    );
    println!("peak RSS before copy:  {} KiB", before.unwrap_or(0));
    println!(
        "peak RSS after copy:   {} KiB",
        harbor_benches::peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}
