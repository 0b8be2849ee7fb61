//! A validly signed token, altered: bits flipped, bytes set, inserted and
//! removed, the token cut short, its three parts swapped.
//!
//! Asserts: no panic, and an altered token verifies only if what the
//! signature covers (`header.payload`) is untouched, with the original
//! claims. (ECDSA lets anyone turn a signature `(r, s)` into `(r, n - s)`,
//! which verifies as well: a different token for the same claims, not a
//! forgery; so the check is on what is signed, not on the whole text.)
#![no_main]

use arbitrary::Arbitrary;
use harbor_auth::Expiry;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip { at: u16, bit: u8 },
    Set { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
    Truncate(u16),
    Swap(u8, u8),
}

fuzz_target!(|edits: Vec<Edit>| {
    let tokens = harbor_fuzz::token::tokens();
    let mut t = tokens.token.as_bytes().to_vec();
    for edit in edits.iter().take(8) {
        let at = |i: u16| usize::from(i) % (t.len() + 1);
        match edit {
            Edit::Flip { at: i, bit } => {
                if !t.is_empty() {
                    let i = usize::from(*i) % t.len();
                    t[i] ^= 1 << (bit % 8);
                }
            }
            Edit::Set { at: i, byte } => {
                if !t.is_empty() {
                    let i = usize::from(*i) % t.len();
                    t[i] = *byte;
                }
            }
            Edit::Insert { at: i, bytes } => {
                let i = at(*i);
                t.splice(i..i, bytes.iter().copied());
            }
            Edit::Remove { at: i, len } => {
                let i = at(*i);
                let end = (i + usize::from(*len)).min(t.len());
                t.drain(i..end);
            }
            Edit::Truncate(n) => t.truncate(usize::from(*n)),
            Edit::Swap(a, b) => {
                let mut parts: Vec<Vec<u8>> = t.split(|c| *c == b'.').map(<[u8]>::to_vec).collect();
                let n = parts.len();
                parts.swap(usize::from(*a) % n, usize::from(*b) % n);
                t = parts.join(&b'.');
            }
        }
    }
    let altered = String::from_utf8_lossy(&t);
    let signed = |s: &str| s.rsplit_once('.').map(|(signed, _)| signed.to_owned());
    for expiry in [Expiry::Enforce, Expiry::Ignore] {
        if let Ok(claims) = tokens.service.verify(&altered, expiry) {
            assert_eq!(
                signed(&altered),
                signed(&tokens.token),
                "an altered token verified: {altered:?}"
            );
            assert_eq!(claims, tokens.claims);
        }
    }
});
