//! `Manifest::parse` over arbitrary bytes and Content-Types.
//!
//! Asserts: no panic; a refusal is `MANIFEST_INVALID` (or `SIZE_INVALID`
//! for too large); what parses is consistent (digest and size of the exact
//! bytes, a media type the registry stores, an index without config or
//! layers and an image manifest with a config and no children, an image's
//! artifact type defaulting to its config's media type) and parses to the
//! same manifest when its JSON is written out again.
//!
//! Input: the Content-Type on the first line (none if the line is empty; a
//! leading `!` asks for SHA-512 digests), the body after it.
#![no_main]

use harbor_core::media_type::{is_index, MANIFEST_TYPES};
use harbor_core::{Algorithm, Digest, ErrorCode, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (first, body) = match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (&input[..0], input),
    };
    let (algorithm, first) = match first.strip_prefix(b"!") {
        Some(rest) => (Algorithm::Sha512, rest),
        None => (Algorithm::Sha256, first),
    };
    let content_type = (!first.is_empty()).then(|| String::from_utf8_lossy(first).into_owned());
    let m = match Manifest::parse(content_type.as_deref(), body, algorithm) {
        Ok(m) => m,
        Err(e) => {
            assert!(
                matches!(e.code(), ErrorCode::ManifestInvalid | ErrorCode::TooLarge),
                "{e}"
            );
            return;
        }
    };
    assert_eq!(m.digest, Digest::compute(algorithm, body));
    assert_eq!(m.size, body.len() as u64);
    assert!(
        MANIFEST_TYPES.contains(&m.media_type.as_str()),
        "{}",
        m.media_type
    );
    if is_index(&m.media_type) {
        assert!(m.config.is_none() && m.layers.is_empty());
    } else {
        let config = m.config.as_ref().expect("an image manifest has a config");
        assert!(m.manifests.is_empty());
        let raw: serde_json::Value = serde_json::from_slice(body).expect("it parsed as JSON");
        if raw.get("artifactType").is_none_or(|t| t.is_null()) {
            assert_eq!(m.artifact_type.as_deref(), Some(config.media_type.as_str()));
        }
    }
    assert_eq!(
        m.references().len(),
        usize::from(m.config.is_some()) + m.layers.len() + m.manifests.len()
    );
    assert!(m.required_blobs().count() <= 1 + m.layers.len());

    // Written out again (other spacing, key order, escapes), it is the same manifest.
    let value: serde_json::Value = serde_json::from_slice(body).expect("it parsed as JSON");
    let again = serde_json::to_vec(&value).expect("a JSON value serialises");
    let m2 = Manifest::parse(content_type.as_deref(), &again, algorithm)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&again)));
    assert_eq!(
        (
            m2.media_type,
            m2.config,
            m2.layers,
            m2.manifests,
            m2.subject,
            m2.artifact_type,
            m2.annotations
        ),
        (
            m.media_type,
            m.config,
            m.layers,
            m.manifests,
            m.subject,
            m.artifact_type,
            m.annotations
        )
    );
});
