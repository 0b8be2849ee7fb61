//! Administration: system robot accounts (Harbor's Administration →
//! Robot Accounts). The list (paged, searched by name), creating one with
//! its access to chosen projects or all of them and its system permissions
//! (its secret shown once,
//! with a copy button), enabling and disabling, refreshing the secret,
//! editing (description, expiration, permissions) and deleting.
//! System administrators only.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::fields::{field, Fields};
use super::layout::{self, enc, Nav, Paging};
use super::robots::{expiry, secret_panel};
use super::viewer::{Change, Viewer};
use super::PortalState;

mod form;

use form::{duration, expiration_fields, permission_fields, permissions};
pub(super) use form::{edit, edit_page};

/// Robots on a page.
const PAGE_SIZE: u64 = 15;

/// Where the pages live.
const BASE: &str = "/harbor/robot-accounts";

/// The project access a system robot may be given, as Harbor's robot
/// permission list names it: (resource, action, what it means).
pub(super) const GRANTS: [(&str, &str, &str); 13] = [
    ("repository", "pull", "Pull repository"),
    ("repository", "push", "Push repository"),
    ("repository", "list", "List repository"),
    ("repository", "delete", "Delete repository"),
    ("artifact", "read", "Read artifact"),
    ("artifact", "list", "List artifact"),
    ("artifact", "delete", "Delete artifact"),
    ("tag", "create", "Create tag"),
    ("tag", "list", "List tag"),
    ("tag", "delete", "Delete tag"),
    ("artifact-label", "create", "Create artifact label"),
    ("artifact-label", "delete", "Delete artifact label"),
    ("project", "read", "Read project"),
];

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_only("Only system administrators manage system robot accounts.")
}

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    name: Option<String>,
}

/// What a page shows once after a change: a new secret.
struct Shown<'a> {
    heading: String,
    secret: &'a str,
}

/// The projects the form offers (the first hundred, by name).
async fn project_names(state: &PortalState, viewer: &Viewer) -> Result<Vec<String>, PortalError> {
    let projects: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/projects?page_size=100")
        .await?
        .json()?;
    Ok(projects
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

/// "All projects" or the projects a robot's permissions name, each with
/// its access.
fn permissions_cell(r: &Value) -> Markup {
    html! {
        @for p in r["permissions"].as_array().into_iter().flatten() {
            @let ns = p["namespace"].as_str().unwrap_or_default();
            div.robot-permission {
                strong {
                    @if p["kind"] == "system" { "System" }
                    @else if ns == "*" { "All projects" }
                    @else { (ns) }
                } ": "
                @for a in p["access"].as_array().into_iter().flatten() {
                    span.tag { (a["resource"].as_str().unwrap_or_default()) ":" (a["action"].as_str().unwrap_or_default()) }
                    " "
                }
            }
        }
    }
}

async fn list_page(
    state: &PortalState,
    viewer: &Viewer,
    page: u64,
    name: &str,
    shown: Option<Shown<'_>>,
) -> Result<Response, PortalError> {
    let mut q = "Level=system".to_owned();
    if !name.is_empty() {
        q.push_str(&format!(",name=~{name}"));
    }
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/robots?page={page}&page_size={PAGE_SIZE}&q={}",
                enc(&q)
            ),
        )
        .await?;
    let total = answer.total();
    let robots: Vec<Value> = answer.json()?;
    let projects = project_names(state, viewer).await?;
    let body = html! {
        h1 { "Robot Accounts" }
        @if let Some(s) = &shown {
            (secret_panel(&s.heading, s.secret))
        }
        details {
            summary { "New Robot Account" }
            form.panel id="new-robot" method="post" action=(BASE) {
                (layout::csrf_field(&viewer.csrf))
                div.row {
                    div {
                        label for="robot-name" { "Name" }
                        input type="text" id="robot-name" name="name" required maxlength="255"
                            pattern="[a-z0-9]+(?:[._\\-][a-z0-9]+)*";
                    }
                    div {
                        label for="robot-description" { "Description" }
                        input type="text" id="robot-description" name="description";
                    }
                }
                (expiration_fields(30, false))
                (permission_fields(&projects, &[], &[("repository", "pull")], false, &[]))
                button type="submit" { "Add" }
            }
        }
        form.row id="robot-search" method="get" action=(BASE) role="search" {
            div {
                label for="robot-filter" { "Name" }
                input type="search" id="robot-filter" name="name" value=(name);
            }
            button.secondary type="submit" { "Search" }
        }
        table id="robots" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Permissions" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Expires" }
                th scope="col" { "Description" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &robots {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let rname = r["name"].as_str().unwrap_or_default();
                    @let disabled = r["disable"].as_bool().unwrap_or(false);
                    tr {
                        td.robot-name { (rname) }
                        td.robot-status { @if disabled { "Disabled" } @else { "Enabled" } }
                        td { (permissions_cell(r)) }
                        td { (layout::when(r["creation_time"].as_str().unwrap_or_default())) }
                        td { (expiry(r["expires_at"].as_i64().unwrap_or(-1))) }
                        td.robot-description { (r["description"].as_str().unwrap_or_default()) }
                        td {
                            a.button.secondary href=(format!("{BASE}/{rid}/edit"))
                                aria-label=(format!("Edit robot account {rname}")) { "Edit" }
                            " "
                            form.inline method="post" action=(format!("{BASE}/{rid}/disable")) {
                                (layout::csrf_field(&viewer.csrf))
                                input type="hidden" name="disable" value=(!disabled);
                                button.secondary type="submit"
                                    aria-label=(format!("{} robot account {rname}", if disabled { "Enable" } else { "Disable" })) {
                                    @if disabled { "Enable" } @else { "Disable" }
                                }
                            }
                            " "
                            details.inline {
                                summary aria-label=(format!("Refresh Secret: robot account {rname}")) { "Refresh Secret" }
                                form.panel method="post" action=(format!("{BASE}/{rid}/refresh")) {
                                    (layout::csrf_field(&viewer.csrf))
                                    label for=(format!("robot-{rid}-secret")) { "New secret (empty: generate one)" }
                                    input type="password" id=(format!("robot-{rid}-secret")) name="secret" autocomplete="new-password";
                                    button type="submit" { "Refresh" }
                                }
                            }
                            " "
                            (layout::post_button(
                                &format!("{BASE}/{rid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete robot account {rname}"),
                                &format!("Delete robot account {rname}? Clients using it stop working."),
                            ))
                        }
                    }
                }
                @if robots.is_empty() {
                    tr { td colspan="7" { "No robot accounts." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{BASE}?page={n}&name={}", enc(name))))
    };
    Ok(layout::html(layout::page(
        "Robot Accounts",
        Some(viewer),
        Nav::Robots,
        body,
    )))
}

/// `GET /harbor/robot-accounts`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let name = q.name.as_deref().unwrap_or_default().trim().to_owned();
    list_page(&state, &viewer, page, &name, None).await
}

/// `POST /harbor/robot-accounts`: creates one and shows its secret, this
/// once.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let form = &change.form;
    let body = json!({
        "name": field(form, "name"),
        "description": field(form, "description"),
        "duration": duration(form)?,
        "level": "system",
        "permissions": permissions(form)?,
    });
    let created: Value = change
        .send(&state.api, Method::POST, "/api/v2.0/robots", Some(body))
        .await?
        .json()?;
    let shown = Shown {
        heading: format!(
            "Robot account {} created",
            created["name"].as_str().unwrap_or_default()
        ),
        secret: created["secret"].as_str().unwrap_or_default(),
    };
    list_page(&state, &change.viewer, 1, "", Some(shown)).await
}

/// The enable/disable form.
#[derive(Debug, Deserialize)]
pub(super) struct DisableForm {
    disable: String,
}

/// `POST /harbor/robot-accounts/{rid}/disable`.
pub(super) async fn disable(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<DisableForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let disable = match change.form.disable.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PortalError::bad_request("disable is true or false")),
    };
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/robots/{rid}"),
            Some(json!({ "disable": disable })),
            BASE,
        )
        .await
}

/// The refresh form.
#[derive(Debug, Deserialize)]
pub(super) struct RefreshForm {
    secret: Option<String>,
}

/// `POST /harbor/robot-accounts/{rid}/refresh`: a new secret, the one
/// given or one generated (shown this once).
pub(super) async fn refresh(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<RefreshForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let given = change.form.secret.clone().filter(|s| !s.is_empty());
    let body = match &given {
        Some(s) => json!({ "secret": s }),
        None => json!({}),
    };
    let answer: Value = change
        .send(
            &state.api,
            Method::PATCH,
            &format!("/api/v2.0/robots/{rid}"),
            Some(body),
        )
        .await?
        .json()?;
    if given.is_some() {
        return Ok(see_other(BASE));
    }
    let r: Value = state
        .api
        .get(&change.viewer.call_as, &format!("/api/v2.0/robots/{rid}"))
        .await?
        .json()?;
    let shown = Shown {
        heading: format!(
            "New secret of robot account {}",
            r["name"].as_str().unwrap_or_default()
        ),
        secret: answer["secret"].as_str().unwrap_or_default(),
    };
    list_page(&state, &change.viewer, 1, "", Some(shown)).await
}

/// `POST /harbor/robot-accounts/{rid}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/robots/{rid}"),
            None,
            BASE,
        )
        .await
}
