//! The authenticator a server uses by default: it follows `auth_mode` as it
//! is at each call, so that a change through `/configurations` is in force
//! at once on every instance.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use harbor_auth::ldap::LdapAuthenticator;
use harbor_auth::{AuthError, Authenticator, DbAuthenticator, Principal, ROBOT_PREFIX};

use crate::settings::{AuthMode, Settings};

/// The login name that always logs in from the database, as in Harbor.
pub const ADMIN: &str = "admin";

/// Sends each login where `auth_mode` says: `admin` and robot accounts
/// (`robot$...`) always to the database; other users to the database
/// (`db_auth`), the LDAP directory (`ldap_auth`) or the OIDC CLI-secret
/// authenticator (`oidc_auth`; refused while none is plugged in). All of
/// them count failures in one shared limiter.
#[derive(Debug, Clone)]
pub struct ModeAuthenticator {
    settings: Settings,
    db: DbAuthenticator,
    ldap: LdapAuthenticator,
    oidc: Option<Arc<dyn Authenticator>>,
}

impl ModeAuthenticator {
    /// Follows `settings`' `auth_mode`, with `db` for the database and
    /// `ldap` for the directory.
    pub fn new(settings: Settings, db: DbAuthenticator, ldap: LdapAuthenticator) -> Self {
        ModeAuthenticator {
            settings,
            db,
            ldap,
            oidc: None,
        }
    }

    /// Checks OIDC users' CLI secrets with `oidc` in `oidc_auth`.
    #[must_use]
    pub fn with_oidc(mut self, oidc: Arc<dyn Authenticator>) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// The LDAP authenticator (for `/ldap/*`).
    pub fn ldap(&self) -> &LdapAuthenticator {
        &self.ldap
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
        if username == ADMIN || username.starts_with(ROBOT_PREFIX) {
            return self.db.authenticate(username, password, client).await;
        }
        match self.settings.auth_mode() {
            AuthMode::Db => self.db.authenticate(username, password, client).await,
            AuthMode::Ldap => self.ldap.authenticate(username, password, client).await,
            AuthMode::Oidc => match &self.oidc {
                Some(oidc) => oidc.authenticate(username, password, client).await,
                None => Err(AuthError::Unauthorized(
                    "OIDC logins are not available on this server".into(),
                )),
            },
        }
    }
}
