//! LDAP authentication, as Harbor's `ldap_auth`: search-then-bind against
//! the company directory, users onboarded into the [`IdentityStore`] on
//! their first login (their password never stored), their groups read at
//! each login, and the searches behind Harbor's `/ldap/*` API.
//!
//! [`LdapAuthenticator`] is an [`Authenticator`] an embedding program can
//! use on its own:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use harbor_auth::ldap::{LdapAuthenticator, LdapConfig};
//! use harbor_auth::{Authenticator, LoginLimiter};
//! let store = Arc::new(harbor_storage::SqliteMetaStore::in_memory()?);
//! let config = LdapConfig {
//!     url: "ldaps://ldap.example.com".into(),
//!     search_dn: "cn=harbor,ou=services,dc=example,dc=com".into(),
//!     search_password: "secret".into(),
//!     base_dn: "ou=people,dc=example,dc=com".into(),
//!     filter: "(objectClass=inetOrgPerson)".into(),
//!     uid: "uid".into(),
//!     timeout: Duration::from_secs(5),
//!     ..LdapConfig::default()
//! };
//! let ldap = LdapAuthenticator::new(store, config, Arc::new(LoginLimiter::default()))?;
//! let principal = ldap.authenticate("alice", "her password", None).await?;
//! println!("{principal} logged in");
//! # Ok(()) }
//! ```

mod config;
mod directory;
mod filter;
mod session;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use harbor_core::{ErrorCode, IdentityStore, NewUser, NewUserGroup, User};

pub use config::{LdapConfig, LdapGroupConfig, LdapScope, MAX_TIMEOUT};
pub use directory::{LdapGroup, LdapIdentity, LdapUser};
pub use filter::rdn;

use crate::authenticator::Authenticator;
use crate::error::AuthError;
use crate::principal::Principal;
use crate::ratelimit::LoginLimiter;
use directory::Verdict;
use session::SessionError;

/// The comment users onboarded from the directory get, as in Harbor.
pub const ONBOARD_COMMENT: &str = "from LDAP.";

/// Authenticates users against an LDAP directory (see the module
/// documentation). Failures are counted in a [`LoginLimiter`], which the
/// database authenticator may share. Its settings can be replaced while it
/// is in use ([`LdapAuthenticator::set_config`]).
#[derive(Debug, Clone)]
pub struct LdapAuthenticator {
    store: Arc<dyn IdentityStore>,
    config: Arc<RwLock<LdapConfig>>,
    limiter: Arc<LoginLimiter>,
}

impl From<SessionError> for AuthError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Config(m) => AuthError::BadRequest(m),
            e => AuthError::Directory(e.to_string()),
        }
    }
}

impl LdapAuthenticator {
    /// An authenticator onboarding users into `store`, reading the
    /// directory `config` describes (checked), counting failures in
    /// `limiter`.
    pub fn new(
        store: Arc<dyn IdentityStore>,
        config: LdapConfig,
        limiter: Arc<LoginLimiter>,
    ) -> Result<Self, AuthError> {
        config.validate()?;
        Ok(LdapAuthenticator {
            store,
            config: Arc::new(RwLock::new(config)),
            limiter,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> LdapConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Uses `config` from the next call on (checked first; a bad one
    /// changes nothing).
    pub fn set_config(&self, config: LdapConfig) -> Result<(), AuthError> {
        config.validate()?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// Checks `username` and `password` against the directory, without
    /// rate limiting or onboarding: who the user is by the directory, or
    /// `Unauthorized`. An empty password is refused before any bind (LDAP
    /// would take it as an unauthenticated bind, and succeed).
    pub async fn verify(&self, username: &str, password: &str) -> Result<LdapIdentity, AuthError> {
        if username.trim().is_empty() || password.is_empty() {
            return Err(AuthError::Unauthorized(
                "invalid username or password".into(),
            ));
        }
        let config = self.config();
        match directory::verify(&config, username, password).await? {
            Verdict::Valid(identity) => Ok(*identity),
            Verdict::Refused(why) => {
                tracing::info!(user = %username, why, "LDAP login refused");
                Err(AuthError::Unauthorized(
                    "invalid username or password".into(),
                ))
            }
        }
    }

    /// The user `entry` names, created in the store if new (an unusable
    /// password hash: a database login with any password fails), its
    /// e-mail and name brought up to date otherwise. Returns the stored
    /// user and whether it was created now.
    pub async fn onboard(&self, entry: &LdapUser) -> Result<(User, bool), AuthError> {
        if entry.username.is_empty() {
            return Err(AuthError::Unauthorized(
                "the directory entry has no login name".into(),
            ));
        }
        if let Some(u) = self.store.user_by_name(&entry.username).await? {
            let email = if entry.email.is_empty() {
                u.email.clone()
            } else {
                entry.email.clone()
            };
            if email != u.email || (!entry.realname.is_empty() && entry.realname != u.realname) {
                let realname = if entry.realname.is_empty() {
                    &u.realname
                } else {
                    &entry.realname
                };
                if let Err(e) = self
                    .store
                    .update_user_profile(u.id, &email, realname, &u.comment)
                    .await
                {
                    tracing::warn!(user = %u.username, error = %e, "updating the profile from LDAP failed");
                }
            }
            return Ok((u, false));
        }
        let mut new = NewUser {
            username: entry.username.clone(),
            email: entry.email.clone(),
            realname: entry.realname.clone(),
            comment: ONBOARD_COMMENT.into(),
            // Matches no password: `verify_password` refuses a hash not in
            // its own form.
            password_hash: String::new(),
            sysadmin: false,
        };
        let created = match self.store.create_user(&new).await {
            Err(e) if e.code() == ErrorCode::Conflict && !new.email.is_empty() => {
                // The name may be new but the e-mail taken: onboard without it.
                if self.store.user_by_name(&entry.username).await?.is_some() {
                    return Err(e.into());
                }
                new.email.clear();
                self.store.create_user(&new).await
            }
            r => r,
        };
        match created {
            Ok(u) => {
                tracing::info!(user = %u.username, dn = %entry.dn, "user onboarded from LDAP");
                Ok((u, true))
            }
            // Another instance onboarded it at the same moment.
            Err(e) if e.code() == ErrorCode::Conflict => {
                match self.store.user_by_name(&entry.username).await? {
                    Some(u) => Ok((u, false)),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `groups` the user's groups: each found (by its DN) or created
    /// as an LDAP user group, then the user's memberships replaced by
    /// them, so that a group left in the directory is left here at the
    /// next login. Project roles granted to a group follow.
    pub async fn attach_groups(&self, user_id: i64, groups: &[LdapGroup]) -> Result<(), AuthError> {
        let wanted: Vec<NewUserGroup> = groups
            .iter()
            .map(|g| NewUserGroup::ldap(g.name.clone(), g.dn.clone()))
            .collect();
        let stored = if wanted.is_empty() {
            Vec::new()
        } else {
            self.store.onboard_groups(&wanted).await?
        };
        let ids: Vec<i64> = stored.iter().map(|g| g.id).collect();
        self.store.set_user_groups(user_id, &ids).await?;
        Ok(())
    }

    /// Connects with `config` (not the one in use: the settings to test)
    /// and binds as its search DN.
    pub async fn ping(config: &LdapConfig) -> Result<(), AuthError> {
        config.validate()?;
        Ok(directory::ping(config).await?)
    }

    /// The directory's users named `username` (all of them for an empty
    /// name), under the base DN and matching `ldap_filter`.
    pub async fn search_users(&self, username: &str) -> Result<Vec<LdapUser>, AuthError> {
        Ok(directory::search_users(&self.config(), username).await?)
    }

    /// The group at `dn` when given, else the groups named `name` (all of
    /// them for an empty name) under the group base DN.
    pub async fn search_groups(&self, name: &str, dn: &str) -> Result<Vec<LdapGroup>, AuthError> {
        Ok(directory::search_groups(&self.config(), name, dn).await?)
    }
}

#[async_trait]
impl Authenticator for LdapAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let attempt = self.limiter.check(username, client)?;
        let identity = match self.verify(username, password).await {
            Ok(i) => i,
            Err(AuthError::Unauthorized(m)) => {
                self.limiter.failed(&attempt);
                return Err(AuthError::Unauthorized(m));
            }
            // The directory could not be asked: a clear refusal, not
            // counted against the user.
            Err(e) => {
                tracing::warn!(user = %username, error = %e, "LDAP login impossible");
                return Err(AuthError::Unauthorized(format!(
                    "cannot check the password: {e}"
                )));
            }
        };
        self.limiter.succeeded(&attempt);
        let (user, _) = self.onboard(&identity.user).await?;
        self.attach_groups(user.id, &identity.groups).await?;
        Ok(Principal::User {
            id: user.id,
            name: user.username,
            sysadmin: user.sysadmin || identity.admin,
        })
    }
}
