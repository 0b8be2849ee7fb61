//! `Range` and `Content-Range` headers (`oci::range`), and the resolution
//! of a parsed `Range` against a blob's size.
//!
//! Input: text; its first line is the header value (tried as both), a
//! second line, if any, the blob's size.
//!
//! Asserts: `parse_content_range` gives `Some((a, b))` only for two runs of
//! ASCII digits around one dash, with `a <= b` the numbers written there;
//! `parse_range` gives a range whose written form parses to it again, with
//! `start <= end`; `ByteRange::resolve` never panics or overflows, and what
//! it resolves to is a non-empty range inside the blob, for any numbers.
#![no_main]

use harbor_core::ByteRange;
use harbor_server::oci::range::{parse_content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let (text, size) = match input.split_once('\n') {
        Some((t, s)) => (t, s.trim().parse::<u64>().unwrap_or(s.len() as u64)),
        None => (input, 1000),
    };

    if let Some((a, b)) = parse_content_range(text) {
        assert!(a <= b, "{text:?}");
        let (sa, sb) = text.split_once('-').expect("a dash");
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        assert!(digits(sa) && digits(sb), "{text:?}");
        assert_eq!(
            (sa.parse::<u64>().ok(), sb.parse::<u64>().ok()),
            (Some(a), Some(b))
        );
        assert_eq!(parse_content_range(&format!("{a}-{b}")), Some((a, b)));
    }

    if let Some(range) = parse_range(text) {
        let written = match range {
            ByteRange::FromTo(s, e) => {
                assert!(s <= e, "{text:?}");
                format!("bytes={s}-{e}")
            }
            ByteRange::From(s) => format!("bytes={s}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        };
        assert_eq!(
            parse_range(&written),
            Some(range),
            "{text:?} as {written:?}"
        );
        check_resolve(range, size);
    }

    // Any numbers in the text, as ranges an embedder might build.
    let numbers: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(4)
        .collect();
    for (i, &a) in numbers.iter().enumerate() {
        let b = numbers.get(i + 1).copied().unwrap_or(u64::MAX);
        for r in [
            ByteRange::FromTo(a, b),
            ByteRange::FromTo(b, a),
            ByteRange::From(a),
            ByteRange::Suffix(a),
        ] {
            for s in [size, 0, 1, a, b, u64::MAX] {
                check_resolve(r, s);
            }
        }
    }
});

fn check_resolve(range: ByteRange, size: u64) {
    if let Some(r) = range.resolve(size) {
        assert!(r.start < r.end, "{range:?} of {size}: {r:?}");
        assert!(r.end <= size, "{range:?} of {size}: {r:?}");
        match range {
            ByteRange::FromTo(s, e) => {
                assert_eq!(r.start, s);
                assert!(r.end - 1 <= e);
            }
            ByteRange::From(s) => assert_eq!(r, s..size),
            ByteRange::Suffix(n) => assert_eq!(r.end - r.start, n.min(size)),
        }
    }
}
