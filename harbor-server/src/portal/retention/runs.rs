//! Tag retention's runs: the schedule, "Run now" and "Dry run", stopping
//! a running execution, an execution's tasks and a task's log.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::portal::error::PortalError;
use crate::portal::layout::{self, Paging};
use crate::portal::projects::Tab;
use crate::portal::viewer::{Change, Viewer};
use crate::portal::PortalState;

use super::rules::put_policy;
use super::*;

/// The schedule form.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct ScheduleForm {
    #[serde(rename = "type")]
    kind: String,
    cron: Option<String>,
}

/// `POST .../tag-retention/schedule`.
pub(in crate::portal) async fn schedule(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<ScheduleForm>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let f = &change.form;
    let cron = match SCHEDULES.iter().find(|(k, _)| *k == f.kind) {
        None => {
            return Err(PortalError::new(
                StatusCode::BAD_REQUEST,
                "unknown schedule",
            ))
        }
        Some(("Custom", _)) => {
            let c = f.cron.as_deref().unwrap_or_default().trim();
            if c.is_empty() {
                return Err(PortalError::new(
                    StatusCode::BAD_REQUEST,
                    "a custom schedule needs a cron: seconds minutes hours day month weekday",
                ));
            }
            c.to_owned()
        }
        Some((_, c)) => (*c).to_owned(),
    };
    let (rid, mut policy) = existing_policy(&state, &change.viewer, id).await?;
    policy["trigger"] =
        json!({ "kind": "Schedule", "settings": { "cron": cron }, "references": {} });
    put_policy(&state, &change, id, rid, policy).await
}

/// The run form: which button was pressed.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct RunForm {
    dry_run: Option<String>,
}

/// `POST .../tag-retention/run`: "Run now" or "Dry run".
pub(in crate::portal) async fn run(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<RunForm>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let (rid, _) = existing_policy(&state, &change.viewer, id).await?;
    let dry_run = change.form.dry_run.as_deref() == Some("true");
    change
        .forward(
            &state.api,
            Method::POST,
            &format!("/api/v2.0/retentions/{rid}/executions"),
            Some(json!({ "dry_run": dry_run })),
            &base(id),
        )
        .await
}

/// `POST .../tag-retention/executions/{eid}/stop`.
pub(in crate::portal) async fn stop(
    State(state): State<PortalState>,
    Path((id, eid)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    retention_frame(&state, &change.viewer, id).await?;
    let (rid, _) = existing_policy(&state, &change.viewer, id).await?;
    change
        .forward(
            &state.api,
            Method::PATCH,
            &format!("/api/v2.0/retentions/{rid}/executions/{eid}"),
            Some(json!({ "action": "stop" })),
            &format!("{}/executions/{eid}", base(id)),
        )
        .await
}

/// `GET .../tag-retention/executions/{eid}`: its tasks, one per
/// repository.
pub(in crate::portal) async fn execution(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path((id, eid)): Path<(i64, i64)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PortalError> {
    let frame = retention_frame(&state, &viewer, id).await?;
    let (rid, _) = existing_policy(&state, &viewer, id).await?;
    let page = layout::page_number(q.page.as_deref());
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/retentions/{rid}/executions/{eid}/tasks?page={page}&page_size=50"),
        )
        .await?;
    let total = answer.total();
    let tasks: Vec<Value> = answer.json()?;
    let base = base(id);
    let running = tasks.iter().any(|t| t["status"] == "InProgress");
    let body = html! {
        (policy_nav(&frame, true))
        p { a href=(base) { "Tag Retention" } " /" }
        h2 { "Execution " (eid) }
        table id="retention-tasks" data-refresh=[(running && page == 1).then_some("3")] {
            thead { tr {
                th scope="col" { "Repository" }
                th scope="col" { "Status" }
                th scope="col" { "Retained / Total" }
                th scope="col" { "Start Time" }
                th scope="col" { "End Time" }
                th scope="col" { "Log" }
            } }
            tbody {
                @for t in &tasks {
                    @let tid = t["id"].as_i64().unwrap_or_default();
                    @let repo = t["repository"].as_str().unwrap_or_default();
                    tr data-repository=(repo) {
                        td { (repo) }
                        td.task-status { (status_text(t["status"].as_str().unwrap_or_default())) }
                        td.task-counts { (t["retained"].as_u64().unwrap_or_default()) " / " (t["total"].as_u64().unwrap_or_default()) }
                        td { (layout::when(t["start_time"].as_str().unwrap_or_default())) }
                        td { (layout::when(t["end_time"].as_str().unwrap_or_default())) }
                        td { a href=(format!("{base}/executions/{eid}/tasks/{tid}/log")) aria-label=(format!("Log of {repo}")) { "Log" } }
                    }
                }
                @if tasks.is_empty() {
                    tr { td colspan="6" { "No tasks (yet)." } }
                }
            }
        }
        (layout::pager(Paging { page, size: 50, total }, |n| format!("{base}/executions/{eid}?page={n}")))
    };
    Ok(frame.render(&viewer, Tab::Policy, body))
}

/// `GET .../tag-retention/executions/{eid}/tasks/{tid}/log`.
pub(in crate::portal) async fn task_log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path((id, eid, tid)): Path<(i64, i64, i64)>,
) -> Result<Response, PortalError> {
    let frame = retention_frame(&state, &viewer, id).await?;
    let (rid, _) = existing_policy(&state, &viewer, id).await?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/retentions/{rid}/executions/{eid}/tasks/{tid}"),
        )
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    let base = base(id);
    let body = html! {
        (policy_nav(&frame, true))
        p {
            a href=(base) { "Tag Retention" } " / "
            a href=(format!("{base}/executions/{eid}")) { "Execution " (eid) } " /"
        }
        h2 { "Log of task " (tid) }
        pre id="retention-log" { (text) }
    };
    Ok(frame.render(&viewer, Tab::Policy, body))
}
