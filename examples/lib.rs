//! Runnable examples of embedding harbor-rs; see the `[[example]]` targets
//! and the README's list. This library holds only what the examples need
//! but do not show: registries in memory and a test image to replicate, and
//! a small HTTP client for an example that checks its own server. The test in `tests/` runs every example.

use std::error::Error;
use std::sync::Arc;

use bytes::Bytes;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{
    bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry, RepositoryName,
    Tag,
};
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
use http_body_util::{BodyExt, Empty};
use hyper::header::AUTHORIZATION;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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

/// A plain-HTTP `GET` of `path` on the server at `base` (`http://host:port`),
/// with an `Authorization` header when given; the answer with its body read
/// whole as text.
pub async fn http_get(
    base: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<hyper::Response<String>, Box<dyn Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = hyper::Request::get(format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let response = client.request(request.body(Empty::new())?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(hyper::Response::from_parts(
        parts,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// The `Authorization` value for HTTP Basic credentials.
pub fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let credentials = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}
