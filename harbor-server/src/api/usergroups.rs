//! `/usergroups`: Harbor's user groups (LDAP, HTTP and OIDC groups), which
//! can be project members. System administrators manage them; any signed-in
//! user may search them by name, to add one to a project.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_core::{GroupQuery, GroupType, NewUserGroup, UserGroup};
use serde::{Deserialize, Serialize};

use super::{
    created, json, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery, ListParams,
    Paged,
};

/// The longest group name accepted (Harbor's column is 255 characters).
const MAX_NAME: usize = 255;

/// Harbor's `UserGroup`, as read and as written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct UserGroupBody {
    #[serde(default)]
    pub(super) id: Option<i64>,
    #[serde(default)]
    pub(super) group_name: Option<String>,
    #[serde(default)]
    pub(super) group_type: Option<i64>,
    #[serde(default)]
    pub(super) ldap_group_dn: Option<String>,
}

impl From<&UserGroup> for UserGroupBody {
    fn from(g: &UserGroup) -> Self {
        UserGroupBody {
            id: Some(g.id),
            group_name: Some(g.name.clone()),
            group_type: Some(g.group_type.id()),
            ldap_group_dn: Some(g.ldap_dn.clone()),
        }
    }
}

/// Harbor's `UserGroupSearchItem`.
#[derive(Debug, Serialize)]
pub(super) struct SearchItem {
    id: i64,
    group_name: String,
    group_type: i64,
}

/// `GET /usergroups?group_name=&ldap_group_dn=`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    group_name: Option<String>,
    ldap_group_dn: Option<String>,
}

/// `GET /usergroups/search?groupname=`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    groupname: Option<String>,
}

fn group_id(raw: &str) -> Result<i64, HarborError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        HarborError::bad_request(format!("group id {raw:?} is not a positive number"))
    })
}

/// A group type from Harbor's id.
pub(super) fn group_type(id: i64) -> Result<GroupType, HarborError> {
    GroupType::from_id(id).ok_or_else(|| {
        HarborError::bad_request(format!(
            "group_type {id} is not a group type: 1 LDAP, 2 HTTP, 3 OIDC"
        ))
    })
}

fn check_name(name: &str) -> Result<(), HarborError> {
    if name.trim().is_empty() {
        return Err(HarborError::bad_request("group_name is required"));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(HarborError::bad_request(format!(
            "group_name must be at most {MAX_NAME} characters, without control characters"
        )));
    }
    Ok(())
}

/// The group a request body names: what `POST /usergroups` creates, and
/// what a project's `member_group` finds (or onboards) when it names no id.
pub(super) fn new_group(body: &UserGroupBody) -> Result<NewUserGroup, HarborError> {
    let kind = group_type(
        body.group_type
            .ok_or_else(|| HarborError::bad_request("group_type is required"))?,
    )?;
    let dn = body.ldap_group_dn.as_deref().unwrap_or("").trim();
    let name = body.group_name.as_deref().unwrap_or("").trim();
    match kind {
        GroupType::Ldap => {
            if dn.is_empty() {
                return Err(HarborError::bad_request(
                    "an LDAP group (group_type 1) needs its ldap_group_dn",
                ));
            }
            // Harbor names an LDAP group by its DN's first value when no
            // name is given.
            let name = if name.is_empty() {
                first_rdn_value(dn)
            } else {
                name.to_owned()
            };
            check_name(&name)?;
            Ok(NewUserGroup::ldap(name, dn))
        }
        _ => {
            check_name(name)?;
            Ok(NewUserGroup::named(kind, name))
        }
    }
}

/// `cn=devs,ou=groups,...` → `devs`.
fn first_rdn_value(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or(dn);
    first
        .split_once('=')
        .map_or(first, |(_, v)| v)
        .trim()
        .to_owned()
}

async fn group_for(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    action: &str,
) -> ApiResult<UserGroup> {
    caller.require_system("user-group", action)?;
    let id = group_id(raw)?;
    state
        .auth
        .identity
        .group_by_id(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("user group {id} not found")))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<ListQuery>,
    uri: Uri,
) -> ApiResult<Paged<UserGroupBody>> {
    caller.require_system("user-group", "list")?;
    let query = GroupQuery {
        name_contains: q.group_name.filter(|n| !n.is_empty()),
        group_type: None,
        ldap_dn: q.ldap_group_dn.filter(|d| !d.is_empty()),
    };
    let (items, total) = state.auth.identity.list_groups(&query, list.page).await?;
    Ok(Paged {
        items: items.iter().map(UserGroupBody::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<SearchQuery>,
    uri: Uri,
) -> ApiResult<Paged<SearchItem>> {
    caller.require_user()?;
    let name = q
        .groupname
        .filter(|n| !n.is_empty())
        .ok_or_else(|| HarborError::bad_request("groupname is required"))?;
    let query = GroupQuery {
        name_contains: Some(name),
        ..GroupQuery::default()
    };
    let (items, total) = state.auth.identity.list_groups(&query, list.page).await?;
    Ok(Paged {
        items: items
            .iter()
            .map(|g| SearchItem {
                id: g.id,
                group_name: g.name.clone(),
                group_type: g.group_type.id(),
            })
            .collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<UserGroupBody>, HarborError>,
) -> ApiResult {
    caller.require_system("user-group", "create")?;
    let HarborJson(req) = body?;
    let group = new_group(&req)?;
    let stored = state.auth.identity.create_group(&group).await?;
    tracing::info!(group = %stored.name, kind = stored.group_type.id(), by = %caller.0, "user group created");
    Ok(created(&format!("/api/v2.0/usergroups/{}", stored.id)))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let group = group_for(&state, &caller, &id, "read").await?;
    Ok(json(StatusCode::OK, &UserGroupBody::from(&group)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<UserGroupBody>, HarborError>,
) -> ApiResult {
    let group = group_for(&state, &caller, &id, "update").await?;
    let HarborJson(req) = body?;
    // Only the name changes, as in Harbor; the type and DN say what the
    // group is.
    if req.group_type.is_some_and(|t| t != group.group_type.id())
        || req
            .ldap_group_dn
            .as_deref()
            .is_some_and(|dn| !dn.is_empty() && !dn.eq_ignore_ascii_case(&group.ldap_dn))
    {
        return Err(HarborError::bad_request(
            "only a user group's group_name can change",
        ));
    }
    let name = req
        .group_name
        .ok_or_else(|| HarborError::bad_request("group_name is required"))?;
    check_name(&name)?;
    if !state
        .auth
        .identity
        .rename_group(group.id, name.trim())
        .await?
    {
        return Err(HarborError::not_found(format!(
            "user group {} not found",
            group.id
        )));
    }
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let group = group_for(&state, &caller, &id, "delete").await?;
    state.auth.identity.delete_group(group.id).await?;
    tracing::info!(group = %group.name, by = %caller.0, "user group deleted");
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_ldap_group_without_a_name_is_named_by_its_first_rdn() {
        let body = UserGroupBody {
            group_type: Some(1),
            ldap_group_dn: Some(" cn=Devs Team,ou=groups,dc=example,dc=com ".into()),
            ..UserGroupBody::default()
        };
        let g = new_group(&body).unwrap();
        assert_eq!(g.name, "Devs Team");
        assert_eq!(g.ldap_dn, "cn=Devs Team,ou=groups,dc=example,dc=com");
    }

    #[test]
    fn bad_bodies_are_refused() {
        for body in [
            UserGroupBody::default(),
            UserGroupBody {
                group_type: Some(4),
                group_name: Some("x".into()),
                ..UserGroupBody::default()
            },
            UserGroupBody {
                group_type: Some(1),
                group_name: Some("x".into()),
                ..UserGroupBody::default()
            },
            UserGroupBody {
                group_type: Some(3),
                group_name: Some("  ".into()),
                ..UserGroupBody::default()
            },
            UserGroupBody {
                group_type: Some(2),
                group_name: Some("a\nb".into()),
                ..UserGroupBody::default()
            },
        ] {
            assert!(new_group(&body).is_err(), "{body:?}");
        }
    }
}
