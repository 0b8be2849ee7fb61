//! `S3BlobStore` against a real S3 server (moto), with the shared suite.
#![cfg(feature = "s3")]

use harbor_core::{bytes_stream, BlobStore, Digest};
use harbor_storage::conformance::blob_store;
use harbor_storage::s3::testing::Moto;
use harbor_storage::{S3BlobStore, S3Config};
use tokio::sync::OnceCell;

/// One moto per test binary.
static MOTO: OnceCell<Moto> = OnceCell::const_new();

async fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blob_store_passes_the_blob_store_suite() {
    let config = moto().await.bucket().await;
    let store = S3BlobStore::connect(&config).await.unwrap();
    blob_store::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_bucket_share_uploads_and_blobs() {
    let mut config = moto().await.bucket().await;
    config.prefix = "registry/one".into();
    let a = S3BlobStore::connect(&config).await.unwrap();
    let b = S3BlobStore::connect(&config).await.unwrap();
    blob_store::run_shared(&a, &b).await;
}

#[tokio::test]
async fn a_missing_bucket_or_a_dead_endpoint_is_one_clear_error() {
    let mut config = moto().await.bucket().await;
    config.bucket = "no-such-bucket".into();
    let e = S3BlobStore::connect(&config).await.unwrap_err().to_string();
    assert!(e.contains("no-such-bucket"), "{e}");

    let mut config = S3Config::new("b");
    config.endpoint = Some("http://127.0.0.1:9".into());
    config.allow_http = true;
    config.credentials = Some(("k".into(), "s".into()));
    let e = S3BlobStore::connect(&config).await.unwrap_err().to_string();
    assert!(e.contains("listing bucket b"), "{e}");

    // HTTPS: the TLS client is built (rustls with ring) and fails cleanly.
    let mut config = S3Config::new("b");
    config.endpoint = Some("https://127.0.0.1:9".into());
    config.credentials = Some(("k".into(), "s".into()));
    let e = S3BlobStore::connect(&config).await.unwrap_err().to_string();
    assert!(e.contains("listing bucket b"), "{e}");

    let mut config = S3Config::new("b");
    config.part_size = 1024;
    let e = S3BlobStore::new(&config).unwrap_err().to_string();
    assert!(e.contains("part size 1024"), "{e}");
}

#[tokio::test]
async fn redirects_are_presigned_urls_that_serve_the_blob_only_when_enabled() {
    let mut config = moto().await.bucket().await;
    let plain = S3BlobStore::connect(&config).await.unwrap();
    let d = Digest::sha256(b"redirected");
    plain
        .put(&d, bytes_stream(&b"redirected"[..]), None)
        .await
        .unwrap();
    assert_eq!(plain.redirect_url(&d).await.unwrap(), None);
    config.redirect = Some(std::time::Duration::from_secs(60));
    let redirecting = S3BlobStore::connect(&config).await.unwrap();
    let url = redirecting.redirect_url(&d).await.unwrap().unwrap();
    assert!(url.contains("X-Amz-Signature"), "{url}");
    assert!(url.contains(d.hex()), "{url}");
}
