//! Repository names, tags, references and digests: whatever parses prints
//! as the text it came from and parses again to the same value, and each
//! parser agrees with the others (a reference is a tag or a digest).
#![no_main]

use harbor_core::{Digest, Reference, RepositoryName, Tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(name) = RepositoryName::parse(text) {
        assert_eq!(name.to_string(), text);
        assert_eq!(
            RepositoryName::parse(&name.to_string()).ok(),
            Some(name.clone())
        );
        assert!(name.as_str().len() <= harbor_core::name::MAX_NAME_LEN);
        assert!(text.starts_with(name.first_component()));
        assert!(!name.first_component().is_empty());
    }
    let tag = Tag::parse(text).ok();
    if let Some(tag) = &tag {
        assert_eq!(tag.to_string(), text);
        assert_eq!(Tag::parse(&tag.to_string()).ok().as_ref(), Some(tag));
        assert!(tag.as_str().len() <= 128);
    }
    let digest = Digest::parse(text).ok();
    if let Some(digest) = &digest {
        assert_eq!(digest.to_string(), text);
        assert_eq!(
            Digest::parse(&digest.to_string()).ok().as_ref(),
            Some(digest)
        );
        assert_eq!(digest.hex().len(), digest.algorithm().hex_len());
        let json = serde_json::to_string(digest).expect("a digest serialises");
        assert_eq!(
            serde_json::from_str::<Digest>(&json).ok().as_ref(),
            Some(digest)
        );
    }
    match Reference::parse(text) {
        Ok(reference) => {
            assert_eq!(reference.to_string(), text);
            assert_eq!(
                Reference::parse(&reference.to_string()).ok(),
                Some(reference.clone())
            );
            match reference {
                Reference::Tag(t) => assert_eq!(Some(t), tag),
                Reference::Digest(d) => assert_eq!(Some(d), digest),
            }
        }
        Err(_) => assert!(
            tag.is_none() && digest.is_none(),
            "{text:?} is a tag or a digest"
        ),
    }
});
