//! Builders for image manifests and indexes, so that programs and tests push
//! manifests made from typed descriptors instead of JSON written by hand.
//!
//! A builder serialises once, in the field order of the specs' examples
//! (`schemaVersion`, `mediaType`, `artifactType`, `config`, `layers` or
//! `manifests`, `subject`, `annotations`), and hands back the exact bytes to
//! push with their media type and digest. The same inputs always give the same
//! bytes, so the digest is stable.
//!
//! ```
//! use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
//! use harbor_core::{Algorithm, Descriptor, ImageIndexBuilder, ImageManifestBuilder, Manifest, Platform};
//!
//! let config = br#"{"architecture":"amd64","os":"linux"}"#;
//! let layer = b"layer bytes";
//! let image = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
//!     .layer(Descriptor::for_blob(OCI_LAYER_TAR, layer))
//!     .annotation("org.opencontainers.image.title", "demo")
//!     .build()?;
//! assert_eq!(image.media_type(), OCI_MANIFEST);
//!
//! // The registry sees what was built.
//! let parsed = Manifest::parse(Some(image.media_type()), image.bytes(), Algorithm::Sha256)?;
//! assert_eq!(parsed.digest, *image.digest());
//! assert_eq!(parsed.layers, [Descriptor::for_blob(OCI_LAYER_TAR, layer)]);
//!
//! // An index lists it for its platform.
//! let index = ImageIndexBuilder::oci()
//!     .manifest(image.descriptor().with_platform(Platform::new("linux", "amd64")))
//!     .build()?;
//! let parsed = Manifest::parse(Some(index.media_type()), index.bytes(), Algorithm::Sha256)?;
//! assert_eq!(parsed.manifests[0].digest, *image.digest());
//! # Ok::<(), harbor_core::Error>(())
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::manifest::{Descriptor, MAX_MANIFEST_SIZE};
use crate::media_type;

/// The only `schemaVersion` of image manifests and indexes.
const SCHEMA_VERSION: u32 = 2;

/// A manifest ready to push: its exact bytes, its media type (the
/// `Content-Type` to send) and the digest of the bytes.
///
/// The fields are private so that the digest always belongs to the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltManifest {
    bytes: Bytes,
    media_type: &'static str,
    digest: Digest,
}

impl BuiltManifest {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "the built manifest is {} bytes, over the 4 MiB a registry accepts",
                    bytes.len()
                ),
            ));
        }
        Ok(BuiltManifest {
            digest: Digest::sha256(&bytes),
            bytes: Bytes::from(bytes),
            media_type,
        })
    }

    /// The bytes to push, exactly as they are to be stored.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes to push, by value (cheap: [`Bytes`] is reference-counted).
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The manifest's media type, also written in its `mediaType` field.
    pub fn media_type(&self) -> &'static str {
        self.media_type
    }

    /// The SHA-256 digest of [`bytes`](Self::bytes).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The length of [`bytes`](Self::bytes).
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// A descriptor of this manifest, to list it in an index (add its
    /// platform with [`Descriptor::with_platform`]) or name it as a subject.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type, self.digest.clone(), self.size())
    }
}

/// Builds an OCI image manifest or a Docker schema 2 manifest: a config, its
/// layers in order, and optionally a subject, an artifact type and annotations.
///
/// The Docker schema has no `subject`, `artifactType` or `annotations`; they
/// are written when set all the same, as OCI registries accept them there.
///
/// An artifact that refers to an image (a signature, an SBOM):
///
/// ```
/// use harbor_core::media_type::{OCI_CONFIG, OCI_EMPTY};
/// use harbor_core::{Descriptor, ImageManifestBuilder};
///
/// let image = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, b"{}")).build()?;
/// let signature = ImageManifestBuilder::oci(Descriptor::empty())
///     .artifact_type("application/vnd.example.sig")
///     .layer(Descriptor::for_blob("application/vnd.example.sig", b"signed"))
///     .subject(image.descriptor())
///     .build()?;
/// let text = std::str::from_utf8(signature.bytes()).unwrap_or_default();
/// assert!(text.contains(r#""artifactType":"application/vnd.example.sig""#));
/// assert!(text.contains(OCI_EMPTY));
/// # Ok::<(), harbor_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ImageManifestBuilder {
    media_type: &'static str,
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: BTreeMap<String, String>,
}

impl ImageManifestBuilder {
    /// An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
    /// over `config`.
    pub fn oci(config: Descriptor) -> Self {
        Self::with_media_type(media_type::OCI_MANIFEST, config)
    }

    /// A Docker schema 2 manifest
    /// (`application/vnd.docker.distribution.manifest.v2+json`) over `config`.
    pub fn docker(config: Descriptor) -> Self {
        Self::with_media_type(media_type::DOCKER_MANIFEST, config)
    }

    fn with_media_type(media_type: &'static str, config: Descriptor) -> Self {
        ImageManifestBuilder {
            media_type,
            artifact_type: None,
            config,
            layers: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Appends a layer; layers keep the order they are added in.
    pub fn layer(mut self, layer: Descriptor) -> Self {
        self.layers.push(layer);
        self
    }

    /// Appends several layers in order.
    pub fn layers(mut self, layers: impl IntoIterator<Item = Descriptor>) -> Self {
        self.layers.extend(layers);
        self
    }

    /// The manifest this one refers to, making it a referrer of `subject`.
    pub fn subject(mut self, subject: Descriptor) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The `artifactType`, for artifacts whose config is
    /// [`Descriptor::empty`].
    pub fn artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }

    /// Sets the top-level annotation `key` to `value`.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Serialises the manifest.
    ///
    /// Fails with `SIZE_INVALID` (413) when the manifest would be over
    /// [`MAX_MANIFEST_SIZE`], which no registry of ours would accept.
    pub fn build(&self) -> Result<BuiltManifest> {
        let wire = ImageManifestWire {
            schema_version: SCHEMA_VERSION,
            media_type: self.media_type,
            artifact_type: self.artifact_type.as_deref(),
            config: &self.config,
            layers: &self.layers,
            subject: self.subject.as_ref(),
            annotations: &self.annotations,
        };
        BuiltManifest::new(self.media_type, to_json(&wire)?)
    }
}

/// Builds an OCI image index or a Docker manifest list: child manifests
/// (each with its platform), and optionally a subject, an artifact type and
/// annotations.
#[derive(Clone, Debug)]
#[must_use]
pub struct ImageIndexBuilder {
    media_type: &'static str,
    artifact_type: Option<String>,
    manifests: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: BTreeMap<String, String>,
}

impl ImageIndexBuilder {
    /// An OCI image index (`application/vnd.oci.image.index.v1+json`).
    pub fn oci() -> Self {
        Self::with_media_type(media_type::OCI_INDEX)
    }

    /// A Docker manifest list
    /// (`application/vnd.docker.distribution.manifest.list.v2+json`).
    pub fn docker() -> Self {
        Self::with_media_type(media_type::DOCKER_MANIFEST_LIST)
    }

    fn with_media_type(media_type: &'static str) -> Self {
        ImageIndexBuilder {
            media_type,
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Appends a child manifest, typically [`BuiltManifest::descriptor`] with
    /// [`Descriptor::with_platform`].
    pub fn manifest(mut self, child: Descriptor) -> Self {
        self.manifests.push(child);
        self
    }

    /// Appends several child manifests in order.
    pub fn manifests(mut self, children: impl IntoIterator<Item = Descriptor>) -> Self {
        self.manifests.extend(children);
        self
    }

    /// The manifest this index refers to, making it a referrer of `subject`.
    pub fn subject(mut self, subject: Descriptor) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The `artifactType` of an index that groups artifacts.
    pub fn artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }

    /// Sets the top-level annotation `key` to `value`.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Serialises the index.
    ///
    /// Fails with `SIZE_INVALID` (413) when the index would be over
    /// [`MAX_MANIFEST_SIZE`].
    pub fn build(&self) -> Result<BuiltManifest> {
        let wire = ImageIndexWire {
            schema_version: SCHEMA_VERSION,
            media_type: self.media_type,
            artifact_type: self.artifact_type.as_deref(),
            manifests: &self.manifests,
            subject: self.subject.as_ref(),
            annotations: &self.annotations,
        };
        BuiltManifest::new(self.media_type, to_json(&wire)?)
    }
}

// The wire shapes: field order here is the order in the bytes.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifestWire<'a> {
    schema_version: u32,
    media_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageIndexWire<'a> {
    schema_version: u32,
    media_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    manifests: &'a [Descriptor],
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

fn to_json(wire: &impl Serialize) -> Result<Vec<u8>> {
    // Strings, numbers and digests always serialise; this maps the Result
    // serde_json must return rather than an expected failure.
    serde_json::to_vec(wire).map_err(|e| {
        Error::new(
            ErrorCode::ManifestInvalid,
            format!("the manifest cannot be serialised: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;
    use crate::manifest::{Manifest, Platform};
    use crate::media_type::*;

    fn parse(built: &BuiltManifest) -> Manifest {
        Manifest::parse(Some(built.media_type()), built.bytes(), Algorithm::Sha256)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(built.bytes())))
    }

    fn built(result: Result<BuiltManifest>) -> BuiltManifest {
        result.unwrap()
    }

    fn subject() -> Descriptor {
        Descriptor::for_blob(OCI_MANIFEST, br#"{"schemaVersion":2}"#)
    }

    #[test]
    fn an_oci_image_manifest_parses_back_to_what_was_built() {
        let config = Descriptor::for_blob(OCI_CONFIG, br#"{"os":"linux"}"#);
        let layers = vec![
            Descriptor::for_blob(OCI_LAYER_TAR, b"one"),
            Descriptor::for_blob(OCI_LAYER_TAR_GZIP, b"two")
                .with_annotation("org.opencontainers.image.title", "two.tgz"),
        ];
        let m = built(
            ImageManifestBuilder::oci(config.clone())
                .layers(layers.clone())
                .subject(subject())
                .annotation("b", "2")
                .annotation("a", "1")
                .build(),
        );
        let p = parse(&m);
        assert_eq!(p.media_type, OCI_MANIFEST);
        assert_eq!((&p.digest, p.size), (m.digest(), m.size()));
        assert_eq!(p.digest, Digest::sha256(m.bytes()));
        assert_eq!(p.config, Some(config));
        assert_eq!(p.layers, layers);
        assert_eq!(p.subject, Some(subject()));
        assert_eq!(
            p.annotations,
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert_eq!(p.artifact_type.as_deref(), Some(OCI_CONFIG));
        assert!(p.manifests.is_empty());
    }

    #[test]
    fn a_docker_manifest_parses_back_to_what_was_built() {
        let config = Descriptor::for_blob(DOCKER_CONFIG, br#"{"os":"linux"}"#);
        let layer = Descriptor::for_blob(DOCKER_LAYER_TAR_GZIP, b"gzipped");
        let m = built(
            ImageManifestBuilder::docker(config.clone())
                .layer(layer.clone())
                .subject(subject())
                .annotation("k", "v")
                .build(),
        );
        assert_eq!(m.media_type(), DOCKER_MANIFEST);
        let p = parse(&m);
        assert_eq!(p.media_type, DOCKER_MANIFEST);
        assert_eq!(p.config, Some(config));
        assert_eq!(p.layers, [layer]);
        assert_eq!(p.subject, Some(subject()));
        assert_eq!(p.annotations.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn an_artifact_keeps_its_type_over_the_empty_config() {
        let m = built(
            ImageManifestBuilder::oci(Descriptor::empty())
                .artifact_type("application/vnd.example.sig")
                .subject(subject())
                .build(),
        );
        let p = parse(&m);
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.example.sig")
        );
        assert_eq!(p.config, Some(Descriptor::for_blob(OCI_EMPTY, b"{}")));
        assert!(p.layers.is_empty());
    }

    #[test]
    fn an_oci_index_parses_back_with_its_platforms() {
        let amd =
            built(ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, b"amd")).build());
        let arm =
            built(ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, b"arm")).build());
        let children = vec![
            amd.descriptor()
                .with_platform(Platform::new("linux", "amd64")),
            arm.descriptor()
                .with_platform(Platform::new("linux", "arm64").with_variant("v8")),
        ];
        let index = built(
            ImageIndexBuilder::oci()
                .manifests(children.clone())
                .artifact_type("application/vnd.example.bundle")
                .subject(subject())
                .annotation("org.example", "index")
                .build(),
        );
        let p = parse(&index);
        assert_eq!(p.media_type, OCI_INDEX);
        assert_eq!(p.digest, *index.digest());
        assert_eq!(p.manifests, children);
        assert_eq!(
            p.manifests[1].platform,
            Some(serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}))
        );
        assert_eq!(p.subject, Some(subject()));
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.example.bundle")
        );
        assert_eq!(
            p.annotations.get("org.example").map(String::as_str),
            Some("index")
        );
        assert!(p.config.is_none() && p.layers.is_empty());
    }

    #[test]
    fn a_docker_manifest_list_parses_back_with_its_platforms() {
        let child =
            built(ImageManifestBuilder::docker(Descriptor::for_blob(DOCKER_CONFIG, b"c")).build());
        let entry = child
            .descriptor()
            .with_platform(Platform::new("linux", "arm").with_variant("v7"));
        let list = built(ImageIndexBuilder::docker().manifest(entry.clone()).build());
        assert_eq!(list.media_type(), DOCKER_MANIFEST_LIST);
        let p = parse(&list);
        assert_eq!(p.media_type, DOCKER_MANIFEST_LIST);
        assert_eq!(p.manifests, [entry]);
        assert_eq!(p.manifests[0].media_type, DOCKER_MANIFEST);
    }

    #[test]
    fn fields_are_written_in_the_spec_order_and_absent_ones_left_out() {
        let config = Descriptor::for_blob(OCI_EMPTY, b"{}");
        let plain = built(ImageManifestBuilder::oci(config.clone()).build());
        assert_eq!(
            String::from_utf8_lossy(plain.bytes()),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_EMPTY}","digest":"{}","size":2}},"layers":[]}}"#,
                config.digest
            )
        );
        let full = built(
            ImageManifestBuilder::oci(config)
                .artifact_type("t")
                .subject(subject())
                .annotation("k", "v")
                .build(),
        );
        let text = String::from_utf8_lossy(full.bytes());
        let at = |key: &str| {
            text.find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("{key} missing from {text}"))
        };
        let order = [
            "schemaVersion",
            "mediaType",
            "artifactType",
            "config",
            "layers",
            "subject",
            "annotations",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");

        let index = built(ImageIndexBuilder::oci().build());
        assert_eq!(
            String::from_utf8_lossy(index.bytes()),
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#)
        );
    }

    #[test]
    fn the_same_inputs_build_the_same_bytes() {
        let make = || {
            built(
                ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, b"c"))
                    .annotation("z", "1")
                    .annotation("a", "2")
                    .build(),
            )
        };
        assert_eq!(make(), make());
    }

    #[test]
    fn a_manifest_over_the_size_limit_is_not_built() {
        let layers = (0..40_000u32).map(|i| Descriptor::for_blob(OCI_LAYER_TAR, &i.to_le_bytes()));
        let e = ImageManifestBuilder::oci(Descriptor::empty())
            .layers(layers)
            .build()
            .err();
        assert_eq!(e.map(|e| e.code()), Some(ErrorCode::TooLarge));
    }
}
