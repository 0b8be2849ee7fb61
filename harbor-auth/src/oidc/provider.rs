//! Talking to the provider: discovery (kept a few minutes), the
//! authorization-code flow with state, nonce and PKCE (S256), the ID
//! token's verification (issuer, audience, nonce, signature through the
//! provider's JWKS, expiry) by `openidconnect`, the user info, and refresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::http::OidcHttp;
use super::OidcConfig;
use crate::error::AuthError;

/// Every claim the provider gave that `openidconnect` has no field for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtraClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for ExtraClaims {}

type Fields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
pub(crate) type Client = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the server keeps between `/c/oidc/login` and `/c/oidc/callback`
/// (sealed in a short-lived cookie, so that any instance can finish the
/// flow): the state to compare, the nonce the ID token must carry, and the
/// PKCE verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowState {
    /// The `state` sent to the provider.
    pub state: String,
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
    /// The redirect URI used (the token request repeats it).
    pub redirect_uri: String,
}

/// The provider's tokens as kept for a user (sealed at rest), with the
/// claims last seen, so a CLI-secret check can read groups without
/// asking again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when the provider gave one (`offline_access`).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The raw ID token.
    #[serde(default)]
    pub id_token: Option<String>,
    /// When the access token expires, seconds since the epoch.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// The claims of the ID token and user info, merged.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl StoredToken {
    /// Whether the access token has expired (or will within `leeway`).
    pub fn expired(&self, leeway: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.expires_at
            .is_some_and(|t| t <= now.saturating_add(leeway.as_secs()))
    }

    fn from_response(
        tokens: &Tokens,
        claims: Map<String, Value>,
        old: Option<&StoredToken>,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        StoredToken {
            access_token: tokens.access_token().secret().clone(),
            refresh_token: tokens
                .refresh_token()
                .map(|r| r.secret().clone())
                .or_else(|| old.and_then(|o| o.refresh_token.clone())),
            id_token: tokens
                .id_token()
                .map(|t| t.to_string())
                .or_else(|| old.and_then(|o| o.id_token.clone())),
            expires_at: tokens.expires_in().map(|d| now.saturating_add(d.as_secs())),
            claims,
        }
    }
}

/// A provider's discovered metadata, and the client built on it.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    pub(crate) client: Client,
    pub(crate) http: OidcHttp,
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> AuthError {
    AuthError::Provider(format!("{what}: {e}"))
}

impl Provider {
    /// Discovers the provider `config` names (its metadata and JWKS).
    pub(crate) async fn discover(config: &OidcConfig) -> Result<Provider, AuthError> {
        let http = OidcHttp::new(config.verify_cert)?;
        let issuer = IssuerUrl::new(config.endpoint.trim_end_matches('/').to_owned())
            .map_err(|e| provider_error("oidc_endpoint", e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| provider_error("discovery", error_chain(&e)))?;
        let secret = (!config.client_secret.is_empty())
            .then(|| ClientSecret::new(config.client_secret.clone()));
        let client = Client::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            secret,
        );
        Ok(Provider { client, http })
    }

    /// The provider's authorization URL for a new login, and what the
    /// callback needs to finish it.
    pub(crate) fn begin(
        &self,
        config: &OidcConfig,
        redirect_uri: &str,
    ) -> Result<(String, FlowState), AuthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| AuthError::BadRequest(format!("redirect URI: {e}")))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client.clone().set_redirect_uri(redirect);
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in config.scope.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(scope.clone()));
        }
        for (k, v) in &config.extra_redirect_parms {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        // offline_access needs consent to be asked for (OpenID Connect
        // Core 11), as Harbor's provider settings expect.
        if config.scope.iter().any(|s| s == "offline_access")
            && !config.extra_redirect_parms.contains_key("prompt")
        {
            req = req.add_extra_param("prompt", "consent");
        }
        let (url, state, nonce) = req.url();
        Ok((
            url.to_string(),
            FlowState {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                redirect_uri: redirect_uri.to_owned(),
            },
        ))
    }

    /// Exchanges `code` and verifies the ID token; the tokens with the
    /// claims of the ID token and the user info merged.
    pub(crate) async fn finish(
        &self,
        flow: &FlowState,
        code: &str,
    ) -> Result<StoredToken, AuthError> {
        let redirect = RedirectUrl::new(flow.redirect_uri.clone())
            .map_err(|e| AuthError::BadRequest(format!("redirect URI: {e}")))?;
        let client = self.client.clone().set_redirect_uri(redirect);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| provider_error("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                AuthError::Unauthorized(format!("the code exchange failed: {}", error_chain(&e)))
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| AuthError::Unauthorized("the provider returned no ID token".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let claims = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .map_err(|e| AuthError::Unauthorized(format!("the ID token is not valid: {e}")))?;
        let mut merged = to_map(claims)?;
        let subject = claims.subject().clone();
        self.merge_user_info(&mut merged, tokens.access_token().clone(), Some(subject))
            .await?;
        Ok(StoredToken::from_response(&tokens, merged, None))
    }

    /// Asks the user info endpoint (if the provider has one) with the
    /// access token; its claims go over those in `claims`. A refusal
    /// (account removed or disabled, token revoked) is an error.
    pub(crate) async fn merge_user_info(
        &self,
        claims: &mut Map<String, Value>,
        access: AccessToken,
        subject: Option<openidconnect::SubjectIdentifier>,
    ) -> Result<(), AuthError> {
        if self.client.user_info_url().is_none() {
            return Ok(());
        }
        let info: openidconnect::UserInfoClaims<ExtraClaims, CoreGenderClaim> = self
            .client
            .user_info(access, subject)
            .map_err(|e| provider_error("user info endpoint", e))?
            .request_async(&self.http)
            .await
            .map_err(|e| {
                AuthError::Unauthorized(format!(
                    "the provider refused the user info: {}",
                    error_chain(&e)
                ))
            })?;
        for (k, v) in to_map(&info)? {
            claims.insert(k, v);
        }
        Ok(())
    }

    /// Refreshes `token` with its refresh token, verifying a new ID token
    /// if one comes (no nonce in a refresh); refused if the provider
    /// refuses (the account was removed or disabled).
    pub(crate) async fn refresh(&self, token: &StoredToken) -> Result<StoredToken, AuthError> {
        let refresh = token.refresh_token.as_ref().ok_or_else(|| {
            AuthError::Unauthorized("the token expired and there is no refresh token".into())
        })?;
        let refresh = RefreshToken::new(refresh.clone());
        let tokens = self
            .client
            .exchange_refresh_token(&refresh)
            .map_err(|e| provider_error("token endpoint", e))?
            .request_async(&self.http)
            .await
            .map_err(|e| {
                AuthError::Unauthorized(format!(
                    "the provider refused the refresh: {}",
                    error_chain(&e)
                ))
            })?;
        let mut claims = token.claims.clone();
        if let Some(id_token) = tokens.id_token() {
            let verified = id_token
                .claims(&self.client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
                .map_err(|e| {
                    AuthError::Unauthorized(format!("the refreshed ID token is not valid: {e}"))
                })?;
            for (k, v) in to_map(verified)? {
                claims.insert(k, v);
            }
        }
        Ok(StoredToken::from_response(&tokens, claims, Some(token)))
    }
}

fn to_map(v: &impl Serialize) -> Result<Map<String, Value>, AuthError> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AuthError::Provider("claims are not a JSON object".into())),
        Err(e) => Err(provider_error("claims", e)),
    }
}

/// An error with its causes, for messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}
