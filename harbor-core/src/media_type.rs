//! Media types the registry understands.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 manifest, refused.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Signed Docker schema 1 manifest, refused.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// The OCI empty descriptor's media type (`{}`), used by artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Gzip-compressed OCI layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker image config, the config of a schema 2 manifest.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Gzip-compressed Docker layer, the layers of a schema 2 manifest.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Layer media types that may live elsewhere (`urls`), so the registry does not
/// require them to be uploaded.
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        || media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
}

/// True for the media types of manifests that list other manifests.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The manifest media types the registry stores.
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether an `Accept` header value admits `media_type`: exact, `*/*`, `type/*`,
/// ignoring parameters such as `q=`.
pub fn accepts(accept: &str, media_type: &str) -> bool {
    accept.split(',').any(|item| {
        let range = item.split(';').next().unwrap_or("").trim();
        if range == "*/*" || range.eq_ignore_ascii_case(media_type) {
            return true;
        }
        match (range.strip_suffix("/*"), media_type.split_once('/')) {
            (Some(prefix), Some((kind, _))) => prefix.eq_ignore_ascii_case(kind),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_matched_by_type_and_wildcards() {
        assert!(accepts("application/json, */*", OCI_MANIFEST));
        assert!(accepts(
            "application/vnd.docker.distribution.manifest.v2+json; q=0.9, application/vnd.oci.image.index.v1+json",
            OCI_INDEX
        ));
        assert!(accepts("application/*", OCI_INDEX));
        assert!(!accepts(DOCKER_MANIFEST, OCI_MANIFEST));
    }
}
