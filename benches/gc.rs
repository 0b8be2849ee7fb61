//! Garbage collection: `GC_GARBAGE` unreferenced blobs among `GC_KEPT`
//! referenced ones (referenced by manifests of 100 layers each), collected
//! by `GarbageCollector` with 5 workers. Reports blobs examined and deleted
//! per second, the elapsed time, and the peak resident memory of the
//! collection (the set-up's peak is reset before it starts).
//!
//! - `GC_BACKEND=fs` (default): the file system and SQLite, 1,000,000 among
//!   100,000 by default; the set-up writes the blob files directly in the
//!   store's layout, without syncing (it measures the collection, not the
//!   pushes).
//! - `GC_BACKEND=s3`: S3 on moto and PostgreSQL (a throwaway server), both
//!   started here, 100,000 among 10,000 by default; the set-up PUTs the blob
//!   objects directly at their places.
//!
//! `cargo bench -p harbor-benches --bench gc`

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use harbor_core::{
    Digest, GarbageCollector, GcOptions, ManifestRecord, MetaStore, Registry, RepositoryName, Tag,
};
use harbor_storage::{FsBlobStore, SqliteMetaStore};

/// References per manifest of the kept blobs.
const LAYERS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Blob `i`'s bytes: its number, so every blob differs.
fn content(i: usize) -> Vec<u8> {
    format!("blob {i}").into_bytes()
}

fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    let hex = d.hex();
    root.join("blobs").join("sha256").join(&hex[..2]).join(hex)
}

/// Writes blobs `range` straight into the store's layout, on two threads.
fn write_blobs(root: &Path, range: std::ops::Range<usize>) -> std::io::Result<()> {
    for p in 0..=255u8 {
        std::fs::create_dir_all(root.join("blobs").join("sha256").join(format!("{p:02x}")))?;
    }
    let mid = range.start + range.len() / 2;
    std::thread::scope(|s| {
        let halves = [range.start..mid, mid..range.end];
        let handles: Vec<_> = halves
            .into_iter()
            .map(|part| {
                s.spawn(move || -> std::io::Result<()> {
                    for i in part {
                        let data = content(i);
                        std::fs::write(blob_path(root, &Digest::sha256(&data)), &data)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| std::io::Error::other("a writer panicked"))??;
        }
        Ok(())
    })
}

/// Resets the peak resident memory, so that it measures what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// PUTs blobs `range` straight at their places in the bucket, 64 at once.
async fn put_objects(
    config: &harbor_storage::S3Config,
    range: std::ops::Range<usize>,
) -> Result<(), Box<dyn std::error::Error>> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    let (key, secret) = config.credentials.clone().unwrap_or_default();
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&config.bucket)
        .with_region("us-east-1")
        .with_endpoint(config.endpoint.clone().unwrap_or_default())
        .with_allow_http(true)
        .with_access_key_id(key)
        .with_secret_access_key(secret)
        .build()?;
    let s3 = &s3;
    let results: Vec<_> = futures::stream::iter(range)
        .map(|i| async move {
            let data = content(i);
            let hex = Digest::sha256(&data).hex().to_owned();
            let path = object_store::path::Path::from(format!("blobs/sha256/{}/{hex}", &hex[..2]));
            s3.put(&path, object_store::PutPayload::from(data)).await
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let s3 = std::env::var("GC_BACKEND").is_ok_and(|b| b == "s3");
    let garbage = env_usize("GC_GARBAGE", if s3 { 100_000 } else { 1_000_000 });
    let kept = env_usize("GC_KEPT", if s3 { 10_000 } else { 100_000 });
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();

    let started = Instant::now();
    // Held for the run: dropping them stops the servers.
    let mut _servers = None;
    let (blobs, meta): (Arc<dyn harbor_core::BlobStore>, Arc<dyn MetaStore>) = if s3 {
        let moto = harbor_storage::s3::testing::Moto::start().await;
        let config = moto.bucket().await;
        // First: it installs the process's TLS provider, which the set-up's
        // client needs too.
        let blobs = harbor_storage::S3BlobStore::connect(&config).await?;
        put_objects(&config, 0..kept + garbage).await?;
        let cluster =
            tokio::task::spawn_blocking(harbor_storage::postgres::testing::TempCluster::start)
                .await?;
        let meta = harbor_storage::PgStore::connect(&cluster.database(), 8).await?;
        _servers = Some((moto, cluster));
        (Arc::new(blobs), Arc::new(meta))
    } else {
        let writing = root.clone();
        tokio::task::spawn_blocking(move || write_blobs(&writing, 0..kept + garbage)).await??;
        (
            Arc::new(FsBlobStore::open(&root)?),
            Arc::new(SqliteMetaStore::open(root.join("registry.db"))?),
        )
    };
    let repo = RepositoryName::parse("bench/kept")?;
    for m in 0..kept.div_ceil(LAYERS) {
        let references: Vec<Digest> = (m * LAYERS..((m + 1) * LAYERS).min(kept))
            .map(|i| Digest::sha256(&content(i)))
            .collect();
        let payload = Bytes::from(format!("manifest {m}"));
        let record = ManifestRecord {
            digest: Digest::sha256(&payload),
            media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
            payload,
            subject: None,
            artifact_type: None,
            annotations: Default::default(),
            references,
            pushed_at: SystemTime::now(),
        };
        let tag = Tag::parse(&format!("t{m}"))?;
        meta.put_manifest(&repo, &record, Some(&tag), &[]).await?;
    }
    println!(
        "set-up ({}): {} blobs ({kept} referenced by {} manifests) in {:.1} s",
        if s3 {
            "S3 on moto, PostgreSQL"
        } else {
            "file system, SQLite"
        },
        kept + garbage,
        kept.div_ceil(LAYERS),
        started.elapsed().as_secs_f64()
    );

    let registry = Registry::new(blobs, meta);
    let options = GcOptions {
        delete_untagged: true,
        dry_run: false,
        workers: 5,
        time_window: Duration::ZERO,
        upload_max_age: None,
    };
    reset_peak();
    let started = Instant::now();
    let report = GarbageCollector::new(&registry)
        .run(&options, &AtomicBool::new(false), &|_| {})
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let peak = harbor_benches::peak_rss_kib().unwrap_or(0);
    let left: Vec<harbor_core::StoredBlob> =
        registry.blob_store().list().await?.try_collect().await?;
    println!(
        "gc: {} blobs examined, {} deleted ({} bytes) in {elapsed:.1} s: {:.0} blobs/s examined, {:.0} deleted/s; peak RSS {:.1} MiB; {} blobs left",
        report.blobs_examined,
        report.blobs_deleted,
        report.bytes_freed,
        report.blobs_examined as f64 / elapsed,
        report.blobs_deleted as f64 / elapsed,
        peak as f64 / 1024.0,
        left.len()
    );
    if left.len() != kept || report.blobs_deleted != garbage as u64 {
        return Err(format!(
            "expected {kept} blobs left and {garbage} deleted, found {} and {}",
            left.len(),
            report.blobs_deleted
        )
        .into());
    }
    Ok(())
}
