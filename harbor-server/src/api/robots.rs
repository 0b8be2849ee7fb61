//! `/robots`: robot accounts, system-level (`robot$<name>`) or project-level
//! (`robot$<project>+<name>`), with a permission list, an expiry, a secret
//! shown once at creation and refreshable, and a disabled switch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::password::{check_password_strength, hash_password, random_secret};
use harbor_auth::system::{robot_may_hold, within, SYSTEM_KIND, SYSTEM_NAMESPACE};
use harbor_auth::{Action, Principal, Resource, ROBOT_PREFIX};
use harbor_core::{
    AuditOperation, AuditResource, Project, Robot, RobotLevel, RobotPermission, RobotQuery,
};
use serde::{Deserialize, Serialize};

use super::q::{Cond, TextMatch};
use super::{json, time, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged};

/// Harbor's `RobotCreate`, and `Robot` for updates (whose read-only fields
/// are ignored).
#[derive(Debug, Deserialize)]
pub(super) struct RobotReq {
    name: Option<String>,
    description: Option<String>,
    duration: Option<i64>,
    level: Option<String>,
    disable: Option<bool>,
    permissions: Option<Vec<RobotPermission>>,
    secret: Option<String>,
}

/// Harbor's `RobotSec`.
#[derive(Debug, Deserialize, Serialize)]
pub(super) struct RobotSec {
    secret: Option<String>,
}

/// Harbor's `Robot`.
#[derive(Debug, Serialize)]
pub(super) struct RobotResp {
    id: i64,
    name: String,
    description: String,
    secret: String,
    level: &'static str,
    duration: i64,
    editable: bool,
    disable: bool,
    expires_at: i64,
    permissions: Vec<RobotPermission>,
    creation_time: String,
    update_time: String,
}

/// Harbor's `RobotCreated`.
#[derive(Debug, Serialize)]
pub(super) struct RobotCreated {
    id: i64,
    name: String,
    secret: String,
    creation_time: String,
    expires_at: i64,
}

fn level(raw: Option<&str>) -> ApiResult<RobotLevel> {
    match raw {
        None => Ok(RobotLevel::System),
        Some(l) => RobotLevel::parse(l).ok_or_else(|| {
            HarborError::bad_request(format!("level {l:?} is not system or project"))
        }),
    }
}

fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
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
    !name.is_empty() && !prev_sep && name.len() <= 255
}

/// When a robot created for `duration` days expires; 0 means the system's
/// `robot_token_duration` (`default_days`).
fn expiry(duration: i64, default_days: i64) -> ApiResult<Option<SystemTime>> {
    match duration {
        -1 => Ok(None),
        d if d < -1 || d >= i64::from(i32::MAX) => Err(HarborError::bad_request(format!(
            "duration is days: -1 (never expires), 0 ({default_days} days) or more"
        ))),
        0 => Ok(Some(
            SystemTime::now() + Duration::from_secs(default_days.max(1) as u64 * 86400),
        )),
        d => Ok(Some(
            SystemTime::now() + Duration::from_secs(d as u64 * 86400),
        )),
    }
}

fn expires_unix(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(-1)
}

impl From<&Robot> for RobotResp {
    fn from(r: &Robot) -> Self {
        let duration = r
            .expires_at
            .and_then(|e| e.duration_since(r.created_at).ok())
            .map(|d| (d.as_secs() as f64 / 86400.0).round() as i64)
            .unwrap_or(-1);
        RobotResp {
            id: r.id,
            name: r.name.clone(),
            description: r.description.clone(),
            secret: String::new(),
            level: r.level.as_str(),
            duration,
            editable: true,
            disable: r.disabled,
            expires_at: expires_unix(r.expires_at),
            permissions: r.permissions.clone(),
            creation_time: time(r.created_at),
            update_time: time(r.updated_at),
        }
    }
}

/// Checks a robot's permission list: `project` permissions (a project
/// robot's naming its own project) with known actions, and for system
/// robots only, `system` permissions (namespace `/`) whose accesses are all
/// ones a robot may hold.
fn check_permissions(
    perms: &[RobotPermission],
    level: RobotLevel,
    project: Option<&Project>,
) -> ApiResult<()> {
    for p in perms {
        match p.kind.as_str() {
            SYSTEM_KIND => {
                if level != RobotLevel::System {
                    return Err(HarborError::bad_request(
                        "a project robot cannot hold system permissions",
                    ));
                }
                if p.namespace != SYSTEM_NAMESPACE {
                    return Err(HarborError::bad_request(format!(
                        "a system permission's namespace is \"/\", not {:?}",
                        p.namespace
                    )));
                }
                for a in &p.access {
                    if !robot_may_hold(&a.resource, &a.action) {
                        return Err(HarborError::bad_request(format!(
                            "system access {}:{} is not one a robot can be given (GET /api/v2.0/permissions lists them)",
                            a.resource, a.action
                        )));
                    }
                }
            }
            "project" => {
                if let Some(project) = project {
                    if level == RobotLevel::Project && p.namespace != project.name {
                        return Err(HarborError::bad_request(
                            "a project robot's permissions must name its own project",
                        ));
                    }
                }
                for a in &p.access {
                    if Action::parse(&a.action).is_none() || a.resource.is_empty() {
                        return Err(HarborError::bad_request(format!(
                            "access {}:{} is not valid",
                            a.resource, a.action
                        )));
                    }
                }
            }
            other => {
                return Err(HarborError::bad_request(format!(
                    "permission kind {other:?} is not supported: it is \"system\" or \"project\""
                )))
            }
        }
        if p.access
            .iter()
            .any(|a| a.effect.as_deref().is_some_and(|e| e != "allow"))
        {
            return Err(HarborError::bad_request(
                "only effect \"allow\" is supported",
            ));
        }
    }
    Ok(())
}

/// A robot may give robots only what it holds itself, as in Harbor: every
/// permission must be covered by one of its own (same kind and namespace,
/// or the same kind with namespace `*`). Users are not limited here.
fn check_within_caller(caller: &Caller, perms: &[RobotPermission]) -> ApiResult<()> {
    match &caller.0 {
        Principal::Robot { name, permissions, .. } if !within(perms, permissions) => {
            Err(HarborError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!(
                    "permission scope is invalid: it must be equal to or more restrictive than the creator robot's permissions ({name})"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The project a project-level robot belongs to, after checking the caller
/// may manage its robots; system robots are for administrators and robots
/// with the system `robot` permission.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    project_id: Option<i64>,
    action: Action,
) -> ApiResult<Option<Project>> {
    match project_id {
        None => {
            caller.require_system("robot", action.as_str())?;
            Ok(None)
        }
        Some(id) => {
            let p = state
                .auth
                .identity
                .project_by_id(id)
                .await?
                .ok_or_else(|| HarborError::not_found("project not found"))?;
            state.require(caller, &p, Resource::Robot, action).await?;
            Ok(Some(p))
        }
    }
}

async fn hash(secret: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .map_err(|_| {
            HarborError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error",
            )
        })?
        .map_err(HarborError::from)
}

fn new_secret() -> ApiResult<String> {
    // 32 hex characters and a fixed tail, so it also passes Harbor's password rule.
    Ok(format!("{}Rb1", random_secret(16)?))
}

async fn find(state: &AppState, raw: &str) -> ApiResult<Robot> {
    let id: i64 = raw
        .parse()
        .map_err(|_| HarborError::bad_request(format!("robot id {raw:?} is not a number")))?;
    state
        .auth
        .identity
        .robot_by_id(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("robot {id} not found")))
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<RobotReq>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let HarborJson(r) = body?;
    let name = r
        .name
        .clone()
        .ok_or_else(|| HarborError::bad_request("name is required"))?;
    if !valid_name(&name) {
        return Err(HarborError::bad_request(
            "robot name is not in lower case or contains illegal characters",
        ));
    }
    let level = level(r.level.as_deref())?;
    let permissions = r.permissions.clone().unwrap_or_default();
    let (project, full_name) = match level {
        RobotLevel::System => {
            authorize(&state, &caller, None, Action::Create).await?;
            (None, format!("{ROBOT_PREFIX}{name}"))
        }
        RobotLevel::Project => {
            let [only] = permissions.as_slice() else {
                return Err(HarborError::bad_request(
                    "a project robot has exactly one permission, for its project",
                ));
            };
            let p = state
                .auth
                .identity
                .project_by_name(&only.namespace)
                .await?
                .ok_or_else(|| {
                    HarborError::not_found(format!("project {} not found", only.namespace))
                })?;
            authorize(&state, &caller, Some(p.id), Action::Create).await?;
            let full = format!("{ROBOT_PREFIX}{}+{name}", p.name);
            (Some(p), full)
        }
        _ => return Err(HarborError::bad_request("unsupported robot level")),
    };
    check_permissions(&permissions, level, project.as_ref())?;
    check_within_caller(&caller, &permissions)?;
    let secret = match r.secret.clone() {
        Some(s) => {
            check_password_strength(&s)?;
            s
        }
        None => new_secret()?,
    };
    let robot = Robot {
        id: 0,
        name: full_name,
        description: r.description.clone().unwrap_or_default(),
        level,
        project_id: project.as_ref().map(|p| p.id),
        secret_hash: hash(secret.clone()).await?,
        expires_at: expiry(
            r.duration.unwrap_or(0),
            state.settings.get().robot_token_duration,
        )?,
        disabled: r.disable.unwrap_or(false),
        permissions,
        created_at: SystemTime::now(),
        updated_at: SystemTime::now(),
    };
    let created = state.auth.identity.create_robot(&robot).await?;
    tracing::info!(robot = %created.name, by = %caller.0, "robot account created");
    let project_name = project.as_ref().map(|p| p.name.clone());
    state
        .audit(
            project_name.as_deref(),
            &caller,
            created.name.clone(),
            AuditResource::Robot,
            AuditOperation::Create,
        )
        .await;
    let mut resp = json(
        StatusCode::CREATED,
        &RobotCreated {
            id: created.id,
            name: created.name.clone(),
            secret,
            creation_time: time(created.created_at),
            expires_at: expires_unix(created.expires_at),
        },
    );
    super::set(
        &mut resp,
        "location",
        &format!("/api/v2.0/robots/{}", created.id),
    );
    Ok(resp)
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<RobotResp>> {
    caller.require_user()?;
    // Harbor's `q=Level=project,ProjectID=<id>`.
    let project_id = match list.q.get("ProjectID") {
        None => None,
        Some(Cond::Exact(v)) => Some(v.parse::<i64>().map_err(|_| {
            HarborError::bad_request(format!("q: ProjectID {v:?} is not a number"))
        })?),
        Some(_) => {
            return Err(HarborError::bad_request(
                "q: ProjectID takes ProjectID=<id>",
            ))
        }
    };
    authorize(&state, &caller, project_id, Action::List).await?;
    // Harbor's `q=Level=system`, `q=name=<name>` and `q=name=~<text>`,
    // applied by the store, which pages the result.
    let level = match list.q.get("Level") {
        None => None,
        Some(Cond::Exact(v)) => Some(level(Some(v))?),
        Some(_) => return Err(HarborError::bad_request("q: Level takes Level=<level>")),
    };
    let (name, name_contains) = match list.q.matcher("name").map_err(HarborError::bad_request)? {
        TextMatch::Any => (None, None),
        TextMatch::Exact(n) => (Some(n.to_owned()), None),
        TextMatch::Contains(n) => (None, Some(n.to_owned())),
    };
    let query = RobotQuery {
        project_id,
        level,
        name,
        name_contains,
    };
    let (robots, total) = state.auth.identity.list_robots(&query, list.page).await?;
    Ok(Paged {
        items: robots.iter().map(RobotResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_user()?;
    let robot = find(&state, &id).await?;
    authorize(&state, &caller, robot.project_id, Action::Read).await?;
    Ok(json(StatusCode::OK, &RobotResp::from(&robot)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<RobotReq>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let mut robot = find(&state, &id).await?;
    let project = authorize(&state, &caller, robot.project_id, Action::Update).await?;
    let HarborJson(r) = body?;
    if r.level
        .as_deref()
        .is_some_and(|l| l != robot.level.as_str())
        || r.name.as_deref().is_some_and(|n| n != robot.name)
    {
        return Err(HarborError::bad_request(
            "cannot update the level or name of robot",
        ));
    }
    if let Some(perms) = r.permissions {
        check_permissions(&perms, robot.level, project.as_ref())?;
        check_within_caller(&caller, &perms)?;
        robot.permissions = perms;
    }
    if let Some(d) = r.description {
        robot.description = d;
    }
    if let Some(disable) = r.disable {
        robot.disabled = disable;
    }
    if let Some(days) = r.duration {
        robot.expires_at = match days {
            -1 => None,
            d if d > 0 && d < i64::from(i32::MAX) => {
                Some(robot.created_at + Duration::from_secs(d as u64 * 86400))
            }
            _ => {
                return Err(HarborError::bad_request(
                    "duration is -1 (never) or a positive number of days",
                ))
            }
        };
    }
    state.auth.identity.update_robot(&robot).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<RobotSec>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let robot = find(&state, &id).await?;
    authorize(&state, &caller, robot.project_id, Action::Update).await?;
    let HarborJson(r) = body?;
    let (secret, shown) = match r.secret.filter(|s| !s.is_empty()) {
        Some(s) => {
            check_password_strength(&s)?;
            (s, String::new())
        }
        None => {
            let s = new_secret()?;
            (s.clone(), s)
        }
    };
    state
        .auth
        .identity
        .set_robot_secret(robot.id, &hash(secret).await?)
        .await?;
    tracing::info!(robot = %robot.name, by = %caller.0, "robot secret refreshed");
    Ok(json(
        StatusCode::OK,
        &RobotSec {
            secret: Some(shown),
        },
    ))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_user()?;
    let robot = find(&state, &id).await?;
    authorize(&state, &caller, robot.project_id, Action::Delete).await?;
    state.auth.identity.delete_robot(robot.id).await?;
    tracing::info!(robot = %robot.name, by = %caller.0, "robot account deleted");
    state
        .audit(
            None,
            &caller,
            robot.name.clone(),
            AuditResource::Robot,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}
