//! Rate limiting of failed logins, shared by every authenticator: the
//! database, LDAP, and whatever an embedding program plugs in. One
//! [`LoginLimiter`] shared by several authenticators counts their failures
//! together, so switching `auth_mode` or guessing through another path
//! gains an attacker nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::AuthError;

/// Failed-login limits: at most `max_failures` within `window`, counted per
/// account and, separately, per client address.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Failures allowed per window.
    pub max_failures: u32,
    /// The window.
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max_failures: 10,
            window: Duration::from_secs(300),
        }
    }
}

/// Counts failed logins per account and per client address and refuses
/// further attempts, right or wrong, once a count reaches the limit, until
/// its window has passed.
///
/// ```
/// use harbor_auth::{LoginLimiter, RateLimit};
/// let limiter = LoginLimiter::new(RateLimit { max_failures: 2, ..RateLimit::default() });
/// let attempt = limiter.check("alice", None).unwrap();
/// limiter.failed(&attempt);
/// limiter.failed(&attempt);
/// assert!(limiter.check("alice", None).is_err());
/// ```
#[derive(Debug)]
pub struct LoginLimiter {
    limit: RateLimit,
    by_key: Mutex<HashMap<String, (u32, Instant)>>,
}

/// One login attempt that [`LoginLimiter::check`] let through: what to
/// count it against when it ends.
#[derive(Debug, Clone)]
pub struct Attempt {
    keys: Vec<String>,
}

impl LoginLimiter {
    /// A limiter with `limit`.
    pub fn new(limit: RateLimit) -> Self {
        LoginLimiter {
            limit,
            by_key: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Lets a login of `username` from `client` go on, or refuses it with
    /// `TooManyAttempts` (saying when to retry) if either has failed too
    /// often lately.
    pub fn check(&self, username: &str, client: Option<IpAddr>) -> Result<Attempt, AuthError> {
        let mut keys = vec![format!("user:{username}")];
        if let Some(ip) = client {
            keys.push(format!("addr:{ip}"));
        }
        let now = Instant::now();
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for key in &keys {
            match map.get(key) {
                Some((count, start))
                    if now.duration_since(*start) < self.limit.window
                        && *count >= self.limit.max_failures =>
                {
                    let retry_after = self.limit.window - now.duration_since(*start);
                    tracing::warn!(user = %username, ?client, "login refused: too many failures");
                    return Err(AuthError::TooManyAttempts { retry_after });
                }
                Some((_, start)) if now.duration_since(*start) < self.limit.window => {}
                Some(_) => {
                    map.remove(key);
                }
                None => {}
            }
        }
        Ok(Attempt { keys })
    }

    /// Counts `attempt` as a failure, for its account and its address.
    pub fn failed(&self, attempt: &Attempt) {
        let now = Instant::now();
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for key in &attempt.keys {
            let entry = map.entry(key.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= self.limit.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A successful login clears its account's count (not the address's:
    /// one good account does not excuse guessing at others).
    pub fn succeeded(&self, attempt: &Attempt) {
        if let Some(account) = attempt.keys.first() {
            let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
            map.remove(account);
        }
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(RateLimit::default())
    }
}
