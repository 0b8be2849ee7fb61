//! OpenID Connect in the server: the `oidc_*` settings and the sessions of
//! users signed in at the provider (the browser flow's routes are in
//! `api::oidc`; CLI secrets are checked through `auth::mode`).

pub(crate) mod settings;

use std::time::Duration;

use harbor_auth::oidc::Oidc;

/// What the server needs to offer OIDC logins.
#[derive(Debug, Clone)]
pub struct OidcSetup {
    /// The key cookies, CLI secrets and tokens are sealed with (keys are
    /// derived from it): 32 bytes or more, the same on every instance.
    pub master_key: Vec<u8>,
    /// How long a CLI secret's successful check against the provider is
    /// trusted (a user removed at the provider keeps access that long).
    pub check_ttl: Duration,
    /// Cookies only over HTTPS (`Secure`): on when clients reach the
    /// server over TLS.
    pub secure_cookies: bool,
}

/// What the server needs to keep signed-in users' sessions (the portal's
/// and OIDC's): see [`HarborBuilder::sessions`](crate::HarborBuilder::sessions).
#[derive(Debug, Clone)]
pub struct SessionSetup {
    /// The key session cookies are sealed with (a key is derived from it):
    /// 32 bytes or more, the same on every instance.
    pub master_key: Vec<u8>,
    /// Cookies only over HTTPS (`Secure`): on when clients reach the
    /// server over TLS.
    pub secure_cookies: bool,
}

/// The OIDC pieces a running server holds.
#[derive(Debug, Clone)]
pub struct OidcState {
    /// The flow, onboarding and CLI secrets.
    pub oidc: Oidc,
    /// Whether cookies are `Secure`.
    pub secure_cookies: bool,
}
