//! `Manifest::parse` over structured JSON: documents shaped like manifests
//! and indexes (schema version, media types, config, layers, children,
//! subject, annotations, descriptors with good and bad digests and sizes,
//! fields of the wrong type or `null`, unknown fields) written with
//! serde_json, so that the fuzzer spends its time in validation instead of
//! in the JSON tokenizer.
//!
//! Asserts: the parser accepts exactly the documents that the rules in
//! `Manifest::parse`'s documentation (and the OCI and Docker specs) accept,
//! modelled here independently, and what it accepts carries exactly the
//! descriptors and annotations that were written.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use harbor_core::media_type::{
    is_index, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST,
};
use harbor_core::{Algorithm, Descriptor, Digest, Manifest};
use harbor_fuzz::pick::MediaPick;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum Version {
    Two,
    One,
    Three,
    Other(i64),
    /// `2.5`: not an integer.
    Float,
    Text,
    Null,
}

/// A field that is there with a value of its type, `null`, or a number
/// where text or an object belongs.
#[derive(Arbitrary, Debug)]
enum Field<T> {
    Value(T),
    Null,
    WrongType,
}

#[derive(Arbitrary, Debug)]
enum DigestField {
    Of(Vec<u8>, bool),
    Text(String),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum SizeField {
    Size(u64),
    Negative(i64),
    Float,
    Text,
    Missing,
}

#[derive(Arbitrary, Debug)]
enum PlatformField {
    Object(String, String, Option<String>),
    Null,
    Number(i64),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Desc {
    media_type: Option<Field<MediaPick>>,
    digest: DigestField,
    size: SizeField,
    urls: Option<Vec<String>>,
    annotations: Option<Vec<(String, String)>>,
    platform: Option<PlatformField>,
    artifact_type: Option<String>,
}

/// Annotations as written: a value may be `null` or not text.
type Annotations = Vec<(String, Field<String>)>;

#[derive(Arbitrary, Debug)]
struct Doc {
    content_type: Option<MediaPick>,
    schema_version: Option<Version>,
    media_type: Option<Field<MediaPick>>,
    artifact_type: Option<Field<MediaPick>>,
    config: Option<Field<Desc>>,
    layers: Option<Field<Vec<Desc>>>,
    manifests: Option<Field<Vec<Desc>>>,
    subject: Option<Field<Desc>>,
    annotations: Option<Field<Annotations>>,
    unknown: Vec<(String, i64)>,
}

const KNOWN_FIELDS: [&str; 8] = [
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
];

/// A descriptor as JSON, and the descriptor it must parse to (`None` when
/// it must not parse).
fn descriptor(d: &Desc) -> (Value, Option<Descriptor>) {
    let mut obj = Map::new();
    let mut ok = true;
    let media_type = match &d.media_type {
        Some(Field::Value(m)) => {
            obj.insert("mediaType".into(), m.text().into());
            m.text()
        }
        Some(Field::Null) => {
            obj.insert("mediaType".into(), Value::Null);
            ok = false;
            String::new()
        }
        Some(Field::WrongType) => {
            obj.insert("mediaType".into(), 7.into());
            ok = false;
            String::new()
        }
        None => {
            ok = false;
            String::new()
        }
    };
    let digest = match &d.digest {
        DigestField::Of(data, sha512) => {
            let alg = if *sha512 {
                Algorithm::Sha512
            } else {
                Algorithm::Sha256
            };
            let digest = Digest::compute(alg, data);
            obj.insert("digest".into(), digest.to_string().into());
            Some(digest)
        }
        DigestField::Text(s) => {
            obj.insert("digest".into(), s.as_str().into());
            Digest::parse(s).ok()
        }
        DigestField::Missing => None,
    };
    let size = match &d.size {
        SizeField::Size(n) => {
            obj.insert("size".into(), (*n).into());
            Some(*n)
        }
        SizeField::Negative(n) => {
            let n = if *n < 0 { *n } else { -1 - (*n % 1000) };
            obj.insert("size".into(), n.into());
            None
        }
        SizeField::Float => {
            obj.insert("size".into(), json!(1.5));
            None
        }
        SizeField::Text => {
            obj.insert("size".into(), "1".into());
            None
        }
        SizeField::Missing => None,
    };
    if let Some(urls) = &d.urls {
        obj.insert("urls".into(), json!(urls));
    }
    let annotations = d.annotations.as_ref().map(|a| {
        let map: BTreeMap<String, String> = a.iter().cloned().collect();
        obj.insert("annotations".into(), json!(map));
        map
    });
    let platform = match &d.platform {
        None => None,
        Some(p) => {
            let v = match p {
                PlatformField::Object(os, arch, variant) => {
                    let mut v = json!({"os": os, "architecture": arch});
                    if let Some(variant) = variant {
                        v["variant"] = variant.as_str().into();
                    }
                    v
                }
                PlatformField::Null => Value::Null,
                PlatformField::Number(n) => (*n).into(),
                PlatformField::Text(s) => s.as_str().into(),
            };
            obj.insert("platform".into(), v.clone());
            Some(v).filter(|v| !v.is_null())
        }
    };
    if let Some(t) = &d.artifact_type {
        obj.insert("artifactType".into(), t.as_str().into());
    }
    let expected = match (ok, digest, size) {
        (true, Some(digest), Some(size)) => Some(Descriptor {
            urls: d.urls.clone().unwrap_or_default(),
            annotations,
            platform,
            artifact_type: d.artifact_type.clone(),
            ..Descriptor::new(media_type, digest, size)
        }),
        _ => None,
    };
    (Value::Object(obj), expected)
}

/// Inserts an optional field; `Err(())` when its value cannot parse, else
/// what it parses to.
fn field<T, E>(
    obj: &mut Map<String, Value>,
    key: &str,
    f: &Option<Field<T>>,
    to_json: impl Fn(&T) -> (Value, Option<E>),
) -> Result<Option<E>, ()> {
    match f {
        None => Ok(None),
        Some(Field::Null) => {
            obj.insert(key.into(), Value::Null);
            Ok(None)
        }
        Some(Field::WrongType) => {
            obj.insert(key.into(), 7.into());
            Err(())
        }
        Some(Field::Value(v)) => {
            let (json, parsed) = to_json(v);
            obj.insert(key.into(), json);
            parsed.map(Some).ok_or(())
        }
    }
}

fn descriptors(ds: &[Desc]) -> (Value, Option<Vec<Descriptor>>) {
    let (json, parsed): (Vec<Value>, Vec<Option<Descriptor>>) = ds.iter().map(descriptor).unzip();
    (Value::Array(json), parsed.into_iter().collect())
}

fuzz_target!(|doc: Doc| {
    let mut obj = Map::new();
    for (k, v) in doc.unknown.iter().take(4) {
        if !KNOWN_FIELDS.contains(&k.as_str()) {
            obj.insert(k.clone(), (*v).into());
        }
    }
    let mut shape_ok = true;
    let schema_version = match &doc.schema_version {
        None => None,
        Some(v) => {
            let (json, parsed) = match v {
                Version::Two => (json!(2), Ok(Some(2))),
                Version::One => (json!(1), Ok(Some(1))),
                Version::Three => (json!(3), Ok(Some(3))),
                Version::Other(n) => (json!(n), Ok(Some(*n))),
                Version::Float => (json!(2.5), Err(())),
                Version::Text => (json!("2"), Err(())),
                Version::Null => (Value::Null, Ok(None)),
            };
            obj.insert("schemaVersion".into(), json);
            parsed.unwrap_or_else(|()| {
                shape_ok = false;
                None
            })
        }
    };
    let text = |m: &MediaPick| (Value::from(m.text()), Some(m.text()));
    fn take<T>(shape_ok: &mut bool, r: Result<Option<T>, ()>) -> Option<T> {
        r.unwrap_or_else(|()| {
            *shape_ok = false;
            None
        })
    }
    let media_type = take(
        &mut shape_ok,
        field(&mut obj, "mediaType", &doc.media_type, text),
    );
    let artifact_type = take(
        &mut shape_ok,
        field(&mut obj, "artifactType", &doc.artifact_type, text),
    );
    let config = take(
        &mut shape_ok,
        field(&mut obj, "config", &doc.config, descriptor),
    );
    let layers = take(
        &mut shape_ok,
        field(&mut obj, "layers", &doc.layers, |d| descriptors(d)),
    );
    let manifests = take(
        &mut shape_ok,
        field(&mut obj, "manifests", &doc.manifests, |d| descriptors(d)),
    );
    let subject = take(
        &mut shape_ok,
        field(&mut obj, "subject", &doc.subject, descriptor),
    );
    let annotations = take(
        &mut shape_ok,
        field(&mut obj, "annotations", &doc.annotations, |a| {
            let mut json = Map::new();
            let mut map = BTreeMap::new();
            let mut ok = true;
            for (k, v) in a {
                // A repeated key: the last one is what JSON readers keep.
                map.remove(k);
                match v {
                    Field::Value(s) => {
                        json.insert(k.clone(), s.as_str().into());
                        map.insert(k.clone(), s.clone());
                    }
                    Field::Null => {
                        json.insert(k.clone(), Value::Null);
                    }
                    Field::WrongType => {
                        json.insert(k.clone(), 7.into());
                    }
                }
            }
            for k in json.keys() {
                ok &= map.contains_key(k);
            }
            (Value::Object(json), ok.then_some(map))
        }),
    );
    let body = serde_json::to_vec(&Value::Object(obj)).expect("a JSON value serialises");
    let content_type = doc.content_type.as_ref().map(MediaPick::text);
    let parsed = Manifest::parse(content_type.as_deref(), &body, Algorithm::Sha256);

    // The rules, in the order the documentation gives them.
    let ct = content_type
        .as_deref()
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|c| !c.is_empty());
    let schema1 = |t: Option<&str>| matches!(t, Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED));
    let known = |t: &str| MANIFEST_TYPES.contains(&t);
    let expected: Option<String> = (|| {
        if schema1(ct.as_deref()) || !shape_ok {
            return None;
        }
        if schema_version == Some(1) || schema1(media_type.as_deref()) || schema_version != Some(2)
        {
            return None;
        }
        let effective = match (ct.as_deref(), media_type.as_deref()) {
            (Some(ct), Some(body)) if known(ct) => (ct == body).then(|| ct.to_owned())?,
            (Some(ct), None) if known(ct) => ct.to_owned(),
            (_, Some(body)) => known(body).then(|| body.to_owned())?,
            (_, None) if manifests.is_some() => OCI_INDEX.to_owned(),
            (_, None) if config.is_some() => OCI_MANIFEST.to_owned(),
            (_, None) => return None,
        };
        let shape = if is_index(&effective) {
            config.is_none() && layers.is_none() && manifests.is_some()
        } else {
            config.is_some() && manifests.is_none()
        };
        shape.then_some(effective)
    })();

    let body_text = String::from_utf8_lossy(&body);
    match (parsed, expected) {
        (Ok(m), Some(effective)) => {
            assert_eq!(m.media_type, effective, "{body_text}");
            assert_eq!(m.config, config, "{body_text}");
            assert_eq!(m.layers, layers.unwrap_or_default(), "{body_text}");
            assert_eq!(m.manifests, manifests.unwrap_or_default(), "{body_text}");
            assert_eq!(m.subject, subject, "{body_text}");
            assert_eq!(
                m.annotations,
                annotations.unwrap_or_default(),
                "{body_text}"
            );
            let artifact_type = artifact_type.or_else(|| {
                (!is_index(&effective)).then(|| m.config.as_ref().map(|c| c.media_type.clone()))?
            });
            assert_eq!(m.artifact_type, artifact_type, "{body_text}");
            assert_eq!(m.digest, Digest::sha256(&body));
        }
        (Err(_), None) => {}
        (Ok(m), None) => {
            panic!("accepted against the rules: {body_text}\nwith {content_type:?} as {m:?}")
        }
        (Err(e), Some(_)) => {
            panic!("refused against the rules: {e}\n{body_text}\nwith {content_type:?}")
        }
    }
});
