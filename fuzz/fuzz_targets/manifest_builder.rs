//! `ImageManifestBuilder` and `ImageIndexBuilder` over arbitrary
//! descriptors (media types, digests, sizes, platforms, annotations,
//! artifact types, foreign URLs), subjects and annotations.
//!
//! Asserts: what a builder builds always parses, with the media type it
//! says, the digest and size of its bytes, and exactly the descriptors and
//! annotations it was given; building twice gives the same bytes.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use harbor_core::{
    Algorithm, BuiltManifest, Descriptor, Digest, ImageIndexBuilder, ImageManifestBuilder,
    Manifest, Platform,
};
use harbor_fuzz::pick::MediaPick;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Desc {
    media_type: MediaPick,
    content: Vec<u8>,
    sha512: bool,
    size: Option<u64>,
    platform: Option<(String, String, Option<String>)>,
    annotations: Vec<(String, String)>,
    artifact_type: Option<String>,
    urls: Vec<String>,
}

impl Desc {
    fn descriptor(&self) -> Descriptor {
        let alg = if self.sha512 {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        };
        let size = self.size.unwrap_or(self.content.len() as u64);
        let mut d = Descriptor::new(
            self.media_type.text(),
            Digest::compute(alg, &self.content),
            size,
        );
        if let Some((os, arch, variant)) = &self.platform {
            let mut p = Platform::new(os.as_str(), arch.as_str());
            if let Some(v) = variant {
                p = p.with_variant(v.as_str());
            }
            d = d.with_platform(p);
        }
        for (k, v) in self.annotations.iter().take(4) {
            d = d.with_annotation(k.as_str(), v.as_str());
        }
        if let Some(t) = &self.artifact_type {
            d = d.with_artifact_type(t.as_str());
        }
        d.urls = self.urls.iter().take(2).cloned().collect();
        d
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Image {
        docker: bool,
        config: Box<Desc>,
        layers: Vec<Desc>,
        subject: Option<Desc>,
        artifact_type: Option<String>,
        annotations: Vec<(String, String)>,
    },
    Index {
        docker: bool,
        children: Vec<Desc>,
        subject: Option<Desc>,
        artifact_type: Option<String>,
        annotations: Vec<(String, String)>,
    },
}

fn parse(built: &BuiltManifest) -> Manifest {
    let m = Manifest::parse(Some(built.media_type()), built.bytes(), Algorithm::Sha256)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(built.bytes())));
    assert_eq!(m.media_type, built.media_type());
    assert_eq!(&m.digest, built.digest());
    assert_eq!(m.digest, Digest::sha256(built.bytes()));
    assert_eq!(m.size, built.size());
    assert_eq!(
        built.descriptor(),
        Descriptor::new(built.media_type(), m.digest.clone(), m.size)
    );
    // Without a Content-Type, the body's mediaType says the same.
    let again = Manifest::parse(None, built.bytes(), Algorithm::Sha256)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(built.bytes())));
    assert_eq!(again, m);
    m
}

fuzz_target!(|input: Input| match input {
    Input::Image {
        docker,
        config,
        layers,
        subject,
        artifact_type,
        annotations,
    } => {
        let config = config.descriptor();
        let layers: Vec<Descriptor> = layers.iter().take(8).map(Desc::descriptor).collect();
        let subject = subject.as_ref().map(Desc::descriptor);
        let mut b = if docker {
            ImageManifestBuilder::docker(config.clone())
        } else {
            ImageManifestBuilder::oci(config.clone())
        };
        b = b.layers(layers.clone());
        if let Some(s) = &subject {
            b = b.subject(s.clone());
        }
        if let Some(t) = &artifact_type {
            b = b.artifact_type(t.as_str());
        }
        for (k, v) in &annotations {
            b = b.annotation(k.as_str(), v.as_str());
        }
        let Ok(built) = b.build() else {
            panic!("a manifest under 4 MiB builds");
        };
        assert_eq!(
            b.build().ok().as_ref(),
            Some(&built),
            "the same inputs build the same bytes"
        );
        let m = parse(&built);
        assert_eq!(m.config, Some(config.clone()));
        assert_eq!(m.layers, layers);
        assert!(m.manifests.is_empty());
        assert_eq!(m.subject, subject);
        assert_eq!(
            m.artifact_type,
            Some(artifact_type.unwrap_or(config.media_type))
        );
        assert_eq!(
            m.annotations,
            annotations.into_iter().collect::<BTreeMap<_, _>>()
        );
    }
    Input::Index {
        docker,
        children,
        subject,
        artifact_type,
        annotations,
    } => {
        let children: Vec<Descriptor> = children.iter().take(8).map(Desc::descriptor).collect();
        let subject = subject.as_ref().map(Desc::descriptor);
        let mut b = if docker {
            ImageIndexBuilder::docker()
        } else {
            ImageIndexBuilder::oci()
        };
        b = b.manifests(children.clone());
        if let Some(s) = &subject {
            b = b.subject(s.clone());
        }
        if let Some(t) = &artifact_type {
            b = b.artifact_type(t.as_str());
        }
        for (k, v) in &annotations {
            b = b.annotation(k.as_str(), v.as_str());
        }
        let Ok(built) = b.build() else {
            panic!("an index under 4 MiB builds");
        };
        let m = parse(&built);
        assert!(m.config.is_none() && m.layers.is_empty());
        assert_eq!(m.manifests, children);
        assert_eq!(m.subject, subject);
        assert_eq!(m.artifact_type, artifact_type);
        assert_eq!(
            m.annotations,
            annotations.into_iter().collect::<BTreeMap<_, _>>()
        );
    }
});
