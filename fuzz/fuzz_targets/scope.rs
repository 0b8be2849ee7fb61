//! Token scopes (`type:name:actions`, the name may hold `:`) as the token
//! endpoint reads them from `scope` parameters.
//!
//! Input: text, one `scope` parameter a line (a parameter may hold several
//! space-separated scopes).
//!
//! Asserts: no panic; a parsed scope has a type and a name, no repeated
//! action, and its written form parses to the same scope; `parse_all`
//! gives exactly the scopes `parse` gives for each space-separated piece.
#![no_main]

use harbor_auth::Access;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let params: Vec<&str> = input.split('\n').collect();
    for p in &params {
        if let Some(a) = Access::parse(p) {
            assert!(!a.kind.is_empty() && !a.name.is_empty(), "{p:?}");
            assert!(!a.kind.contains(':'), "{p:?}");
            for (i, x) in a.actions.iter().enumerate() {
                assert!(!a.actions[..i].contains(x), "{p:?}: {x} repeated");
            }
            let written = a.to_string();
            assert_eq!(
                Access::parse(&written).as_ref(),
                Some(&a),
                "{p:?} written {written:?}"
            );
        }
    }
    let all = Access::parse_all(params.iter().copied());
    let one_by_one: Vec<Access> = params
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|s| !s.is_empty())
        .filter_map(Access::parse)
        .collect();
    assert_eq!(all, one_by_one);
});
