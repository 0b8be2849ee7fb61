//! `/system/purgeaudit`: audit log purge runs (Harbor's purge history),
//! their logs, stopping one that has not begun, and the schedule, in
//! Harbor's `ExecHistory` and `Schedule` shapes. System administrators
//! only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_core::{JobKind, JobRecord, JobTrigger};

use super::gc::{
    history, log_answer, run_of, schedule_answer, schedule_of, GcHistory, ScheduleReq,
};
use super::{
    created, json, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged,
};
use crate::purge_audit::{PurgeParameters, PurgeService};

fn purge(state: &AppState) -> ApiResult<&Arc<PurgeService>> {
    state
        .purge_audit
        .as_ref()
        .ok_or_else(|| HarborError::not_found("audit log purging is not enabled on this server"))
}

/// `GET /system/purgeaudit`: runs, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<GcHistory>> {
    caller.require_system("purge-audit", "list")?;
    history(purge(&state)?.jobs.as_ref(), JobKind::PurgeAudit, list, uri).await
}

async fn purge_run(svc: &PurgeService, raw: &str) -> ApiResult<JobRecord> {
    run_of(svc.jobs.as_ref(), JobKind::PurgeAudit, raw, "purge").await
}

/// `GET /system/purgeaudit/{purge_id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("purge-audit", "read")?;
    let run = purge_run(purge(&state)?, &id).await?;
    Ok(json(StatusCode::OK, &GcHistory::from(&run)))
}

/// `PUT /system/purgeaudit/{purge_id}`: stops a run that has not begun.
pub(super) async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("purge-audit", "stop")?;
    let svc = purge(&state)?;
    let run = purge_run(svc, &id).await?;
    svc.stop(run.id).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /system/purgeaudit/{purge_id}/log`.
pub(super) async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_system("purge-audit", "read")?;
    let svc = purge(&state)?;
    let run = purge_run(svc, &id).await?;
    log_answer(svc.jobs.as_ref(), &run).await
}

/// `GET /system/purgeaudit/schedule`.
pub(super) async fn get_schedule(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_system("purge-audit", "read")?;
    let schedule = purge(&state)?
        .jobs
        .job_schedule(JobKind::PurgeAudit)
        .await?;
    Ok(schedule_answer(JobKind::PurgeAudit, schedule.as_ref()))
}

/// `POST /system/purgeaudit/schedule`: `Manual` purges now (`201` with the
/// run's `Location`); the other types set or remove the schedule.
pub(super) async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<ScheduleReq>, HarborError>,
) -> ApiResult {
    caller.require_system("purge-audit", "create")?;
    let HarborJson(req) = body?;
    match kick(purge(&state)?, req).await? {
        Some(id) => Ok(created(&format!("/api/v2.0/system/purgeaudit/{id}"))),
        None => Ok(created("/api/v2.0/system/purgeaudit/schedule")),
    }
}

/// `PUT /system/purgeaudit/schedule`: as POST, answered `200`.
pub(super) async fn update_schedule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<ScheduleReq>, HarborError>,
) -> ApiResult {
    caller.require_system("purge-audit", "update")?;
    let HarborJson(req) = body?;
    kick(purge(&state)?, req).await?;
    Ok(StatusCode::OK.into_response())
}

async fn kick(svc: &PurgeService, req: ScheduleReq) -> ApiResult<Option<i64>> {
    let (schedule, parameters) = req.into_parts();
    let schedule = schedule.ok_or_else(|| HarborError::bad_request("schedule is required"))?;
    let params: PurgeParameters = serde_json::from_value(serde_json::Value::Object(parameters))
        .map_err(|e| HarborError::bad_request(format!("invalid parameters: {e}")))?;
    params.validate()?;
    if schedule.is_manual() {
        let run = svc.start(&params, JobTrigger::Manual).await?;
        return Ok(Some(run.id));
    }
    let parameters = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
    svc.set_schedule(schedule_of(&schedule, parameters)?.as_ref())
        .await?;
    Ok(None)
}
