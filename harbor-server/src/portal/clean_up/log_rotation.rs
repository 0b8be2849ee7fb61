//! Clean Up → Log Rotation: purging the audit log. Purge now or as a dry
//! run, keeping the records of the last N hours or days and choosing which
//! operations' records go; the schedule (with the same parameters); the
//! history with each run's log and, while a run is pending (a purge cannot
//! stop once begun), a Stop button.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;
use serde_json::{json, Value};

use super::{next_run, schedule_fields, schedule_kind, Job, Tab};
use crate::portal::error::PortalError;
use crate::portal::fields::{field, values, Fields};
use crate::portal::layout::{self, PageQuery};
use crate::portal::viewer::{Change, Viewer};
use crate::portal::PortalState;

/// The audit log purge, as Harbor's `/system/purgeaudit` serves it.
pub(in crate::portal) const LOG_ROTATION: Job = Job {
    tab: Tab::LogRotation,
    api: "/api/v2.0/system/purgeaudit",
    page: "/harbor/clearing-job/audit-log-purge",
    title: "Log Rotation",
    run: "purge run",
    ids: ("purge-history", "purge-log"),
    stoppable: |status| status == "Pending",
    missing: "Audit log purging is not set up on this server.",
    forbidden: "Only system administrators purge the audit log.",
};

/// The operations whose records may be purged, as the API names them.
const OPERATIONS: [(&str, &str); 4] = [
    ("create", "Create"),
    ("delete", "Delete"),
    ("pull", "Pull"),
    ("update", "Update"),
];

/// `GET /harbor/clearing-job/audit-log-purge`.
pub(in crate::portal) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> Result<Response, PortalError> {
    let history = LOG_ROTATION
        .history(&state, &viewer, q.page.as_deref())
        .await?;
    // The schedule's parameters fill the form; Harbor's defaults without.
    let params: Value = history.schedule["job_parameters"]
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
    let form = html! {
        form.panel id="purge-form" method="post" action=(LOG_ROTATION.page) {
            (layout::csrf_field(&viewer.csrf))
            div.row { (schedule_fields(&history, "Schedule to purge")) }
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
            (next_run(&history))
            button.secondary type="submit" name="action" value="save" { "Save schedule" }
            " "
            button.secondary type="submit" name="action" value="dry_run" { "Dry Run" }
            " "
            button type="submit" name="action" value="purge" { "Purge Now" }
        }
    };
    Ok(LOG_ROTATION.render(&viewer, &history, form))
}

/// The purge's parameters from the form, as the API takes them.
fn parameters(form: &Fields, dry_run: bool) -> Result<Value, PortalError> {
    let amount: u64 = field(form, "retention")
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| PortalError::bad_request("keep records of at least 1 hour or day"))?;
    let hours = match field(form, "unit").as_str() {
        "hours" => amount,
        "days" => amount
            .checked_mul(24)
            .ok_or_else(|| PortalError::bad_request("the retention is too long"))?,
        _ => {
            return Err(PortalError::bad_request(
                "the retention unit is hours or days",
            ))
        }
    };
    let ops: Vec<&str> = values(form, "operation")
        .filter_map(|v| {
            OPERATIONS
                .iter()
                .find(|(op, _)| *op == v)
                .map(|(op, _)| *op)
        })
        .collect();
    if ops.is_empty() {
        return Err(PortalError::bad_request(
            "choose the operations whose records are purged",
        ));
    }
    Ok(json!({
        "audit_retention_hour": hours,
        "include_operations": ops.join(","),
        "dry_run": dry_run,
    }))
}

/// `POST /harbor/clearing-job/audit-log-purge`: purge now, a dry run, or
/// the schedule saved, by the button pressed.
pub(in crate::portal) async fn run(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    let form = &change.form;
    let (method, body) = match field(form, "action").as_str() {
        action @ ("purge" | "dry_run") => (
            Method::POST,
            json!({
                "schedule": { "type": "Manual" },
                "parameters": parameters(form, action == "dry_run")?,
            }),
        ),
        "save" => (
            Method::PUT,
            json!({
                "schedule": { "type": schedule_kind(&field(form, "type"))?, "cron": field(form, "cron") },
                "parameters": parameters(form, false)?,
            }),
        ),
        _ => return Err(PortalError::bad_request("unknown action")),
    };
    LOG_ROTATION.schedule(&state, &change, method, body).await
}

/// `POST /harbor/clearing-job/audit-log-purge/{id}/stop`.
pub(in crate::portal) async fn stop(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    LOG_ROTATION.stop(&state, &change, id).await
}

/// `GET /harbor/clearing-job/audit-log-purge/{id}/log`: a run's log.
pub(in crate::portal) async fn log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    LOG_ROTATION.log(&state, &viewer, id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::fields::of as form;

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
