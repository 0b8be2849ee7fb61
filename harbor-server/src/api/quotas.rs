//! `/quotas`: project storage quotas in Harbor's `Quota` shape (list with
//! `reference`, `reference_id`, `sort` and paging; get; `PUT` a new hard
//! limit). System administrators only, as in Harbor.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_core::quota::parse_limit;
use harbor_core::{Page, Quota, QuotaSort};
use serde::{Deserialize, Serialize};

use super::registries::id_of;
use super::{json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery};
use super::{ListParams, Paged};
use crate::quota::Quotas;

/// The one resource this server limits (Harbor's `count` is gone since 2.0).
const STORAGE: &str = "storage";

/// Harbor's `Quota`.
#[derive(Debug, Serialize)]
pub(super) struct QuotaResp {
    id: i64,
    #[serde(rename = "ref")]
    reference: QuotaRef,
    hard: BTreeMap<&'static str, i64>,
    used: BTreeMap<&'static str, i64>,
    creation_time: String,
    update_time: String,
}

/// Harbor's `QuotaRefObject` for a project.
#[derive(Debug, Serialize)]
struct QuotaRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    name: String,
    owner_name: String,
}

/// Harbor's `ResourceList` of a limit (`-1`: unlimited).
pub(super) fn hard(limit: Option<u64>) -> BTreeMap<&'static str, i64> {
    let value = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    BTreeMap::from([(STORAGE, value)])
}

/// Harbor's `ResourceList` of a usage.
pub(super) fn used(bytes: u64) -> BTreeMap<&'static str, i64> {
    BTreeMap::from([(STORAGE, i64::try_from(bytes).unwrap_or(i64::MAX))])
}

/// Query parameters of `GET /quotas` besides paging.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    reference: Option<String>,
    reference_id: Option<String>,
    sort: Option<String>,
}

/// Harbor's `QuotaUpdateReq`.
#[derive(Debug, Deserialize)]
pub(super) struct UpdateReq {
    hard: Option<BTreeMap<String, i64>>,
}

pub(super) fn quotas(state: &AppState) -> ApiResult<&Arc<Quotas>> {
    state
        .quotas
        .as_ref()
        .ok_or_else(|| HarborError::not_found("quotas are not enabled on this server"))
}

async fn resp(state: &AppState, q: Quota) -> ApiResult<QuotaResp> {
    let project = state.auth.identity.project_by_name(&q.project).await?;
    let owner = match &project {
        Some(p) => state.auth.identity.user_by_id(p.owner_id).await?,
        None => None,
    };
    Ok(QuotaResp {
        id: q.id,
        reference: QuotaRef {
            id: project.map(|p| p.id),
            name: q.project,
            owner_name: owner.map(|o| o.username).unwrap_or_default(),
        },
        hard: hard(q.limit),
        used: used(q.used),
        creation_time: time(q.created_at),
        update_time: time(q.updated_at),
    })
}

/// `GET /quotas`.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(query): HarborQuery<ListQuery>,
    uri: Uri,
) -> ApiResult<Paged<QuotaResp>> {
    caller.require_system("quota", "list")?;
    let store = &quotas(&state)?.store;
    let sort = match query.sort.as_deref() {
        None => QuotaSort::Id,
        Some(s) => QuotaSort::parse(s).ok_or_else(|| {
            HarborError::bad_request(format!(
                "sort {s:?} is not supported: hard.storage, used.storage, creation_time or update_time, with '-' for descending"
            ))
        })?,
    };
    let empty = |page: Page| Paged {
        items: Vec::new(),
        total: 0,
        page,
        uri: uri.clone(),
    };
    // Projects are the only references quotas have.
    if query
        .reference
        .as_deref()
        .is_some_and(|r| !r.is_empty() && r != "project")
    {
        return Ok(empty(list.page));
    }
    let (found, total) = match query.reference_id.as_deref().filter(|r| !r.is_empty()) {
        Some(raw) => {
            let id: i64 = raw.parse().map_err(|_| {
                HarborError::bad_request(format!("reference_id {raw:?} is not a project id"))
            })?;
            let quota = match state.auth.identity.project_by_id(id).await? {
                Some(p) => store.quota(&p.name).await?,
                None => None,
            };
            let all: Vec<Quota> = quota.into_iter().collect();
            let total = all.len() as u64;
            (super::paging::slice(&all, list.page).to_vec(), total)
        }
        None => store.list_quotas(sort, list.page).await?,
    };
    let mut items = Vec::with_capacity(found.len());
    for q in found {
        items.push(resp(&state, q).await?);
    }
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

async fn quota_of(state: &AppState, raw: &str) -> ApiResult<Quota> {
    let id = id_of(raw)?;
    quotas(state)?
        .store
        .quota_by_id(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("quota {id} not found")))
}

/// `GET /quotas/{id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("quota", "read")?;
    let q = quota_of(&state, &id).await?;
    Ok(json(StatusCode::OK, &resp(&state, q).await?))
}

/// `PUT /quotas/{id}`: a new storage limit; usage may already be above it
/// (further pushes are then refused until something is deleted).
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<UpdateReq>, HarborError>,
) -> ApiResult<Response> {
    caller.require_system("quota", "update")?;
    let HarborJson(req) = body?;
    let q = quota_of(&state, &id).await?;
    let hard = req
        .hard
        .ok_or_else(|| HarborError::bad_request("hard is required"))?;
    if let Some(other) = hard.keys().find(|k| k.as_str() != STORAGE) {
        return Err(HarborError::bad_request(format!(
            "resource {other:?} is not supported: only storage is limited"
        )));
    }
    let value = hard
        .get(STORAGE)
        .ok_or_else(|| HarborError::bad_request("hard.storage is required"))?;
    let limit = parse_limit(*value)?;
    quotas(&state)?
        .store
        .set_storage_limit(&q.project, limit)
        .await?;
    tracing::info!(project = %q.project, limit = value, by = %caller.0, "storage limit set");
    Ok(StatusCode::OK.into_response())
}
