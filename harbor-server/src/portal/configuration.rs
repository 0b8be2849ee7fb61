//! Administration: the configuration. Authentication mode, and the system
//! settings (who may create projects, the default project quota, token and
//! robot lifetimes, webhooks on or off, read-only mode), as
//! `/api/v2.0/configurations` has them. System administrators only.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::PortalError;
use super::layout::{self, Nav};
use super::viewer::{Change, Viewer};
use super::PortalState;

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    if viewer.sysadmin {
        Ok(())
    } else {
        Err(PortalError::new(
            StatusCode::FORBIDDEN,
            "Only system administrators change the configuration.",
        ))
    }
}

/// `saved=` after a change.
#[derive(Debug, Deserialize)]
pub(super) struct SavedQuery {
    saved: Option<String>,
}

/// `GET /harbor/configs`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let c: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/configurations")
        .await?
        .json()?;
    let value = |k: &str| c[k]["value"].clone();
    let editable = |k: &str| c[k]["editable"].as_bool().unwrap_or(false);
    let auth_mode = value("auth_mode").as_str().unwrap_or("db_auth").to_owned();
    let restriction = value("project_creation_restriction")
        .as_str()
        .unwrap_or("everyone")
        .to_owned();
    let quota = value("storage_per_project").as_i64().unwrap_or(-1);
    let quota_gib = if quota < 0 { -1 } else { quota >> 30 };
    let body = html! {
        h1 { "Configuration" }
        @if q.saved.is_some() { p.notice role="status" { "The configuration was saved." } }
        form.panel id="configuration" method="post" action="/harbor/configs" {
            (layout::csrf_field(&viewer.csrf))
            h2 { "Authentication" }
            div.row {
                div {
                    label for="auth_mode" { "Auth Mode" }
                    select id="auth_mode" name="auth_mode" disabled[!editable("auth_mode")] {
                        @for (v, label) in [("db_auth", "Database"), ("oidc_auth", "OIDC")] {
                            option value=(v) selected[auth_mode == v] { (label) }
                        }
                    }
                    @if !editable("auth_mode") {
                        p.muted { "Fixed once users other than admin exist." }
                    }
                }
            }
            h2 { "System Settings" }
            div.row {
                div {
                    label for="project_creation_restriction" { "Project Creation" }
                    select id="project_creation_restriction" name="project_creation_restriction" {
                        @for (v, label) in [("everyone", "Everyone"), ("adminonly", "Admin Only")] {
                            option value=(v) selected[restriction == v] { (label) }
                        }
                    }
                }
                div {
                    label for="storage_per_project" { "Default quota per project (GiB, -1 unlimited)" }
                    input type="number" id="storage_per_project" name="storage_per_project" min="-1"
                        value=(quota_gib);
                }
                div {
                    label for="token_expiration" { "Token expiration (minutes)" }
                    input type="number" id="token_expiration" name="token_expiration" min="1"
                        value=(value("token_expiration").as_i64().unwrap_or(30));
                }
                div {
                    label for="robot_token_duration" { "Robot token expiration (days)" }
                    input type="number" id="robot_token_duration" name="robot_token_duration" min="1"
                        value=(value("robot_token_duration").as_i64().unwrap_or(30));
                }
            }
            div.row {
                label.check {
                    input type="checkbox" name="notification_enable" value="true"
                        checked[value("notification_enable").as_bool().unwrap_or(true)];
                    "Webhooks enabled"
                }
                label.check {
                    input type="checkbox" id="read_only" name="read_only" value="true"
                        checked[value("read_only").as_bool().unwrap_or(false)];
                    "Repository read only (pushes and deletes refused)"
                }
            }
            button type="submit" { "Save" }
        }
    };
    Ok(layout::html(layout::page(
        "Configuration",
        Some(&viewer),
        Nav::Configuration,
        body,
    )))
}

/// The form.
#[derive(Debug, Deserialize)]
pub(super) struct ConfigForm {
    auth_mode: Option<String>,
    project_creation_restriction: String,
    storage_per_project: String,
    token_expiration: String,
    robot_token_duration: String,
    notification_enable: Option<String>,
    read_only: Option<String>,
}

fn number(name: &str, v: &str) -> Result<i64, PortalError> {
    v.trim().parse().map_err(|_| {
        PortalError::new(
            StatusCode::BAD_REQUEST,
            format!("{name} must be a whole number"),
        )
    })
}

/// `POST /harbor/configs`.
pub(super) async fn save(
    State(state): State<PortalState>,
    change: Change<ConfigForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let f = &change.form;
    let gib = number("The default quota", &f.storage_per_project)?;
    let bytes = if gib < 0 {
        -1
    } else {
        gib.checked_mul(1 << 30).ok_or_else(|| {
            PortalError::new(StatusCode::BAD_REQUEST, "the default quota is too large")
        })?
    };
    let mut body = Map::new();
    if let Some(mode) = &f.auth_mode {
        body.insert("auth_mode".into(), json!(mode));
    }
    body.insert(
        "project_creation_restriction".into(),
        json!(f.project_creation_restriction),
    );
    body.insert("storage_per_project".into(), json!(bytes));
    body.insert(
        "token_expiration".into(),
        json!(number("The token expiration", &f.token_expiration)?),
    );
    body.insert(
        "robot_token_duration".into(),
        json!(number(
            "The robot token expiration",
            &f.robot_token_duration
        )?),
    );
    body.insert(
        "notification_enable".into(),
        json!(f.notification_enable.is_some()),
    );
    body.insert("read_only".into(), json!(f.read_only.is_some()));
    change
        .forward(
            &state.api,
            Method::PUT,
            "/api/v2.0/configurations",
            Some(Value::Object(body)),
            "/harbor/configs?saved=1",
        )
        .await
}
