//! `GET /audit-logs` (system administrators) and `GET /projects/{project}/logs`.

use axum::extract::{Path, Request, State};
use harbor_auth::{Action, Resource};
use harbor_core::{AuditEntry, AuditOperation, AuditQuery, AuditResource};

use super::{
    find_project, page_of, paged, param, query_of, require, time, ApiResult, AppState, Caller,
    HarborError,
};

/// Harbor's `q` for audit logs: `operation=create,username=admin,resource=~nginx,resource_type=artifact`.
fn parse_q(q: Option<&str>) -> ApiResult<AuditQuery> {
    let mut query = AuditQuery::default();
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(query);
    };
    for item in q.split(',') {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| HarborError::bad_request(format!("q item {item:?} is not key=value")))?;
        let v = v.to_owned();
        match k {
            "operation" => {
                query.operation =
                    Some(AuditOperation::parse(&v).ok_or_else(|| {
                        HarborError::bad_request(format!("unknown operation {v:?}"))
                    })?)
            }
            "username" => query.username = Some(v),
            "resource_type" => {
                query.resource_type = Some(AuditResource::parse(&v).ok_or_else(|| {
                    HarborError::bad_request(format!("unknown resource_type {v:?}"))
                })?)
            }
            "resource" => query.resource_contains = Some(v.trim_start_matches('~').to_owned()),
            other => {
                return Err(HarborError::bad_request(format!(
                    "cannot filter audit logs by {other:?}"
                )))
            }
        }
    }
    Ok(query)
}

fn entry_json(e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "username": e.username,
        "resource": e.resource,
        "resource_type": e.resource_type.as_str(),
        "operation": e.operation.as_str(),
        "op_time": time(e.op_time),
    })
}

pub(super) async fn system(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let q = parse_q(param(&query, "q"))?;
    let (entries, total) = state.auth.identity.list_audit(&q, page).await?;
    let items: Vec<_> = entries.iter().map(entry_json).collect();
    Ok(paged("/api/v2.0/audit-logs", &query, page, total, &items))
}

pub(super) async fn project(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    req: Request,
) -> ApiResult {
    let p = find_project(&state, req.headers(), &key).await?;
    require(&state, &caller, &p, Resource::Log, Action::List).await?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let mut q = parse_q(param(&query, "q"))?;
    q.project = Some(p.name.clone());
    let (entries, total) = state.auth.identity.list_audit(&q, page).await?;
    let items: Vec<_> = entries.iter().map(entry_json).collect();
    Ok(paged(
        &format!("/api/v2.0/projects/{key}/logs"),
        &query,
        page,
        total,
        &items,
    ))
}
