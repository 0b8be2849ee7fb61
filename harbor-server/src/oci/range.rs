//! The HTTP spellings of byte ranges: a `Range` header on a blob `GET`
//! (`bytes=0-99`, `bytes=100-`, `bytes=-50`) and a `Content-Range` on an
//! upload `PATCH` (`<start>-<end>`). The engine works with the numbers; only
//! this module reads the text, which comes from any client.

use harbor_core::ByteRange;

/// Parses a single-range `Range` header value such as `bytes=0-99`; `None`
/// for anything else (several ranges, other units, numbers beyond `u64`).
pub fn parse_range(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| {
        let s = s.trim();
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => Some(ByteRange::Suffix(num(b)?)),
        (false, true) => Some(ByteRange::From(num(a)?)),
        (false, false) => {
            let (s, e) = (num(a)?, num(b)?);
            (s <= e).then_some(ByteRange::FromTo(s, e))
        }
        (true, true) => None,
    }
}

/// Parses a `Content-Range` as the distribution spec writes it:
/// `<start>-<end>`, two runs of ASCII digits, start not after end (as CNCF
/// distribution reads it); anything else is `None`.
pub fn parse_content_range(h: &str) -> Option<(u64, u64)> {
    let (a, b) = h.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_parse_in_their_three_forms_only() {
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
        assert_eq!(parse_range("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(parse_range("bytes=-3"), Some(ByteRange::Suffix(3)));
        for bad in [
            "bytes=9-0",
            "bytes=-",
            "0-9",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "bytes=+1-2",
            "bytes=0-18446744073709551616",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
        assert_eq!(
            parse_range("bytes=0-18446744073709551615"),
            Some(ByteRange::FromTo(0, u64::MAX))
        );
    }

    #[test]
    fn content_ranges_parse_only_in_the_spec_form() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("100-199"), Some((100, 199)));
        for bad in [
            "9-1",
            "x",
            "",
            "-",
            "0-",
            "-5",
            "+0-5",
            "0-+5",
            " 0-5",
            "0-5 ",
            "0 - 5",
            "bytes 100-199/*",
            "bytes=5-6",
            "0-5/10",
            "0x1-2",
            "1-2-3",
            "0-99999999999999999999999",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }
}
