//! `GET /audit-logs` (system administrators) and `GET /projects/{project}/logs`,
//! in Harbor's `AuditLog` shape.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use harbor_auth::{Action, Resource};
use harbor_core::{AuditEntry, AuditOperation, AuditQuery, AuditResource};
use serde::Serialize;

use super::q::{Cond, Q};
use super::{time, ApiResult, AppState, Caller, HarborError, ListParams, Paged};

/// Harbor's `AuditLog`.
#[derive(Debug, Serialize)]
pub(super) struct AuditLogResp {
    id: i64,
    username: String,
    resource: String,
    resource_type: &'static str,
    operation: &'static str,
    op_time: String,
}

impl From<AuditEntry> for AuditLogResp {
    fn from(e: AuditEntry) -> Self {
        AuditLogResp {
            id: e.id,
            username: e.username,
            resource: e.resource,
            resource_type: e.resource_type.as_str(),
            operation: e.operation.as_str(),
            op_time: time(e.op_time),
        }
    }
}

/// Harbor's `q` for audit logs: `operation=create,username=admin,resource=~nginx,resource_type=artifact`.
fn audit_query(q: &Q) -> ApiResult<AuditQuery> {
    let exact = |key: &str| match q.get(key) {
        None => Ok(None),
        Some(Cond::Exact(v)) => Ok(Some(v.clone())),
        Some(_) => Err(HarborError::bad_request(format!(
            "q: {key} takes {key}=value"
        ))),
    };
    let operation = exact("operation")?
        .map(|v| {
            AuditOperation::parse(&v)
                .ok_or_else(|| HarborError::bad_request(format!("unknown operation {v:?}")))
        })
        .transpose()?;
    let resource_type = exact("resource_type")?
        .map(|v| {
            AuditResource::parse(&v)
                .ok_or_else(|| HarborError::bad_request(format!("unknown resource_type {v:?}")))
        })
        .transpose()?;
    // `resource=x` and `resource=~x` both search within the resource's name.
    let resource_contains = q
        .text("resource")
        .map_err(HarborError::bad_request)?
        .map(|(v, _)| v.to_owned());
    Ok(AuditQuery {
        project: None,
        username: exact("username")?,
        operation,
        resource_type,
        resource_contains,
    })
}

async fn page(
    state: &AppState,
    q: AuditQuery,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<AuditLogResp>> {
    let (entries, total) = state.auth.identity.list_audit(&q, list.page).await?;
    Ok(Paged {
        items: entries.into_iter().map(AuditLogResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn system(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<AuditLogResp>> {
    caller.require_system("audit-log", "list")?;
    let q = audit_query(&list.q)?;
    page(&state, q, list, uri).await
}

pub(super) async fn project(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<AuditLogResp>> {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Log, Action::List)
        .await?;
    let mut q = audit_query(&list.q)?;
    q.project = Some(p.name.clone());
    page(&state, q, list, uri).await
}
