//! `/projects`: create, list, get, update, delete, the existence check and
//! the summary, in Harbor's `Project`, `ProjectReq` and `ProjectSummary`
//! shapes.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_auth::{Action, Principal, Resource};
use harbor_core::{AuditOperation, AuditResource, Page, Project, ProjectQuery, Role};
use serde::{Deserialize, Serialize};

use super::q::Cond;
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};
use crate::settings::CreationRestriction;

/// The metadata keys Harbor's `ProjectMetadata` has besides `public`; others
/// are ignored, as Harbor's decoder ignores them.
const METADATA_KEYS: &[&str] = &[
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "severity",
    "auto_scan",
    "auto_sbom_generation",
    "reuse_sys_cve_allowlist",
    "retention_id",
    "proxy_speed_kb",
    "max_upstream_conn",
    "proxy_cache_local_on_not_found",
];

/// Keys whose value is `"true"` or `"false"`.
const BOOLEAN_KEYS: &[&str] = &[
    "public",
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "auto_scan",
    "auto_sbom_generation",
    "reuse_sys_cve_allowlist",
    "proxy_cache_local_on_not_found",
];

/// Harbor's `ProjectReq`.
#[derive(Debug, Deserialize)]
pub(super) struct ProjectReq {
    project_name: Option<String>,
    /// Deprecated by Harbor in favour of `metadata.public`.
    public: Option<bool>,
    metadata: Option<BTreeMap<String, serde_json::Value>>,
    registry_id: Option<i64>,
    /// Bytes, `-1` for unlimited; a system administrator's to set (others
    /// get the configured default).
    storage_limit: Option<i64>,
}

/// What a request's metadata says: `public`, and Harbor's other settings.
struct Settings {
    public: Option<bool>,
    metadata: BTreeMap<String, String>,
}

impl ProjectReq {
    /// The request's settings, checked as Harbor checks them.
    fn settings(&self) -> ApiResult<Settings> {
        if self.registry_id.is_some_and(|r| r != 0) {
            return Err(HarborError::bad_request(
                "proxy-cache projects (registry_id) are not supported yet",
            ));
        }
        let mut metadata = BTreeMap::new();
        let mut public = self.public;
        for (key, value) in self.metadata.iter().flatten() {
            let known = key == "public" || METADATA_KEYS.contains(&key.as_str());
            if !known {
                continue;
            }
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                // Harbor's clients sometimes send JSON booleans and numbers.
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(HarborError::bad_request(format!(
                        "metadata.{key} must be a string"
                    )))
                }
            };
            check_metadata(key, &value)?;
            if key == "public" {
                public = Some(value == "true");
            } else {
                metadata.insert(key.clone(), value);
            }
        }
        Ok(Settings { public, metadata })
    }
}

/// Harbor's rules for metadata values.
fn check_metadata(key: &str, value: &str) -> ApiResult<()> {
    let ok = if BOOLEAN_KEYS.contains(&key) {
        matches!(value, "true" | "false")
    } else if key == "severity" {
        matches!(
            value,
            "none" | "unknown" | "negligible" | "low" | "medium" | "high" | "critical"
        )
    } else if matches!(key, "retention_id" | "proxy_speed_kb" | "max_upstream_conn") {
        value.parse::<i64>().is_ok()
    } else {
        true
    };
    if ok {
        Ok(())
    } else {
        Err(HarborError::bad_request(format!(
            "metadata.{key} has an invalid value {value:?}"
        )))
    }
}

/// Harbor's `Project`.
#[derive(Debug, Serialize)]
pub(super) struct ProjectResp {
    project_id: i64,
    owner_id: i64,
    name: String,
    registry_id: i64,
    creation_time: String,
    update_time: String,
    deleted: bool,
    owner_name: String,
    togglable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_user_role_id: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    current_user_role_ids: Vec<i64>,
    repo_count: u64,
    metadata: BTreeMap<String, String>,
}

/// Harbor's `ProjectSummary`.
#[derive(Debug, Serialize)]
pub(super) struct SummaryResp {
    repo_count: u64,
    project_admin_count: u64,
    maintainer_count: u64,
    developer_count: u64,
    guest_count: u64,
    limited_guest_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<SummaryQuota>,
}

/// Harbor's `ProjectSummaryQuota`.
#[derive(Debug, Serialize)]
pub(super) struct SummaryQuota {
    hard: BTreeMap<&'static str, i64>,
    used: BTreeMap<&'static str, i64>,
}

/// Query parameters of `GET /projects` besides the list's own.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    name: Option<String>,
    public: Option<String>,
    owner: Option<String>,
}

/// `HEAD /projects?project_name=`.
#[derive(Debug, Deserialize)]
pub(super) struct ExistsQuery {
    project_name: Option<String>,
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

fn parse_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(HarborError::bad_request(format!(
            "{key} must be true or false, not {v:?}"
        ))),
    }
}

/// How many repositories `project` holds.
async fn repo_count(state: &AppState, project: &Project) -> ApiResult<u64> {
    let one = Page {
        page: 1,
        page_size: 1,
    };
    let (_, count) = state
        .registry
        .meta_store()
        .repositories_with_prefix(&format!("{}/", project.name), None, one)
        .await?;
    Ok(count)
}

pub(super) async fn project_resp(
    state: &AppState,
    caller: &Caller,
    p: &Project,
) -> ApiResult<ProjectResp> {
    let owner = state.auth.identity.user_by_id(p.owner_id).await?;
    let role = match caller.0.user_id() {
        Some(uid) => state
            .auth
            .identity
            .effective_role(p.id, uid)
            .await?
            .map(|r| r.id()),
        None => None,
    };
    let mut metadata = p.metadata.clone();
    metadata.insert("public".into(), p.public.to_string());
    Ok(ProjectResp {
        project_id: p.id,
        owner_id: p.owner_id,
        name: p.name.clone(),
        registry_id: 0,
        creation_time: time(p.created_at),
        update_time: time(p.updated_at),
        deleted: false,
        owner_name: owner.map(|o| o.username).unwrap_or_default(),
        togglable: true,
        current_user_role_id: role,
        current_user_role_ids: role.into_iter().collect(),
        repo_count: repo_count(state, p).await?,
        metadata,
    })
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(params): HarborQuery<ListQuery>,
    uri: Uri,
) -> ApiResult<Paged<ProjectResp>> {
    if caller.0 == Principal::Anonymous && !state.auth.anonymous_access {
        return Err(HarborError::unauthorized());
    }
    let mut q = ProjectQuery {
        // Administrators, and robots with the system `project:list`
        // permission, see every project.
        visible_to: (!caller.0.may_system("project", "list")).then(|| caller.0.user_id()),
        // Harbor matches the `name` parameter fuzzily.
        name_contains: params.name,
        ..ProjectQuery::default()
    };
    if let Some(v) = params.public.as_deref() {
        q.public = Some(parse_bool("public", v)?);
    }
    if let Some(owner) = params.owner.as_deref() {
        match state.auth.identity.user_by_name(owner).await? {
            Some(u) => q.owner_id = Some(u.id),
            None => return Ok(empty(list, uri)),
        }
    }
    match list.q.text("name").map_err(HarborError::bad_request)? {
        Some((name, true)) => q.name_contains = Some(name.to_owned()),
        Some((name, false)) => q.name = Some(name.to_owned()),
        None => {}
    }
    match list.q.get("public") {
        Some(Cond::Exact(v)) => q.public = Some(parse_bool("q public", v)?),
        Some(_) => {
            return Err(HarborError::bad_request(
                "q: public takes public=true|false",
            ))
        }
        None => {}
    }
    let (projects, total) = state.auth.identity.list_projects(&q, list.page).await?;
    let mut items = Vec::with_capacity(projects.len());
    for p in &projects {
        items.push(project_resp(&state, &caller, p).await?);
    }
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

fn empty<T>(list: ListParams, uri: Uri) -> Paged<T> {
    Paged {
        items: Vec::new(),
        total: 0,
        page: list.page,
        uri,
    }
}

pub(super) async fn exists(
    State(state): State<AppState>,
    caller: Caller,
    HarborQuery(q): HarborQuery<ExistsQuery>,
) -> ApiResult {
    caller.require_user()?;
    let name = q
        .project_name
        .ok_or_else(|| HarborError::bad_request("project_name is required"))?;
    match state.auth.identity.project_by_name(&name).await? {
        Some(_) => Ok(StatusCode::OK.into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<HarborJson<ProjectReq>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let HarborJson(r) = body?;
    let name_in_location = headers
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let settings = r.settings()?;
    let name = r
        .project_name
        .clone()
        .ok_or_else(|| HarborError::bad_request("project_name is required"))?;
    if !valid_name(&name) {
        return Err(HarborError::bad_request(format!(
            "project name {name:?} is invalid: lower-case letters and digits, separated by '.', '_' or '-', at most 255 characters"
        )));
    }
    let may_create = caller.0.may_system("project", "create");
    let owner = match &caller.0 {
        Principal::User { id, .. } => *id,
        // As in Harbor, only system robots create projects, and a project a
        // robot creates is owned by the first system administrator: `admin`
        // (id 1, who cannot lose the flag).
        Principal::Robot { .. } => {
            if caller.0.is_project_robot() {
                return Err(HarborError::new(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "only system level robots can create projects",
                ));
            }
            1
        }
        _ => return Err(HarborError::unauthorized()),
    };
    let system = state.settings.get();
    if system.project_creation_restriction == CreationRestriction::AdminOnly && !may_create {
        return Err(HarborError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "only system administrators may create projects (project_creation_restriction is adminonly)",
        ));
    }
    let limit = match (&state.quotas, r.storage_limit) {
        (Some(_), Some(value)) if may_create => Some(harbor_core::quota::parse_limit(value)?),
        (Some(_), _) => Some(harbor_core::quota::parse_limit(system.storage_per_project)?),
        (None, _) => None,
    };
    let p = state
        .auth
        .identity
        .create_project_with_metadata(
            &name,
            settings.public.unwrap_or(false),
            owner,
            &settings.metadata,
        )
        .await?;
    if let (Some(quotas), Some(limit)) = (&state.quotas, limit) {
        quotas.store.set_storage_limit(&p.name, limit).await?;
    }
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
    let p = state
        .project_for(&caller, &headers, &key, Resource::Project, Action::Read)
        .await?;
    Ok(json(
        StatusCode::OK,
        &project_resp(&state, &caller, &p).await?,
    ))
}

pub(super) async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Project, Action::Read)
        .await?;
    let members = state.auth.identity.list_members(p.id).await?;
    let count = |role: Role| members.iter().filter(|m| m.role == role).count() as u64;
    Ok(json(
        StatusCode::OK,
        &SummaryResp {
            repo_count: repo_count(&state, &p).await?,
            project_admin_count: count(Role::ProjectAdmin),
            maintainer_count: count(Role::Maintainer),
            developer_count: count(Role::Developer),
            guest_count: count(Role::Guest),
            limited_guest_count: count(Role::LimitedGuest),
            quota: summary_quota(&state, &p).await?,
        },
    ))
}

/// The project's limit and usage, when quotas are on (a project that
/// never held anything and predates its quota reads as unlimited and
/// empty).
async fn summary_quota(state: &AppState, p: &Project) -> ApiResult<Option<SummaryQuota>> {
    let Some(quotas) = &state.quotas else {
        return Ok(None);
    };
    let q = quotas.store.quota(&p.name).await?;
    Ok(Some(SummaryQuota {
        hard: super::quotas::hard(q.as_ref().and_then(|q| q.limit)),
        used: super::quotas::used(q.map_or(0, |q| q.used)),
    }))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<HarborJson<ProjectReq>, HarborError>,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Project, Action::Update)
        .await?;
    let HarborJson(r) = body?;
    let settings = r.settings()?;
    if r.project_name.as_deref().is_some_and(|n| n != p.name) {
        return Err(HarborError::bad_request("a project cannot be renamed"));
    }
    if !settings.metadata.is_empty() {
        // Harbor merges the keys sent into those already set.
        let mut merged = p.metadata.clone();
        merged.extend(settings.metadata);
        state
            .auth
            .identity
            .set_project_metadata(p.id, &merged)
            .await?;
    }
    if let Some(public) = settings.public {
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
    let p = state
        .project_for(&caller, &headers, &key, Resource::Project, Action::Delete)
        .await?;
    if repo_count(&state, &p).await? > 0 {
        return Err(HarborError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "the project contains repositories, can not be deleted",
        ));
    }
    if let Some(webhooks) = &state.webhooks {
        webhooks.store().delete_project_webhooks(p.id).await?;
    }
    state.auth.identity.delete_project(p.id).await?;
    // Its immutable tag rules went with it (a foreign key); a project of the
    // same name created next starts without them here too.
    if let Some(rules) = state.registry.immutable_rules() {
        rules.forget(&p.name);
    }
    if let Some(quotas) = &state.quotas {
        quotas.store.delete_quota(&p.name).await?;
    }
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

    #[test]
    fn metadata_values_follow_harbors_rules() {
        assert!(super::check_metadata("auto_scan", "true").is_ok());
        assert!(super::check_metadata("auto_scan", "yes").is_err());
        assert!(super::check_metadata("severity", "high").is_ok());
        assert!(super::check_metadata("severity", "extreme").is_err());
        assert!(super::check_metadata("retention_id", "12").is_ok());
        assert!(super::check_metadata("retention_id", "x").is_err());
    }
}
