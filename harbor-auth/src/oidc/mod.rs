//! OpenID Connect: users signing in at a provider (the authorization-code
//! flow with PKCE), onboarded as users of the identity store with a link
//! to their provider account, and their CLI secrets, which docker, skopeo
//! and the token service take as a password ([`OidcCliAuthenticator`]),
//! checked against the provider as Harbor checks them.
//!
//! An embedding program can run the flow itself:
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn harbor_core::IdentityStore>) -> Result<(), harbor_auth::AuthError> {
//! use harbor_auth::oidc::{Oidc, OidcConfig};
//! let oidc = Oidc::new(store, &[0u8; 32])?; // a key every instance shares
//! oidc.configure(Some(OidcConfig {
//!     endpoint: "https://idp.example.com".into(),
//!     client_id: "harbor".into(),
//!     client_secret: "s3cret".into(),
//!     auto_onboard: true,
//!     ..OidcConfig::default()
//! }));
//! // 1. Send the browser to `url`; keep `flow` (e.g. sealed in a cookie).
//! let (url, flow) = oidc.begin("https://harbor.example.com/c/oidc/callback").await?;
//! # let _ = url;
//! // 2. On the callback, with the `code` the provider sent back:
//! let login = oidc.finish(&flow, "the-code").await?;
//! let user = match oidc.linked_user(&login).await? {
//!     Some(user) => user,
//!     None => oidc.onboard(&login, &login.username).await?,
//! };
//! let secret = oidc.cli_secret(user.id).await?; // the user's password for docker login
//! # let _ = secret;
//! # Ok(()) }
//! ```

mod cli;
mod config;
mod http;
mod provider;
mod seal;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use harbor_core::{GroupType, IdentityStore, NewOidcUser, NewUser, NewUserGroup, User};
use serde_json::{Map, Value};

pub use cli::{check_cli_secret_rules, OidcCliAuthenticator, DEFAULT_CHECK_TTL};
pub use config::OidcConfig;
pub use http::OidcHttp;
pub use provider::{FlowState, StoredToken};
pub use seal::{random_token, Sealer};

use crate::error::AuthError;
use provider::Provider;

/// How long discovered provider metadata (and its JWKS) is used before it
/// is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// What authenticated sealing contexts say, so a value sealed for one use
/// is never accepted for another.
const SECRET_CONTEXT: &[u8] = b"oidc cli secret";
const TOKEN_CONTEXT: &[u8] = b"oidc token";

/// The comment of onboarded users, as Harbor writes it.
pub const ONBOARDED_COMMENT: &str = "Onboarded via OIDC provider";

/// A user who signed in at the provider: who the provider says it is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OidcLogin {
    /// The provider's issuer.
    pub issuer: String,
    /// The account's subject.
    pub subject: String,
    /// The username its claims give (`oidc_user_claim`; spaces become `_`
    /// as Harbor does).
    pub username: String,
    /// Its e-mail, if given.
    pub email: String,
    /// Its groups (`oidc_groups_claim`, filtered by `oidc_group_filter`).
    pub groups: Vec<String>,
    /// Whether it is in `oidc_admin_group`.
    pub admin: bool,
    /// The provider's tokens.
    pub token: StoredToken,
}

struct Inner {
    identity: Arc<dyn IdentityStore>,
    secrets: Sealer,
    cookies: Sealer,
    config: RwLock<Option<Arc<OidcConfig>>>,
    provider: tokio::sync::Mutex<Option<(Arc<OidcConfig>, Provider, Instant)>>,
}

/// The OIDC pieces over one identity store, configured at run time
/// ([`Oidc::configure`]). Cheap to clone.
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("configured", &self.config().is_some())
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// OIDC over `identity`, sealing CLI secrets, tokens and cookies with
    /// keys derived from `master_key` (32 bytes or more, the same on every
    /// instance of a cluster).
    pub fn new(identity: Arc<dyn IdentityStore>, master_key: &[u8]) -> Result<Oidc, AuthError> {
        Ok(Oidc {
            inner: Arc::new(Inner {
                identity,
                secrets: Sealer::derive(master_key, "oidc-at-rest")?,
                cookies: Sealer::derive(master_key, "oidc-cookies")?,
                config: RwLock::new(None),
                provider: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Puts `config` in force (`None`: OIDC off).
    pub fn configure(&self, config: Option<OidcConfig>) {
        let mut current = self.inner.config.write().unwrap_or_else(|p| p.into_inner());
        if current.as_deref() != config.as_ref() {
            *current = config.map(Arc::new);
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Option<Arc<OidcConfig>> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The identity store.
    pub fn identity(&self) -> &Arc<dyn IdentityStore> {
        &self.inner.identity
    }

    /// The sealer for cookies (flow state, sessions).
    pub fn cookie_sealer(&self) -> &Sealer {
        &self.inner.cookies
    }

    fn require_config(&self) -> Result<Arc<OidcConfig>, AuthError> {
        self.config()
            .filter(|c| c.is_complete())
            .ok_or_else(|| AuthError::Provider("OIDC is not configured".into()))
    }

    /// The provider of `config`, discovered again after [`DISCOVERY_TTL`]
    /// or when the configuration changed.
    async fn provider(&self, config: &Arc<OidcConfig>) -> Result<Provider, AuthError> {
        let mut cached = self.inner.provider.lock().await;
        if let Some((c, p, at)) = cached.as_ref() {
            if c == config && at.elapsed() < DISCOVERY_TTL {
                return Ok(p.clone());
            }
        }
        let p = Provider::discover(config).await?;
        *cached = Some((config.clone(), p.clone(), Instant::now()));
        Ok(p)
    }

    /// Forgets the discovered metadata, so the next use fetches it again
    /// (the provider may have rotated its keys).
    async fn forget_provider(&self) {
        *self.inner.provider.lock().await = None;
    }

    /// Starts a login: the provider URL to send the browser to and the
    /// state the callback needs.
    pub async fn begin(&self, redirect_uri: &str) -> Result<(String, FlowState), AuthError> {
        let config = self.require_config()?;
        self.provider(&config).await?.begin(&config, redirect_uri)
    }

    /// Finishes a login with the `code` the provider sent to the callback:
    /// exchanges it (with the PKCE verifier), verifies the ID token, reads
    /// the user info and the claims the configuration names.
    pub async fn finish(&self, flow: &FlowState, code: &str) -> Result<OidcLogin, AuthError> {
        let config = self.require_config()?;
        let provider = self.provider(&config).await?;
        let token = match provider.finish(flow, code).await {
            Err(AuthError::Unauthorized(m)) if m.contains("signature") => {
                // Perhaps new keys at the provider: the next login fetches them.
                self.forget_provider().await;
                return Err(AuthError::Unauthorized(m));
            }
            other => other?,
        };
        login_from_claims(&config, token)
    }

    /// Makes user `user_id` a member of exactly `groups` (the provider's
    /// groups claim, filtered), each an OIDC user group created if new, as
    /// Harbor does at each login: roles given to those groups in projects
    /// reach the user from then on, and groups it left stop reaching it.
    pub async fn sync_groups(&self, user_id: i64, groups: &[String]) -> Result<(), AuthError> {
        let wanted: Vec<NewUserGroup> = groups
            .iter()
            .map(|g| NewUserGroup::named(GroupType::Oidc, g.clone()))
            .collect();
        let ids: Vec<i64> = if wanted.is_empty() {
            Vec::new()
        } else {
            self.inner
                .identity
                .onboard_groups(&wanted)
                .await?
                .iter()
                .map(|g| g.id)
                .collect()
        };
        self.inner.identity.set_user_groups(user_id, &ids).await?;
        Ok(())
    }

    /// The user linked to the provider account of `login`, with its stored
    /// tokens replaced by the new ones; `None` if it was never onboarded.
    pub async fn linked_user(&self, login: &OidcLogin) -> Result<Option<User>, AuthError> {
        let store = &self.inner.identity;
        let Some(link) = store
            .oidc_user_by_subject(&login.issuer, &login.subject)
            .await?
        else {
            return Ok(None);
        };
        store
            .set_oidc_token(link.user_id, &self.seal_token(&login.token)?)
            .await?;
        Ok(store.user_by_id(link.user_id).await?)
    }

    /// Onboards the account of `login` as user `username` with a new random
    /// CLI secret; `CONFLICT` if the name or e-mail is taken or the account
    /// was onboarded already.
    pub async fn onboard(&self, login: &OidcLogin, username: &str) -> Result<User, AuthError> {
        check_username(username)?;
        let secret = cli::random_secret()?;
        let user = NewUser {
            username: username.to_owned(),
            email: login.email.clone(),
            realname: username.to_owned(),
            comment: ONBOARDED_COMMENT.to_owned(),
            password_hash: String::new(),
            sysadmin: false,
        };
        let link = NewOidcUser {
            issuer: login.issuer.clone(),
            subject: login.subject.clone(),
            secret: self.inner.secrets.seal(secret.as_bytes(), SECRET_CONTEXT)?,
            token: self.seal_token(&login.token)?,
        };
        let (user, _) = self.inner.identity.create_oidc_user(&user, &link).await?;
        tracing::info!(user = %user.username, issuer = %login.issuer, "OIDC user onboarded");
        Ok(user)
    }

    /// The CLI secret of user `user_id`, if it was onboarded from a provider.
    pub async fn cli_secret(&self, user_id: i64) -> Result<Option<String>, AuthError> {
        let Some(link) = self.inner.identity.oidc_user_by_user_id(user_id).await? else {
            return Ok(None);
        };
        self.open_secret(&link.secret).map(Some)
    }

    /// Replaces the CLI secret of user `user_id` (after
    /// [`check_cli_secret_rules`]); `false` if it has no provider link.
    pub async fn set_cli_secret(&self, user_id: i64, secret: &str) -> Result<bool, AuthError> {
        check_cli_secret_rules(secret)?;
        let sealed = self.inner.secrets.seal(secret.as_bytes(), SECRET_CONTEXT)?;
        Ok(self
            .inner
            .identity
            .set_oidc_secret(user_id, &sealed)
            .await?)
    }

    /// Fetches the discovery document of `endpoint` (Harbor's OIDC ping).
    pub async fn ping(endpoint: &str, verify_cert: bool) -> Result<(), AuthError> {
        OidcConfig::check_endpoint(endpoint).map_err(AuthError::BadRequest)?;
        let http = OidcHttp::new(verify_cert)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            endpoint.trim_end_matches('/')
        );
        let (status, body) = http
            .get(&url)
            .await
            .map_err(|e| AuthError::Provider(e.to_string()))?;
        if status != 200 {
            return Err(AuthError::Provider(format!("{url} answered {status}")));
        }
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| AuthError::Provider(format!("{url} is not JSON: {e}")))?;
        if doc.get("issuer").and_then(Value::as_str).is_none() {
            return Err(AuthError::Provider(format!("{url} names no issuer")));
        }
        Ok(())
    }

    fn seal_token(&self, token: &StoredToken) -> Result<String, AuthError> {
        let json = serde_json::to_vec(token)
            .map_err(|e| AuthError::crypto_because("encoding the token", e))?;
        self.inner.secrets.seal(&json, TOKEN_CONTEXT)
    }

    fn open_token(&self, sealed: &str) -> Result<StoredToken, AuthError> {
        let plain = self
            .inner
            .secrets
            .open(sealed, TOKEN_CONTEXT)
            .ok_or_else(|| {
                AuthError::crypto("a stored OIDC token does not open (was the key replaced?)")
            })?;
        serde_json::from_slice(&plain)
            .map_err(|e| AuthError::crypto_because("a stored OIDC token does not decode", e))
    }

    fn open_secret(&self, sealed: &str) -> Result<String, AuthError> {
        let plain = self
            .inner
            .secrets
            .open(sealed, SECRET_CONTEXT)
            .ok_or_else(|| {
                AuthError::crypto("a stored CLI secret does not open (was the key replaced?)")
            })?;
        String::from_utf8(plain).map_err(|e| AuthError::crypto_because("a stored CLI secret", e))
    }
}

/// Harbor's username rules for onboarding: 1 to 255 characters, none of
/// `,~#$%`.
pub fn check_username(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(AuthError::BadRequest("username with illegal length".into()));
    }
    if name.contains([',', '~', '#', '$', '%']) {
        return Err(AuthError::BadRequest(
            "username contains illegal characters".into(),
        ));
    }
    Ok(())
}

fn claim_str(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Reads who `token`'s claims say the user is, as `config` says to read
/// them.
fn login_from_claims(config: &OidcConfig, token: StoredToken) -> Result<OidcLogin, AuthError> {
    let claims = &token.claims;
    let issuer = claim_str(claims, "iss")
        .ok_or_else(|| AuthError::Unauthorized("the ID token names no issuer".into()))?;
    let subject = claim_str(claims, "sub")
        .ok_or_else(|| AuthError::Unauthorized("the ID token names no subject".into()))?;
    let username = if config.user_claim.is_empty() {
        claim_str(claims, "name").or_else(|| claim_str(claims, "preferred_username"))
    } else {
        claim_str(claims, &config.user_claim)
    }
    .ok_or_else(|| {
        let claim = if config.user_claim.is_empty() {
            "name"
        } else {
            &config.user_claim
        };
        AuthError::Unauthorized(format!(
            "the provider gave no {claim} claim for the username"
        ))
    })?
    .replace(' ', "_");
    let (groups, admin) = groups_of(config, claims)?;
    Ok(OidcLogin {
        issuer,
        subject,
        username,
        email: claim_str(claims, "email").unwrap_or_default(),
        groups,
        admin,
        token,
    })
}

/// The groups `claims` list under `oidc_groups_claim` that pass
/// `oidc_group_filter`, and whether `oidc_admin_group` is among them.
pub(crate) fn groups_of(
    config: &OidcConfig,
    claims: &Map<String, Value>,
) -> Result<(Vec<String>, bool), AuthError> {
    if config.groups_claim.is_empty() {
        return Ok((Vec::new(), false));
    }
    let raw: Vec<String> = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let filter = if config.group_filter.is_empty() {
        None
    } else {
        Some(
            regex::Regex::new(&config.group_filter)
                .map_err(|e| AuthError::Provider(format!("oidc_group_filter: {e}")))?,
        )
    };
    let groups: Vec<String> = raw
        .into_iter()
        .filter(|g| filter.as_ref().is_none_or(|f| f.is_match(g)))
        .collect();
    let admin = !config.admin_group.is_empty() && groups.contains(&config.admin_group);
    Ok((groups, admin))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn token(claims: Value) -> StoredToken {
        StoredToken {
            access_token: "a".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_username_comes_from_the_configured_claim_or_name_then_preferred_username() {
        let mut config = OidcConfig::default();
        let t =
            token(json!({"iss": "i", "sub": "s", "name": "Ann Lee", "preferred_username": "ann"}));
        assert_eq!(
            login_from_claims(&config, t.clone()).unwrap().username,
            "Ann_Lee"
        );
        let t2 = token(json!({"iss": "i", "sub": "s", "preferred_username": "ann"}));
        assert_eq!(login_from_claims(&config, t2).unwrap().username, "ann");
        config.user_claim = "preferred_username".into();
        assert_eq!(login_from_claims(&config, t).unwrap().username, "ann");
        config.user_claim = "nickname".into();
        let t3 = token(json!({"iss": "i", "sub": "s", "name": "x"}));
        assert!(
            login_from_claims(&config, t3).is_err(),
            "a missing claim refuses the login"
        );
    }

    #[test]
    fn groups_are_filtered_and_the_admin_group_must_pass_the_filter() {
        let config = OidcConfig {
            groups_claim: "groups".into(),
            group_filter: "^team-".into(),
            admin_group: "team-admins".into(),
            ..OidcConfig::default()
        };
        let claims = json!({"groups": ["team-a", "other", "team-admins"]});
        let (groups, admin) = groups_of(&config, claims.as_object().unwrap()).unwrap();
        assert_eq!(groups, ["team-a", "team-admins"]);
        assert!(admin);
        let config = OidcConfig {
            group_filter: "^x".into(),
            ..config
        };
        let (groups, admin) = groups_of(&config, claims.as_object().unwrap()).unwrap();
        assert!(groups.is_empty() && !admin);
    }
}
