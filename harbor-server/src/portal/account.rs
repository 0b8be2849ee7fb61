//! The signed-in user's own account: the profile (email, full name,
//! comment), changing the password, and for users onboarded from an OIDC
//! provider the CLI secret (shown on demand, with copy, and regenerated).

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// `saved=` after a change.
#[derive(Debug, Deserialize)]
pub(super) struct SavedQuery {
    saved: Option<String>,
}

/// `GET /harbor/account`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PortalError> {
    let me: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/users/current")
        .await?
        .json()?;
    let secret = me["oidc_user_meta"]["secret"].as_str();
    // Only fixed messages, never text from the query.
    let saved = match q.saved.as_deref() {
        Some("profile") => Some("Your profile was saved."),
        Some("password") => Some("Your password was changed."),
        Some("secret") => Some("Your CLI secret was changed."),
        _ => None,
    };
    let body = html! {
        h1 { "Account of " (viewer.name) }
        @if let Some(m) = saved { p.notice role="status" { (m) } }
        form.panel id="profile" method="post" action="/harbor/account" {
            (layout::csrf_field(&viewer.csrf))
            h2 { "User Profile" }
            div.row {
                div {
                    label for="profile-email" { "Email" }
                    input type="text" id="profile-email" name="email" required
                        value=(me["email"].as_str().unwrap_or_default());
                }
                div {
                    label for="profile-realname" { "First and last name" }
                    input type="text" id="profile-realname" name="realname"
                        value=(me["realname"].as_str().unwrap_or_default());
                }
                div {
                    label for="profile-comment" { "Comments" }
                    input type="text" id="profile-comment" name="comment" maxlength="30"
                        value=(me["comment"].as_str().unwrap_or_default());
                }
                button type="submit" { "Save profile" }
            }
        }
        @if secret.is_none() {
            form.panel id="password" method="post" action="/harbor/account/password" {
                (layout::csrf_field(&viewer.csrf))
                h2 { "Change Password" }
                div.row {
                    div {
                        label for="old-password" { "Current password" }
                        input type="password" id="old-password" name="old_password" required
                            autocomplete="current-password";
                    }
                    div {
                        label for="new-password" { "New password" }
                        input type="password" id="new-password" name="new_password" required
                            autocomplete="new-password";
                    }
                    button type="submit" { "Change password" }
                }
            }
        }
        @if let Some(secret) = secret {
            section.panel id="cli-secret" {
                h2 { "CLI secret" }
                p { "Docker and other clients sign in with your username and this secret." }
                details {
                    summary { "Show the secret" }
                    div.pull {
                        label for="cli-secret-value" { "CLI secret" }
                        input.secret.mono type="text" id="cli-secret-value" readonly value=(secret) size="40";
                        button.secondary type="button" data-copy=(secret) hidden { "Copy secret" }
                    }
                }
                form.inline method="post" action="/harbor/account/cli-secret"
                    data-confirm="Generate a new CLI secret? The old one stops working." {
                    (layout::csrf_field(&viewer.csrf))
                    button.secondary type="submit" { "Generate a new secret" }
                }
            }
        }
    };
    Ok(layout::html(layout::page(
        "Account",
        Some(&viewer),
        Nav::Account,
        body,
    )))
}

/// The profile form.
#[derive(Debug, Deserialize)]
pub(super) struct ProfileForm {
    email: String,
    realname: Option<String>,
    comment: Option<String>,
}

/// `POST /harbor/account`.
pub(super) async fn save_profile(
    State(state): State<PortalState>,
    change: Change<ProfileForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/users/{}", change.viewer.id),
            Some(json!({
                "email": f.email.trim(),
                "realname": f.realname.as_deref().unwrap_or_default(),
                "comment": f.comment.as_deref().unwrap_or_default(),
            })),
            "/harbor/account?saved=profile",
        )
        .await
}

/// The password form.
#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    old_password: String,
    new_password: String,
}

/// `POST /harbor/account/password`.
pub(super) async fn change_password(
    State(state): State<PortalState>,
    change: Change<PasswordForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/users/{}/password", change.viewer.id),
            Some(json!({ "old_password": f.old_password, "new_password": f.new_password })),
            "/harbor/account?saved=password",
        )
        .await
}

/// `POST /harbor/account/cli-secret`: a new random CLI secret.
pub(super) async fn new_cli_secret(
    State(state): State<PortalState>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let secret =
        harbor_auth::oidc::random_token(24).map_err(|e| PortalError::internal(e.to_string()))?;
    // Harbor's rule: upper- and lower-case letters and a digit.
    let secret = format!("{secret}Aa1");
    let answer = state
        .api
        .call(
            &change.viewer.call_as,
            Method::PUT,
            &format!("/api/v2.0/users/{}/cli_secret", change.viewer.id),
            Some(json!({ "secret": secret })),
            Some(&change.csrf),
        )
        .await?;
    if answer.status == StatusCode::PRECONDITION_FAILED {
        return Err(PortalError::new(
            StatusCode::PRECONDITION_FAILED,
            "CLI secrets exist only while OIDC is the authentication mode.",
        ));
    }
    answer.ok()?;
    Ok(see_other("/harbor/account?saved=secret"))
}
