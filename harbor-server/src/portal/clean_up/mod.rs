//! Administration → Clean Up: garbage collection and log rotation (the
//! audit log purge). Harbor's two APIs have one shape (a history of runs,
//! each with a log and a stop; one schedule with its parameters), so the
//! two pages share it here and differ only in their forms. System
//! administrators only; each shown when the server has it.

pub(super) mod gc;
pub(super) mod log_rotation;

use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::error::PortalError;
use super::layout::{self, Nav};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Runs on a page of the history.
const PAGE_SIZE: u64 = 10;

/// The schedules offered, as Harbor names them.
const SCHEDULES: [&str; 5] = ["None", "Hourly", "Daily", "Weekly", "Custom"];

/// One of the Clean Up jobs: where its API and its page live, and how the
/// page names it.
#[derive(Debug)]
pub(super) struct Job {
    /// Which tab it is.
    tab: Tab,
    /// The API's base path (`{api}?page=`, `{api}/schedule`, `{api}/{id}`).
    api: &'static str,
    /// The page's path (`{page}/{id}/log`, `{page}/{id}/stop`).
    page: &'static str,
    /// The page's title.
    title: &'static str,
    /// A run's name in titles ("GC run 3").
    run: &'static str,
    /// The history table's and the log's element ids.
    ids: (&'static str, &'static str),
    /// Whether a run in this status can be stopped.
    stoppable: fn(&str) -> bool,
    /// What a user is told when the server lacks the job, and when the
    /// user is not an administrator.
    missing: &'static str,
    forbidden: &'static str,
}

/// The tabs of Harbor's "Clean Up".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    /// Garbage collection.
    Gc,
    /// The audit log purge.
    LogRotation,
}

/// Whether a run has not ended yet.
pub(super) fn unfinished(status: &str) -> bool {
    matches!(status, "Pending" | "Running" | "Scheduled")
}

/// A page of a job's history and its schedule, as the API gives them.
struct History {
    page: u64,
    total: u64,
    runs: Vec<Value>,
    /// The schedule (Harbor's `GCHistory`-like object with `schedule` and
    /// `job_parameters`).
    schedule: Value,
}

impl History {
    /// The schedule's type, "None" when there is none.
    fn kind(&self) -> &str {
        match self.schedule["schedule"]["type"].as_str() {
            None | Some("") => "None",
            Some(k) => k,
        }
    }

    /// Whether a run on this page has not ended (the page then refreshes).
    fn running(&self) -> bool {
        self.runs
            .iter()
            .any(|r| unfinished(r["job_status"].as_str().unwrap_or_default()))
    }
}

impl Job {
    /// Whether the server has the job and the viewer may use it.
    fn admins_only(&self, state: &PortalState, viewer: &Viewer) -> Result<(), PortalError> {
        let enabled = match self.tab {
            Tab::Gc => state.app.gc.is_some(),
            Tab::LogRotation => state.app.purge_audit.is_some(),
        };
        viewer.admin_page(enabled, self.missing, self.forbidden)
    }

    /// The history's page `page` and the schedule.
    async fn history(
        &self,
        state: &PortalState,
        viewer: &Viewer,
        page: Option<&str>,
    ) -> Result<History, PortalError> {
        self.admins_only(state, viewer)?;
        let page = layout::page_number(page);
        let answer = state
            .api
            .get(
                &viewer.call_as,
                &format!("{}?page={page}&page_size={PAGE_SIZE}", self.api),
            )
            .await?;
        let schedule = state
            .api
            .get(&viewer.call_as, &format!("{}/schedule", self.api))
            .await?
            .json()?;
        Ok(History {
            page,
            total: answer.total(),
            runs: answer.json()?,
            schedule,
        })
    }

    /// The page around `form`: the tabs, the form, the history and its
    /// pager.
    fn render(&self, viewer: &Viewer, history: &History, form: Markup) -> Response {
        let running = history.running();
        let body = html! {
            (tabs(viewer, self.tab))
            (form)
            h2 { (self.title) " History" }
            (history_table(self.ids.0, &history.runs, self.page, &viewer.csrf, running, self.stoppable))
            @if running { p.muted { "This page refreshes while a run is going on." } }
            (layout::pager(
                layout::Paging { page: history.page, size: PAGE_SIZE, total: history.total },
                |n| format!("{}?page={n}", self.page),
            ))
        };
        layout::html(layout::page(self.title, Some(viewer), Nav::Gc, body))
    }

    /// Sends a schedule (or, with type `Manual`, a run now) to the API.
    async fn schedule<T>(
        &self,
        state: &PortalState,
        change: &Change<T>,
        method: Method,
        body: Value,
    ) -> Result<Response, PortalError> {
        self.admins_only(state, &change.viewer)?;
        change
            .forward(
                &state.api,
                method,
                &format!("{}/schedule", self.api),
                Some(body),
                self.page,
            )
            .await
    }

    /// Stops run `id`.
    async fn stop(
        &self,
        state: &PortalState,
        change: &Change<Value>,
        id: i64,
    ) -> Result<Response, PortalError> {
        self.admins_only(state, &change.viewer)?;
        change
            .forward(
                &state.api,
                Method::PUT,
                &format!("{}/{id}", self.api),
                None,
                self.page,
            )
            .await
    }

    /// Run `id`'s log, as text in the page (refreshing while it runs).
    async fn log(
        &self,
        state: &PortalState,
        viewer: &Viewer,
        id: i64,
    ) -> Result<Response, PortalError> {
        self.admins_only(state, viewer)?;
        let run: Value = state
            .api
            .get(&viewer.call_as, &format!("{}/{id}", self.api))
            .await?
            .json()?;
        let answer = state
            .api
            .get(&viewer.call_as, &format!("{}/{id}/log", self.api))
            .await?;
        let text = String::from_utf8_lossy(&answer.body);
        let status = run["job_status"].as_str().unwrap_or_default();
        let body = html! {
            p { a href=(self.page) { (self.title) } " /" }
            h1 { "Log of " (self.run) " " (id) }
            p { "Status: " strong.gc-status { (status) } }
            pre id=(self.ids.1) data-refresh=[unfinished(status).then_some("2")] { (text) }
        };
        Ok(layout::html(layout::page(
            &format!("{} {id}", self.run),
            Some(viewer),
            Nav::Gc,
            body,
        )))
    }
}

/// The schedule's type and cron fields, filled from `history`.
fn schedule_fields(history: &History, label: &str) -> Markup {
    let kind = history.kind();
    let cron = history.schedule["schedule"]["cron"]
        .as_str()
        .unwrap_or_default();
    html! {
        div {
            label for="schedule-type" { (label) }
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
    }
}

/// When the schedule runs next, if it does.
fn next_run(history: &History) -> Markup {
    html! {
        @if let Some(next) = history.schedule["schedule"]["next_scheduled_time"].as_str() {
            p.muted { "Next run: " (layout::when(next)) }
        }
    }
}

/// A schedule type the form may send, else 400.
fn schedule_kind(kind: &str) -> Result<&str, PortalError> {
    SCHEDULES
        .contains(&kind)
        .then_some(kind)
        .ok_or_else(|| PortalError::new(axum::http::StatusCode::BAD_REQUEST, "unknown schedule"))
}

/// The tab bar between the Clean Up pages the server has.
fn tabs(viewer: &Viewer, current: Tab) -> Markup {
    html! {
        h1 { "Clean Up" }
        nav.tabs aria-label="Clean Up" {
            @if viewer.gc {
                a href=(gc::GC.page) aria-current=[(current == Tab::Gc).then_some("page")] { "Garbage Collection" }
            }
            @if viewer.purge_audit {
                a href=(log_rotation::LOG_ROTATION.page)
                    aria-current=[(current == Tab::LogRotation).then_some("page")] { "Log Rotation" }
            }
        }
    }
}

/// A history of runs (Harbor's `ExecHistory`): each with its status, its
/// log, and a Stop button while `stoppable` says its status can be
/// stopped. `base` is the page's path (`{base}/{id}/log`,
/// `{base}/{id}/stop`).
fn history_table(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statuses() -> Vec<Value> {
        ["Pending", "Running", "Success", "Error", "Stopped"]
            .iter()
            .enumerate()
            .map(|(i, s)| json!({ "id": i + 1, "job_status": s, "job_kind": "MANUAL" }))
            .collect()
    }

    #[test]
    fn gc_runs_show_stop_while_pending_or_running() {
        let job = &gc::GC;
        let out = history_table(
            job.ids.0,
            &statuses(),
            job.page,
            "tok",
            false,
            job.stoppable,
        )
        .into_string();
        assert!(out.contains("action=\"/harbor/gc/1/stop\""), "{out}");
        assert!(out.contains("action=\"/harbor/gc/2/stop\""), "{out}");
        for done in 3..=5 {
            assert!(!out.contains(&format!("/harbor/gc/{done}/stop")), "{out}");
            assert!(out.contains(&format!("/harbor/gc/{done}/log")), "{out}");
        }
        assert!(out.contains("aria-label=\"Stop run 2\""));
    }

    #[test]
    fn purge_runs_show_stop_only_while_pending() {
        let job = &log_rotation::LOG_ROTATION;
        let out = history_table(
            job.ids.0,
            &statuses(),
            job.page,
            "tok",
            false,
            job.stoppable,
        )
        .into_string();
        assert!(
            out.contains(&format!("action=\"{}/1/stop\"", job.page)),
            "{out}"
        );
        for later in 2..=5 {
            assert!(
                !out.contains(&format!("{}/{later}/stop", job.page)),
                "{out}"
            );
        }
    }

    #[test]
    fn an_empty_schedule_type_reads_none_and_unknown_types_are_refused() {
        let h = History {
            page: 1,
            total: 0,
            runs: Vec::new(),
            schedule: json!({"schedule": {"type": ""}}),
        };
        assert_eq!(h.kind(), "None");
        assert!(schedule_kind("Weekly").is_ok());
        assert!(schedule_kind("Manual").is_err());
    }
}
