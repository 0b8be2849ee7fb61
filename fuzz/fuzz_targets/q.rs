//! Harbor's `q` query (`k=v`, `k=~v`, `k=[a~b]`, `k={a b}`, `k=(a b)`,
//! quoted values, items joined by `,`).
//!
//! Input: the text of `q`.
//!
//! Asserts: no panic; an empty or blank `q` is no condition; `text` gives
//! the value of `k=v` and `k=~v` and refuses the other forms; a `q` whose
//! only item is `key=value` (both plain text) gives that exact condition.
#![no_main]

use harbor_server::api::q::{Cond, Q};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    assert_eq!(Q::parse(None), Ok(Q::default()));
    let Ok(q) = Q::parse(Some(input)) else {
        return;
    };
    if input.trim().is_empty() {
        assert_eq!(q, Q::default());
    }
    // Keys the text could hold, and some it does not.
    let candidates = input
        .split(',')
        .filter_map(|item| item.split_once('=').map(|(k, _)| k.trim()))
        .chain(["name", "", "q"]);
    for key in candidates {
        match (q.get(key), q.text(key)) {
            (None, Ok(None)) => {}
            (Some(Cond::Exact(v)), Ok(Some((t, false)))) => assert_eq!(v, t),
            (Some(Cond::Fuzzy(v)), Ok(Some((t, true)))) => assert_eq!(v, t),
            (Some(Cond::Range(..) | Cond::AnyOf(_) | Cond::AllOf(_)), Err(_)) => {}
            (cond, text) => panic!("{key:?}: {cond:?} read as text {text:?}"),
        }
    }
    // One plain item says exactly what it says.
    if let Some((k, v)) = input.split_once('=') {
        let plain = |s: &str| {
            !s.is_empty() && !s.contains(|c: char| ",=~[]{}()\"'".contains(c) || c.is_whitespace())
        };
        if plain(k) && plain(v) {
            assert_eq!(q.get(k), Some(&Cond::Exact(v.to_owned())), "{input:?}");
        }
    }
});
