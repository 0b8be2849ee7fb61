//! Realistic pieces for `arbitrary` to choose from, beside raw text: a fuzzer
//! that must guess `application/vnd.oci.image.manifest.v1+json` byte by byte
//! never gets past the first check.

use arbitrary::Arbitrary;
use harbor_core::media_type::{
    DOCKER_CONFIG, DOCKER_LAYER_TAR_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST,
};
use harbor_core::{Algorithm, Digest};

/// A repository name.
#[derive(Arbitrary, Debug, Clone)]
pub enum NamePick {
    Library,
    LibraryApp,
    LibraryNginx,
    Single,
    Deep,
    Separators,
    Upper,
    Empty,
    /// Over the 255 characters a name may have.
    TooLong,
    Raw(String),
}

impl NamePick {
    pub fn text(&self) -> String {
        match self {
            NamePick::Library => "library".into(),
            NamePick::LibraryApp => "library/app".into(),
            NamePick::LibraryNginx => "library/nginx".into(),
            NamePick::Single => "a".into(),
            NamePick::Deep => "a/b/c/d/e/f/g/h".into(),
            NamePick::Separators => "my-org/my.app/sub_dir__x".into(),
            NamePick::Upper => "Library/App".into(),
            NamePick::Empty => String::new(),
            NamePick::TooLong => "a".repeat(256),
            NamePick::Raw(s) => s.clone(),
        }
    }
}

/// A tag.
#[derive(Arbitrary, Debug, Clone)]
pub enum TagPick {
    Latest,
    V1,
    Underscore,
    Dotted,
    /// The longest tag allowed.
    Max,
    /// One character too long.
    TooLong,
    Raw(String),
}

impl TagPick {
    pub fn text(&self) -> String {
        match self {
            TagPick::Latest => "latest".into(),
            TagPick::V1 => "v1".into(),
            TagPick::Underscore => "_x".into(),
            TagPick::Dotted => "v1.2.3-rc.1".into(),
            TagPick::Max => "t".repeat(128),
            TagPick::TooLong => "t".repeat(129),
            TagPick::Raw(s) => s.clone(),
        }
    }
}

/// A digest: one of those the input has met so far, a computed one, or text.
#[derive(Arbitrary, Debug, Clone)]
pub enum DigestPick {
    /// The n-th digest met so far (modulo their number).
    Known(u8),
    /// The SHA-256 of the empty blob.
    Empty,
    /// The SHA-256 of these bytes.
    Sha256Of(Vec<u8>),
    /// The SHA-512 of these bytes.
    Sha512Of(Vec<u8>),
    /// A SHA-256 in upper case (refused).
    Upper,
    /// Too short (refused).
    Short,
    Raw(String),
}

impl DigestPick {
    /// The digest's text, `known` being the digests met so far.
    pub fn text(&self, known: &[Digest]) -> String {
        match self {
            DigestPick::Known(i) if !known.is_empty() => {
                known[usize::from(*i) % known.len()].to_string()
            }
            DigestPick::Known(_) | DigestPick::Empty => Digest::sha256(b"").to_string(),
            DigestPick::Sha256Of(b) => Digest::sha256(b).to_string(),
            DigestPick::Sha512Of(b) => Digest::compute(Algorithm::Sha512, b).to_string(),
            DigestPick::Upper => Digest::sha256(b"").to_string().to_uppercase(),
            DigestPick::Short => "sha256:e3b0c442".into(),
            DigestPick::Raw(s) => s.clone(),
        }
    }
}

/// A media type, as a `Content-Type`, an `Accept` item or a `mediaType`:
/// one of those the registry knows or any text, as it is, in upper case or
/// with parameters (`; charset=utf-8`, `; q=0.5`).
#[derive(Arbitrary, Debug, Clone)]
pub struct MediaPick {
    pub kind: MediaKind,
    pub form: MediaForm,
}

/// How a [`MediaPick`] is written.
#[derive(Arbitrary, Debug, Clone)]
pub enum MediaForm {
    AsIs,
    Upper,
    WithParams(String),
}

/// The type of a [`MediaPick`].
#[derive(Arbitrary, Debug, Clone)]
pub enum MediaKind {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerList,
    Schema1,
    Schema1Signed,
    OciConfig,
    OciEmpty,
    OciLayer,
    OciLayerGzip,
    DockerConfig,
    DockerLayer,
    ForeignLayer,
    Json,
    OctetStream,
    Any,
    /// `application/*`.
    AnyApplication,
    Raw(String),
}

impl MediaPick {
    pub fn text(&self) -> String {
        let base = match &self.kind {
            MediaKind::OciManifest => OCI_MANIFEST.into(),
            MediaKind::OciIndex => OCI_INDEX.into(),
            MediaKind::DockerManifest => DOCKER_MANIFEST.into(),
            MediaKind::DockerList => DOCKER_MANIFEST_LIST.into(),
            MediaKind::Schema1 => DOCKER_SCHEMA1.into(),
            MediaKind::Schema1Signed => DOCKER_SCHEMA1_SIGNED.into(),
            MediaKind::OciConfig => OCI_CONFIG.into(),
            MediaKind::OciEmpty => OCI_EMPTY.into(),
            MediaKind::OciLayer => OCI_LAYER_TAR.into(),
            MediaKind::OciLayerGzip => OCI_LAYER_TAR_GZIP.into(),
            MediaKind::DockerConfig => DOCKER_CONFIG.into(),
            MediaKind::DockerLayer => DOCKER_LAYER_TAR_GZIP.into(),
            MediaKind::ForeignLayer => {
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into()
            }
            MediaKind::Json => "application/json".into(),
            MediaKind::OctetStream => "application/octet-stream".into(),
            MediaKind::Any => "*/*".into(),
            MediaKind::AnyApplication => "application/*".into(),
            MediaKind::Raw(s) => s.clone(),
        };
        match &self.form {
            MediaForm::AsIs => base,
            MediaForm::Upper => base.to_uppercase(),
            MediaForm::WithParams(p) => format!("{base}; {p}"),
        }
    }
}

/// A number as text: small, at the edges of the integer types, negative or
/// not a number at all.
#[derive(Arbitrary, Debug, Clone)]
pub enum NumberPick {
    Small(u8),
    Any(u64),
    Negative(i64),
    U64Max,
    /// One past `u64::MAX`.
    PastU64,
    I64Max,
    Zero,
    Raw(String),
}

impl NumberPick {
    pub fn text(&self) -> String {
        match self {
            NumberPick::Small(n) => n.to_string(),
            NumberPick::Any(n) => n.to_string(),
            NumberPick::Negative(n) => n.to_string(),
            NumberPick::U64Max => u64::MAX.to_string(),
            NumberPick::PastU64 => "18446744073709551616".into(),
            NumberPick::I64Max => i64::MAX.to_string(),
            NumberPick::Zero => "0".into(),
            NumberPick::Raw(s) => s.clone(),
        }
    }
}
