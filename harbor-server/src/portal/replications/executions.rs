//! Replication executions: one's progress and tasks (the page refreshes
//! while it runs), stopping it, and a task's log.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use crate::portal::error::PortalError;
use crate::portal::layout::{self, Nav, Paging};
use crate::portal::registries::admins_only;
use crate::portal::viewer::{Change, Viewer};
use crate::portal::PortalState;

use super::*;

/// "3 of 5 succeeded, 1 failed" with a progress bar.
pub(super) fn progress(e: &Value) -> Markup {
    let total = e["total"].as_u64().unwrap_or_default();
    let succeed = e["succeed"].as_u64().unwrap_or_default();
    let failed = e["failed"].as_u64().unwrap_or_default();
    let done = succeed + failed + e["stopped"].as_u64().unwrap_or_default();
    html! {
        progress max=(total.max(1)) value=(done) aria-label="Tasks finished" {}
        " " (succeed) " of " (total) " succeeded"
        @if failed > 0 { ", " (failed) " failed" }
    }
}

/// `GET /harbor/replications/executions/{id}`: its progress and tasks,
/// refreshing while it runs.
pub(in crate::portal) async fn execution(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<layout::PageQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let e: Value = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions/{id}"),
        )
        .await?
        .json()?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/replication/executions/{id}/tasks?page={page}&page_size={PAGE_SIZE}"
            ),
        )
        .await?;
    let total = answer.total();
    let tasks: Vec<Value> = answer.json()?;
    let status = e["status"].as_str().unwrap_or_default();
    let running = unfinished(status);
    let body = html! {
        p { a href="/harbor/replications" { "Replications" } " /" }
        h1 { "Execution " (id) }
        dl.summary data-refresh=[running.then_some("1")] {
            dt { "Status" } dd id="execution-status" { (status) }
            dt { "Progress" } dd { (progress(&e)) }
            dt { "Trigger" } dd { (e["trigger"].as_str().unwrap_or_default()) }
            dt { "Started" } dd { (layout::when(e["start_time"].as_str().unwrap_or_default())) }
            dt { "Ended" } dd { (layout::when(e["end_time"].as_str().unwrap_or_default())) }
            @if let Some(t) = e["status_text"].as_str().filter(|t| !t.is_empty()) {
                dt { "Message" } dd { (t) }
            }
        }
        @if running {
            form.inline method="post" action=(format!("/harbor/replications/executions/{id}/stop")) data-confirm="Stop this execution?" {
                (layout::csrf_field(&viewer.csrf))
                button.danger type="submit" { "Stop" }
            }
            p.muted { "This page refreshes while the execution runs." }
        }
        h2 { "Tasks" }
        table id="tasks" {
            thead { tr {
                th scope="col" { "Resource Type" }
                th scope="col" { "Resource" }
                th scope="col" { "Destination" }
                th scope="col" { "Operation" }
                th scope="col" { "Status" }
                th scope="col" { "Attempts" }
                th scope="col" { "Logs" }
            } }
            tbody {
                @for t in &tasks {
                    @let tid = t["id"].as_i64().unwrap_or_default();
                    tr {
                        td { (t["resource_type"].as_str().unwrap_or_default()) }
                        td { (t["src_resource"].as_str().unwrap_or_default()) }
                        td { (t["dst_resource"].as_str().unwrap_or_default()) }
                        td { (t["operation"].as_str().unwrap_or_default()) }
                        td.task-status { (t["status"].as_str().unwrap_or_default()) }
                        td { (t["attempts"].as_u64().unwrap_or_default()) }
                        td { a href=(format!("/harbor/replications/executions/{id}/tasks/{tid}/log")) aria-label=(format!("Log of task {tid}")) { "Log" } }
                    }
                }
                @if tasks.is_empty() {
                    tr { td colspan="7" { "No tasks yet." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/replications/executions/{id}?page={n}")))
    };
    Ok(layout::html(layout::page(
        &format!("Execution {id}"),
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

/// `POST /harbor/replications/executions/{id}/stop`.
pub(in crate::portal) async fn stop(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/replication/executions/{id}"),
            None,
            &format!("/harbor/replications/executions/{id}"),
        )
        .await
}

/// `GET /harbor/replications/executions/{id}/tasks/{task}/log`.
pub(in crate::portal) async fn task_log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path((id, task)): Path<(i64, i64)>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions/{id}/tasks/{task}/log"),
        )
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    let body = html! {
        p {
            a href="/harbor/replications" { "Replications" } " / "
            a href=(format!("/harbor/replications/executions/{id}")) { "Execution " (id) } " /"
        }
        h1 { "Log of task " (task) }
        pre id="task-log" { (text) }
    };
    Ok(layout::html(layout::page(
        &format!("Task {task}"),
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}
