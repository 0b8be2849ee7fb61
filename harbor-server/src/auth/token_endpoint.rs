//! `GET /service/token` (Docker token authentication) and `POST /service/token`
//! (its OAuth2 form: `grant_type=password` and `refresh_token`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_auth::{Access, AuthError, IssuedToken, Principal};

use super::{basic_credentials, client_ip, AuthState};

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    )
}

/// The answer to an authentication or issuance failure.
pub(crate) fn auth_error(e: &AuthError) -> Response {
    match e {
        AuthError::Unauthorized(m) | AuthError::InvalidToken(m) => {
            let mut r = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m);
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"harbor\""),
            );
            r
        }
        AuthError::TooManyAttempts { retry_after } => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                &e.to_string(),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        AuthError::Forbidden(m) => error(StatusCode::FORBIDDEN, "FORBIDDEN", m),
        AuthError::BadRequest(m) => error(StatusCode::BAD_REQUEST, "BAD_REQUEST", m),
        _ => {
            tracing::error!(error = %e, "token service failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal error",
            )
        }
    }
}

/// A token response. `GET` answers in the Docker form (`token`, as Harbor
/// does); the OAuth2 `POST` also carries `access_token`, which that form
/// requires. Serialized straight from borrowed fields: the token is the
/// bulk of the body and is not copied into an intermediate JSON value.
#[derive(serde::Serialize)]
struct TokenBody<'a> {
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

fn token_body(
    issued: &IssuedToken,
    oauth2: bool,
    refresh: Option<String>,
    scope: Option<String>,
) -> Response {
    let body = TokenBody {
        token: &issued.token,
        access_token: oauth2.then_some(issued.token.as_str()),
        expires_in: issued.expires_in,
        issued_at: humantime::format_rfc3339_seconds(issued.issued_at).to_string(),
        refresh_token: refresh,
        scope,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            resp
        }
        Err(e) => auth_error(&AuthError::crypto_because(
            "the token answer does not serialize",
            e,
        )),
    }
}

fn params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `GET /service/token?service=..&scope=..`: Basic credentials or anonymous.
pub async fn token_get(State(auth): State<Arc<AuthState>>, req: Request) -> Response {
    let params = params(req.uri().query().unwrap_or(""));
    let scopes = Access::parse_all(
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let service = get(&params, "service")
        .unwrap_or(&auth.tokens.config().service)
        .to_owned();
    let principal = match basic_credentials(req.headers()) {
        Some((user, pass)) => match auth
            .authenticator
            .authenticate(&user, &pass, client_ip(req.extensions()))
            .await
        {
            Ok(p) => p,
            Err(e) => return auth_error(&e),
        },
        None => Principal::Anonymous,
    };
    // `docker login` asks for a token with no scope: that must prove who you are.
    if principal == Principal::Anonymous && scopes.is_empty() {
        return auth_error(&AuthError::Unauthorized("authentication required".into()));
    }
    let issued = match auth.tokens.issue(&principal, &service, &scopes).await {
        Ok(t) => t,
        Err(e) => return auth_error(&e),
    };
    let offline = get(&params, "offline_token") == Some("true");
    let refresh = match (&principal, offline) {
        (Principal::User { .. }, true) => match auth.tokens.refresh_token(&principal) {
            Ok(r) => Some(r),
            Err(e) => return auth_error(&e),
        },
        _ => None,
    };
    token_body(&issued, false, refresh, None)
}

/// `POST /service/token` with a form: the OAuth2 password and refresh-token grants.
pub async fn token_post(State(auth): State<Arc<AuthState>>, req: Request) -> Response {
    let client = client_ip(req.extensions());
    let body: Body = req.into_body();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return auth_error(&AuthError::BadRequest("the form is too large".into()));
    };
    let form = params(&String::from_utf8_lossy(&bytes));
    let scope_param = get(&form, "scope").map(str::to_owned);
    let scopes = Access::parse_all(scope_param.as_deref());
    let service = get(&form, "service")
        .unwrap_or(&auth.tokens.config().service)
        .to_owned();
    let principal = match get(&form, "grant_type") {
        Some("password") => {
            let (Some(user), Some(pass)) = (get(&form, "username"), get(&form, "password")) else {
                return auth_error(&AuthError::BadRequest(
                    "username and password are required".into(),
                ));
            };
            match auth.authenticator.authenticate(user, pass, client).await {
                Ok(p) => p,
                Err(e) => return auth_error(&e),
            }
        }
        Some("refresh_token") => {
            let Some(refresh) = get(&form, "refresh_token") else {
                return auth_error(&AuthError::BadRequest("refresh_token is required".into()));
            };
            match auth.tokens.principal_from_refresh(refresh).await {
                Ok(p) => p,
                Err(e) => return auth_error(&e),
            }
        }
        other => {
            return auth_error(&AuthError::BadRequest(format!(
                "unsupported grant_type {:?}",
                other.unwrap_or("")
            )))
        }
    };
    let issued = match auth.tokens.issue(&principal, &service, &scopes).await {
        Ok(t) => t,
        Err(e) => return auth_error(&e),
    };
    let refresh = match get(&form, "grant_type") {
        Some("refresh_token") => get(&form, "refresh_token").map(str::to_owned),
        _ if get(&form, "access_type") == Some("offline") => {
            match auth.tokens.refresh_token(&principal) {
                Ok(r) => Some(r),
                Err(e) => return auth_error(&e),
            }
        }
        _ => None,
    };
    token_body(&issued, true, refresh, scope_param)
}
