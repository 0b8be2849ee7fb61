//! Parsing and validation of OCI and Docker schema 2 manifests and indexes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, ErrorCode};
use crate::media_type::{self, MANIFEST_TYPES};

/// The largest manifest accepted, as the OCI distribution-spec allows registries to set.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Where a foreign layer can be fetched from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// The artifact type (referrers, OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of content already known by `digest` and `size`, such as a
    /// blob that was streamed elsewhere or a manifest pulled from a peer.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// A descriptor of `data`, its SHA-256 digest and size computed here, so a
    /// manifest cannot name a blob with a digest or size that is not its own.
    pub fn for_blob(media_type: impl Into<String>, data: &[u8]) -> Self {
        Self::new(media_type, Digest::sha256(data), data.len() as u64)
    }

    /// The OCI empty descriptor: the two bytes `{}` as
    /// [`OCI_EMPTY`](media_type::OCI_EMPTY), the config of artifacts that have
    /// none of their own.
    pub fn empty() -> Self {
        Self::for_blob(media_type::OCI_EMPTY, EMPTY_JSON)
    }

    /// This descriptor with `platform`, as an index lists its children.
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform.into());
        self
    }

    /// This descriptor with the annotation `key` set to `value`.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// This descriptor with `artifactType`, as referrers lists show it.
    pub fn with_artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }
}

/// The content of the OCI empty descriptor ([`Descriptor::empty`]), to push
/// as the blob it names.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The platform an index entry runs on (`os`, `architecture`, `variant`).
///
/// [`Descriptor::platform`] stays a JSON value so that fields this type does not
/// know (`os.version`, `features`) survive parsing; this type is how a program
/// writes one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Platform {
    /// The operating system, as Go's `GOOS` spells it (`linux`, `windows`).
    pub os: String,
    /// The CPU architecture, as Go's `GOARCH` spells it (`amd64`, `arm64`).
    pub architecture: String,
    /// The CPU variant (`v7` of `arm`, `v8` of `arm64`).
    pub variant: Option<String>,
}

impl Platform {
    /// `os`/`architecture`, without a variant.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// This platform with the CPU `variant`.
    pub fn with_variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = Some(variant.into());
        self
    }
}

impl From<Platform> for serde_json::Value {
    /// The platform object `{"architecture", "os", "variant"?}`, built as a map
    /// rather than through serde so that the conversion cannot fail.
    fn from(p: Platform) -> Self {
        let mut map = serde_json::Map::new();
        map.insert("architecture".into(), p.architecture.into());
        map.insert("os".into(), p.os.into());
        if let Some(variant) = p.variant {
            map.insert("variant".into(), variant.into());
        }
        serde_json::Value::Object(map)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A manifest that parsed and passed the structural checks: what the registry
/// needs to know to store it, check its references and answer referrers queries.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The effective media type (Content-Type, or the body's `mediaType`).
    pub media_type: String,
    /// The digest of the exact bytes, with the requested algorithm.
    pub digest: Digest,
    /// Size of the bytes.
    pub size: u64,
    /// The config blob of an image manifest.
    pub config: Option<Descriptor>,
    /// The layers of an image manifest.
    pub layers: Vec<Descriptor>,
    /// The child manifests of an index.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// `artifactType`, or for an image manifest without one, its config media type.
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses `body` sent with `content_type`, computing its digest with `algorithm`.
    ///
    /// Refuses with `MANIFEST_INVALID`: malformed JSON, Docker schema 1, a
    /// `mediaType` that contradicts the Content-Type, a missing config or
    /// manifests list, and anything over [`MAX_MANIFEST_SIZE`] (`SIZE_INVALID`, 413).
    pub fn parse(
        content_type: Option<&str>,
        body: &[u8],
        algorithm: Algorithm,
    ) -> Result<Self, Error> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!("manifest of {} bytes exceeds the 4 MiB limit", body.len()),
            ));
        }
        let invalid = |msg: String| Error::new(ErrorCode::ManifestInvalid, msg);
        let content_type = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|ct| !ct.is_empty());
        if matches!(
            content_type.as_deref(),
            Some(media_type::DOCKER_SCHEMA1) | Some(media_type::DOCKER_SCHEMA1_SIGNED)
        ) {
            return Err(invalid(
                "Docker schema 1 manifests are not supported".into(),
            ));
        }
        // JSON is UTF-8 (RFC 8259). serde_json checks that only in the
        // strings it keeps, not in those of fields it ignores, so a body with
        // other bytes in an unknown field would be stored and served as JSON.
        let text = std::str::from_utf8(body)
            .map_err(|e| invalid(format!("manifest is not valid: not UTF-8 ({e})")))?;
        let raw: RawManifest = serde_json::from_str(text)
            .map_err(|e| invalid(format!("manifest is not valid: {e}")))?;
        if raw.schema_version == Some(1)
            || matches!(
                raw.media_type.as_deref(),
                Some(media_type::DOCKER_SCHEMA1) | Some(media_type::DOCKER_SCHEMA1_SIGNED)
            )
        {
            return Err(invalid(
                "Docker schema 1 manifests are not supported".into(),
            ));
        }
        if raw.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2".into()));
        }
        let known = |t: &str| MANIFEST_TYPES.contains(&t);
        let media_type = match (content_type.as_deref(), raw.media_type.as_deref()) {
            (Some(ct), Some(body_type)) if known(ct) => {
                if ct != body_type {
                    return Err(invalid(format!(
                        "mediaType {body_type:?} does not match Content-Type {ct:?}"
                    )));
                }
                ct.to_owned()
            }
            (Some(ct), None) if known(ct) => ct.to_owned(),
            (_, Some(body_type)) if known(body_type) => body_type.to_owned(),
            (_, Some(body_type)) => {
                return Err(invalid(format!(
                    "unsupported manifest media type {body_type:?}"
                )))
            }
            (_, None) if raw.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
            (_, None) if raw.config.is_some() => media_type::OCI_MANIFEST.to_owned(),
            (_, None) => return Err(invalid("cannot tell the manifest's media type".into())),
        };

        let is_index = media_type::is_index(&media_type);
        if is_index {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("an index must not have config or layers".into()));
            }
            if raw.manifests.is_none() {
                return Err(invalid("an index must have a manifests list".into()));
            }
        } else {
            if raw.config.is_none() {
                return Err(invalid("an image manifest must have a config".into()));
            }
            if raw.manifests.is_some() {
                return Err(invalid(
                    "an image manifest must not have a manifests list".into(),
                ));
            }
        }
        let artifact_type = raw.artifact_type.clone().or_else(|| {
            if is_index {
                None
            } else {
                raw.config.as_ref().map(|c| c.media_type.clone())
            }
        });
        Ok(Manifest {
            media_type,
            digest: Digest::compute(algorithm, body),
            size: body.len() as u64,
            config: raw.config,
            layers: raw.layers.unwrap_or_default(),
            manifests: raw.manifests.unwrap_or_default(),
            subject: raw.subject,
            artifact_type,
            annotations: raw.annotations.unwrap_or_default(),
        })
    }

    /// Blobs this manifest needs in the repository (config and layers), leaving
    /// out foreign layers that carry `urls`.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(
            self.layers
                .iter()
                .filter(|l| !media_type::is_foreign_layer(&l.media_type) || l.urls.is_empty()),
        )
    }

    /// Every digest this manifest references (config, layers, children), for
    /// garbage collection and replication.
    pub fn references(&self) -> Vec<Digest> {
        self.config
            .iter()
            .chain(&self.layers)
            .chain(&self.manifests)
            .map(|d| d.digest.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::*;

    fn d(s: &[u8]) -> String {
        Digest::sha256(s).to_string()
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}}]{extra}}}"#,
            d(b"{}"),
            d(b"abc")
        )
    }

    #[test]
    fn an_oci_image_manifest_parses_with_its_references() {
        let body = image("");
        let m = Manifest::parse(Some(OCI_MANIFEST), body.as_bytes(), Algorithm::Sha256).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.digest, Digest::sha256(body.as_bytes()));
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn subject_and_artifact_type_are_kept() {
        let body = image(&format!(
            r#","artifactType":"application/x-sig","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}},"annotations":{{"a":"b"}}"#,
            d(b"s")
        ));
        let m = Manifest::parse(None, body.as_bytes(), Algorithm::Sha256).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
        assert_eq!(m.subject.map(|s| s.digest), Some(Digest::sha256(b"s")));
        assert_eq!(m.annotations.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn a_blob_descriptor_carries_the_digest_and_size_of_its_data() {
        let d = Descriptor::for_blob(OCI_LAYER_TAR, b"abc");
        assert_eq!(d, Descriptor::new(OCI_LAYER_TAR, Digest::sha256(b"abc"), 3));
        let e = Descriptor::empty();
        assert_eq!((e.media_type.as_str(), e.size), (OCI_EMPTY, 2));
        assert_eq!(e.digest, Digest::sha256(EMPTY_JSON));
        let entry = d
            .with_platform(Platform::new("linux", "arm64").with_variant("v8"))
            .with_annotation("k", "v")
            .with_artifact_type("application/x");
        assert_eq!(
            serde_json::to_value(&entry).ok(),
            Some(serde_json::json!({
                "mediaType": OCI_LAYER_TAR,
                "digest": Digest::sha256(b"abc").to_string(),
                "size": 3,
                "annotations": {"k": "v"},
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                "artifactType": "application/x",
            }))
        );
    }

    #[test]
    fn schema1_is_refused() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let e = Manifest::parse(Some(DOCKER_SCHEMA1_SIGNED), body, Algorithm::Sha256).err();
        assert_eq!(e.map(|e| e.code()), Some(ErrorCode::ManifestInvalid));
        let e = Manifest::parse(None, body, Algorithm::Sha256).err();
        assert_eq!(e.map(|e| e.code()), Some(ErrorCode::ManifestInvalid));
    }

    #[test]
    fn malformed_and_inconsistent_manifests_are_refused() {
        let cases: Vec<(Option<&str>, String)> = vec![
            (Some(OCI_MANIFEST), "not json".into()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":3}"#.into()),
            (Some(OCI_INDEX), image("")),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":2,"layers":[]}"#.into()),
            (
                Some(OCI_INDEX),
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#.into(),
            ),
            (
                Some(OCI_MANIFEST),
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:nothex","size":1}}"#.into(),
            ),
            (
                Some(OCI_MANIFEST),
                format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{}","size":-1}}}}"#,
                    d(b"")
                ),
            ),
        ];
        for (ct, body) in cases {
            let e = Manifest::parse(ct, body.as_bytes(), Algorithm::Sha256).err();
            assert_eq!(
                e.map(|e| e.code()),
                Some(ErrorCode::ManifestInvalid),
                "{body}"
            );
        }
    }

    #[test]
    fn a_manifest_that_is_not_utf8_is_refused_even_in_fields_it_ignores() {
        // Found by the manifest_bytes fuzz target: a byte 0x92 in the key of
        // an unknown field went through, as serde_json does not check the
        // strings it skips.
        let body = image(r#","x-unknown":{"k\u00e9":"v"}"#);
        let mut bytes = body.into_bytes();
        assert!(Manifest::parse(Some(OCI_MANIFEST), &bytes, Algorithm::Sha256).is_ok());
        let at = bytes.windows(6).position(|w| w == b"\\u00e9").unwrap_or(0);
        bytes.splice(at..at + 6, [0x92]);
        let e = Manifest::parse(Some(OCI_MANIFEST), &bytes, Algorithm::Sha256).err();
        assert_eq!(e.map(|e| e.code()), Some(ErrorCode::ManifestInvalid));
    }

    #[test]
    fn oversize_manifests_are_refused_as_too_large() {
        let body = vec![b' '; MAX_MANIFEST_SIZE + 1];
        let e = Manifest::parse(Some(OCI_MANIFEST), &body, Algorithm::Sha256).err();
        assert_eq!(e.map(|e| e.code()), Some(crate::ErrorCode::TooLarge));
    }

    #[test]
    fn an_index_lists_children_and_foreign_layers_are_not_required() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d(b"child")
        );
        let m = Manifest::parse(
            Some(DOCKER_MANIFEST_LIST),
            body.as_bytes(),
            Algorithm::Sha256,
        )
        .unwrap();
        assert_eq!(m.manifests.len(), 1);
        assert_eq!(m.required_blobs().count(), 0);

        let foreign = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"c","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{}","size":3,"urls":["https://example.com/l"]}}]}}"#,
            d(b"{}"),
            d(b"l")
        );
        let m =
            Manifest::parse(Some(DOCKER_MANIFEST), foreign.as_bytes(), Algorithm::Sha256).unwrap();
        assert_eq!(m.required_blobs().count(), 1);
    }
}
