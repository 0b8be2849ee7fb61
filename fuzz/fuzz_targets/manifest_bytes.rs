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
use harbor_core::{Algorithm, Descriptor, Digest, ErrorCode, Manifest};
use libfuzzer_sys::fuzz_target;

fn comparable(d: &Descriptor) -> Descriptor {
    fn floats_out(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => *v = serde_json::Value::Null,
            serde_json::Value::Array(a) => a.iter_mut().for_each(floats_out),
            serde_json::Value::Object(o) => o.values_mut().for_each(floats_out),
            _ => {}
        }
    }
    let mut d = d.clone();
    if let Some(p) = d.platform.as_mut() {
        floats_out(p);
    }
    d
}

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
    // The body as a JSON value: valid JSON may still not be one, when a
    // field the parser ignores holds a number beyond f64 (serde_json skips
    // such numbers but cannot hold them).
    let value = serde_json::from_slice::<serde_json::Value>(body)
        .map_err(|e| e.to_string().starts_with("number out of range"));
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
        if let Ok(v) = &value {
            if v.get("artifactType").is_none_or(|t| t.is_null()) {
                assert_eq!(m.artifact_type.as_deref(), Some(config.media_type.as_str()));
            }
        }
    }
    assert_eq!(
        m.references().len(),
        usize::from(m.config.is_some()) + m.layers.len() + m.manifests.len()
    );
    assert!(m.required_blobs().count() <= 1 + m.layers.len());

    // Written out again (other spacing, key order, escapes), it is the same manifest.
    let value = match value {
        Ok(v) => v,
        Err(true) => return,
        Err(false) => panic!("accepted, yet not JSON: {}", String::from_utf8_lossy(body)),
    };
    let again = serde_json::to_vec(&value).expect("a JSON value serialises");
    let m2 = Manifest::parse(content_type.as_deref(), &again, algorithm)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&again)));
    // A platform is kept as a JSON value, and serde_json reads a float
    // written out again to within one unit in the last place: those
    // compare as equal.
    let same = |a: &[Descriptor], b: &[Descriptor]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| comparable(x) == comparable(y))
    };
    assert_eq!(m2.media_type, m.media_type);
    assert!(
        same(m2.config.as_slice(), m.config.as_slice()),
        "{m2:?} against {m:?}"
    );
    assert!(same(&m2.layers, &m.layers), "{m2:?} against {m:?}");
    assert!(same(&m2.manifests, &m.manifests), "{m2:?} against {m:?}");
    assert!(
        same(m2.subject.as_slice(), m.subject.as_slice()),
        "{m2:?} against {m:?}"
    );
    assert_eq!(m2.artifact_type, m.artifact_type);
    assert_eq!(m2.annotations, m.annotations);
});
