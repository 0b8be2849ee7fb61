//! Administration: replication policies (the list; push- or pull-mode
//! rules created and edited with their filters (name, tag, label,
//! resource), destination namespace and flattening, trigger (manual,
//! scheduled, event based), override, bandwidth and copy by chunk;
//! enabling, disabling, running and deleting one),
//! executions with their progress (pages refresh while one runs), an
//! execution's tasks with their logs, and stopping it. System
//! administrators only; shown when replication is on.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav, Paging};
use super::registries::admins_only;
use super::viewer::{Change, Viewer};
use super::PortalState;

mod executions;
mod form;

use executions::progress;
pub(super) use executions::{execution, stop, task_log};
use form::policy_form;
pub(super) use form::{create, edit_page, enable, update};

/// Items on a page.
const PAGE_SIZE: u64 = 10;

/// Whether an execution or task has not ended yet.
fn unfinished(status: &str) -> bool {
    matches!(status, "InProgress" | "Pending" | "Running")
}

/// `GET /harbor/replications`: the policies and the latest executions.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<layout::PageQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let policies: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            "/api/v2.0/replication/policies?page_size=100",
        )
        .await?
        .json()?;
    let registries: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/registries?page_size=100")
        .await?
        .json()?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let executions: Vec<Value> = answer.json()?;
    let running = executions
        .iter()
        .any(|e| unfinished(e["status"].as_str().unwrap_or_default()));
    let policy_name = |id: i64| {
        policies
            .iter()
            .find(|p| p["id"].as_i64() == Some(id))
            .and_then(|p| p["name"].as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let body = html! {
        h1 { "Replications" }
        @if registries.is_empty() {
            p { "Add a " a href="/harbor/registries" { "registry" } " first: a rule copies to one." }
        } @else {
            details {
                summary { "New Replication Rule" }
                (policy_form(&viewer.csrf, &registries, None, "/harbor/replications"))
            }
        }
        table id="policies" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Source" }
                th scope="col" { "Destination" }
                th scope="col" { "Trigger" }
                th scope="col" { "Filters" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for p in &policies {
                    @let pid = p["id"].as_i64().unwrap_or_default();
                    @let name = p["name"].as_str().unwrap_or_default();
                    tr {
                        td.policy-name { (name) }
                        td { @if p["enabled"].as_bool().unwrap_or(false) { "Enabled" } @else { "Disabled" } }
                        td.policy-source { (p["src_registry"]["name"].as_str().unwrap_or("Local")) }
                        td.policy-destination {
                            (p["dest_registry"]["name"].as_str().unwrap_or_default())
                            @if let Some(ns) = p["dest_namespace"].as_str().filter(|n| !n.is_empty()) { " : " (ns) }
                        }
                        td { (p["trigger"]["type"].as_str().unwrap_or("manual")) }
                        td {
                            @for f in p["filters"].as_array().into_iter().flatten() {
                                span.tag { (f["type"].as_str().unwrap_or_default()) ": " (f["value"].as_str().unwrap_or_default()) }
                            }
                        }
                        td {
                            a.button.secondary href=(format!("/harbor/replications/{pid}/edit"))
                                aria-label=(format!("Edit rule {name}")) { "Edit" }
                            " "
                            @let enabled = p["enabled"].as_bool().unwrap_or(false);
                            form.inline method="post" action=(format!("/harbor/replications/{pid}/enable")) {
                                (layout::csrf_field(&viewer.csrf))
                                input type="hidden" name="enabled" value=(!enabled);
                                button.secondary type="submit"
                                    aria-label=(format!("{} rule {name}", if enabled { "Disable" } else { "Enable" })) {
                                    @if enabled { "Disable" } @else { "Enable" }
                                }
                            }
                            " "
                            form.inline method="post" action=(format!("/harbor/replications/{pid}/run")) {
                                (layout::csrf_field(&viewer.csrf))
                                button type="submit" aria-label=(format!("Replicate {name}")) { "Replicate" }
                            }
                            " "
                            (layout::post_button(
                                &format!("/harbor/replications/{pid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete rule {name}"),
                                &format!("Delete replication rule {name}?"),
                            ))
                        }
                    }
                }
                @if policies.is_empty() {
                    tr { td colspan="7" { "No replication rules." } }
                }
            }
        }
        h2 { "Executions" }
        table id="executions" data-refresh=[running.then_some("2")] {
            thead { tr {
                th scope="col" { "ID" }
                th scope="col" { "Rule" }
                th scope="col" { "Status" }
                th scope="col" { "Trigger" }
                th scope="col" { "Progress" }
                th scope="col" { "Start Time" }
                th scope="col" { "End Time" }
            } }
            tbody {
                @for e in &executions {
                    @let eid = e["id"].as_i64().unwrap_or_default();
                    tr {
                        td { a href=(format!("/harbor/replications/executions/{eid}")) aria-label=(format!("Execution {eid}")) { (eid) } }
                        td { (policy_name(e["policy_id"].as_i64().unwrap_or_default())) }
                        td.execution-status { (e["status"].as_str().unwrap_or_default()) }
                        td { (e["trigger"].as_str().unwrap_or_default()) }
                        td { (progress(e)) }
                        td { (layout::when(e["start_time"].as_str().unwrap_or_default())) }
                        td { (layout::when(e["end_time"].as_str().unwrap_or_default())) }
                    }
                }
                @if executions.is_empty() {
                    tr { td colspan="7" { "No executions yet." } }
                }
            }
        }
        @if running { p.muted { "This page refreshes while an execution runs." } }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/replications?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Replications",
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

/// `POST /harbor/replications/{id}/run`: an execution now, then its page.
pub(super) async fn run(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let answer = change
        .send(
            &state.api,
            Method::POST,
            "/api/v2.0/replication/executions",
            Some(json!({ "policy_id": id })),
        )
        .await?;
    let execution = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse::<i64>().ok());
    Ok(match execution {
        Some(e) => see_other(&format!("/harbor/replications/executions/{e}")),
        None => see_other("/harbor/replications"),
    })
}

/// `POST /harbor/replications/{id}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/replication/policies/{id}"),
            None,
            "/harbor/replications",
        )
        .await
}
