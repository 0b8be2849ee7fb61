//! Signing in and out: the sign-in page, Harbor's `POST /c/login` (form
//! fields `principal` and `password`, checked by the server's
//! authenticator, so every auth mode and its rate limits apply) and
//! `GET /c/log_out`, and `/` sending the browser to the projects or the
//! sign-in page.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use harbor_auth::{AuthError, Principal};
use maud::html;
use serde::Deserialize;

use super::error::{see_other, PortalError};
use super::layout::{self, Nav};
use super::PortalState;
use crate::auth::SameSite;
use crate::settings::AuthMode;

/// A local path to go to after signing in (the projects unless a safe one
/// is given: never another site).
fn local_path(p: Option<&str>) -> String {
    match p {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/harbor/projects".into(),
    }
}

/// Whether the request comes from a browser's form (it accepts HTML), not
/// from a script expecting Harbor's bare status.
fn from_browser(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `GET /`: the projects when signed in, else the sign-in page.
pub(super) async fn root(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let signed_in = match &state.app.auth.sessions {
        Some(s) => matches!(s.session(&headers).await, Ok(Some(_))),
        None => false,
    };
    if signed_in {
        see_other("/harbor/projects")
    } else {
        see_other("/harbor/sign-in")
    }
}

/// `redirect_url=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub(super) struct SignInQuery {
    redirect_url: Option<String>,
}

fn sign_in_markup(state: &PortalState, back: &str, error: Option<&str>) -> maud::Markup {
    let oidc =
        state.app.auth.oidc.is_some() && state.app.settings.get().auth_mode == AuthMode::Oidc;
    let oidc_link = format!("/c/oidc/login?redirect_url={}", layout::enc(back));
    layout::page(
        "Sign in",
        None,
        Nav::None,
        html! {
            div.sign-in {
                h1 { "Sign in to Harbor" }
                @if let Some(e) = error {
                    p.error role="alert" id="sign-in-error" { (e) }
                }
                form method="post" action="/c/login" {
                    input type="hidden" name="redirect_url" value=(back);
                    div {
                        label for="principal" { "Username" }
                        input type="text" id="principal" name="principal" autocomplete="username"
                            required autofocus;
                    }
                    div {
                        label for="password" { "Password" }
                        input type="password" id="password" name="password"
                            autocomplete="current-password" required;
                    }
                    button type="submit" { "Log in" }
                }
                @if oidc {
                    p { a.button.secondary href=(oidc_link) { "Login via OIDC provider" } }
                }
            }
        },
    )
}

/// `GET /harbor/sign-in` (a browser already signed in goes on).
pub(super) async fn sign_in_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<SignInQuery>,
) -> Response {
    let back = local_path(q.redirect_url.as_deref());
    let signed_in = match &state.app.auth.sessions {
        Some(s) => matches!(s.session(&headers).await, Ok(Some(_))),
        None => false,
    };
    if signed_in {
        return see_other(&back);
    }
    layout::html(sign_in_markup(&state, &back, None))
}

/// The form of `POST /c/login`.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    principal: String,
    password: String,
    redirect_url: Option<String>,
}

/// `POST /c/login`: checks the credentials with the server's
/// authenticator and starts a session (`SameSite=Strict`). A browser's form
/// is sent on (303) or shown the sign-in page again with the reason (401);
/// a script gets Harbor's bare 200 or 401.
pub(super) async fn login(
    State(state): State<PortalState>,
    headers: HeaderMap,
    client: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PortalError> {
    let browser = from_browser(&headers);
    let back = local_path(form.redirect_url.as_deref());
    let auth = &state.app.auth;
    let sessions = auth.sessions.as_ref().ok_or_else(|| {
        PortalError::internal("sessions need the server's secret key (HarborBuilder::sessions)")
    })?;
    let checked = auth
        .authenticator
        .authenticate(&form.principal, &form.password, client.map(|c| c.0 .0.ip()))
        .await;
    let refusal = match checked {
        Ok(Principal::User { id, name, .. }) => {
            let mut resp = if browser {
                see_other(&back)
            } else {
                StatusCode::OK.into_response()
            };
            sessions
                .start(&mut resp, id, false, SameSite::Strict)
                .await?;
            tracing::info!(user = %name, "signed in to the portal");
            return Ok(resp);
        }
        // Robot accounts have no portal.
        Ok(_) | Err(AuthError::Unauthorized(_)) => "Invalid user name or password.".to_owned(),
        Err(AuthError::TooManyAttempts { .. }) => {
            "Too many failed attempts: wait a moment and try again.".to_owned()
        }
        Err(e) => return Err(e.into()),
    };
    if !browser {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    }
    let mut resp = layout::html(sign_in_markup(&state, &back, Some(&refusal)));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    Ok(resp)
}

/// `GET /c/log_out`: ends the session on every instance and removes its
/// cookies; a browser is sent to the sign-in page.
pub(super) async fn log_out(
    State(state): State<PortalState>,
    headers: HeaderMap,
) -> Result<Response, PortalError> {
    let mut resp = if from_browser(&headers) {
        see_other("/harbor/sign-in")
    } else {
        StatusCode::OK.into_response()
    };
    if let Some(s) = &state.app.auth.sessions {
        s.end(&headers, &mut resp).await?;
    }
    Ok(resp)
}
