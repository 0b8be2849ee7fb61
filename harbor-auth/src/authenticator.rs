//! Authentication: the `Authenticator` trait and the database implementation,
//! with per-account and per-address rate limiting of failed logins.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harbor_core::IdentityStore;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AuthError;
use crate::password::verify_password;
use crate::principal::Principal;
use crate::ratelimit::{Attempt, LoginLimiter, RateLimit};

/// Turns credentials into a principal. Implementations for LDAP or OIDC plug
/// in here.
#[async_trait]
pub trait Authenticator: Debug + Send + Sync + 'static {
    /// Checks `username`/`password`, coming from `client` (for rate limiting).
    /// Fails with `Unauthorized` (wrong credentials, deliberately not saying
    /// which part) or `TooManyAttempts`.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError>;
}

/// Authenticates against the users of an [`IdentityStore`].
///
/// A successful check is remembered briefly (keyed by a salted hash of the
/// password and the stored hash it matched), so that a client sending Basic
/// credentials with every request does not pay for PBKDF2 each time; a
/// password change invalidates it at once.
#[derive(Debug, Clone)]
pub struct DbAuthenticator {
    store: Arc<dyn IdentityStore>,
    limiter: Arc<LoginLimiter>,
    verified: Arc<Mutex<HashMap<String, Verified>>>,
    pepper: [u8; 16],
}

/// A recent successful check: the password's fingerprint, the stored hash it
/// matched, and when.
type Verified = (Vec<u8>, String, Instant);

const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Compares without an early exit, so timing says nothing about where two
/// fingerprints differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl DbAuthenticator {
    /// An authenticator over `store` with `limit` on failures.
    pub fn new(store: Arc<dyn IdentityStore>, limit: RateLimit) -> Self {
        Self::with_limiter(store, Arc::new(LoginLimiter::new(limit)))
    }

    /// An authenticator over `store` counting failures in `limiter`, which
    /// other authenticators (LDAP) may share.
    pub fn with_limiter(store: Arc<dyn IdentityStore>, limiter: Arc<LoginLimiter>) -> Self {
        let mut pepper = [0u8; 16];
        // Without randomness the cache still works, only less private.
        let _ = SystemRandom::new().fill(&mut pepper);
        DbAuthenticator {
            store,
            limiter,
            verified: Arc::new(Mutex::new(HashMap::new())),
            pepper,
        }
    }

    fn fingerprint(&self, password: &str) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.pepper);
        ctx.update(password.as_bytes());
        ctx.finish().as_ref().to_vec()
    }

    /// The limiter its failures are counted in.
    pub fn limiter(&self) -> &Arc<LoginLimiter> {
        &self.limiter
    }
}

impl DbAuthenticator {
    /// Whether `password` matches `stored_hash`, through the short-lived cache.
    async fn check_secret(
        &self,
        account: &str,
        password: &str,
        stored_hash: &str,
        now: Instant,
    ) -> bool {
        let fp = self.fingerprint(password);
        let cached = {
            let v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            v.get(account).is_some_and(|(f, hash, at)| {
                constant_time_eq(f, &fp)
                    && hash == stored_hash
                    && now.duration_since(*at) < VERIFIED_TTL
            })
        };
        if cached {
            return true;
        }
        let (pw, hash) = (password.to_owned(), stored_hash.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        if ok {
            let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            v.insert(account.to_owned(), (fp, stored_hash.to_owned(), now));
        }
        ok
    }

    async fn authenticate_robot(
        &self,
        name: &str,
        secret: &str,
        attempt: &Attempt,
        now: Instant,
    ) -> Result<Principal, AuthError> {
        let robot = self.store.robot_by_name(name).await?;
        let ok = match &robot {
            Some(r) if crate::principal::robot_usable(r) => {
                self.check_secret(name, secret, &r.secret_hash, now).await
            }
            _ => false,
        };
        match robot {
            Some(r) if ok => Ok(Principal::Robot {
                id: r.id,
                name: r.name,
                permissions: Arc::new(r.permissions),
            }),
            _ => {
                self.limiter.failed(attempt);
                tracing::info!(robot = %name, "robot login failed");
                Err(AuthError::Unauthorized(
                    "invalid username or password".into(),
                ))
            }
        }
    }
}

#[async_trait]
impl Authenticator for DbAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let now = Instant::now();
        let attempt = self.limiter.check(username, client)?;
        if username.starts_with(crate::principal::ROBOT_PREFIX) {
            return self
                .authenticate_robot(username, password, &attempt, now)
                .await;
        }
        let user = self.store.user_by_name(username).await?;
        let ok = match &user {
            None => false,
            Some(u) => {
                self.check_secret(username, password, &u.password_hash, now)
                    .await
            }
        };
        match user {
            Some(u) if ok => {
                self.limiter.succeeded(&attempt);
                Ok(Principal::User {
                    id: u.id,
                    name: u.username,
                    sysadmin: u.sysadmin,
                })
            }
            _ => {
                self.limiter.failed(&attempt);
                tracing::info!(user = %username, ?client, "login failed");
                Err(AuthError::Unauthorized(
                    "invalid username or password".into(),
                ))
            }
        }
    }
}
