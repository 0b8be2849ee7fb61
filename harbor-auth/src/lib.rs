//! Identity, authorization and the Docker registry token service for harbor-rs.
//!
//! - [`Authenticator`] turns credentials into a [`Principal`];
//!   [`DbAuthenticator`] checks users stored in an `IdentityStore`, with
//!   PBKDF2 password hashes and rate limiting of failures;
//!   [`ldap::LdapAuthenticator`] checks them against an LDAP directory
//!   (search, then bind), both counting failures in a shared
//!   [`LoginLimiter`].
//! - [`Authorizer`] decides what a principal may do; [`RbacAuthorizer`]
//!   follows Harbor's roles (ProjectAdmin, Maintainer, Developer, Guest,
//!   LimitedGuest) and public projects; [`system`] holds the system-level
//!   permissions administrators have and system robots may be given.
//! - [`oidc`]: OpenID Connect logins, onboarding and CLI secrets
//!   ([`oidc::OidcCliAuthenticator`]).
//! - [`TokenService`] issues ES256 JWTs in the form CNCF distribution
//!   verifies, granting exactly the requested actions the principal holds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use harbor_auth::{bootstrap, Access, Principal, RbacAuthorizer, SigningKey, TokenConfig, TokenService};
//! let store = Arc::new(harbor_storage::SqliteMetaStore::in_memory()?);
//! bootstrap(store.as_ref(), Some("Harbor12345")).await?;
//! let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), true));
//! let tokens = TokenService::new(Arc::new(SigningKey::ephemeral()?), TokenConfig::default(), store, authorizer);
//! let scope = Access::parse("repository:library/nginx:pull,push").ok_or("bad scope")?;
//! let issued = tokens.issue(&Principal::Anonymous, "harbor-registry", &[scope]).await?;
//! assert_eq!(issued.access[0].actions, ["pull"]); // anyone may pull from the public `library`
//! # Ok(()) }
//! ```

mod authenticator;
mod bootstrap;
mod error;
pub mod ldap;
pub mod oidc;
pub mod password;
mod principal;
mod ratelimit;
pub mod rbac;
pub mod system;
pub mod token;

pub use authenticator::{Authenticator, DbAuthenticator};
pub use bootstrap::{bootstrap, Bootstrap};
pub use error::AuthError;
pub use principal::{resolve_principal, robot_usable, Principal, ROBOT_PREFIX};
pub use ratelimit::{Attempt, LoginLimiter, RateLimit};
pub use rbac::{Action, Authorizer, RbacAuthorizer, Resource};
pub use token::{
    Access, Claims, Expiry, IssuedToken, ScopeAction, SigningKey, TokenConfig, TokenService,
};
