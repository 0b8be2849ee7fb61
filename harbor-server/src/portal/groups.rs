//! Administration: user groups (HTTP, OIDC and LDAP groups that project
//! memberships can name): the list, creating one, deleting one. System
//! administrators only.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Groups on a page.
const PAGE_SIZE: u64 = 15;

/// Harbor's group types.
fn type_name(t: i64) -> &'static str {
    match t {
        1 => "LDAP",
        2 => "HTTP",
        3 => "OIDC",
        _ => "-",
    }
}

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_only("Only system administrators manage groups.")
}

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// `GET /harbor/groups`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/usergroups?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let groups: Vec<Value> = answer.json()?;
    let mode = super::users::auth_mode(&state, &viewer).await?;
    let body = html! {
        h1 { "Groups" }
        @if mode == "ldap_auth" {
            details id="ldap-group-import" {
                summary { "Import LDAP group" }
                form.panel id="import-group" method="post" action="/harbor/groups/ldap-import" {
                    (layout::csrf_field(&viewer.csrf))
                    div.row {
                        div {
                            label for="group-dn" { "LDAP Group DN" }
                            input type="text" id="group-dn" name="ldap_group_dn" required;
                        }
                        div {
                            label for="import-group-name" { "Name (empty: the directory's)" }
                            input type="text" id="import-group-name" name="group_name" maxlength="255";
                        }
                        button type="submit" { "Import" }
                    }
                }
            }
        }
        details {
            summary { "New Group" }
            form.panel id="new-group" method="post" action="/harbor/groups" {
                (layout::csrf_field(&viewer.csrf))
                div.row {
                    div {
                        label for="group-name" { "Name" }
                        input type="text" id="group-name" name="group_name" required maxlength="255";
                    }
                    div {
                        label for="group-type" { "Type" }
                        select id="group-type" name="group_type" {
                            option value="2" { "HTTP" }
                            option value="3" { "OIDC" }
                        }
                    }
                    button type="submit" { "OK" }
                }
            }
        }
        table id="groups" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Type" }
                th scope="col" { "LDAP DN" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for g in &groups {
                    @let gid = g["id"].as_i64().unwrap_or_default();
                    @let name = g["group_name"].as_str().unwrap_or_default();
                    tr {
                        td.group-name { (name) }
                        td { (type_name(g["group_type"].as_i64().unwrap_or_default())) }
                        td { (g["ldap_group_dn"].as_str().unwrap_or_default()) }
                        td {
                            (layout::post_button(
                                &format!("/harbor/groups/{gid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete group {name}"),
                                &format!("Delete group {name}? Its project memberships go with it."),
                            ))
                        }
                    }
                }
                @if groups.is_empty() {
                    tr { td colspan="4" { "No groups." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/groups?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Groups",
        Some(&viewer),
        Nav::Groups,
        body,
    )))
}

/// The create form.
#[derive(Debug, Deserialize)]
pub(super) struct GroupForm {
    group_name: String,
    group_type: i64,
}

/// `POST /harbor/groups`.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<GroupForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let f = &change.form;
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/usergroups",
            Some(json!({ "group_name": f.group_name.trim(), "group_type": f.group_type })),
            "/harbor/groups",
        )
        .await
}

/// `POST /harbor/groups/{id}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/usergroups/{id}"),
            None,
            "/harbor/groups",
        )
        .await
}

/// The LDAP import form.
#[derive(Debug, Deserialize)]
pub(super) struct ImportForm {
    ldap_group_dn: String,
    group_name: Option<String>,
}

/// `POST /harbor/groups/ldap-import`: the directory's group at that DN
/// (404 when there is none), added as an LDAP group.
pub(super) async fn ldap_import(
    State(state): State<PortalState>,
    change: Change<ImportForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let dn = change.form.ldap_group_dn.trim();
    if dn.is_empty() {
        return Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "give the group's DN",
        ));
    }
    let found: Vec<Value> = state
        .api
        .get(
            &change.viewer.call_as,
            &format!("/api/v2.0/ldap/groups/search?groupdn={}", layout::enc(dn)),
        )
        .await?
        .json()?;
    let group = found
        .first()
        .ok_or_else(|| PortalError::new(StatusCode::NOT_FOUND, format!("no LDAP group at {dn}")))?;
    let name = change
        .form
        .group_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(group["group_name"].as_str())
        .unwrap_or_default()
        .to_owned();
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/usergroups",
            Some(json!({
                "group_name": name,
                "group_type": 1,
                "ldap_group_dn": group["ldap_group_dn"],
            })),
            "/harbor/groups",
        )
        .await
}
