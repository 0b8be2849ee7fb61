//! Identity on the HTTP side: the token endpoint (`/service/token`) and the
//! guard that makes every `/v2/` request show a token (or Basic credentials)
//! covering what it does.

mod guard;
mod mode;
pub mod session;
mod token_endpoint;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use base64::Engine;
use harbor_auth::{Authenticator, Authorizer, TokenService};
use harbor_core::IdentityStore;

pub use guard::{guard, CatalogScope, GuardState};
pub use mode::{ModeAuthenticator, ADMIN};
pub use session::{SameSite, Sessions};
pub use token_endpoint::{token_get, token_post};

/// Where clients are sent for tokens (the `realm` of the Bearer challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Realm {
    /// `<url>/service/token`: the URL clients reach this server at
    /// (`external_url`), for servers behind a proxy or mounted in another
    /// program.
    External(String),
    /// Derived from each request's `Host`, over HTTPS or plain HTTP.
    FromHost {
        /// Whether clients reach us over HTTPS.
        tls: bool,
    },
}

impl Realm {
    /// `External(url)` when `external_url` is set, else from the Host header.
    pub fn from_config(external_url: Option<&str>, tls: bool) -> Realm {
        match external_url {
            Some(u) => Realm::External(u.trim_end_matches('/').to_owned()),
            None => Realm::FromHost { tls },
        }
    }

    /// The token URL for a request with `headers`.
    pub fn url(&self, headers: &HeaderMap) -> String {
        match self {
            Realm::External(base) => format!("{base}/service/token"),
            Realm::FromHost { tls } => {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                let scheme = if *tls { "https" } else { "http" };
                format!("{scheme}://{host}/service/token")
            }
        }
    }
}

/// Everything the token endpoint, the `/v2/` guard and the management API
/// need to know who a caller is and what they may do. Every part is a trait
/// object: an embedding program brings its own store, authenticator or
/// authorizer.
#[derive(Debug)]
pub struct AuthState {
    /// Users, projects, members, robots.
    pub identity: Arc<dyn IdentityStore>,
    /// Checks credentials.
    pub authenticator: Arc<dyn Authenticator>,
    /// Decides permissions.
    pub authorizer: Arc<dyn Authorizer>,
    /// Issues and verifies tokens.
    pub tokens: TokenService,
    /// Where clients get tokens.
    pub realm: Realm,
    /// Whether anonymous callers may read public projects.
    pub anonymous_access: bool,
    /// OpenID Connect logins, when set up.
    pub oidc: Option<crate::oidc::OidcState>,
    /// Signed-in users' sessions (the portal's and OIDC's), when the
    /// server has a secret key to seal them with.
    pub sessions: Option<Sessions>,
}

/// `Authorization: Basic` credentials, if the header carries them.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// `Authorization: Bearer` token, if present.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}

/// The client's address, from axum's [`ConnectInfo`] (set by our own
/// server, or by `into_make_service_with_connect_info::<SocketAddr>()` in a
/// program that mounts the router). Without it, login failures are still
/// limited per account, but not per address: that is said once, loudly.
pub(crate) fn client_ip(ext: &axum::http::Extensions) -> Option<IpAddr> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    match ext.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => Some(addr.ip()),
        None => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "requests carry no client address (serve the router with \
                     into_make_service_with_connect_info::<SocketAddr>()): failed logins \
                     are limited per account only, not per address"
                );
            }
            None
        }
    }
}
