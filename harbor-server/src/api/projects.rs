//! `/projects`: create, list, get, update, delete, and the existence check.

use harbor_core::{AuditOperation, AuditResource};
use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_auth::{Action, Principal, Resource};
use harbor_core::{Page, Project, ProjectQuery};
use serde::Deserialize;

use super::{
    body, created, find_project, page_of, paged, param, query_of, require, time, ApiResult,
    AppState, Caller, HarborError,
};

/// `ProjectReq`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProjectReq {
    project_name: Option<String>,
    public: Option<bool>,
    metadata: Option<BTreeMap<String, String>>,
    storage_limit: Option<i64>,
    registry_id: Option<i64>,
    cve_allowlist: Option<serde_json::Value>,
}

impl ProjectReq {
    /// The `public` setting: `metadata.public` ("true"/"false") or the
    /// deprecated boolean.
    fn public(&self) -> ApiResult<Option<bool>> {
        match self.metadata.as_ref().and_then(|m| m.get("public")) {
            Some(v) if v == "true" => Ok(Some(true)),
            Some(v) if v == "false" => Ok(Some(false)),
            Some(v) => Err(HarborError::bad_request(format!(
                "metadata.public must be \"true\" or \"false\", not {v:?}"
            ))),
            None => Ok(self.public),
        }
    }

    fn check_unsupported(&self) -> ApiResult<()> {
        if self.registry_id.is_some_and(|r| r != 0) {
            return Err(HarborError::bad_request(
                "proxy-cache projects (registry_id) are not supported yet",
            ));
        }
        if let Some(meta) = &self.metadata {
            if let Some(k) = meta.keys().find(|k| k.as_str() != "public") {
                return Err(HarborError::bad_request(format!(
                    "metadata {k:?} is not supported"
                )));
            }
        }
        let _ = (&self.storage_limit, &self.cve_allowlist);
        Ok(())
    }
}

/// Harbor's project name rule.
fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut prev_sep = true;
    for c in name.chars() {
        if alnum(c) {
            prev_sep = false;
        } else if matches!(c, '.' | '_' | '-') && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !prev_sep
}

pub(super) async fn project_json(
    state: &AppState,
    caller: &Caller,
    p: &Project,
) -> ApiResult<serde_json::Value> {
    let (_, repo_count) = state
        .registry
        .meta_store()
        .repositories_with_prefix(
            &format!("{}/", p.name),
            Page {
                page: 1,
                page_size: 1,
            },
        )
        .await?;
    let owner = state.auth.identity.user_by_id(p.owner_id).await?;
    let role = match caller.0.user_id() {
        Some(uid) => state
            .auth
            .identity
            .member_of(p.id, uid)
            .await?
            .map(|m| m.role.id()),
        None => None,
    };
    let mut v = serde_json::json!({
        "project_id": p.id,
        "name": p.name,
        "owner_id": p.owner_id,
        "owner_name": owner.map(|o| o.username).unwrap_or_default(),
        "creation_time": time(p.created_at),
        "update_time": time(p.updated_at),
        "deleted": false,
        "registry_id": 0,
        "repo_count": repo_count,
        "chart_count": 0,
        "togglable": true,
        "metadata": { "public": if p.public { "true" } else { "false" } },
    });
    if let Some(role) = role {
        v["current_user_role_id"] = role.into();
        v["current_user_role_ids"] = serde_json::json!([role]);
    }
    Ok(v)
}

pub(super) async fn list(State(state): State<AppState>, caller: Caller, req: Request) -> ApiResult {
    let query = query_of(&req);
    let page = page_of(&query)?;
    let public = match param(&query, "public") {
        None => None,
        Some("true") | Some("1") => Some(true),
        Some("false") | Some("0") => Some(false),
        Some(v) => {
            return Err(HarborError::bad_request(format!(
                "public must be true or false, not {v:?}"
            )))
        }
    };
    if caller.0 == Principal::Anonymous && !state.auth.anonymous_access {
        return Err(HarborError::unauthorized());
    }
    let visible_to = if caller.0.is_sysadmin() {
        None
    } else {
        Some(caller.0.user_id())
    };
    let q = ProjectQuery {
        name_contains: param(&query, "name").map(str::to_owned),
        public,
        visible_to,
    };
    let (projects, total) = state.auth.identity.list_projects(&q, page).await?;
    let mut items = Vec::with_capacity(projects.len());
    for p in &projects {
        items.push(project_json(&state, &caller, p).await?);
    }
    Ok(paged("/api/v2.0/projects", &query, page, total, &items))
}

pub(super) async fn exists(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_user()?;
    let query = query_of(&req);
    let name = param(&query, "project_name")
        .ok_or_else(|| HarborError::bad_request("project_name is required"))?;
    match state.auth.identity.project_by_name(name).await? {
        Some(_) => Ok(StatusCode::OK.into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_user()?;
    let name_in_location = req
        .headers()
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let r: ProjectReq = body(req).await?;
    r.check_unsupported()?;
    let name = r
        .project_name
        .clone()
        .ok_or_else(|| HarborError::bad_request("project_name is required"))?;
    if !valid_name(&name) {
        return Err(HarborError::bad_request(format!(
            "project name {name:?} is invalid: lower-case letters and digits, separated by '.', '_' or '-', at most 255 characters"
        )));
    }
    let public = r.public()?.unwrap_or(false);
    let owner = caller.0.user_id().ok_or_else(HarborError::unauthorized)?;
    let p = state
        .auth
        .identity
        .create_project(&name, public, owner)
        .await?;
    tracing::info!(project = %p.name, by = %caller.0, "project created");
    state
        .audit(
            Some(&p.name),
            &caller,
            p.name.clone(),
            AuditResource::Project,
            AuditOperation::Create,
        )
        .await;
    let key = if name_in_location {
        p.name.clone()
    } else {
        p.id.to_string()
    };
    Ok(created(&format!("/api/v2.0/projects/{key}")))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let p = find_project(&state, &headers, &key).await?;
    require(&state, &caller, &p, Resource::Project, Action::Read).await?;
    Ok(super::json(
        StatusCode::OK,
        &project_json(&state, &caller, &p).await?,
    ))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    req: Request,
) -> ApiResult {
    let p = find_project(&state, req.headers(), &key).await?;
    require(&state, &caller, &p, Resource::Project, Action::Update).await?;
    let r: ProjectReq = body(req).await?;
    r.check_unsupported()?;
    if r.project_name.as_deref().is_some_and(|n| n != p.name) {
        return Err(HarborError::bad_request("a project cannot be renamed"));
    }
    if let Some(public) = r.public()? {
        state.auth.identity.set_project_public(p.id, public).await?;
    }
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let p = find_project(&state, &headers, &key).await?;
    require(&state, &caller, &p, Resource::Project, Action::Delete).await?;
    let (_, repos) = state
        .registry
        .meta_store()
        .repositories_with_prefix(
            &format!("{}/", p.name),
            Page {
                page: 1,
                page_size: 1,
            },
        )
        .await?;
    if repos > 0 {
        return Err(HarborError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "the project contains repositories, can not be deleted",
        ));
    }
    state.auth.identity.delete_project(p.id).await?;
    tracing::info!(project = %p.name, by = %caller.0, "project deleted");
    state
        .audit(
            Some(&p.name),
            &caller,
            p.name.clone(),
            AuditResource::Project,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn project_names_follow_harbors_rule() {
        for ok in ["library", "a", "team-a", "a.b_c-d", "0x"] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Upper",
            "-a",
            "a-",
            "a--b",
            "a/b",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
