//! `/projects/{project}/members`: add a user with a role, change the role,
//! remove, list, in Harbor's `ProjectMember` and `ProjectMemberEntity` shapes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::{AuditOperation, AuditResource, Member, Role};
use serde::{Deserialize, Serialize};

use super::paging::slice;
use super::usergroups::{new_group, UserGroupBody};
use super::{
    created, json, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery, ListParams,
    Paged,
};

/// Harbor's `UserEntity`.
#[derive(Debug, Deserialize)]
pub(super) struct MemberUser {
    user_id: Option<i64>,
    username: Option<String>,
}

/// Harbor's `ProjectMember`.
#[derive(Debug, Deserialize)]
pub(super) struct ProjectMember {
    role_id: i64,
    member_user: Option<MemberUser>,
    member_group: Option<UserGroupBody>,
}

/// Harbor's `RoleRequest`.
#[derive(Debug, Deserialize)]
pub(super) struct RoleRequest {
    role_id: i64,
}

/// `GET .../members?entityname=`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    entityname: Option<String>,
}

/// Harbor's `ProjectMemberEntity`.
#[derive(Debug, Serialize)]
pub(super) struct MemberResp {
    id: i64,
    project_id: i64,
    entity_name: String,
    entity_id: i64,
    entity_type: &'static str,
    role_id: i64,
    role_name: &'static str,
}

impl From<&Member> for MemberResp {
    fn from(m: &Member) -> Self {
        MemberResp {
            id: m.id,
            project_id: m.project_id,
            entity_name: m.entity_name.clone(),
            entity_id: m.entity_id,
            entity_type: m.entity_type.as_str(),
            role_id: m.role.id(),
            role_name: m.role.name(),
        }
    }
}

fn role(id: i64) -> Result<Role, HarborError> {
    Role::from_id(id).ok_or_else(|| {
        HarborError::bad_request(format!(
            "role_id {id} is not a role: 1 ProjectAdmin, 2 Developer, 3 Guest, 4 Maintainer, 5 LimitedGuest"
        ))
    })
}

fn member_id(raw: &str) -> Result<i64, HarborError> {
    raw.parse()
        .map_err(|_| HarborError::bad_request(format!("member id {raw:?} is not a number")))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    list: ListParams,
    HarborQuery(q): HarborQuery<ListQuery>,
    uri: Uri,
) -> ApiResult<Paged<MemberResp>> {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Member, Action::List)
        .await?;
    let mut all = state.auth.identity.list_members(p.id).await?;
    if let Some(name) = q.entityname.as_deref() {
        all.retain(|m| m.entity_name.contains(name));
    }
    Ok(Paged {
        items: slice(&all, list.page)
            .iter()
            .map(MemberResp::from)
            .collect(),
        total: all.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<HarborJson<ProjectMember>, HarborError>,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Member, Action::Create)
        .await?;
    let HarborJson(r) = body?;
    let role = role(r.role_id)?;
    let who = match (r.member_user, r.member_group) {
        (Some(user), None) => user,
        (None, Some(group)) => return add_group(&state, &caller, &p, &key, &group, role).await,
        _ => {
            return Err(HarborError::bad_request(
                "give either member_user or member_group",
            ))
        }
    };
    let user = match (who.user_id, who.username.as_deref()) {
        (Some(id), _) => state.auth.identity.user_by_id(id).await?,
        (None, Some(name)) => state.auth.identity.user_by_name(name).await?,
        (None, None) => {
            return Err(HarborError::bad_request(
                "member_user needs user_id or username",
            ))
        }
    };
    let user = user.ok_or_else(|| HarborError::not_found("user not found"))?;
    let m = state.auth.identity.add_member(p.id, user.id, role).await?;
    tracing::info!(project = %p.name, user = %user.username, role = role.name(), by = %caller.0, "member added");
    state
        .audit(
            Some(&p.name),
            &caller,
            user.username.clone(),
            AuditResource::Member,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!(
        "/api/v2.0/projects/{key}/members/{}",
        m.id
    )))
}

/// Adds a user group: the one `member_group.id` names, or else the group its
/// type and name (or LDAP DN) name, created if new, as Harbor onboards it.
async fn add_group(
    state: &AppState,
    caller: &Caller,
    p: &harbor_core::Project,
    key: &str,
    body: &UserGroupBody,
    role: Role,
) -> ApiResult {
    let identity = &state.auth.identity;
    let group = match body.id.filter(|id| *id > 0) {
        Some(id) => identity
            .group_by_id(id)
            .await?
            .ok_or_else(|| HarborError::not_found(format!("user group {id} not found")))?,
        None => {
            let wanted = new_group(body)?;
            identity
                .onboard_groups(std::slice::from_ref(&wanted))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| HarborError::not_found("user group not found"))?
        }
    };
    let m = identity.add_group_member(p.id, group.id, role).await?;
    tracing::info!(project = %p.name, group = %group.name, role = role.name(), by = %caller.0, "group member added");
    state
        .audit(
            Some(&p.name),
            caller,
            group.name.clone(),
            AuditResource::Member,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!(
        "/api/v2.0/projects/{key}/members/{}",
        m.id
    )))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, mid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Member, Action::Read)
        .await?;
    let m = state
        .auth
        .identity
        .member_by_id(p.id, member_id(&mid)?)
        .await?
        .ok_or_else(|| HarborError::not_found("member not found"))?;
    Ok(json(StatusCode::OK, &MemberResp::from(&m)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, mid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<HarborJson<RoleRequest>, HarborError>,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Member, Action::Update)
        .await?;
    let HarborJson(r) = body?;
    let role = role(r.role_id)?;
    if !state
        .auth
        .identity
        .set_member_role(p.id, member_id(&mid)?, role)
        .await?
    {
        return Err(HarborError::not_found("member not found"));
    }
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, mid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Member, Action::Delete)
        .await?;
    if !state
        .auth
        .identity
        .remove_member(p.id, member_id(&mid)?)
        .await?
    {
        return Err(HarborError::not_found("member not found"));
    }
    Ok(StatusCode::OK.into_response())
}
