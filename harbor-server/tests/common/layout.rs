//! A small OCI image-layout builder and reader for tests that drive real
//! clients such as skopeo: hand-made uncompressed tar layers, a config whose
//! `rootfs.diff_ids` are the layer digests, image manifests, an image index,
//! and the `oci-layout` / `index.json` / `blobs/sha256/<hex>` files on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harbor_core::{BuiltManifest, Descriptor, ImageIndexBuilder, ImageManifestBuilder, Platform};
use serde_json::{json, Value};

pub use harbor_core::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST};

/// The annotation an OCI layout's `index.json` names tags with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `len` pseudo-random bytes from `seed` (splitmix64): the same every run.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `value` as `width - 1` octal digits and a NUL into `field`.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    assert!(
        text.len() == width,
        "{value} does not fit a tar field of {width} digits"
    );
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

/// An uncompressed tar archive (ustar) of regular files, as a layer.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        assert!(
            name.len() < 100,
            "tar member name {name:?} is too long for this builder"
        );
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], 0o644); // mode
        octal(&mut h[108..116], 0); // uid
        octal(&mut h[116..124], 0); // gid
        octal(&mut h[124..136], content.len() as u64); // size
        octal(&mut h[136..148], 0); // mtime
        h[148..156].copy_from_slice(b"        "); // checksum, as spaces while summing
        h[156] = b'0'; // regular file
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(content);
        let pad = (512 - content.len() % 512) % 512;
        out.resize(out.len() + pad, 0);
    }
    // Two zero blocks end the archive.
    out.resize(out.len() + 1024, 0);
    out
}

/// The bytes of `built`, pretty-printed: they are not what a client that
/// re-serialises a manifest would write, so any rewrite on the way shows up as
/// a changed digest.
fn pretty(built: Result<BuiltManifest, harbor_core::Error>) -> Vec<u8> {
    let built = built.unwrap_or_else(|e| panic!("build: {e}"));
    let value: Value =
        serde_json::from_slice(built.bytes()).unwrap_or_else(|e| panic!("built JSON: {e}"));
    serde_json::to_vec_pretty(&value).unwrap_or_else(|e| panic!("pretty JSON: {e}"))
}

/// One image: its manifest bytes, its config and its layers.
#[derive(Clone, Debug)]
pub struct Image {
    /// The exact manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:<hex>` of `manifest`.
    pub digest: String,
    /// The config blob.
    pub config: Vec<u8>,
    /// The layer blobs, in order.
    pub layers: Vec<Vec<u8>>,
    /// `(os, architecture)`.
    pub platform: (String, String),
}

impl Image {
    /// Builds an image of `layers` for `os`/`arch`.
    pub fn new(os: &str, arch: &str, layers: Vec<Vec<u8>>) -> Image {
        let diff_ids: Vec<String> = layers.iter().map(|l| super::digest(l)).collect();
        let config = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": os,
            "config": { "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": layers.iter().enumerate()
                .map(|(i, _)| json!({ "created": "2024-01-01T00:00:00Z", "created_by": format!("layer {i}") }))
                .collect::<Vec<_>>(),
        });
        let config = serde_json::to_vec(&config).unwrap_or_else(|e| panic!("config JSON: {e}"));
        let manifest = pretty(
            ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, &config))
                .layers(
                    layers
                        .iter()
                        .map(|l| Descriptor::for_blob(OCI_LAYER_TAR, l)),
                )
                .annotation(
                    "org.opencontainers.image.title",
                    format!("test image {os}/{arch}"),
                )
                .build(),
        );
        Image {
            digest: super::digest(&manifest),
            manifest,
            config,
            layers,
            platform: (os.to_owned(), arch.to_owned()),
        }
    }

    /// Every blob of the image: the config, then the layers.
    pub fn blobs(&self) -> Vec<&[u8]> {
        std::iter::once(self.config.as_slice())
            .chain(self.layers.iter().map(Vec::as_slice))
            .collect()
    }

    /// The image's descriptor in an index, with its platform.
    pub fn index_entry(&self) -> Descriptor {
        Descriptor::for_blob(OCI_MANIFEST, &self.manifest)
            .with_platform(Platform::new(&self.platform.0, &self.platform.1))
    }
}

/// The usual test image: three layers of very different sizes, the largest
/// ~5 MiB of pseudo-random bytes, for linux/amd64.
pub fn three_layer_image(seed: u64) -> Image {
    let small = tar(&[(
        "etc/hello.txt",
        format!("hello from image {seed}\n").as_bytes(),
    )]);
    let medium_text: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let medium = tar(&[
        ("usr/share/numbers.txt", &medium_text),
        ("usr/share/empty", b""),
    ]);
    let big = tar(&[(
        "opt/random.bin",
        &pseudo_random(seed, 5 * 1024 * 1024 + 123),
    )]);
    Image::new("linux", "amd64", vec![small, medium, big])
}

/// A multi-platform image: an OCI index of a linux/amd64 and a linux/arm64
/// image, each with its own layers and config.
#[derive(Clone, Debug)]
pub struct MultiPlatform {
    /// The exact index bytes.
    pub index: Vec<u8>,
    /// `sha256:<hex>` of `index`.
    pub digest: String,
    /// The platform images.
    pub images: Vec<Image>,
}

impl MultiPlatform {
    /// Builds the index of an amd64 and an arm64 image.
    pub fn new(seed: u64) -> MultiPlatform {
        let images: Vec<Image> = [("amd64", 1u64), ("arm64", 2u64)]
            .into_iter()
            .map(|(arch, n)| {
                let s = seed.wrapping_mul(31).wrapping_add(n);
                let base = tar(&[("etc/arch", arch.as_bytes())]);
                let data = tar(&[("opt/data.bin", &pseudo_random(s, 300_000 + 7 * n as usize))]);
                Image::new("linux", arch, vec![base, data])
            })
            .collect();
        let index = pretty(
            ImageIndexBuilder::oci()
                .manifests(images.iter().map(Image::index_entry))
                .build(),
        );
        MultiPlatform {
            digest: super::digest(&index),
            index,
            images,
        }
    }
}

/// Path of the blob `digest` (`sha256:<hex>`) in the layout at `dir`.
pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("{digest:?} is not a digest"));
    dir.join("blobs").join(alg).join(hex)
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn write_blob(dir: &Path, bytes: &[u8]) {
    write(&blob_path(dir, &super::digest(bytes)), bytes);
}

fn write_top(dir: &Path, tag: &str, media_type: &str, bytes: &[u8]) {
    write(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let index = ImageIndexBuilder::oci()
        .manifest(Descriptor::for_blob(media_type, bytes).with_annotation(REF_NAME, tag))
        .build()
        .unwrap_or_else(|e| panic!("index.json: {e}"));
    write(&dir.join("index.json"), index.bytes());
}

/// Writes `image` as an OCI layout at `dir`, tagged `tag`.
pub fn write_image(dir: &Path, tag: &str, image: &Image) {
    for blob in image.blobs() {
        write_blob(dir, blob);
    }
    write_blob(dir, &image.manifest);
    write_top(dir, tag, OCI_MANIFEST, &image.manifest);
}

/// Writes `multi` (index, children and their blobs) as an OCI layout at `dir`, tagged `tag`.
pub fn write_multi_platform(dir: &Path, tag: &str, multi: &MultiPlatform) {
    for image in &multi.images {
        for blob in image.blobs() {
            write_blob(dir, blob);
        }
        write_blob(dir, &image.manifest);
    }
    write_blob(dir, &multi.index);
    write_top(dir, tag, OCI_INDEX, &multi.index);
}

/// The descriptor `index.json` of the layout at `dir` has for `tag`.
pub fn tagged(dir: &Path, tag: &str) -> Value {
    let path = dir.join("index.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let index: Value = serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .cloned()
        .unwrap_or_else(|| panic!("{} has no entry for tag {tag:?}: {index}", path.display()))
}

/// The blob `digest` of the layout at `dir`.
pub fn read_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let path = blob_path(dir, digest);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every blob of the layout at `dir`, by digest.
pub fn blobs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let root = dir.join("blobs");
    let algs = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("read {}: {e}", root.display()));
    for alg in algs {
        let alg = alg
            .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
            .path();
        let files =
            std::fs::read_dir(&alg).unwrap_or_else(|e| panic!("read {}: {e}", alg.display()));
        for file in files {
            let file = file
                .unwrap_or_else(|e| panic!("read {}: {e}", alg.display()))
                .path();
            let digest = format!(
                "{}:{}",
                alg.file_name().unwrap_or_default().to_string_lossy(),
                file.file_name().unwrap_or_default().to_string_lossy()
            );
            let bytes =
                std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            out.insert(digest, bytes);
        }
    }
    out
}

/// Asserts that every blob of the layout at `input` is in the layout at
/// `output`, byte for byte, and that each blob's bytes match its name.
pub fn assert_blobs_copied(input: &Path, output: &Path) {
    let copied = blobs(output);
    let originals = blobs(input);
    assert!(!originals.is_empty(), "{} holds no blobs", input.display());
    for (digest, bytes) in &originals {
        let Some(got) = copied.get(digest) else {
            panic!(
                "blob {digest} ({} bytes) of {} is missing from {}; it holds {:?}",
                bytes.len(),
                input.display(),
                output.display(),
                copied.keys().collect::<Vec<_>>()
            );
        };
        assert_eq!(got.len(), bytes.len(), "size of blob {digest}");
        assert!(got == bytes, "blob {digest} differs after the round trip");
        assert_eq!(
            &super::digest(got),
            digest,
            "blob {digest} does not hash to its name"
        );
    }
}
