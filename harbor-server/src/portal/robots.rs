//! A project's robot accounts: the list, creating one (its secret shown
//! once, with a copy button), and deleting one, where the viewer's role
//! allows.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, enc, Paging};
use super::projects::{Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Robots on a page.
const PAGE_SIZE: u64 = 15;

/// What a robot may be granted here: (resource, action, what it means).
const GRANTS: [(&str, &str, &str); 5] = [
    ("repository", "pull", "Pull"),
    ("repository", "push", "Push"),
    ("artifact", "delete", "Delete artifacts"),
    ("tag", "create", "Create tags"),
    ("artifact-label", "create", "Add labels"),
];

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// The panel showing a robot's new secret, this once, with a copy button.
pub(super) fn secret_panel(heading: &str, secret: &str) -> Markup {
    html! {
        section.panel id="new-robot-secret" role="status" {
            h2 { (heading) }
            p { "Copy its secret now: it is not shown again." }
            div.pull {
                label for="robot-secret" { "Secret" }
                input.secret.mono type="text" id="robot-secret" readonly value=(secret) size="40";
                button.secondary type="button" data-copy=(secret) hidden { "Copy secret" }
            }
        }
    }
}

/// "never" or the date a robot expires (`expires_at`, seconds; -1 never).
pub(super) fn expiry(expires_at: i64) -> String {
    if expires_at < 0 {
        return "never".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires_at.unsigned_abs());
    layout::when(&humantime::format_rfc3339_seconds(t).to_string())
}

/// The list and, after creating one, its secret.
async fn robots_page(
    state: &PortalState,
    viewer: &Viewer,
    frame: &Frame,
    page: u64,
    created: Option<&Value>,
) -> Result<Response, PortalError> {
    let id = frame.id;
    let path = format!(
        "/api/v2.0/robots?page={page}&page_size={PAGE_SIZE}&q={}",
        enc(&format!("Level=project,ProjectID={id}"))
    );
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let robots: Vec<Value> = answer.json()?;
    let base = format!("/harbor/projects/{id}/robot-account");
    let can_create = frame.perms.can("robot", "create");
    let can_delete = frame.perms.can("robot", "delete");
    let body = html! {
        @if let Some(c) = created {
            (secret_panel(
                &format!("Robot account {} created", c["name"].as_str().unwrap_or_default()),
                c["secret"].as_str().unwrap_or_default(),
            ))
        }
        @if can_create {
            (create_form(&base, &viewer.csrf))
        }
        table id="robots" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Permissions" }
                th scope="col" { "Expires" }
                th scope="col" { "Description" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &robots {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let name = r["name"].as_str().unwrap_or_default();
                    tr {
                        td.robot-name { (name) }
                        td { @if r["disable"].as_bool().unwrap_or(false) { "Disabled" } @else { "Enabled" } }
                        td {
                            @for p in r["permissions"].as_array().into_iter().flatten() {
                                @for a in p["access"].as_array().into_iter().flatten() {
                                    span.tag { (a["resource"].as_str().unwrap_or_default()) ":" (a["action"].as_str().unwrap_or_default()) }
                                }
                            }
                        }
                        td { (expiry(r["expires_at"].as_i64().unwrap_or(-1))) }
                        td { (r["description"].as_str().unwrap_or_default()) }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/{rid}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete robot account {name}"),
                                    &format!("Delete robot account {name}? Clients using it stop working."),
                                ))
                            }
                        }
                    }
                }
                @if robots.is_empty() {
                    tr { td colspan="6" { "No robot accounts." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{base}?page={n}")))
    };
    Ok(frame.render(viewer, Tab::Robots, body))
}

fn create_form(base: &str, csrf: &str) -> Markup {
    html! {
        details {
            summary { "New Robot Account" }
            form.panel id="new-robot" method="post" action=(base) {
                (layout::csrf_field(csrf))
                div.row {
                    div {
                        label for="robot-name" { "Name" }
                        input type="text" id="robot-name" name="name" required maxlength="255"
                            pattern="[a-z0-9]+(?:[._\\-][a-z0-9]+)*";
                    }
                    div {
                        label for="robot-days" { "Expiration (days, -1 never)" }
                        input type="number" id="robot-days" name="duration" value="30" min="-1";
                    }
                    div {
                        label for="robot-description" { "Description" }
                        input type="text" id="robot-description" name="description";
                    }
                }
                fieldset {
                    legend { "Permissions" }
                    @for (resource, action, what) in GRANTS {
                        @let field = format!("{resource}:{action}");
                        label.check {
                            input type="checkbox" name="grant" value=(field)
                                checked[action == "pull"];
                            (what)
                        }
                        " "
                    }
                }
                button type="submit" { "Add" }
            }
        }
    }
}

/// `GET /harbor/projects/{id}/robot-account`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let page = layout::page_number(q.page.as_deref());
    robots_page(&state, &viewer, &frame, page, None).await
}

/// `POST /harbor/projects/{id}/robot-account`: creates one and shows its
/// secret, this once.
pub(super) async fn create(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    let field = |k: &str| {
        change
            .form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let duration: i64 = field("duration").parse().map_err(|_| {
        PortalError::new(
            StatusCode::BAD_REQUEST,
            "the expiration must be a number of days",
        )
    })?;
    let access: Vec<Value> = change
        .form
        .iter()
        .filter(|(k, _)| k == "grant")
        .filter_map(|(_, v)| v.split_once(':'))
        .filter(|(r, a)| GRANTS.iter().any(|(gr, ga, _)| gr == r && ga == a))
        .map(|(resource, action)| json!({ "resource": resource, "action": action }))
        .collect();
    if access.is_empty() {
        return Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "give the robot account at least one permission",
        ));
    }
    let body = json!({
        "name": field("name"),
        "description": field("description"),
        "duration": duration,
        "level": "project",
        "permissions": [{ "kind": "project", "namespace": frame.name, "access": access }],
    });
    let created: Value = change
        .send(&state.api, Method::POST, "/api/v2.0/robots", Some(body))
        .await?
        .json()?;
    robots_page(&state, &change.viewer, &frame, 1, Some(&created)).await
}

/// `POST /harbor/projects/{id}/robot-account/{rid}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path((id, rid)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/robots/{rid}"),
            None,
            &format!("/harbor/projects/{id}/robot-account"),
        )
        .await
}
