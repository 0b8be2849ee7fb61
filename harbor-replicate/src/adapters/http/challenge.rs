//! Authentication the way registries ask for it: a 401's `WWW-Authenticate`
//! challenge says Basic or Bearer; Bearer tokens are fetched from the
//! challenge's realm with the endpoint's credentials, one per set of scopes,
//! and cached until shortly before they expire.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use harbor_core::RepositoryName;
use hyper::{Method, StatusCode};

use super::{Client, Payload};
use crate::adapter::Credential;
use crate::error::{ReplicateError, Result};

/// The most of a token response read.
const TOKEN_BODY_LIMIT: usize = 1024 * 1024;

/// How long a token lives when the realm does not say, and at least.
const SHORTEST_LIFETIME: u64 = 60;

/// The longest a token is cached, however long the realm says it lives: a
/// remote's `expires_in` must not push the clock past what `Instant` holds.
const LONGEST_CACHE: Duration = Duration::from_secs(24 * 3600);

/// How a registry wants to be authenticated, learnt from its challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// The endpoint's username and password on every request.
    Basic,
    /// Tokens from `realm` for `service`.
    Bearer { realm: String, service: String },
}

/// The scopes a request on `repo` needs for `actions` (`pull`,
/// `pull,push`, `delete`).
pub(crate) fn repository_scope(repo: &RepositoryName, actions: &str) -> Vec<String> {
    vec![format!("repository:{repo}:{actions}")]
}

/// Parses `Bearer realm="..",service="..",scope=".."` (or `Basic realm=..`);
/// `None` for other schemes and for a Bearer challenge without a realm.
pub(crate) fn parse_challenge(header: &str) -> Option<Scheme> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Scheme::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"')?,
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        rest = remaining.trim_start_matches([',', ' ']).trim();
    }
    Some(Scheme::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service").unwrap_or_default(),
    })
}

/// A token realm's answer. Some realms say `token`, OAuth2 ones
/// `access_token`; `expires_in` is read loosely, as a missing or odd one
/// only means the default lifetime.
#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    #[serde(default)]
    expires_in: serde_json::Value,
}

/// An endpoint's credentials and what its registry asked for: the scheme
/// of its last challenge and the tokens fetched, by scopes.
pub(crate) struct Auth {
    credential: Option<Credential>,
    scheme: Mutex<Option<Scheme>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("credential", &self.credential)
            .field("scheme", &*lock(&self.scheme))
            .finish_non_exhaustive()
    }
}

/// A lock that a panic elsewhere leaves usable: the maps and the scheme are
/// whole at every await-free step, so a poisoned one is still right.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    /// Nothing learnt yet about `credential`'s registry.
    pub(crate) fn new(credential: Option<Credential>) -> Self {
        Auth {
            credential,
            scheme: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The Basic `Authorization` value of the credentials, if they are a
    /// username and password.
    pub(crate) fn basic(&self) -> Option<String> {
        match &self.credential {
            Some(Credential::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }

    /// Learns from a 401's challenge; whether sending the request again
    /// with what was learnt can succeed. A Basic registry that refuses Basic
    /// credentials it already had is not asked again.
    pub(crate) fn learn(&self, challenge: Option<&str>, scopes: &[String]) -> bool {
        let Some(scheme) = challenge.and_then(parse_challenge) else {
            return false;
        };
        {
            let mut known = lock(&self.scheme);
            if known.as_ref() == Some(&scheme) && scheme == Scheme::Basic {
                return false;
            }
            *known = Some(scheme);
        }
        // The token for these scopes was refused (or there was none).
        lock(&self.tokens).remove(&scopes.join(" "));
        true
    }

    /// The `Authorization` value for `scopes`, fetching a token if needed;
    /// `None` before the registry has asked for anything.
    pub(crate) async fn authorization(
        &self,
        client: &Client,
        scopes: &[String],
    ) -> Result<Option<String>> {
        if let Some(Credential::Bearer { token }) = &self.credential {
            return Ok(Some(format!("Bearer {token}")));
        }
        let scheme = lock(&self.scheme).clone();
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(self.basic()),
            Some(Scheme::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                let cached = lock(&self.tokens)
                    .get(&key)
                    .filter(|(_, until)| *until > Instant::now())
                    .map(|(t, _)| t.clone());
                let token = match cached {
                    Some(t) => t,
                    None => self.fetch_token(client, &realm, &service, scopes).await?,
                };
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Asks `realm` for a token for `scopes` with the endpoint's Basic
    /// credentials, and caches it.
    async fn fetch_token(
        &self,
        client: &Client,
        realm: &str,
        service: &str,
        scopes: &[String],
    ) -> Result<String> {
        let mut url = url::Url::parse(realm).map_err(|e| {
            client.protocol(
                format!("the token realm {realm:?} is not a URL"),
                Some(e.into()),
            )
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("service", service);
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let headers: Vec<(&str, String)> = self
            .basic()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let resp = client
            .execute(Method::GET, url.as_str(), &headers, Payload::Empty)
            .await?;
        let status = resp.status();
        let body = client
            .read(resp.into_body(), TOKEN_BODY_LIMIT, "the token response")
            .await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ReplicateError::Unauthorized {
                registry: client.base().to_owned(),
                message: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        if !status.is_success() {
            return Err(ReplicateError::Remote {
                registry: realm.to_owned(),
                method: "GET".into(),
                path: "token".into(),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body).into_owned(),
                retry_after: None,
            });
        }
        let answer: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            client.protocol(
                format!("the token response of {realm} does not parse"),
                Some(e.into()),
            )
        })?;
        let token = answer.token.or(answer.access_token).ok_or_else(|| {
            client.protocol(format!("the token response of {realm} has no token"), None)
        })?;
        // Refreshed well before expiry: a token must not die mid-request.
        let lifetime = answer
            .expires_in
            .as_u64()
            .unwrap_or(SHORTEST_LIFETIME)
            .max(SHORTEST_LIFETIME);
        let fresh_for = Duration::from_secs(lifetime.saturating_sub(lifetime / 4 + 5));
        let until = Instant::now() + fresh_for.min(LONGEST_CACHE);
        lock(&self.tokens).insert(scopes.join(" "), (token.clone(), until));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_distribution_and_harbor_send_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://h:5000/service/token",service="harbor-registry",scope="repository:a/b:pull,push""#
            ),
            Some(Scheme::Bearer {
                realm: "http://h:5000/service/token".into(),
                service: "harbor-registry".into()
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="harbor""#),
            Some(Scheme::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn unquoted_parameters_and_a_missing_realm_are_handled() {
        assert_eq!(
            parse_challenge("bearer realm=https://auth.example.com/token, service=reg"),
            Some(Scheme::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: "reg".into()
            })
        );
        assert_eq!(parse_challenge(r#"Bearer service="reg""#), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }
}
