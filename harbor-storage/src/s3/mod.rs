//! `S3BlobStore`: blobs in S3-compatible object storage (AWS S3, MinIO, Ceph
//! RGW, moto) through the `object_store` crate.
//!
//! Layout under the bucket's `prefix`:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: published blobs, written
//!   whole by one atomic PUT or copy, so a reader sees all of a verified
//!   blob or nothing;
//! - `uploads/<id>/state`, `uploads/<id>/tail.<n>`, `uploads/<id>/data`: an
//!   upload session (see [`upload`](self) below): its saved state, the bytes
//!   after its last multipart part, and the assembled data.
//!
//! The types are re-exported at the crate root; this module also holds
//! [`testing`] (with the `conformance` feature): a throwaway S3 server.
//!
//! Every session is kept in the bucket, none in process memory: an upload
//! begun on one instance of a cluster continues on any other.

mod parts;
mod publish;
mod sha256_state;
mod streamed;
#[cfg(feature = "conformance")]
pub mod testing;
mod upload;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use harbor_core::blob_store::blob_unknown;
use harbor_core::{BlobStore, ByteStream, Digest, Result, StoredBlob, UploadInfo};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};

use crate::error::StorageError;

/// S3's smallest part (but for the last one) of a multipart upload.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Where and how to reach a bucket. Its `Debug` form leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket, which must exist.
    pub bucket: String,
    /// The service's URL (`http://127.0.0.1:9000` for MinIO or moto);
    /// `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The region; `us-east-1` when `None`.
    pub region: Option<String>,
    /// A key prefix under which everything is kept, so that one bucket can
    /// hold several registries (`registry/` or `""`).
    pub prefix: String,
    /// Allows a plain `http://` endpoint (MinIO or moto on a private network).
    pub allow_http: bool,
    /// Bytes per multipart part, at least [`MIN_PART_SIZE`]. A chunk of
    /// known length with at least this many bytes to come is streamed to
    /// S3 as one part while it arrives; otherwise its bytes are gathered
    /// into parts of this size, so an upload in flight holds at most one
    /// part in memory.
    pub part_size: usize,
    /// An access key pair, overriding the environment's `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY` (for embedding programs and tests).
    pub credentials: Option<(String, String)>,
    /// When set, blob downloads may be redirected to a presigned URL valid
    /// this long, so that the bytes flow from the bucket to the client
    /// (distribution's `redirect` option). Off by default.
    pub redirect: Option<Duration>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .field("part_size", &self.part_size)
            .field("access_key_id", &self.credentials.as_ref().map(|c| &c.0))
            .field("redirect", &self.redirect)
            .finish()
    }
}

impl S3Config {
    /// A configuration for `bucket` with the defaults: AWS, `us-east-1`, no
    /// prefix, HTTPS only, 5 MiB parts, no redirects.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
            prefix: String::new(),
            allow_http: false,
            part_size: MIN_PART_SIZE,
            credentials: None,
            redirect: None,
        }
    }
}

/// Content-addressed blobs in an S3 bucket. Credentials come from the
/// standard environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, or the instance's role). HTTPS uses rustls with the
/// ring provider, installed as the process default unless one already is.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    /// Sends parts streamed as they arrive (see `streamed`).
    http: reqwest::Client,
    bucket: String,
    prefix: String,
    part_size: usize,
    redirect: Option<Duration>,
}

impl S3BlobStore {
    /// Builds the client (no request is sent: see [`S3BlobStore::check`]).
    pub fn new(config: &S3Config) -> Result<Self, StorageError> {
        if config.part_size < MIN_PART_SIZE {
            return Err(StorageError::Config(format!(
                "S3 part size {} is below S3's minimum of {MIN_PART_SIZE} bytes",
                config.part_size
            )));
        }
        // The HTTP client's TLS takes the process's rustls provider: ring,
        // as everywhere in this workspace, unless the embedding program
        // installed one already (then this does nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(config.region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(config.allow_http)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(300)),
            )
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if let Some((key, secret)) = &config.credentials {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder
            .build()
            .map_err(|e| StorageError::object_store(format!("bucket {}", config.bucket), e))?;
        let prefix = config.prefix.trim_matches('/');
        Ok(S3BlobStore {
            s3: Arc::new(s3),
            http: streamed::part_client(config.allow_http)?,
            bucket: config.bucket.clone(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            part_size: config.part_size,
            redirect: config.redirect,
        })
    }

    /// Builds the client and checks that the bucket answers (a listing of
    /// the prefix), so that a wrong endpoint, bucket or credential stops a
    /// start-up with one clear error instead of failing the first push.
    pub async fn connect(config: &S3Config) -> Result<Self, StorageError> {
        let store = Self::new(config)?;
        store.check().await?;
        Ok(store)
    }

    /// Lists the prefix once; an error names the bucket and the endpoint.
    pub async fn check(&self) -> Result<(), StorageError> {
        let prefix = self.path("blobs");
        self.s3
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(|e| {
                // S3 answers a missing bucket with a 404 whose body says so;
                // object_store reports it as a generic error.
                let what = if e.to_string().contains("NoSuchBucket") {
                    format!("listing bucket {}: the bucket does not exist", self.bucket)
                } else {
                    format!("listing bucket {}", self.bucket)
                };
                StorageError::object_store(what, e)
            })
    }

    fn path(&self, rest: &str) -> Path {
        Path::from(format!("{}{rest}", self.prefix))
    }

    pub(super) fn blob_path(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        self.path(&format!(
            "blobs/{}/{}/{hex}",
            digest.algorithm().as_str(),
            &hex[..2]
        ))
    }
}

/// Reads `NotFound` as `None`.
fn found<T>(r: object_store::Result<T>) -> object_store::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn s3_error(what: impl Into<String>, e: object_store::Error) -> harbor_core::Error {
    StorageError::object_store(what, e).into()
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let meta = found(self.s3.head(&self.blob_path(digest)).await)
            .map_err(|e| s3_error(format!("stat {digest}"), e))?;
        Ok(meta.map(|m| m.size))
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let got = found(self.s3.get_opts(&self.blob_path(digest), options).await)
            .map_err(|e| s3_error(format!("get {digest}"), e))?
            .ok_or_else(|| blob_unknown(digest))?;
        Ok(got.into_stream().map_err(std::io::Error::other).boxed())
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        let Some(ttl) = self.redirect else {
            return Ok(None);
        };
        let url = self
            .s3
            .signed_url(
                object_store::signer::Method::GET,
                &self.blob_path(digest),
                ttl,
            )
            .await
            .map_err(|e| s3_error(format!("presign {digest}"), e))?;
        Ok(Some(url.to_string()))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        let existed = found(self.s3.head(&path).await)
            .map_err(|e| s3_error(format!("stat {digest}"), e))?
            .is_some();
        if existed {
            match self.s3.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3_error(format!("delete {digest}"), e)),
            }
        }
        Ok(existed)
    }

    async fn delete_many(&self, digests: &[Digest]) -> Result<()> {
        // One `DeleteObjects` per 1,000 keys (object_store batches them);
        // deleting an absent key succeeds.
        let paths: Vec<object_store::Result<Path>> =
            digests.iter().map(|d| Ok(self.blob_path(d))).collect();
        let mut deleted = self.s3.delete_stream(futures::stream::iter(paths).boxed());
        while let Some(done) = deleted.next().await {
            match done {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3_error("delete blobs", e)),
            }
        }
        Ok(())
    }

    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob>>> {
        let root = self.path("blobs");
        let skip = root.parts().count();
        let listing = self.s3.list(Some(&root)).filter_map(move |item| {
            let out = match item {
                // `<algorithm>/<two hex>/<hex>`; anything else is not ours.
                Ok(meta) => {
                    let parts: Vec<String> = meta
                        .location
                        .parts()
                        .skip(skip)
                        .map(|p| p.as_ref().to_owned())
                        .collect();
                    match parts.as_slice() {
                        [alg, _, hex] => {
                            Digest::parse(&format!("{alg}:{hex}")).ok().map(|digest| {
                                Ok(StoredBlob {
                                    digest,
                                    size: meta.size,
                                })
                            })
                        }
                        _ => None,
                    }
                }
                Err(e) => Some(Err(s3_error("list blobs", e))),
            };
            futures::future::ready(out)
        });
        Ok(listing.boxed())
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        self.create_session(id).await
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        Ok(self.load_session(id).await?.map(|s| s.size))
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        self.append(id, offset, body, expected_len).await
    }

    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64> {
        self.commit(id, expected).await
    }

    async fn append_and_commit(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        expected_len: Option<u64>,
        expected: &Digest,
    ) -> Result<u64> {
        self.append_then_commit(id, offset, body, expected_len, expected)
            .await
    }

    async fn abort_upload(&self, id: &str) -> Result<()> {
        self.abort(id).await
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        self.sessions().await
    }
}
