//! Administration: garbage collection. Run it now (optionally deleting
//! untagged artifacts, or as a dry run), its schedule, its history with
//! each run's status, and each run's log. System administrators only;
//! shown when the server has a job store.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Runs on a page of the history.
const PAGE_SIZE: u64 = 10;

/// The schedules offered, as Harbor names them.
const SCHEDULES: [&str; 5] = ["None", "Hourly", "Daily", "Weekly", "Custom"];

fn admins_only(state: &PortalState, viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_page(
        state.app.gc.is_some(),
        "Garbage collection is not set up on this server.",
        "Only system administrators run garbage collection.",
    )
}

/// Whether a run has not ended yet.
pub(super) fn unfinished(status: &str) -> bool {
    matches!(status, "Pending" | "Running" | "Scheduled")
}

/// Whether a run can be stopped: pending or running (Harbor shows its
/// Stop button then only).
pub(super) fn stoppable(status: &str) -> bool {
    matches!(status, "Pending" | "Running")
}

/// The pages of Harbor's "Clean Up": garbage collection and log rotation
/// (the audit log purge), each where the server has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CleanUp {
    /// Garbage collection.
    Gc,
    /// The audit log purge.
    LogRotation,
}

/// The tab bar between the Clean Up pages.
pub(super) fn clean_up_tabs(viewer: &Viewer, current: CleanUp) -> Markup {
    html! {
        h1 { "Clean Up" }
        nav.tabs aria-label="Clean Up" {
            @if viewer.gc {
                a href="/harbor/gc" aria-current=[(current == CleanUp::Gc).then_some("page")] { "Garbage Collection" }
            }
            @if viewer.purge_audit {
                a href="/harbor/clearing-job/audit-log-purge"
                    aria-current=[(current == CleanUp::LogRotation).then_some("page")] { "Log Rotation" }
            }
        }
    }
}

/// A history of runs (Harbor's `ExecHistory`): each with its status, its
/// log, and a Stop button while `stoppable` says its status can be
/// stopped. `base` is the page's path (`{base}/{id}/log`,
/// `{base}/{id}/stop`).
pub(super) fn history_table(
    id: &str,
    runs: &[Value],
    base: &str,
    csrf: &str,
    refresh: bool,
    stoppable: fn(&str) -> bool,
) -> Markup {
    html! {
        table id=(id) data-refresh=[refresh.then_some("3")] {
            thead { tr {
                th scope="col" { "Job ID" }
                th scope="col" { "Trigger Type" }
                th scope="col" { "Parameters" }
                th scope="col" { "Status" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Update Time" }
                th scope="col" { "Logs" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in runs {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let status = r["job_status"].as_str().unwrap_or_default();
                    tr {
                        td { (rid) }
                        td { (r["job_kind"].as_str().unwrap_or_default()) }
                        td.mono { (r["job_parameters"].as_str().unwrap_or_default()) }
                        td.gc-status { (status) }
                        td { (layout::when(r["creation_time"].as_str().unwrap_or_default())) }
                        td { (layout::when(r["update_time"].as_str().unwrap_or_default())) }
                        td { a href=(format!("{base}/{rid}/log")) aria-label=(format!("Log of run {rid}")) { "Log" } }
                        td {
                            @if stoppable(status) {
                                (layout::post_button(
                                    &format!("{base}/{rid}/stop"),
                                    csrf,
                                    "Stop",
                                    &format!("Stop run {rid}"),
                                    &format!("Stop run {rid}?"),
                                ))
                            }
                        }
                    }
                }
                @if runs.is_empty() {
                    tr { td colspan="8" { "No runs yet." } }
                }
            }
        }
    }
}

/// The query of the history.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// `GET /harbor/gc`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/system/gc?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let runs: Vec<Value> = answer.json()?;
    let schedule: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/system/gc/schedule")
        .await?
        .json()?;
    let kind = schedule["schedule"]["type"].as_str().unwrap_or("None");
    let kind = if kind.is_empty() { "None" } else { kind };
    let cron = schedule["schedule"]["cron"].as_str().unwrap_or_default();
    let running = runs
        .iter()
        .any(|r| unfinished(r["job_status"].as_str().unwrap_or_default()));
    let body = html! {
        (clean_up_tabs(&viewer, CleanUp::Gc))
        form.panel id="run-gc" method="post" action="/harbor/gc" {
            (layout::csrf_field(&viewer.csrf))
            label.check { input type="checkbox" name="delete_untagged" value="true"; "Allow garbage collection on untagged artifacts" }
            " "
            label.check { input type="checkbox" name="dry_run" value="true"; "Dry run" }
            " "
            button type="submit" { "GC Now" }
        }
        form.panel id="gc-schedule" method="post" action="/harbor/gc/schedule" {
            (layout::csrf_field(&viewer.csrf))
            div.row {
                div {
                    label for="schedule-type" { "Schedule" }
                    select id="schedule-type" name="type" {
                        @for s in SCHEDULES {
                            option value=(s) selected[s == kind] { (s) }
                        }
                    }
                }
                div {
                    label for="schedule-cron" { "Cron (for Custom: seconds minutes hours day month weekday)" }
                    input type="text" id="schedule-cron" name="cron" value=(cron);
                }
                button.secondary type="submit" { "Save schedule" }
            }
            @if let Some(next) = schedule["schedule"]["next_scheduled_time"].as_str() {
                p.muted { "Next run: " (layout::when(next)) }
            }
        }
        h2 { "GC History" }
        (history_table("gc-history", &runs, "/harbor/gc", &viewer.csrf, running, stoppable))
        @if running { p.muted { "This page refreshes while a run is going on." } }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/gc?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Garbage Collection",
        Some(&viewer),
        Nav::Gc,
        body,
    )))
}

/// The run form.
#[derive(Debug, Deserialize)]
pub(super) struct RunForm {
    delete_untagged: Option<String>,
    dry_run: Option<String>,
}

/// `POST /harbor/gc`: a run now.
pub(super) async fn run(
    State(state): State<PortalState>,
    change: Change<RunForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let f = &change.form;
    let body = json!({
        "schedule": { "type": "Manual" },
        "parameters": {
            "delete_untagged": f.delete_untagged.as_deref() == Some("true"),
            "dry_run": f.dry_run.as_deref() == Some("true"),
        },
    });
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/system/gc/schedule",
            Some(body),
            "/harbor/gc",
        )
        .await
}

/// The schedule form.
#[derive(Debug, Deserialize)]
pub(super) struct ScheduleForm {
    #[serde(rename = "type")]
    kind: String,
    cron: Option<String>,
}

/// `POST /harbor/gc/schedule`: the schedule saved (created or changed).
pub(super) async fn schedule(
    State(state): State<PortalState>,
    change: Change<ScheduleForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let f = &change.form;
    if !SCHEDULES.contains(&f.kind.as_str()) {
        return Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "unknown schedule",
        ));
    }
    let body = json!({
        "schedule": { "type": f.kind, "cron": f.cron.as_deref().unwrap_or_default().trim() },
        "parameters": { "delete_untagged": false },
    });
    let put = state
        .api
        .call(
            &change.viewer.call_as,
            Method::PUT,
            "/api/v2.0/system/gc/schedule",
            Some(body.clone()),
            Some(&change.csrf),
        )
        .await?;
    if put.status == StatusCode::NOT_FOUND {
        change
            .send(
                &state.api,
                Method::POST,
                "/api/v2.0/system/gc/schedule",
                Some(body),
            )
            .await?;
    } else {
        put.ok()?;
    }
    Ok(see_other("/harbor/gc"))
}

/// `POST /harbor/gc/{id}/stop`: stops a pending or running run.
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
            &format!("/api/v2.0/system/gc/{id}"),
            None,
            "/harbor/gc",
        )
        .await
}

/// `GET /harbor/gc/{id}/log`: a run's log, as text in the page.
pub(super) async fn log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let run: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/system/gc/{id}"))
        .await?
        .json()?;
    let answer = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/system/gc/{id}/log"))
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    let status = run["job_status"].as_str().unwrap_or_default();
    let body = html! {
        p { a href="/harbor/gc" { "Garbage Collection" } " /" }
        h1 { "Log of run " (id) }
        p { "Status: " strong.gc-status { (status) } }
        pre id="gc-log" data-refresh=[unfinished(status).then_some("2")] { (text) }
    };
    Ok(layout::html(layout::page(
        &format!("GC run {id}"),
        Some(&viewer),
        Nav::Gc,
        body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_button_shows_only_on_pending_and_running_runs() {
        let runs: Vec<Value> = ["Pending", "Running", "Success", "Error", "Stopped"]
            .iter()
            .enumerate()
            .map(|(i, s)| json!({ "id": i + 1, "job_status": s, "job_kind": "MANUAL" }))
            .collect();
        let out =
            history_table("gc-history", &runs, "/harbor/gc", "tok", false, stoppable).into_string();
        assert!(out.contains("action=\"/harbor/gc/1/stop\""), "{out}");
        assert!(out.contains("action=\"/harbor/gc/2/stop\""), "{out}");
        for done in 3..=5 {
            assert!(!out.contains(&format!("/harbor/gc/{done}/stop")), "{out}");
            assert!(out.contains(&format!("/harbor/gc/{done}/log")), "{out}");
        }
        assert!(out.contains("aria-label=\"Stop run 2\""));
    }
}
