//! OpenID Connect in the server: the `oidc_*` settings and the
//! authenticator that sends each
//! login where `auth_mode` says (the browser flow's routes are in
//! `api::oidc`).

pub(crate) mod settings;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use harbor_auth::oidc::{Oidc, OidcCliAuthenticator};
use harbor_auth::{AuthError, Authenticator, Principal, RateLimit, ROBOT_PREFIX};

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

/// Sends each login where `auth_mode` says: `admin` (user 1) and robot
/// accounts always to the database, other users to the CLI-secret check
/// while OIDC is in force, to the database otherwise.
#[derive(Debug)]
pub struct ModeAuthenticator {
    db: Arc<dyn Authenticator>,
    oidc: OidcCliAuthenticator,
}

impl ModeAuthenticator {
    /// Over `db` (the database's users) and `oidc`.
    pub fn new(db: Arc<dyn Authenticator>, oidc: OidcCliAuthenticator) -> Self {
        ModeAuthenticator { db, oidc }
    }

    /// An OIDC CLI-secret authenticator over `oidc` with the default limits.
    pub fn cli(oidc: Oidc, check_ttl: Duration) -> OidcCliAuthenticator {
        OidcCliAuthenticator::new(oidc, RateLimit::default(), check_ttl)
    }
}

#[async_trait]
impl Authenticator for ModeAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let oidc_on = self.oidc.oidc().config().is_some();
        if !oidc_on || username.starts_with(ROBOT_PREFIX) {
            return self.db.authenticate(username, password, client).await;
        }
        let first = self.oidc.oidc().identity().user_by_name(username).await?;
        if first.is_some_and(|u| u.id == 1) {
            return self.db.authenticate(username, password, client).await;
        }
        self.oidc.authenticate(username, password, client).await
    }
}
