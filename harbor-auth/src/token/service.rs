//! `TokenService`: decides which of the requested actions a principal holds
//! and signs a token granting exactly those.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use harbor_core::{IdentityStore, RepositoryName};

use super::jwt::{self, Claims, Expiry};
use super::keys::SigningKey;
use super::scope::{Access, ScopeAction};
use crate::error::AuthError;
use crate::principal::Principal;
use crate::rbac::{Authorizer, Resource};

/// Token service settings, with Harbor's defaults.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `iss` of issued tokens.
    pub issuer: String,
    /// The service (audience) tokens are for.
    pub service: String,
    /// Token lifetime.
    pub lifetime: Duration,
    /// Refresh token lifetime.
    pub refresh_lifetime: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            issuer: "harbor-token-issuer".into(),
            service: "harbor-registry".into(),
            lifetime: Duration::from_secs(30 * 60),
            refresh_lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A token as the token endpoint returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// What it grants.
    pub access: Vec<Access>,
}

/// Issues and verifies registry tokens.
#[derive(Debug, Clone)]
pub struct TokenService {
    key: Arc<SigningKey>,
    config: TokenConfig,
    /// The lifetime of tokens issued from now on, in seconds: the
    /// configuration's until [`TokenService::set_lifetime`] changes it for
    /// every clone (Harbor's `token_expiration`, changed at run time).
    lifetime_secs: Arc<std::sync::atomic::AtomicU64>,
    store: Arc<dyn IdentityStore>,
    authorizer: Arc<dyn Authorizer>,
    verified: Arc<VerifiedTokens>,
}

/// Tokens whose signature, issuer and audience already checked out, by the
/// SHA-256 of the token: a client sends the same token with every request of
/// a pull or push, and an ECDSA verification costs far more than the request.
/// Bounded: emptied when full.
#[derive(Debug, Default)]
struct VerifiedTokens {
    claims: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Claims>>>,
}

impl VerifiedTokens {
    const CAPACITY: usize = 4096;

    fn key(token: &str) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut k = [0u8; 32];
        k.copy_from_slice(d.as_ref());
        k
    }

    fn get(&self, key: &[u8; 32]) -> Option<Arc<Claims>> {
        self.claims.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: [u8; 32], claims: Arc<Claims>) {
        if let Ok(mut map) = self.claims.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(key, claims);
        }
    }
}

const REFRESH_SUFFIX: &str = "#refresh";

impl TokenService {
    /// A service signing with `key`, deciding with `authorizer` over the
    /// projects in `store`.
    pub fn new(
        key: Arc<SigningKey>,
        config: TokenConfig,
        store: Arc<dyn IdentityStore>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        TokenService {
            key,
            lifetime_secs: Arc::new(std::sync::atomic::AtomicU64::new(
                config.lifetime.as_secs().max(1),
            )),
            config,
            store,
            authorizer,
            verified: Arc::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// The lifetime of the tokens issued from now on.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(
            self.lifetime_secs
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Changes the lifetime of the tokens issued from now on, for this
    /// service and every clone of it (at least a second).
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.lifetime_secs.store(
            lifetime.as_secs().max(1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The signing key (its certificate goes into a registry's `rootcertbundle`).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The actions of `requested` that `principal` holds. Never more than
    /// asked for: a partly permitted scope yields a reduced grant.
    pub async fn grant(
        &self,
        principal: &Principal,
        requested: &Access,
    ) -> Result<Vec<ScopeAction>, AuthError> {
        match requested.kind.as_str() {
            "registry" if requested.name == "catalog" => {
                Ok(if self.authorizer.system_allowed(principal) {
                    requested.actions.clone()
                } else {
                    Vec::new()
                })
            }
            "repository" => self.grant_repository(principal, requested).await,
            _ => Ok(Vec::new()),
        }
    }

    async fn grant_repository(
        &self,
        principal: &Principal,
        requested: &Access,
    ) -> Result<Vec<ScopeAction>, AuthError> {
        let Ok(repo) = RepositoryName::parse(&requested.name) else {
            return Ok(Vec::new());
        };
        let Some(project) = self.store.project_by_name(repo.first_component()).await? else {
            return Ok(Vec::new());
        };
        let mut held = Vec::new();
        for a in [ScopeAction::Pull, ScopeAction::Push, ScopeAction::Delete] {
            if let Some(action) = a.rbac() {
                if self
                    .authorizer
                    .allowed(principal, &project, Resource::Repository, action)
                    .await?
                {
                    held.push(a);
                }
            }
        }
        let mut granted = Vec::new();
        for a in &requested.actions {
            let ok = match a {
                ScopeAction::All => held.len() == 3,
                a => held.contains(a),
            };
            if ok && !granted.contains(a) {
                granted.push(*a);
            }
        }
        Ok(granted)
    }

    /// Issues a token for `principal` and `service` covering what it holds of
    /// `scopes`. `BAD_REQUEST` for a service other than ours.
    pub async fn issue(
        &self,
        principal: &Principal,
        service: &str,
        scopes: &[Access],
    ) -> Result<IssuedToken, AuthError> {
        if service != self.config.service {
            return Err(AuthError::BadRequest(format!(
                "unable to handle service {service:?}"
            )));
        }
        let mut access = Vec::with_capacity(scopes.len());
        for requested in scopes {
            let actions = self.grant(principal, requested).await?;
            access.push(Access {
                kind: requested.kind.clone(),
                name: requested.name.clone(),
                actions,
            });
        }
        let issued_at = SystemTime::now();
        let lifetime = self.lifetime();
        let token = self.sign(
            principal,
            &self.config.service,
            lifetime,
            access.clone(),
            issued_at,
        )?;
        tracing::debug!(principal = %principal, scopes = scopes.len(), "token issued");
        Ok(IssuedToken {
            token,
            expires_in: lifetime.as_secs(),
            issued_at,
            access,
        })
    }

    /// A refresh token for the OAuth2 flow: proves who `principal` is, grants
    /// nothing on its own.
    pub fn refresh_token(&self, principal: &Principal) -> Result<String, AuthError> {
        let aud = format!("{}{REFRESH_SUFFIX}", self.config.service);
        self.sign(
            principal,
            &aud,
            self.config.refresh_lifetime,
            Vec::new(),
            SystemTime::now(),
        )
    }

    /// The user a refresh token was issued to, if it verifies and the user
    /// still exists (with their current admin flag).
    pub async fn principal_from_refresh(&self, refresh: &str) -> Result<Principal, AuthError> {
        let aud = format!("{}{REFRESH_SUFFIX}", self.config.service);
        let claims = jwt::verify(
            &self.key,
            refresh,
            &self.config.issuer,
            &aud,
            Expiry::Enforce,
        )?;
        crate::principal::resolve_principal(self.store.as_ref(), &claims.sub)
            .await?
            .ok_or_else(|| {
                AuthError::InvalidToken("the refresh token's account no longer exists".into())
            })
    }

    /// Verifies a registry token for our service.
    pub fn verify(&self, token: &str, expiry: Expiry) -> Result<Claims, AuthError> {
        let key = VerifiedTokens::key(token);
        let claims = match self.verified.get(&key) {
            Some(c) => c,
            None => {
                let c = Arc::new(jwt::verify_signed(
                    &self.key,
                    token,
                    &self.config.issuer,
                    &self.config.service,
                )?);
                self.verified.put(key, c.clone());
                c
            }
        };
        // The clock moves on: times are checked on every use.
        jwt::check_times(&claims, expiry)?;
        Ok(Claims::clone(&claims))
    }

    fn sign(
        &self,
        principal: &Principal,
        aud: &str,
        lifetime: Duration,
        access: Vec<Access>,
        now: SystemTime,
    ) -> Result<String, AuthError> {
        let iat = jwt::unix(now);
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: principal.name().to_owned(),
            aud: aud.to_owned(),
            exp: iat + lifetime.as_secs(),
            nbf: iat,
            iat,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            access,
        };
        jwt::sign(&self.key, &claims)
    }
}
