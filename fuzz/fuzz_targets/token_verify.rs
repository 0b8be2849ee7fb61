//! `TokenService::verify` (and `jwt::verify`) over tokens no one signed.
//!
//! Input: text. Without a line break it is the token itself. With line
//! breaks, its lines are the header JSON, the claims JSON and the signature,
//! which the target base64url-encodes and joins with dots (a fourth line
//! makes a fourth part); a line `REAL` stands for that part of a token the
//! service really signed, so that a seed can be a real header and signature
//! over forged claims, `alg: none`, another `kid`, times at the ends of
//! `u64`.
//!
//! Asserts: no panic, and nothing verifies, whatever the expiry mode.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use harbor_auth::token::jwt;
use harbor_auth::Expiry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let tokens = harbor_fuzz::token::tokens();
    let token = if input.contains('\n') {
        let real: Vec<&str> = tokens.token.split('.').collect();
        input
            .split('\n')
            .take(4)
            .enumerate()
            .map(|(i, line)| match (line, real.get(i)) {
                ("REAL", Some(part)) => (*part).to_owned(),
                _ => URL_SAFE_NO_PAD.encode(line),
            })
            .collect::<Vec<_>>()
            .join(".")
    } else {
        input.to_owned()
    };
    if token == tokens.token {
        return;
    }
    for expiry in [Expiry::Enforce, Expiry::Ignore] {
        if let Ok(claims) = tokens.service.verify(&token, expiry) {
            panic!("{token:?} verified ({expiry:?}) as {claims:?}");
        }
    }
    let cfg = tokens.service.config();
    assert!(jwt::verify(
        tokens.service.key(),
        &token,
        &cfg.issuer,
        &cfg.service,
        Expiry::Ignore
    )
    .is_err());
});
