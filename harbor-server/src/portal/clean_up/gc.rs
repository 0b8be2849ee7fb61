//! Clean Up → Garbage Collection: run it now (optionally deleting untagged
//! artifacts, or as a dry run), its schedule, its history, each run's log,
//! and Stop while a run is pending or running.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{next_run, schedule_fields, schedule_kind, Job, Tab};
use crate::portal::error::PortalError;
use crate::portal::layout::{self, PageQuery};
use crate::portal::viewer::{Change, Viewer};
use crate::portal::PortalState;

/// Garbage collection, as Harbor's `/system/gc` serves it.
pub(in crate::portal) const GC: Job = Job {
    tab: Tab::Gc,
    api: "/api/v2.0/system/gc",
    page: "/harbor/gc",
    title: "Garbage Collection",
    run: "GC run",
    ids: ("gc-history", "gc-log"),
    stoppable: |status| matches!(status, "Pending" | "Running"),
    missing: "Garbage collection is not set up on this server.",
    forbidden: "Only system administrators run garbage collection.",
};

/// `GET /harbor/gc`.
pub(in crate::portal) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> Result<Response, PortalError> {
    let history = GC.history(&state, &viewer, q.page.as_deref()).await?;
    let form = html! {
        form.panel id="run-gc" method="post" action=(GC.page) {
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
                (schedule_fields(&history, "Schedule"))
                button.secondary type="submit" { "Save schedule" }
            }
            (next_run(&history))
        }
    };
    Ok(GC.render(&viewer, &history, form))
}

/// The run form.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct RunForm {
    delete_untagged: Option<String>,
    dry_run: Option<String>,
}

/// `POST /harbor/gc`: a run now.
pub(in crate::portal) async fn run(
    State(state): State<PortalState>,
    change: Change<RunForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    let body = json!({
        "schedule": { "type": "Manual" },
        "parameters": {
            "delete_untagged": f.delete_untagged.as_deref() == Some("true"),
            "dry_run": f.dry_run.as_deref() == Some("true"),
        },
    });
    GC.schedule(&state, &change, Method::POST, body).await
}

/// The schedule form.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct ScheduleForm {
    #[serde(rename = "type")]
    kind: String,
    cron: Option<String>,
}

/// `POST /harbor/gc/schedule`: the schedule saved (created or changed).
pub(in crate::portal) async fn schedule(
    State(state): State<PortalState>,
    change: Change<ScheduleForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    let body = json!({
        "schedule": {
            "type": schedule_kind(&f.kind)?,
            "cron": f.cron.as_deref().unwrap_or_default().trim(),
        },
        "parameters": { "delete_untagged": false },
    });
    GC.schedule(&state, &change, Method::PUT, body).await
}

/// `POST /harbor/gc/{id}/stop`: stops a pending or running run.
pub(in crate::portal) async fn stop(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    GC.stop(&state, &change, id).await
}

/// `GET /harbor/gc/{id}/log`: a run's log.
pub(in crate::portal) async fn log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    GC.log(&state, &viewer, id).await
}
