//! CLI secrets: the password OIDC users give docker, skopeo, the token
//! service and the API, checked as Harbor checks it: the secret must match,
//! and the provider must still accept the user (its access token is
//! refreshed when expired, and the user info endpoint asked with it); a
//! successful check is remembered for a short while so that a client
//! sending Basic credentials with every request does not cost a provider
//! round trip each time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openidconnect::AccessToken;
use ring::rand::{SecureRandom, SystemRandom};

use super::{groups_of, Oidc};
use crate::authenticator::constant_time_eq;
use crate::error::AuthError;
use crate::ratelimit::{Attempt, LoginLimiter};
use crate::{Authenticator, Principal};

/// How long a successful check against the provider is trusted by default.
pub const DEFAULT_CHECK_TTL: Duration = Duration::from_secs(60);

/// Harbor's rule for a CLI secret set by hand: 8 to 128 characters, with
/// at least one upper-case letter, one lower-case letter and one digit.
pub fn check_cli_secret_rules(secret: &str) -> Result<(), AuthError> {
    let len = secret.chars().count();
    let ok = (8..=128).contains(&len)
        && secret.chars().any(|c| c.is_ascii_uppercase())
        && secret.chars().any(|c| c.is_ascii_lowercase())
        && secret.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadRequest(
            "the secret must be 8 to 128 characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number".into(),
        ))
    }
}

/// A random CLI secret (32 letters and digits), as Harbor generates one at
/// onboarding.
pub(crate) fn random_secret() -> Result<String, AuthError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::crypto("no randomness for a CLI secret"))?;
    // 62 does not divide 256: the bias (under 2%) is far below what would
    // matter for a 190-bit secret.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// A recent successful check: the secret's fingerprint, whether the user
/// was in the admin group, and when.
type Checked = (Vec<u8>, bool, Instant);

/// Authenticates OIDC users by their CLI secret (see the module
/// documentation). Rate-limits failures per account and per address.
#[derive(Debug, Clone)]
pub struct OidcCliAuthenticator {
    oidc: Oidc,
    limiter: Arc<LoginLimiter>,
    check_ttl: Duration,
    checked: Arc<Mutex<HashMap<i64, Checked>>>,
    pepper: [u8; 16],
}

impl OidcCliAuthenticator {
    /// An authenticator over `oidc`, counting failures in `limiter` (share
    /// one with the other authenticators of a server, so that a client
    /// cannot guess by turns), trusting a successful provider check for
    /// `check_ttl` ([`DEFAULT_CHECK_TTL`] is a fair choice: a user removed
    /// at the provider keeps access at most that long).
    pub fn new(oidc: Oidc, limiter: Arc<LoginLimiter>, check_ttl: Duration) -> Self {
        let mut pepper = [0u8; 16];
        let _ = SystemRandom::new().fill(&mut pepper);
        OidcCliAuthenticator {
            oidc,
            limiter,
            check_ttl,
            checked: Arc::new(Mutex::new(HashMap::new())),
            pepper,
        }
    }

    /// The OIDC pieces it checks with.
    pub fn oidc(&self) -> &Oidc {
        &self.oidc
    }

    fn fingerprint(&self, secret: &str) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.pepper);
        ctx.update(secret.as_bytes());
        ctx.finish().as_ref().to_vec()
    }

    fn fail(&self, attempt: &Attempt, why: &str, user: &str) -> AuthError {
        self.limiter.failed(attempt);
        tracing::info!(user = %user, reason = why, "OIDC CLI secret login failed");
        AuthError::Unauthorized("invalid username or password".into())
    }

    /// Whether the provider still accepts user `user_id` (refreshing its
    /// token if expired, then asking the user info); stores a refreshed
    /// token. Returns whether the user is in the admin group.
    async fn check_at_provider(&self, user_id: i64, sealed_token: &str) -> Result<bool, AuthError> {
        let config = self.oidc.require_config()?;
        let provider = self.oidc.provider(&config).await?;
        let mut token = self.oidc.open_token(sealed_token)?;
        if token.expired(Duration::from_secs(10)) {
            token = provider.refresh(&token).await?;
            self.oidc
                .identity()
                .set_oidc_token(user_id, &self.oidc.seal_token(&token)?)
                .await?;
        }
        let mut claims = token.claims.clone();
        provider
            .merge_user_info(
                &mut claims,
                AccessToken::new(token.access_token.clone()),
                None,
            )
            .await?;
        let (groups, admin) = groups_of(&config, &claims)?;
        // What the provider says now: groups joined or left since the last
        // login count from this check on.
        self.oidc.sync_groups(user_id, &groups).await?;
        Ok(admin)
    }
}

#[async_trait]
impl Authenticator for OidcCliAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let now = Instant::now();
        let attempt = self.limiter.check(username, client)?;
        let store = self.oidc.identity();
        let Some(user) = store.user_by_name(username).await? else {
            return Err(self.fail(&attempt, "no such user", username));
        };
        let Some(link) = store.oidc_user_by_user_id(user.id).await? else {
            return Err(self.fail(&attempt, "not an OIDC user", username));
        };
        let stored = self.oidc.open_secret(&link.secret)?;
        if !constant_time_eq(stored.as_bytes(), password.as_bytes()) {
            return Err(self.fail(&attempt, "wrong CLI secret", username));
        }
        let fp = self.fingerprint(password);
        let cached = {
            let c = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            c.get(&user.id)
                .filter(|(f, _, at)| {
                    constant_time_eq(f, &fp) && now.duration_since(*at) < self.check_ttl
                })
                .map(|(_, admin, _)| *admin)
        };
        let admin = match cached {
            Some(admin) => admin,
            None => match self.check_at_provider(user.id, &link.token).await {
                Ok(admin) => {
                    let mut c = self.checked.lock().unwrap_or_else(|p| p.into_inner());
                    c.insert(user.id, (fp, admin, now));
                    admin
                }
                Err(AuthError::Unauthorized(why)) => {
                    self.checked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&user.id);
                    return Err(self.fail(&attempt, &why, username));
                }
                Err(e) => return Err(e),
            },
        };
        self.limiter.succeeded(&attempt);
        Ok(Principal::User {
            id: user.id,
            name: user.username,
            sysadmin: user.sysadmin || admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_secrets_follow_harbors_rules() {
        assert!(check_cli_secret_rules("Passw0rd").is_ok());
        assert!(check_cli_secret_rules("Pass0rd").is_err(), "too short");
        assert!(
            check_cli_secret_rules("password0").is_err(),
            "no upper case"
        );
        assert!(
            check_cli_secret_rules("PASSWORD0").is_err(),
            "no lower case"
        );
        assert!(check_cli_secret_rules("Password").is_err(), "no digit");
        assert!(check_cli_secret_rules(&format!("Aa1{}", "x".repeat(126))).is_err());
        let generated = random_secret().unwrap_or_default();
        assert_eq!(generated.len(), 32);
        assert_ne!(generated, random_secret().unwrap_or_default());
    }
}
