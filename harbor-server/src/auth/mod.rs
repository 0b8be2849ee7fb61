//! Identity on the HTTP side: the token endpoint (`/service/token`) and the
//! guard that makes every `/v2/` request show a token (or Basic credentials)
//! covering what it does.

mod guard;
mod token_endpoint;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;
use harbor_auth::{
    Authenticator, DbAuthenticator, RateLimit, RbacAuthorizer, SigningKey, TokenConfig,
    TokenService,
};
use harbor_core::IdentityStore;

pub use guard::{guard, CatalogScope, GuardState};
pub use token_endpoint::{token_get, token_post};

/// The peer address of a connection, attached to each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Everything the token endpoint and the `/v2/` guard share.
#[derive(Debug)]
pub struct AuthState {
    /// Users and projects.
    pub store: Arc<dyn IdentityStore>,
    /// Checks credentials.
    pub authenticator: Arc<dyn Authenticator>,
    /// Decides permissions.
    pub authorizer: Arc<RbacAuthorizer>,
    /// Issues and verifies tokens.
    pub tokens: TokenService,
    /// The URL clients reach us at, for the realm; else from the Host header.
    pub external_url: Option<String>,
    /// Whether we serve HTTPS (for a realm derived from the Host header).
    pub tls: bool,
    /// Whether anonymous callers may read public projects.
    pub anonymous_access: bool,
    /// The audit log.
    pub audit: crate::audit::AuditSink,
    /// Replication, once set up.
    pub replication: std::sync::OnceLock<Arc<crate::replication::ReplicationService>>,
}

impl AuthState {
    /// Auth over `store`, signing with `key`. Starts the audit-log writer, so
    /// call it inside a tokio runtime.
    pub fn new(
        store: Arc<dyn IdentityStore>,
        key: SigningKey,
        config: TokenConfig,
        anonymous_access: bool,
        external_url: Option<String>,
        tls: bool,
    ) -> Self {
        let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), anonymous_access));
        let store_for_audit = store.clone();
        let tokens = TokenService::new(Arc::new(key), config, store.clone(), authorizer.clone());
        AuthState {
            authenticator: Arc::new(DbAuthenticator::new(store.clone(), RateLimit::default())),
            store,
            authorizer,
            tokens,
            external_url,
            tls,
            anonymous_access,
            audit: crate::audit::AuditSink::spawn(store_for_audit),
            replication: std::sync::OnceLock::new(),
        }
    }

    /// Whether anonymous callers may read public projects.
    pub fn authorizer_allows_anonymous(&self) -> bool {
        self.anonymous_access
    }

    /// The token realm clients are sent to.
    pub fn realm(&self, headers: &HeaderMap) -> String {
        let base = match &self.external_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                format!("{}://{host}", if self.tls { "https" } else { "http" })
            }
        };
        format!("{base}/service/token")
    }
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

pub(crate) fn client_ip(ext: &axum::http::Extensions) -> Option<IpAddr> {
    ext.get::<ClientAddr>().map(|c| c.0.ip())
}
