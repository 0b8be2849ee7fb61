//! OpenID Connect at Harbor's paths: the browser flow (`/c/oidc/login`,
//! `/c/oidc/callback`, `/c/oidc/onboard`), `/system/oidc/ping`, and
//! `/users/{id}/cli_secret`.
//!
//! The flow's state (the `state`, nonce and PKCE verifier, and where to go
//! afterwards) is kept in a sealed, short-lived cookie, so whichever
//! instance of a cluster the provider sends the browser back to can finish
//! it; so is a login waiting for its username (without
//! `oidc_auto_onboard`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_auth::oidc::{FlowState, Oidc, OidcLogin};
use harbor_auth::AuthError;
use harbor_core::User;
use serde::{Deserialize, Serialize};

use super::{ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery};
use crate::auth::session::{cookie, now_secs, set_cookie, SameSite};
use crate::auth::Realm;
use crate::oidc::OidcState;
use crate::settings::AuthMode;

const FLOW_COOKIE: &str = "harbor_oidc_state";
const FLOW_CONTEXT: &[u8] = b"oidc flow";
const FLOW_TTL: u64 = 600;
const ONBOARD_COOKIE: &str = "harbor_oidc_onboard";
const ONBOARD_CONTEXT: &[u8] = b"oidc onboard";

/// What the flow cookie holds.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    flow: FlowState,
    redirect_url: String,
    exp: u64,
}

/// What the onboarding cookie holds.
#[derive(Debug, Serialize, Deserialize)]
struct PendingOnboard {
    login: OidcLogin,
    exp: u64,
}

/// `412` unless `auth_mode` is `oidc_auth` (Harbor's answer), else the
/// OIDC pieces.
fn oidc_on(state: &AppState) -> ApiResult<&OidcState> {
    let settings = state.settings.get();
    match (&state.auth.oidc, settings.auth_mode) {
        (Some(o), AuthMode::Oidc) => Ok(o),
        _ => Err(HarborError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            format!(
                "auth mode: {} is not OIDC based",
                settings.auth_mode.as_str()
            ),
        )),
    }
}

/// Where the provider sends the browser back: the external URL's, or this
/// request's host's, `/c/oidc/callback`.
fn callback_url(realm: &Realm, headers: &HeaderMap) -> String {
    realm
        .url(headers)
        .trim_end_matches("/service/token")
        .to_owned()
        + "/c/oidc/callback"
}

/// A local path to go to after signing in (`/` unless a safe one is given:
/// never another site).
fn local_path(p: Option<String>) -> String {
    match p {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/".into(),
    }
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

fn add_cookie(resp: &mut Response, value: Option<HeaderValue>) {
    if let Some(v) = value {
        resp.headers_mut().append("set-cookie", v);
    }
}

fn seal<T: Serialize>(o: &OidcState, value: &T, context: &[u8]) -> ApiResult<String> {
    let json = serde_json::to_vec(value)
        .map_err(|e| HarborError::from(AuthError::crypto_because("encoding a cookie", e)))?;
    Ok(o.oidc.cookie_sealer().seal(&json, context)?)
}

fn open<T: serde::de::DeserializeOwned>(
    o: &OidcState,
    headers: &HeaderMap,
    name: &str,
    context: &[u8],
) -> Option<T> {
    let value = cookie(headers, name)?;
    let plain = o.oidc.cookie_sealer().open(&value, context)?;
    serde_json::from_slice(&plain).ok()
}

/// Signs `user` in: the session and CSRF cookies on `resp` (SameSite=Lax:
/// the callback is reached by a redirect from the provider's site, and the
/// browser must send the session on the redirect that follows).
async fn sign_in(state: &AppState, resp: &mut Response, user: &User, admin: bool) -> ApiResult<()> {
    let sessions = state.auth.sessions.as_ref().ok_or_else(|| {
        HarborError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "sessions need the server's secret key (HarborBuilder::sessions)",
        )
    })?;
    sessions.start(resp, user.id, admin, SameSite::Lax).await?;
    tracing::info!(user = %user.username, admin, "signed in through OIDC");
    Ok(())
}

/// `redirect_url=` of `/c/oidc/login`.
#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    redirect_url: Option<String>,
}

/// `GET /c/oidc/login`: to the provider, with the flow's state kept in a
/// sealed cookie.
pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    HarborQuery(q): HarborQuery<LoginQuery>,
) -> ApiResult<Response> {
    let o = oidc_on(&state)?;
    let redirect_uri = callback_url(&state.auth.realm, &headers);
    let (url, flow) = o.oidc.begin(&redirect_uri).await.map_err(provider_error)?;
    let pending = Pending {
        flow,
        redirect_url: local_path(q.redirect_url),
        exp: now_secs() + FLOW_TTL,
    };
    let sealed = seal(o, &pending, FLOW_CONTEXT)?;
    let mut resp = redirect(&url);
    add_cookie(
        &mut resp,
        set_cookie(
            FLOW_COOKIE,
            &sealed,
            "/c/oidc",
            FLOW_TTL,
            false,
            o.secure_cookies,
            SameSite::Lax,
        ),
    );
    Ok(resp)
}

/// What the provider sends to the callback.
#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Provider failures in the flow: what the provider or its answer got
/// wrong is the caller's to see (400), with the reason.
fn provider_error(e: AuthError) -> HarborError {
    match e {
        AuthError::Provider(m) => HarborError::bad_request(format!("OIDC provider: {m}")),
        e => e.into(),
    }
}

/// `GET /c/oidc/callback`: checks the state, exchanges the code, verifies
/// the ID token, onboards (or asks for a username) and signs the user in.
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    HarborQuery(q): HarborQuery<CallbackQuery>,
) -> ApiResult<Response> {
    let o = oidc_on(&state)?;
    let pending: Pending = open(o, &headers, FLOW_COOKIE, FLOW_CONTEXT)
        .filter(|p: &Pending| p.exp > now_secs())
        .ok_or_else(|| HarborError::bad_request("State mismatch: no login in progress"))?;
    if q.state.as_deref() != Some(pending.flow.state.as_str()) {
        tracing::warn!("OIDC callback with a state that is not the login's");
        return Err(HarborError::bad_request("State mismatch"));
    }
    if let Some(error) = q.error {
        return Err(HarborError::bad_request(format!(
            "OIDC callback returned error: {error} - {}",
            q.error_description.unwrap_or_default()
        )));
    }
    let code = q
        .code
        .ok_or_else(|| HarborError::bad_request("the callback carries no code"))?;
    let login = o
        .oidc
        .finish(&pending.flow, &code)
        .await
        .map_err(provider_error)?;
    let mut resp = match o.oidc.linked_user(&login).await? {
        Some(user) => signed_in(&state, o, &user, &login, &pending.redirect_url).await?,
        None if o.oidc.config().is_some_and(|c| c.auto_onboard) => {
            let user = o.oidc.onboard(&login, &login.username).await?;
            signed_in(&state, o, &user, &login, &pending.redirect_url).await?
        }
        None => {
            let username = login.username.clone();
            let wait = PendingOnboard {
                login,
                exp: now_secs() + FLOW_TTL,
            };
            let sealed = seal(o, &wait, ONBOARD_CONTEXT)?;
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("username", &username)
                .finish();
            let to = format!("/oidc-onboard?{query}");
            let mut resp = redirect(&to);
            add_cookie(
                &mut resp,
                set_cookie(
                    ONBOARD_COOKIE,
                    &sealed,
                    "/c/oidc",
                    FLOW_TTL,
                    false,
                    o.secure_cookies,
                    SameSite::Lax,
                ),
            );
            resp
        }
    };
    // The flow is over: its state is not accepted again.
    add_cookie(
        &mut resp,
        set_cookie(
            FLOW_COOKIE,
            "",
            "/c/oidc",
            0,
            false,
            o.secure_cookies,
            SameSite::Lax,
        ),
    );
    Ok(resp)
}

/// The user signed in (a redirect to `to` with its session), its groups
/// taken from the provider.
async fn signed_in(
    state: &AppState,
    o: &OidcState,
    user: &User,
    login: &OidcLogin,
    to: &str,
) -> ApiResult<Response> {
    o.oidc.sync_groups(user.id, &login.groups).await?;
    let mut resp = redirect(to);
    sign_in(state, &mut resp, user, login.admin).await?;
    Ok(resp)
}

/// Harbor's `onboardReq`.
#[derive(Debug, Deserialize)]
pub(super) struct OnboardReq {
    username: String,
}

/// `POST /c/oidc/onboard`: onboards the login waiting in its cookie under
/// the username given, and signs it in.
pub(super) async fn onboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<HarborJson<OnboardReq>, HarborError>,
) -> ApiResult<Response> {
    let o = oidc_on(&state)?;
    let HarborJson(req) = body?;
    let wait: PendingOnboard = open(o, &headers, ONBOARD_COOKIE, ONBOARD_CONTEXT)
        .filter(|p: &PendingOnboard| p.exp > now_secs())
        .ok_or_else(|| HarborError::bad_request("Failed to get OIDC user info from session"))?;
    let user = o.oidc.onboard(&wait.login, &req.username).await?;
    o.oidc.sync_groups(user.id, &wait.login.groups).await?;
    let mut resp = StatusCode::OK.into_response();
    sign_in(&state, &mut resp, &user, wait.login.admin).await?;
    add_cookie(
        &mut resp,
        set_cookie(
            ONBOARD_COOKIE,
            "",
            "/c/oidc",
            0,
            false,
            o.secure_cookies,
            SameSite::Lax,
        ),
    );
    Ok(resp)
}

/// The body of `POST /system/oidc/ping`.
#[derive(Debug, Deserialize)]
pub(super) struct PingReq {
    url: String,
    #[serde(default = "yes")]
    verify_cert: bool,
}

fn yes() -> bool {
    true
}

/// `POST /system/oidc/ping`: whether the discovery document of `url`
/// can be fetched (administrators only).
pub(super) async fn ping(
    caller: Caller,
    body: Result<HarborJson<PingReq>, HarborError>,
) -> ApiResult<Response> {
    caller.require_system("configuration", "update")?;
    let HarborJson(req) = body?;
    match Oidc::ping(&req.url, req.verify_cert).await {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(e) => Err(HarborError::bad_request(format!(
            "failed to verify connection: {}",
            match e {
                AuthError::Provider(m) | AuthError::BadRequest(m) => m,
                e => e.to_string(),
            }
        ))),
    }
}

/// Harbor's `OIDCCliSecretReq`.
#[derive(Debug, Deserialize)]
pub(super) struct CliSecretReq {
    secret: String,
}

/// `PUT /users/{user_id}/cli_secret`: the user himself or an
/// administrator, in `oidc_auth` mode, for a user onboarded from the
/// provider; Harbor's rules for the secret.
pub(super) async fn set_cli_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Result<HarborJson<CliSecretReq>, HarborError>,
) -> ApiResult<Response> {
    caller.require_user()?;
    let o = oidc_on(&state)?;
    let id: i64 = raw
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| HarborError::bad_request(format!("invalid user ID {raw:?}")))?;
    if !(caller.0.is_sysadmin() || caller.0.user_id() == Some(id)) {
        return Err(HarborError::forbidden());
    }
    let HarborJson(req) = body?;
    if state.auth.identity.user_by_id(id).await?.is_none() {
        return Err(HarborError::not_found(format!("user {id} not found")));
    }
    harbor_auth::oidc::check_cli_secret_rules(&req.secret)?;
    if !o.oidc.set_cli_secret(id, &req.secret).await? {
        return Err(HarborError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "the user is not onboarded via OIDC AuthN",
        ));
    }
    state
        .audit(
            None,
            &caller,
            format!("user {id}"),
            harbor_core::AuditResource::User,
            harbor_core::AuditOperation::Update,
        )
        .await;
    tracing::info!(user_id = id, by = %caller.0, "CLI secret changed");
    Ok(StatusCode::OK.into_response())
}

/// Harbor's `OIDCUserInfo`, for a user's profile: shown to the user and to
/// administrators.
#[derive(Debug, Serialize)]
pub(super) struct OidcUserInfo {
    id: i64,
    user_id: i64,
    subiss: String,
    secret: String,
    creation_time: String,
    update_time: String,
}

/// The `oidc_user_meta` of user `id`, if it was onboarded from the
/// provider and OIDC is set up.
pub(super) async fn user_meta(state: &AppState, id: i64) -> ApiResult<Option<OidcUserInfo>> {
    let Some(o) = &state.auth.oidc else {
        return Ok(None);
    };
    let Some(link) = state.auth.identity.oidc_user_by_user_id(id).await? else {
        return Ok(None);
    };
    let secret = o.oidc.cli_secret(id).await?.unwrap_or_default();
    Ok(Some(OidcUserInfo {
        id: link.id,
        user_id: link.user_id,
        subiss: format!("{}{}", link.subject, link.issuer),
        secret,
        creation_time: super::time(link.created_at),
        update_time: super::time(link.updated_at),
    }))
}
