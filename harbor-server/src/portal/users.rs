//! Administration: the users (list with search and paging, create, delete,
//! grant or revoke system administration), for system administrators only.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, enc, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Users on a page.
const PAGE_SIZE: u64 = 15;

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    name: Option<String>,
    /// In LDAP mode: the directory users to offer for import (`*`: all).
    ldap: Option<String>,
    /// How many users an import brought in.
    imported: Option<u64>,
}

/// The server's auth mode (`db_auth`, `ldap_auth`, `oidc_auth`), as the
/// configuration has it.
pub(super) async fn auth_mode(state: &PortalState, viewer: &Viewer) -> Result<String, PortalError> {
    let c: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/configurations")
        .await?
        .json()?;
    Ok(c["auth_mode"]["value"]
        .as_str()
        .unwrap_or("db_auth")
        .to_owned())
}

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_only("Only system administrators manage users.")
}

/// `GET /harbor/users`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let name = q.name.unwrap_or_default();
    let mut path = format!("/api/v2.0/users?page={page}&page_size={PAGE_SIZE}");
    if !name.is_empty() {
        path.push_str(&format!("&q={}", enc(&format!("username=~{name}"))));
    }
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let users: Vec<Value> = answer.json()?;
    let link = |n: u64| {
        let mut l = format!("/harbor/users?page={n}");
        if !name.is_empty() {
            l.push_str(&format!("&name={}", enc(&name)));
        }
        l
    };
    let mode = auth_mode(&state, &viewer).await?;
    let ldap_query = q.ldap.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let found: Vec<Value> = match ldap_query.filter(|_| mode == "ldap_auth") {
        Some(who) => {
            let who = if who == "*" { "" } else { who };
            state
                .api
                .get(
                    &viewer.call_as,
                    &format!("/api/v2.0/ldap/users/search?username={}", enc(who)),
                )
                .await?
                .json()?
        }
        None => Vec::new(),
    };
    let body = html! {
        h1 { "Users" }
        @if let Some(n) = q.imported { p.notice role="status" { (n) " LDAP users imported." } }
        @if mode == "ldap_auth" {
            details id="ldap-import" open[ldap_query.is_some()] {
                summary { "Import LDAP users" }
                form.row.panel method="get" action="/harbor/users" role="search" {
                    div {
                        label for="ldap-search" { "Search the directory by login name (* for all)" }
                        input type="search" id="ldap-search" name="ldap" value=(ldap_query.unwrap_or_default()) required;
                    }
                    button.secondary type="submit" { "Search" }
                }
                @if ldap_query.is_some() {
                    form.panel id="ldap-import-form" method="post" action="/harbor/users/ldap-import" {
                        (layout::csrf_field(&viewer.csrf))
                        table id="ldap-users" {
                            thead { tr {
                                th scope="col" { "Import" }
                                th scope="col" { "Username" }
                                th scope="col" { "Full name" }
                                th scope="col" { "Email" }
                            } }
                            tbody {
                                @for u in &found {
                                    @let uname = u["username"].as_str().unwrap_or_default();
                                    tr {
                                        td { input type="checkbox" name="uid" value=(uname) aria-label=(format!("Import {uname}")); }
                                        td.ldap-user-name { (uname) }
                                        td { (u["realname"].as_str().unwrap_or_default()) }
                                        td { (u["email"].as_str().unwrap_or_default()) }
                                    }
                                }
                                @if found.is_empty() {
                                    tr { td colspan="4" { "No directory user matches." } }
                                }
                            }
                        }
                        @if !found.is_empty() { button type="submit" { "Import" } }
                    }
                }
            }
        }
        @if mode == "db_auth" {
        details {
            summary { "New User" }
            form.panel id="new-user" method="post" action="/harbor/users" {
                (layout::csrf_field(&viewer.csrf))
                div.row {
                    div {
                        label for="username" { "Username" }
                        input type="text" id="username" name="username" required maxlength="255"
                            autocomplete="off";
                    }
                    div {
                        label for="email" { "Email" }
                        input type="text" id="email" name="email" required autocomplete="off";
                    }
                    div {
                        label for="realname" { "First and last name" }
                        input type="text" id="realname" name="realname" autocomplete="off";
                    }
                    div {
                        label for="new-password" { "Password" }
                        input type="password" id="new-password" name="password" required
                            autocomplete="new-password";
                    }
                    div {
                        label for="comment" { "Comments" }
                        input type="text" id="comment" name="comment" autocomplete="off";
                    }
                    button type="submit" { "OK" }
                }
                p.muted { "Passwords need 8 to 128 characters with an upper-case letter, a lower-case letter and a digit." }
            }
        }
        }
        form.row role="search" method="get" action="/harbor/users" {
            label for="user-search" { "Search users by name" }
            input type="search" id="user-search" name="name" value=(name);
            " "
            button.secondary type="submit" { "Search" }
        }
        table id="users" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Administrator" }
                th scope="col" { "Email" }
                th scope="col" { "Full name" }
                th scope="col" { "Registration time" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for u in &users {
                    @let uid = u["user_id"].as_i64().unwrap_or_default();
                    @let uname = u["username"].as_str().unwrap_or_default();
                    @let admin = u["sysadmin_flag"].as_bool().unwrap_or(false);
                    tr {
                        td.user-name { (uname) }
                        td { @if admin { "Yes" } @else { "No" } }
                        td { (u["email"].as_str().unwrap_or_default()) }
                        td { (u["realname"].as_str().unwrap_or_default()) }
                        td { (layout::when(u["creation_time"].as_str().unwrap_or_default())) }
                        td {
                            // Nobody changes or deletes themselves, nor the first admin.
                            @if uid != viewer.id && uid != 1 {
                                form.inline method="post" action=(format!("/harbor/users/{uid}/sysadmin")) {
                                    (layout::csrf_field(&viewer.csrf))
                                    input type="hidden" name="sysadmin" value=(if admin { "false" } else { "true" });
                                    button.secondary type="submit"
                                        aria-label=(if admin { format!("Revoke admin: {uname}") } else { format!("Set as admin: {uname}") }) {
                                        @if admin { "Revoke admin" } @else { "Set as admin" }
                                    }
                                }
                                " "
                                (layout::post_button(
                                    &format!("/harbor/users/{uid}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete user {uname}"),
                                    &format!("Delete user {uname}?"),
                                ))
                            }
                        }
                    }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
    };
    Ok(layout::html(layout::page(
        "Users",
        Some(&viewer),
        Nav::Users,
        body,
    )))
}

/// The create form.
#[derive(Debug, Deserialize)]
pub(super) struct CreateForm {
    username: String,
    email: String,
    realname: Option<String>,
    password: String,
    comment: Option<String>,
}

/// `POST /harbor/users`.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<CreateForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let f = &change.form;
    let body = json!({
        "username": f.username.trim(),
        "email": f.email.trim(),
        "realname": f.realname.as_deref().unwrap_or_default(),
        "password": f.password,
        "comment": f.comment.as_deref().unwrap_or_default(),
    });
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/users",
            Some(body),
            "/harbor/users",
        )
        .await
}

/// The administrator form.
#[derive(Debug, Deserialize)]
pub(super) struct SysadminForm {
    sysadmin: String,
}

/// `POST /harbor/users/{id}/sysadmin`.
pub(super) async fn sysadmin(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<SysadminForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/users/{id}/sysadmin"),
            Some(json!({ "sysadmin_flag": change.form.sysadmin == "true" })),
            "/harbor/users",
        )
        .await
}

/// `POST /harbor/users/{id}/delete`.
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
            &format!("/api/v2.0/users/{id}"),
            None,
            "/harbor/users",
        )
        .await
}

/// `POST /harbor/users/ldap-import`: the directory users checked, onboarded
/// as their first login would; those that could not be, and why.
pub(super) async fn ldap_import(
    State(state): State<PortalState>,
    change: Change<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let uids: Vec<&str> = change
        .form
        .iter()
        .filter(|(k, v)| k == "uid" && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
        .collect();
    if uids.is_empty() {
        return Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "choose the directory users to import",
        ));
    }
    let answer = state
        .api
        .call(
            &change.viewer.call_as,
            Method::POST,
            "/api/v2.0/ldap/users/import",
            Some(json!({ "ldap_uid_list": uids })),
            Some(&change.csrf),
        )
        .await?;
    if answer.status == StatusCode::NOT_FOUND {
        if let Ok(failed) = answer.json::<Vec<Value>>() {
            let reasons: Vec<String> = failed
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f["uid"].as_str().unwrap_or_default(),
                        f["error"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            return Err(PortalError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{} of {} users were not imported: {}",
                    failed.len(),
                    uids.len(),
                    reasons.join("; ")
                ),
            ));
        }
    }
    answer.ok()?;
    Ok(see_other(&format!("/harbor/users?imported={}", uids.len())))
}
