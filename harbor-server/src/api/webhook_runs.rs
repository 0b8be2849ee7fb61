//! A webhook policy's executions (one per event), their tasks (one per
//! target) and each task's log, in Harbor's `Execution` and `Task` shapes
//! under `/projects/{project}/webhook/policies/{id}/executions`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_auth::{Action, Resource};
use harbor_core::{DeliveryStatus, WebhookExecution, WebhookPolicy, WebhookTask};
use serde::Serialize;
use serde_json::{json, Value};

use super::webhooks::{id_of, policy_of, service};
use super::{time, ApiResult, AppState, Caller, HarborError, ListParams, Paged};
use crate::webhook::WebhookService;

/// Harbor's `Execution` of a webhook policy.
#[derive(Debug, Serialize)]
pub(super) struct ExecutionResp {
    id: i64,
    vendor_type: &'static str,
    vendor_id: i64,
    status: &'static str,
    status_message: String,
    metrics: Value,
    trigger: &'static str,
    extra_attrs: Value,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

/// Harbor names a finished task `Success` or `Error`, a waiting one
/// `Pending` and one being sent `Running`.
fn status(s: DeliveryStatus) -> &'static str {
    s.as_str()
}

fn execution_resp(e: &WebhookExecution, tasks: &[WebhookTask]) -> ExecutionResp {
    let count = |s: DeliveryStatus| tasks.iter().filter(|t| t.status == s).count();
    let payload: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    ExecutionResp {
        id: e.id,
        vendor_type: "WEBHOOK",
        vendor_id: e.policy_id,
        status: status(e.status),
        status_message: String::new(),
        metrics: json!({
            "task_count": tasks.len(),
            "success_task_count": count(DeliveryStatus::Success),
            "error_task_count": count(DeliveryStatus::Error),
            "pending_task_count": count(DeliveryStatus::Pending),
            "running_task_count": count(DeliveryStatus::Running),
            "scheduled_task_count": 0,
            "stopped_task_count": 0,
        }),
        trigger: "EVENT",
        extra_attrs: json!({ "payload": payload }),
        start_time: time(e.start_time),
        end_time: e.end_time.map(time),
    }
}

pub(super) async fn executions(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<ExecutionResp>> {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::List,
        )
        .await?;
    let svc = service(&state)?;
    let policy = policy_of(svc, &p, &id).await?;
    let (list_now, total) = svc.store().webhook_executions(policy.id, list.page).await?;
    let mut items = Vec::with_capacity(list_now.len());
    for e in &list_now {
        let tasks = svc.store().webhook_tasks(e.id).await?;
        items.push(execution_resp(e, &tasks));
    }
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

/// Harbor's `Task` of a webhook execution.
#[derive(Debug, Serialize)]
pub(super) struct TaskResp {
    id: i64,
    execution_id: i64,
    status: &'static str,
    status_message: String,
    run_count: u32,
    extra_attrs: Value,
    creation_time: String,
    update_time: String,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

async fn execution_of(
    svc: &WebhookService,
    policy: &WebhookPolicy,
    raw: &str,
) -> ApiResult<WebhookExecution> {
    let id = id_of(raw, "execution id")?;
    svc.store()
        .webhook_execution(id)
        .await?
        .filter(|e| e.policy_id == policy.id)
        .ok_or_else(|| HarborError::not_found(format!("execution {id} not found")))
}

pub(super) async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id, execution)): Path<(String, String, String)>,
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<TaskResp>> {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::List,
        )
        .await?;
    let svc = service(&state)?;
    let policy = policy_of(svc, &p, &id).await?;
    let e = execution_of(svc, &policy, &execution).await?;
    let all = svc.store().webhook_tasks(e.id).await?;
    let items = super::paging::slice(&all, list.page)
        .iter()
        .map(|t| {
            let finished = matches!(t.status, DeliveryStatus::Success | DeliveryStatus::Error);
            TaskResp {
                id: t.id,
                execution_id: t.execution_id,
                status: status(t.status),
                status_message: String::new(),
                run_count: t.run_count,
                extra_attrs: json!({
                    "target": {
                        "type": t.target.notify_type.as_str(),
                        "address": t.target.address,
                        "payload_format": t.target.payload_format.as_str(),
                    }
                }),
                creation_time: time(t.creation_time),
                update_time: time(t.update_time),
                start_time: time(t.creation_time),
                end_time: finished.then(|| time(t.update_time)),
            }
        })
        .collect();
    Ok(Paged {
        items,
        total: all.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn task_log(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id, execution, task)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Read,
        )
        .await?;
    let svc = service(&state)?;
    let policy = policy_of(svc, &p, &id).await?;
    let e = execution_of(svc, &policy, &execution).await?;
    let task = id_of(&task, "task id")?;
    let tasks = svc.store().webhook_tasks(e.id).await?;
    if !tasks.iter().any(|t| t.id == task) {
        return Err(HarborError::not_found(format!("task {task} not found")));
    }
    let log = svc
        .store()
        .webhook_task_log(task)
        .await?
        .unwrap_or_default();
    let mut resp = (StatusCode::OK, log).into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    Ok(resp)
}
