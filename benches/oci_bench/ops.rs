//! The OCI distribution operations the scenarios are made of.

use bytes::Bytes;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{Descriptor, Digest, ImageManifestBuilder};
use http_body_util::BodyExt;
use hyper::Method;

use crate::client::{empty, expect, frames, full, read_body, Registry, Res};
use crate::gen::{self, Blob};

/// The OCI image manifest media type.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// What a client accepts when fetching a manifest.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The scope to push to (and pull from) `repo`.
pub(crate) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// The scope to pull from `repo`.
pub(crate) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// How a blob's bytes are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `POST` a session, then one `PUT ?digest=` with the whole body.
    Mono,
    /// `POST`, `PATCH`es of `chunk` bytes with `Content-Range`, then `PUT ?digest=`.
    Chunked {
        /// Bytes per `PATCH`.
        chunk: u64,
    },
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

async fn start_upload(reg: &Registry, repo: &str, scope: &str) -> Res<String> {
    let url = reg.url(&format!("/v2/{repo}/blobs/uploads/"));
    let resp = reg
        .send(Method::POST, &url, scope, &[("content-length", "0")], empty)
        .await?;
    let resp = expect(resp, &[202], "start upload").await?;
    let loc = reg.location(&resp)?;
    read_body(resp).await?;
    Ok(loc)
}

/// Uploads a generated blob, streaming its bytes.
pub(crate) async fn upload(
    reg: &Registry,
    repo: &str,
    blob: Blob,
    digest: &str,
    mode: Mode,
) -> Res<()> {
    let scope = push_scope(repo);
    let mut loc = start_upload(reg, repo, &scope).await?;
    let octet = ("content-type", "application/octet-stream");
    match mode {
        Mode::Mono => {
            let len = blob.size.to_string();
            let resp = reg
                .send(
                    Method::PUT,
                    &with_digest(&loc, digest),
                    &scope,
                    &[("content-length", &len), octet],
                    || frames(blob.range(0, blob.size)),
                )
                .await?;
            read_body(expect(resp, &[201], "put blob").await?).await?;
        }
        Mode::Chunked { chunk } => {
            let mut off = 0;
            while off < blob.size {
                let end = (off + chunk.max(1)).min(blob.size);
                let len = (end - off).to_string();
                let range = format!("{off}-{}", end - 1);
                let resp = reg
                    .send(
                        Method::PATCH,
                        &loc,
                        &scope,
                        &[("content-length", &len), ("content-range", &range), octet],
                        || frames(blob.range(off, end)),
                    )
                    .await?;
                let resp = expect(resp, &[202], "patch chunk").await?;
                loc = reg.location(&resp)?;
                read_body(resp).await?;
                off = end;
            }
            let resp = reg
                .send(
                    Method::PUT,
                    &with_digest(&loc, digest),
                    &scope,
                    &[("content-length", "0")],
                    empty,
                )
                .await?;
            read_body(expect(resp, &[201], "complete upload").await?).await?;
        }
    }
    Ok(())
}

/// Uploads `data` held in memory (a config, a small layer); returns its digest.
pub(crate) async fn upload_bytes(reg: &Registry, repo: &str, data: Bytes) -> Res<String> {
    let digest = gen::sha256(&data);
    let scope = push_scope(repo);
    let loc = start_upload(reg, repo, &scope).await?;
    let len = data.len().to_string();
    let resp = reg
        .send(
            Method::PUT,
            &with_digest(&loc, &digest),
            &scope,
            &[
                ("content-length", &len),
                ("content-type", "application/octet-stream"),
            ],
            || full(data.clone()),
        )
        .await?;
    read_body(expect(resp, &[201], "put blob").await?).await?;
    Ok(digest)
}

/// Puts `manifest` under `reference`.
pub(crate) async fn put_manifest(
    reg: &Registry,
    repo: &str,
    reference: &str,
    manifest: &Bytes,
) -> Res<()> {
    let url = reg.url(&format!("/v2/{repo}/manifests/{reference}"));
    let len = manifest.len().to_string();
    let resp = reg
        .send(
            Method::PUT,
            &url,
            &push_scope(repo),
            &[("content-type", OCI_MANIFEST), ("content-length", &len)],
            || full(manifest.clone()),
        )
        .await?;
    read_body(expect(resp, &[201], "put manifest").await?).await?;
    Ok(())
}

/// Pushes a config and an image manifest over `layers` (digest, size) under
/// `tag`; returns the manifest's bytes.
pub(crate) async fn push_image(
    reg: &Registry,
    repo: &str,
    layers: &[(String, u64)],
    tag: &str,
) -> Res<Bytes> {
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#,
    );
    let config_descriptor = Descriptor::for_blob(OCI_CONFIG, &config);
    upload_bytes(reg, repo, config).await?;
    let layers = layers
        .iter()
        .map(|(d, s)| Ok(Descriptor::new(OCI_LAYER_TAR, Digest::parse(d)?, *s)))
        .collect::<Res<Vec<_>>>()?;
    let manifest = ImageManifestBuilder::oci(config_descriptor)
        .layers(layers)
        .build()?
        .into_bytes();
    put_manifest(reg, repo, tag, &manifest).await?;
    Ok(manifest)
}

/// Fetches a blob, streaming, checking its size and (when `verify`) its
/// sha256; returns the bytes received.
pub(crate) async fn fetch_blob(
    reg: &Registry,
    repo: &str,
    digest: &str,
    size: u64,
    verify: bool,
) -> Res<u64> {
    let url = reg.url(&format!("/v2/{repo}/blobs/{digest}"));
    let resp = reg
        .send(Method::GET, &url, &pull_scope(repo), &[], empty)
        .await?;
    let mut body = expect(resp, &[200], "get blob").await?.into_body();
    let mut ctx = verify.then(|| ring::digest::Context::new(&ring::digest::SHA256));
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
            if let Some(c) = ctx.as_mut() {
                c.update(&data);
            }
        }
    }
    if n != size {
        return Err(format!("{digest}: got {n} bytes, expected {size}").into());
    }
    if let Some(c) = ctx {
        let got = format!("sha256:{}", gen::hex(c.finish().as_ref()));
        if got != digest {
            return Err(format!("{digest}: the body hashes to {got}").into());
        }
    }
    Ok(n)
}
