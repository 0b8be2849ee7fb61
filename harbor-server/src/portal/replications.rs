//! Administration: replication policies (the list, a push-mode policy
//! created from a name filter to a registry, running one, deleting one),
//! executions with their progress (pages refresh while one runs), an
//! execution's tasks with their logs, and stopping it. System
//! administrators only; shown when replication is on.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav, Paging};
use super::registries::admins_only;
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Items on a page.
const PAGE_SIZE: u64 = 10;

/// Whether an execution or task has not ended yet.
fn unfinished(status: &str) -> bool {
    matches!(status, "InProgress" | "Pending" | "Running")
}

/// The query of a list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

fn new_policy_form(csrf: &str, registries: &[Value]) -> Markup {
    html! {
        details {
            summary { "New Replication Rule" }
            form.panel id="new-policy" method="post" action="/harbor/replications" {
                (layout::csrf_field(csrf))
                div.row {
                    div {
                        label for="policy-name" { "Name" }
                        input type="text" id="policy-name" name="name" required;
                    }
                    div {
                        label for="policy-filter" { "Source resource filter: name (e.g. library/**)" }
                        input type="text" id="policy-filter" name="filter" value="**";
                    }
                    div {
                        label for="policy-registry" { "Destination registry" }
                        select id="policy-registry" name="registry" required {
                            @for r in registries {
                                option value=(r["id"].as_i64().unwrap_or_default()) {
                                    (r["name"].as_str().unwrap_or_default()) " (" (r["url"].as_str().unwrap_or_default()) ")"
                                }
                            }
                        }
                    }
                    div {
                        label for="policy-namespace" { "Destination namespace (empty: the same)" }
                        input type="text" id="policy-namespace" name="namespace";
                    }
                    div {
                        label for="policy-trigger" { "Trigger Mode" }
                        select id="policy-trigger" name="trigger" {
                            option value="manual" { "Manual" }
                            option value="event_based" { "Event Based" }
                        }
                    }
                    label.check { input type="checkbox" name="override" value="true" checked; "Override" }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// `GET /harbor/replications`: the policies and the latest executions.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
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
            (new_policy_form(&viewer.csrf, &registries))
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
                        td { (p["src_registry"]["name"].as_str().unwrap_or("Local")) }
                        td {
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

/// "3 of 5 succeeded, 1 failed" with a progress bar.
fn progress(e: &Value) -> Markup {
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

/// The new-rule form.
#[derive(Debug, Deserialize)]
pub(super) struct PolicyForm {
    name: String,
    filter: Option<String>,
    registry: i64,
    namespace: Option<String>,
    trigger: String,
    #[serde(rename = "override")]
    override_tags: Option<String>,
}

/// `POST /harbor/replications`: a push-mode rule.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<PolicyForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let f = &change.form;
    if !matches!(f.trigger.as_str(), "manual" | "event_based") {
        return Err(PortalError::new(StatusCode::BAD_REQUEST, "unknown trigger"));
    }
    let filter = f.filter.as_deref().unwrap_or_default().trim();
    let filters: Vec<Value> = if filter.is_empty() {
        Vec::new()
    } else {
        vec![json!({ "type": "name", "value": filter })]
    };
    let body = json!({
        "name": f.name.trim(),
        "dest_registry": { "id": f.registry },
        "dest_namespace": f.namespace.as_deref().unwrap_or_default().trim(),
        "dest_namespace_replace_count": -1,
        "filters": filters,
        "trigger": { "type": f.trigger },
        "override": f.override_tags.as_deref() == Some("true"),
        "enabled": true,
    });
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/replication/policies",
            Some(body),
            "/harbor/replications",
        )
        .await
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

/// `GET /harbor/replications/executions/{id}`: its progress and tasks,
/// refreshing while it runs.
pub(super) async fn execution(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
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
pub(super) async fn stop(
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
pub(super) async fn task_log(
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
