//! `/system/gc`: garbage collection runs (Harbor's GC history), their logs,
//! stopping one, and the schedule, in Harbor's `GCHistory` and `Schedule`
//! shapes. System administrators only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_core::{JobKind, JobRecord, JobSchedule, JobStore, JobTrigger, ScheduleType};
use serde::{Deserialize, Serialize};

use super::registries::id_of;
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged,
};
use crate::gc::{GcParameters, GcService};

/// Harbor's `ScheduleObj`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct ScheduleObj {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cron: String,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    next_scheduled_time: Option<String>,
}

/// Harbor's `Schedule` (what POST and PUT take).
#[derive(Debug, Deserialize)]
pub(super) struct ScheduleReq {
    schedule: Option<ScheduleObj>,
    #[serde(default)]
    parameters: serde_json::Map<String, serde_json::Value>,
}

impl ScheduleReq {
    /// The schedule and the job's parameters.
    pub(super) fn into_parts(
        self,
    ) -> (
        Option<ScheduleObj>,
        serde_json::Map<String, serde_json::Value>,
    ) {
        (self.schedule, self.parameters)
    }
}

impl ScheduleObj {
    /// Whether it asks for a run now rather than a schedule.
    pub(super) fn is_manual(&self) -> bool {
        self.kind == "Manual"
    }
}

/// Harbor's `GCHistory`, which is also its purge `ExecHistory`.
#[derive(Debug, Serialize)]
pub(super) struct GcHistory {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    job_name: &'static str,
    job_kind: String,
    job_parameters: String,
    schedule: ScheduleObj,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_status: Option<&'static str>,
    deleted: bool,
    creation_time: String,
    update_time: String,
}

impl From<&JobRecord> for GcHistory {
    fn from(r: &JobRecord) -> Self {
        GcHistory {
            id: Some(r.id),
            job_name: r.kind.as_str(),
            job_kind: r.trigger.as_str().to_owned(),
            job_parameters: r.parameters.clone(),
            // Harbor's enum spells what started a run `Manual` or
            // `Schedule` here (and `MANUAL` or `SCHEDULE` in `job_kind`).
            schedule: ScheduleObj {
                kind: match r.trigger {
                    JobTrigger::Manual => "Manual",
                    JobTrigger::Schedule => "Schedule",
                }
                .to_owned(),
                ..ScheduleObj::default()
            },
            job_status: Some(r.status.as_str()),
            deleted: false,
            creation_time: time(r.creation_time),
            update_time: time(r.update_time),
        }
    }
}

fn gc(state: &AppState) -> ApiResult<&Arc<GcService>> {
    state
        .gc
        .as_ref()
        .ok_or_else(|| HarborError::not_found("garbage collection is not enabled on this server"))
}

/// `GET /system/gc`: runs, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<GcHistory>> {
    caller.require_system("garbage-collection", "list")?;
    history(
        gc(&state)?.jobs.as_ref(),
        JobKind::GarbageCollection,
        list,
        uri,
    )
    .await
}

/// A system job's runs, newest first, as Harbor's history entries.
pub(super) async fn history(
    jobs: &dyn JobStore,
    kind: JobKind,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<GcHistory>> {
    let (runs, total) = jobs.list_jobs(kind, list.page).await?;
    Ok(Paged {
        items: runs.iter().map(GcHistory::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

/// Run `raw` of a system job of `kind` (`what` names it in the 404).
pub(super) async fn run_of(
    jobs: &dyn JobStore,
    kind: JobKind,
    raw: &str,
    what: &str,
) -> ApiResult<JobRecord> {
    let id = id_of(raw)?;
    jobs.job(id)
        .await?
        .filter(|r| r.kind == kind)
        .ok_or_else(|| HarborError::not_found(format!("{what} {id} not found")))
}

/// A run's log as text.
pub(super) async fn log_answer(jobs: &dyn JobStore, run: &JobRecord) -> ApiResult<Response> {
    let text = jobs.job_log(run.id).await?.unwrap_or_default();
    let mut resp = (StatusCode::OK, text).into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    Ok(resp)
}

async fn gc_run(svc: &GcService, raw: &str) -> ApiResult<JobRecord> {
    run_of(
        svc.jobs.as_ref(),
        JobKind::GarbageCollection,
        raw,
        "garbage collection",
    )
    .await
}

/// `GET /system/gc/{gc_id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("garbage-collection", "read")?;
    let run = gc_run(gc(&state)?, &id).await?;
    Ok(json(StatusCode::OK, &GcHistory::from(&run)))
}

/// `PUT /system/gc/{gc_id}`: stops the run, wherever it runs.
pub(super) async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("garbage-collection", "stop")?;
    let svc = gc(&state)?;
    let run = gc_run(svc, &id).await?;
    svc.stop(run.id).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /system/gc/{gc_id}/log`: the run's log as text.
pub(super) async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_system("garbage-collection", "read")?;
    let svc = gc(&state)?;
    let run = gc_run(svc, &id).await?;
    log_answer(svc.jobs.as_ref(), &run).await
}

/// `GET /system/gc/schedule`: the schedule as a `GCHistory`, or `{}` when
/// there is none (Harbor's swagger promises a JSON body).
pub(super) async fn get_schedule(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_system("garbage-collection", "read")?;
    let schedule = gc(&state)?
        .jobs
        .job_schedule(JobKind::GarbageCollection)
        .await?;
    Ok(schedule_answer(
        JobKind::GarbageCollection,
        schedule.as_ref(),
    ))
}

/// A job's schedule as Harbor answers it: a history entry without id, or
/// `{}` when there is none.
pub(super) fn schedule_answer(kind: JobKind, schedule: Option<&JobSchedule>) -> Response {
    let Some(s) = schedule else {
        return json(StatusCode::OK, &serde_json::json!({}));
    };
    json(
        StatusCode::OK,
        &GcHistory {
            id: None,
            job_name: kind.as_str(),
            job_kind: JobTrigger::Schedule.as_str().to_owned(),
            job_parameters: s.parameters.clone(),
            schedule: ScheduleObj {
                kind: s.schedule_type.as_str().to_owned(),
                cron: s.cron.clone(),
                next_scheduled_time: GcService::next_time(s).map(|t| t.to_rfc3339()),
            },
            job_status: None,
            deleted: false,
            creation_time: time(s.creation_time),
            update_time: time(s.update_time),
        },
    )
}

/// What a `Schedule` of type other than `Manual` asks: the schedule to set,
/// or `None` to remove it (type `None`).
pub(super) fn schedule_of(
    schedule: &ScheduleObj,
    parameters: String,
) -> ApiResult<Option<JobSchedule>> {
    if schedule.kind == "None" {
        return Ok(None);
    }
    let kind = ScheduleType::parse(&schedule.kind).ok_or_else(|| {
        HarborError::bad_request(format!(
            "unknown schedule type {:?}: expected Manual, Hourly, Daily, Weekly, Custom or None",
            schedule.kind
        ))
    })?;
    let cron = match (schedule.cron.trim(), kind.fixed_cron()) {
        ("", Some(fixed)) => fixed.to_owned(),
        ("", None) => {
            return Err(HarborError::bad_request(
                "empty cron string for the schedule",
            ))
        }
        (given, _) => given.to_owned(),
    };
    Ok(Some(JobSchedule {
        schedule_type: kind,
        cron,
        parameters,
        creation_time: std::time::SystemTime::now(),
        update_time: std::time::SystemTime::now(),
    }))
}

/// `POST /system/gc/schedule`: `Manual` runs now (`201` with the run's
/// `Location`); `Hourly`, `Daily`, `Weekly`, `Custom` set the schedule;
/// `None` removes it.
pub(super) async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<ScheduleReq>, HarborError>,
) -> ApiResult {
    caller.require_system("garbage-collection", "create")?;
    let HarborJson(req) = body?;
    match kick(gc(&state)?, req).await? {
        Some(id) => Ok(created(&format!("/api/v2.0/system/gc/{id}"))),
        None => Ok(created("/api/v2.0/system/gc/schedule")),
    }
}

/// `PUT /system/gc/schedule`: as POST, answered `200`.
pub(super) async fn update_schedule(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<ScheduleReq>, HarborError>,
) -> ApiResult {
    caller.require_system("garbage-collection", "update")?;
    let HarborJson(req) = body?;
    kick(gc(&state)?, req).await?;
    Ok(StatusCode::OK.into_response())
}

/// Does what a `Schedule` asks; the id of a run it started.
async fn kick(svc: &GcService, req: ScheduleReq) -> ApiResult<Option<i64>> {
    let schedule = req
        .schedule
        .ok_or_else(|| HarborError::bad_request("schedule is required"))?;
    let params: GcParameters = serde_json::from_value(serde_json::Value::Object(req.parameters))
        .map_err(|e| HarborError::bad_request(format!("invalid parameters: {e}")))?;
    params.validate()?;
    if schedule.kind == "Manual" {
        let run = svc.start(&params, JobTrigger::Manual).await?;
        return Ok(Some(run.id));
    }
    let parameters = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
    svc.set_schedule(schedule_of(&schedule, parameters)?.as_ref())
        .await?;
    Ok(None)
}
