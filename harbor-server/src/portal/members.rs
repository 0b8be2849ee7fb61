//! A project's members: users and groups with their roles; adding one,
//! changing a role and removing one where the viewer's role allows.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, enc, Paging};
use super::projects::{role_name, Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Members on a page.
const PAGE_SIZE: u64 = 15;

/// The roles a member can have, in Harbor's order of power.
const ROLES: [i64; 5] = [1, 4, 2, 3, 5];

fn role_select(id: &str, selected: i64) -> Markup {
    html! {
        select id=(id) name="role_id" {
            @for r in ROLES {
                option value=(r) selected[r == selected] { (role_name(r)) }
            }
        }
    }
}

/// `GET /harbor/projects/{id}/members`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<layout::PageQuery>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let page = layout::page_number(q.page.as_deref());
    let path = format!(
        "/api/v2.0/projects/{}/members?page={page}&page_size={PAGE_SIZE}",
        enc(&frame.name)
    );
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let members: Vec<Value> = answer.json()?;
    let can_add = frame.perms.can("member", "create");
    let can_change = frame.perms.can("member", "update");
    let can_remove = frame.perms.can("member", "delete");
    let base = format!("/harbor/projects/{id}/members");
    let body = html! {
        @if can_add {
            details {
                summary { "Add a member" }
                form.panel id="add-user" method="post" action=(base) {
                    (layout::csrf_field(&viewer.csrf))
                    input type="hidden" name="kind" value="user";
                    div.row {
                        div {
                            label for="member-name" { "User name" }
                            input type="text" id="member-name" name="name" required;
                        }
                        div {
                            label for="member-role" { "Role" }
                            (role_select("member-role", 2))
                        }
                        button type="submit" { "Add user" }
                    }
                }
                form.panel id="add-group" method="post" action=(base) {
                    (layout::csrf_field(&viewer.csrf))
                    input type="hidden" name="kind" value="group";
                    div.row {
                        div {
                            label for="group-name" { "Group name" }
                            input type="text" id="group-name" name="name" required;
                        }
                        div {
                            label for="group-type" { "Group type" }
                            select id="group-type" name="group_type" {
                                option value="2" { "HTTP" }
                                option value="3" { "OIDC" }
                            }
                        }
                        div {
                            label for="group-role" { "Role" }
                            (role_select("group-role", 2))
                        }
                        button type="submit" { "Add group" }
                    }
                }
            }
        }
        table id="members" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Member Type" }
                th scope="col" { "Role" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for m in &members {
                    @let mid = m["id"].as_i64().unwrap_or_default();
                    @let name = m["entity_name"].as_str().unwrap_or_default();
                    @let role = m["role_id"].as_i64().unwrap_or_default();
                    @let self_row = m["entity_type"] == "u" && m["entity_id"].as_i64() == Some(viewer.id);
                    tr {
                        td.member-name { (name) }
                        td { @if m["entity_type"] == "g" { "Group" } @else { "User" } }
                        td {
                            @if can_change && !self_row {
                                form.inline method="post" action=(format!("{base}/{mid}")) {
                                    (layout::csrf_field(&viewer.csrf))
                                    label.check for=(format!("role-{mid}")) {
                                        span.muted { "Role of " (name) }
                                        (role_select(&format!("role-{mid}"), role))
                                    }
                                    " "
                                    button.secondary type="submit" { "Change role" }
                                }
                            } @else {
                                (role_name(role))
                            }
                        }
                        td {
                            @if can_remove && !self_row {
                                (layout::post_button(
                                    &format!("{base}/{mid}/delete"),
                                    &viewer.csrf,
                                    "Remove",
                                    &format!("Remove member {name}"),
                                    &format!("Remove {name} from the project?"),
                                ))
                            }
                        }
                    }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{base}?page={n}")))
    };
    Ok(frame.render(&viewer, Tab::Members, body))
}

/// The add form.
#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    kind: String,
    name: String,
    role_id: i64,
    group_type: Option<i64>,
}

/// `POST /harbor/projects/{id}/members`.
pub(super) async fn add(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<AddForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    let body = match f.kind.as_str() {
        "user" => json!({ "role_id": f.role_id, "member_user": { "username": f.name.trim() } }),
        "group" => json!({
            "role_id": f.role_id,
            "member_group": { "group_name": f.name.trim(), "group_type": f.group_type.unwrap_or(2) },
        }),
        _ => {
            return Err(PortalError::new(
                StatusCode::BAD_REQUEST,
                "kind must be user or group",
            ))
        }
    };
    change
        .forward(
            &state.api,
            Method::POST,
            &format!("/api/v2.0/projects/{id}/members"),
            Some(body),
            &format!("/harbor/projects/{id}/members"),
        )
        .await
}

/// The change-role form.
#[derive(Debug, Deserialize)]
pub(super) struct RoleForm {
    role_id: i64,
}

/// `POST /harbor/projects/{id}/members/{mid}`: a new role.
pub(super) async fn change(
    State(state): State<PortalState>,
    Path((id, mid)): Path<(i64, i64)>,
    change: Change<RoleForm>,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/projects/{id}/members/{mid}"),
            Some(json!({ "role_id": change.form.role_id })),
            &format!("/harbor/projects/{id}/members"),
        )
        .await
}

/// `POST /harbor/projects/{id}/members/{mid}/delete`.
pub(super) async fn remove(
    State(state): State<PortalState>,
    Path((id, mid)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/projects/{id}/members/{mid}"),
            None,
            &format!("/harbor/projects/{id}/members"),
        )
        .await
}
