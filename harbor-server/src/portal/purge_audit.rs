//! Administration → Clean Up → Log Rotation: purging the audit log. Purge
//! now or as a dry run, keeping the records of the last N hours or days
//! and choosing which operations' records go; the schedule (with the same
//! parameters); the history with each run's status, log and, while it is
//! pending (a purge cannot stop once begun), a Stop button. System administrators only; shown when the
//! server purges the audit log.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::gc::{clean_up_tabs, history_table, unfinished, CleanUp};
use super::layout::{self, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Where the page lives.
const BASE: &str = "/harbor/clearing-job/audit-log-purge";

/// Runs on a page of the history.
const PAGE_SIZE: u64 = 10;

/// The schedules offered, as Harbor names them.
const SCHEDULES: [&str; 5] = ["None", "Hourly", "Daily", "Weekly", "Custom"];

/// The operations whose records may be purged, as the API names them.
const OPERATIONS: [(&str, &str); 4] = [
    ("create", "Create"),
    ("delete", "Delete"),
    ("pull", "Pull"),
    ("update", "Update"),
];

fn admins_only(state: &PortalState, viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_page(
        state.app.purge_audit.is_some(),
        "Audit log purging is not set up on this server.",
        "Only system administrators purge the audit log.",
    )
}

/// The query of the history.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// `GET /harbor/clearing-job/audit-log-purge`.
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
            &format!("/api/v2.0/system/purgeaudit?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let runs: Vec<Value> = answer.json()?;
    let schedule: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/system/purgeaudit/schedule")
        .await?
        .json()?;
    let kind = schedule["schedule"]["type"].as_str().unwrap_or("None");
    let kind = if kind.is_empty() { "None" } else { kind };
    let cron = schedule["schedule"]["cron"].as_str().unwrap_or_default();
    // The schedule's parameters fill the form; Harbor's defaults without.
    let params: Value = schedule["job_parameters"]
        .as_str()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({}));
    let hours = params["audit_retention_hour"].as_u64().unwrap_or(24 * 30);
    let (amount, unit) = if hours.is_multiple_of(24) {
        (hours / 24, "days")
    } else {
        (hours, "hours")
    };
    let included = params["include_operations"]
        .as_str()
        .unwrap_or("create,delete,pull")
        .to_owned();
    let running = runs
        .iter()
        .any(|r| unfinished(r["job_status"].as_str().unwrap_or_default()));
    let body = html! {
        (clean_up_tabs(&viewer, CleanUp::LogRotation))
        form.panel id="purge-form" method="post" action=(BASE) {
            (layout::csrf_field(&viewer.csrf))
            div.row {
                div {
                    label for="schedule-type" { "Schedule to purge" }
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
            div.row {
                div {
                    label for="retention" { "Keep records in" }
                    input type="number" id="retention" name="retention" min="1" value=(amount);
                }
                div {
                    label for="retention-unit" { "Unit" }
                    select id="retention-unit" name="unit" {
                        option value="hours" selected[unit == "hours"] { "Hours" }
                        option value="days" selected[unit == "days"] { "Days" }
                    }
                }
            }
            fieldset {
                legend { "Included operations" }
                @for (op, label) in OPERATIONS {
                    label.check {
                        input type="checkbox" name="operation" value=(op)
                            checked[included.split(',').any(|i| i.trim() == op)];
                        (label)
                    }
                    " "
                }
            }
            @if let Some(next) = schedule["schedule"]["next_scheduled_time"].as_str() {
                p.muted { "Next run: " (layout::when(next)) }
            }
            button.secondary type="submit" name="action" value="save" { "Save schedule" }
            " "
            button.secondary type="submit" name="action" value="dry_run" { "Dry Run" }
            " "
            button type="submit" name="action" value="purge" { "Purge Now" }
        }
        h2 { "Purge History" }
        (history_table("purge-history", &runs, BASE, &viewer.csrf, running, |s| s == "Pending"))
        @if running { p.muted { "This page refreshes while a run is going on." } }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{BASE}?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Log Rotation",
        Some(&viewer),
        Nav::Gc,
        body,
    )))
}

/// A form as its list of fields (checkboxes repeat).
type Fields = Vec<(String, String)>;

fn field(form: &Fields, key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

fn bad(message: &str) -> PortalError {
    PortalError::new(StatusCode::BAD_REQUEST, message)
}

/// The purge's parameters from the form, as the API takes them.
fn parameters(form: &Fields, dry_run: bool) -> Result<Value, PortalError> {
    let amount: u64 = field(form, "retention")
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| bad("keep records of at least 1 hour or day"))?;
    let hours = match field(form, "unit").as_str() {
        "hours" => amount,
        "days" => amount
            .checked_mul(24)
            .ok_or_else(|| bad("the retention is too long"))?,
        _ => return Err(bad("the retention unit is hours or days")),
    };
    let ops: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "operation")
        .filter_map(|(_, v)| OPERATIONS.iter().find(|(op, _)| op == v).map(|(op, _)| *op))
        .collect();
    if ops.is_empty() {
        return Err(bad("choose the operations whose records are purged"));
    }
    Ok(json!({
        "audit_retention_hour": hours,
        "include_operations": ops.join(","),
        "dry_run": dry_run,
    }))
}

/// `POST /harbor/clearing-job/audit-log-purge`: purge now, a dry run, or
/// the schedule saved, by the button pressed.
pub(super) async fn run(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let form = &change.form;
    match field(form, "action").as_str() {
        "purge" | "dry_run" => {
            let dry_run = field(form, "action") == "dry_run";
            let body = json!({
                "schedule": { "type": "Manual" },
                "parameters": parameters(form, dry_run)?,
            });
            change
                .forward(
                    &state.api,
                    Method::POST,
                    "/api/v2.0/system/purgeaudit/schedule",
                    Some(body),
                    BASE,
                )
                .await
        }
        "save" => {
            let kind = field(form, "type");
            if !SCHEDULES.contains(&kind.as_str()) {
                return Err(bad("unknown schedule"));
            }
            let body = json!({
                "schedule": { "type": kind, "cron": field(form, "cron") },
                "parameters": parameters(form, false)?,
            });
            change
                .forward(
                    &state.api,
                    Method::PUT,
                    "/api/v2.0/system/purgeaudit/schedule",
                    Some(body),
                    BASE,
                )
                .await
        }
        _ => Err(bad("unknown action")),
    }
}

/// `POST /harbor/clearing-job/audit-log-purge/{id}/stop`.
pub(super) async fn stop(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    change
        .send(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/system/purgeaudit/{id}"),
            None,
        )
        .await?;
    Ok(see_other(BASE))
}

/// `GET /harbor/clearing-job/audit-log-purge/{id}/log`: a run's log.
pub(super) async fn log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let run: Value = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/system/purgeaudit/{id}"),
        )
        .await?
        .json()?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/system/purgeaudit/{id}/log"),
        )
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    let status = run["job_status"].as_str().unwrap_or_default();
    let body = html! {
        p { a href=(BASE) { "Log Rotation" } " /" }
        h1 { "Log of purge run " (id) }
        p { "Status: " strong.gc-status { (status) } }
        pre id="purge-log" data-refresh=[unfinished(status).then_some("2")] { (text) }
    };
    Ok(layout::html(layout::page(
        &format!("Purge run {id}"),
        Some(&viewer),
        Nav::Gc,
        body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_becomes_the_purge_parameters_in_hours() {
        let f = form(&[
            ("retention", "2"),
            ("unit", "days"),
            ("operation", "create"),
            ("operation", "pull"),
            ("operation", "drop-table"),
        ]);
        assert_eq!(
            parameters(&f, true).unwrap(),
            json!({"audit_retention_hour": 48, "include_operations": "create,pull", "dry_run": true})
        );
        assert!(parameters(
            &form(&[("retention", "0"), ("unit", "hours"), ("operation", "pull")]),
            false
        )
        .is_err());
        assert!(parameters(&form(&[("retention", "3"), ("unit", "hours")]), false).is_err());
        assert!(parameters(
            &form(&[("retention", "3"), ("unit", "weeks"), ("operation", "pull")]),
            false
        )
        .is_err());
    }
}
