//! Audit logs: a project's (its members with the right to read them) and
//! the whole system's (system administrators), paged, filtered by user
//! name.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::error::PortalError;
use super::layout::{self, enc, Nav, Paging};
use super::projects::{Frame, Tab};
use super::viewer::Viewer;
use super::PortalState;

/// Entries on a page.
const PAGE_SIZE: u64 = 15;

/// The query of a log.
#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    page: Option<String>,
    username: Option<String>,
}

/// The API path of `api` with the page and the user filter, and the page
/// link of the portal's `base`.
fn paths(api: &str, base: &str, page: u64, username: &str) -> (String, impl Fn(u64) -> String) {
    let mut path = format!("{api}?page={page}&page_size={PAGE_SIZE}");
    let filter = if username.is_empty() {
        String::new()
    } else {
        format!("&username={}", enc(username))
    };
    if !username.is_empty() {
        path.push_str(&format!("&q={}", enc(&format!("username={username}"))));
    }
    let base = base.to_owned();
    (path, move |n| format!("{base}?page={n}{filter}"))
}

fn log_table(base: &str, username: &str, entries: &[Value]) -> Markup {
    html! {
        form.row role="search" method="get" action=(base) {
            label for="log-user" { "Filter by user name (exact)" }
            input type="search" id="log-user" name="username" value=(username);
            " "
            button.secondary type="submit" { "Search" }
        }
        table id="audit-log" {
            thead { tr {
                th scope="col" { "Username" }
                th scope="col" { "Resource" }
                th scope="col" { "Resource Type" }
                th scope="col" { "Operation" }
                th scope="col" { "Timestamp" }
            } }
            tbody {
                @for e in entries {
                    tr {
                        td { (e["username"].as_str().unwrap_or_default()) }
                        td { (e["resource"].as_str().unwrap_or_default()) }
                        td { (e["resource_type"].as_str().unwrap_or_default()) }
                        td { (e["operation"].as_str().unwrap_or_default()) }
                        td { (layout::when(e["op_time"].as_str().unwrap_or_default())) }
                    }
                }
                @if entries.is_empty() {
                    tr { td colspan="5" { "No entries." } }
                }
            }
        }
    }
}

/// `GET /harbor/projects/{id}/logs`.
pub(super) async fn project(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let page = layout::page_number(q.page.as_deref());
    let username = q.username.unwrap_or_default();
    let base = format!("/harbor/projects/{id}/logs");
    let (path, link) = paths(
        &format!("/api/v2.0/projects/{}/logs", enc(&frame.name)),
        &base,
        page,
        &username,
    );
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let entries: Vec<Value> = answer.json()?;
    let body = html! {
        (log_table(&base, &username, &entries))
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
    };
    Ok(frame.render(&viewer, Tab::Logs, body))
}

/// `GET /harbor/logs`: the system's audit log.
pub(super) async fn system(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<LogQuery>,
) -> Result<Response, PortalError> {
    if !viewer.sysadmin {
        return Err(PortalError::new(
            StatusCode::FORBIDDEN,
            "Only system administrators read the system's audit log.",
        ));
    }
    let page = layout::page_number(q.page.as_deref());
    let username = q.username.unwrap_or_default();
    let (path, link) = paths("/api/v2.0/audit-logs", "/harbor/logs", page, &username);
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let entries: Vec<Value> = answer.json()?;
    let body = html! {
        h1 { "Logs" }
        (log_table("/harbor/logs", &username, &entries))
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
    };
    Ok(layout::html(layout::page(
        "Logs",
        Some(&viewer),
        Nav::Logs,
        body,
    )))
}
