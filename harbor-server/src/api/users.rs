//! `/users`: create (administrators), current user, list and search, profile,
//! password, system-administrator flag, delete.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::password::{check_password_strength, hash_password, verify_password};
use harbor_auth::Principal;
use harbor_core::{AuditOperation, AuditResource, NewUser, Page, User};
use serde::{Deserialize, Serialize};

use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};

/// `UserCreationReq`.
#[derive(Debug, Deserialize)]
pub(super) struct UserCreationReq {
    username: String,
    email: String,
    realname: Option<String>,
    password: String,
    comment: Option<String>,
}

/// `UserProfile`.
#[derive(Debug, Deserialize)]
pub(super) struct UserProfile {
    email: Option<String>,
    realname: Option<String>,
    comment: Option<String>,
}

/// `PasswordReq`.
#[derive(Debug, Deserialize)]
pub(super) struct PasswordReq {
    old_password: Option<String>,
    new_password: String,
}

/// `UserSysAdminFlag`.
#[derive(Debug, Deserialize)]
pub(super) struct SysAdminFlag {
    sysadmin_flag: bool,
}

/// `username=` of `GET /users` and `/users/search`.
#[derive(Debug, Deserialize)]
pub(super) struct UsernameQuery {
    username: Option<String>,
}

/// Harbor's `UserResp`.
#[derive(Debug, Serialize)]
pub(super) struct UserResp {
    user_id: i64,
    username: String,
    email: String,
    realname: String,
    comment: String,
    sysadmin_flag: bool,
    admin_role_in_auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc_user_meta: Option<super::oidc::OidcUserInfo>,
    creation_time: String,
    update_time: String,
}

impl From<&User> for UserResp {
    fn from(u: &User) -> Self {
        UserResp {
            user_id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            realname: u.realname.clone(),
            comment: u.comment.clone(),
            sysadmin_flag: u.sysadmin,
            admin_role_in_auth: false,
            oidc_user_meta: None,
            creation_time: time(u.created_at),
            update_time: time(u.updated_at),
        }
    }
}

/// Harbor's `UserSearchRespItem`.
#[derive(Debug, Serialize)]
pub(super) struct UserSearchItem {
    user_id: i64,
    username: String,
}

/// Users whose name contains `name` (or is it, with `exact`), one page.
async fn users_named(
    state: &AppState,
    name: Option<&str>,
    exact: bool,
    page: Page,
) -> ApiResult<(Vec<User>, u64)> {
    match (name, exact) {
        (Some(name), true) => {
            let found = state.auth.identity.user_by_name(name).await?;
            let total = u64::from(found.is_some());
            Ok((
                found.filter(|_| page.page == 1).into_iter().collect(),
                total,
            ))
        }
        (name, _) => Ok(state.auth.identity.list_users(name, page).await?),
    }
}

const ILLEGAL: &[char] = &[',', '"', '~', '#', '$', '%'];

fn check_username(name: &str) -> ApiResult<()> {
    if name.is_empty()
        || name.chars().count() > 255
        || name.contains(ILLEGAL)
        || name.chars().any(char::is_whitespace)
    {
        return Err(HarborError::bad_request(format!(
            "username {name:?} is invalid: 1 to 255 characters, no spaces and none of , \" ~ # $ %"
        )));
    }
    Ok(())
}

fn check_profile(email: &str, realname: &str, comment: &str) -> ApiResult<()> {
    let at = email.find('@');
    let email_ok = email.len() <= 255
        && at.is_some_and(|i| i > 0 && i + 1 < email.len())
        && !email.contains(' ');
    if !email_ok {
        return Err(HarborError::bad_request(format!(
            "email {email:?} is not a valid address"
        )));
    }
    if realname.chars().count() > 255 || realname.contains(ILLEGAL) {
        return Err(HarborError::bad_request(
            "realname is at most 255 characters, none of , ~ # $ %",
        ));
    }
    if comment.chars().count() > 30 {
        return Err(HarborError::bad_request("comment is at most 30 characters"));
    }
    Ok(())
}

fn user_id(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| HarborError::bad_request(format!("user id {raw:?} is not a number")))
}

async fn find(state: &AppState, id: i64) -> ApiResult<User> {
    state
        .auth
        .identity
        .user_by_id(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("user {id} not found")))
}

/// Anyone may act on themselves; on others, administrators and robots with
/// the system `user` permission for `action`.
fn self_or_admin(caller: &Caller, id: i64, action: &str) -> ApiResult<()> {
    caller.require_user()?;
    if caller.0.user_id() == Some(id) || caller.0.may_system("user", action) {
        Ok(())
    } else {
        Err(HarborError::forbidden())
    }
}

/// Robots with the system `user` permissions act on users, but never on
/// system administrators (Harbor lets them; here a robot cannot take over
/// an administrator by setting its password).
fn robots_leave_admins_alone(caller: &Caller, target: &User) -> ApiResult<()> {
    if target.sysadmin && matches!(caller.0, Principal::Robot { .. }) {
        return Err(HarborError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "robot accounts cannot change or delete system administrators",
        ));
    }
    Ok(())
}

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
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

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<UserCreationReq>, HarborError>,
) -> ApiResult {
    caller.require_system("user", "create")?;
    let HarborJson(r) = body?;
    check_username(&r.username)?;
    let realname = r.realname.unwrap_or_default();
    let comment = r.comment.unwrap_or_default();
    check_profile(&r.email, &realname, &comment)?;
    check_password_strength(&r.password)?;
    let password_hash = hash(r.password).await?;
    let u = state
        .auth
        .identity
        .create_user(&NewUser {
            username: r.username,
            email: r.email,
            realname,
            comment,
            password_hash,
            sysadmin: false,
        })
        .await?;
    tracing::info!(user = %u.username, by = %caller.0, "user created");
    state
        .audit(
            None,
            &caller,
            u.username.clone(),
            AuditResource::User,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!("/api/v2.0/users/{}", u.id)))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<UsernameQuery>,
    uri: Uri,
) -> ApiResult<Paged<UserResp>> {
    caller.require_system("user", "list")?;
    // Harbor's `q=username=~x` (or `=x`); `username=` as a parameter too.
    let (name, exact) = match list.q.text("username").map_err(HarborError::bad_request)? {
        Some((v, fuzzy)) => (Some(v.to_owned()), !fuzzy),
        None => (q.username, false),
    };
    let (users, total) = users_named(&state, name.as_deref(), exact, list.page).await?;
    Ok(Paged {
        items: users.iter().map(UserResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<UsernameQuery>,
    uri: Uri,
) -> ApiResult<Paged<UserSearchItem>> {
    caller.require_user()?;
    let name = q
        .username
        .ok_or_else(|| HarborError::bad_request("username is required"))?;
    let (users, total) = users_named(&state, Some(&name), false, list.page).await?;
    let items = users
        .iter()
        .map(|u| UserSearchItem {
            user_id: u.id,
            username: u.username.clone(),
        })
        .collect();
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn current(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_user()?;
    let id = caller.0.user_id().ok_or_else(HarborError::unauthorized)?;
    let user = find(&state, id).await?;
    let mut resp = UserResp::from(&user);
    // An administrator by the provider's admin group, not by the flag.
    resp.admin_role_in_auth = caller.0.is_sysadmin() && !user.sysadmin;
    resp.oidc_user_meta = super::oidc::user_meta(&state, id).await?;
    Ok(json(StatusCode::OK, &resp))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id, "read")?;
    let mut resp = UserResp::from(&find(&state, id).await?);
    resp.oidc_user_meta = super::oidc::user_meta(&state, id).await?;
    Ok(json(StatusCode::OK, &resp))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<UserProfile>, HarborError>,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id, "update")?;
    let HarborJson(r) = body?;
    let u = find(&state, id).await?;
    robots_leave_admins_alone(&caller, &u)?;
    let email = r.email.unwrap_or(u.email);
    let realname = r.realname.unwrap_or(u.realname);
    let comment = r.comment.unwrap_or(u.comment);
    check_profile(&email, &realname, &comment)?;
    state
        .auth
        .identity
        .update_user_profile(id, &email, &realname, &comment)
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn password(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Result<HarborJson<PasswordReq>, HarborError>,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id, "update")?;
    let HarborJson(r) = body?;
    let u = find(&state, id).await?;
    robots_leave_admins_alone(&caller, &u)?;
    // Changing one's own password takes the current one, even for an admin.
    if caller.0.user_id() == Some(id) {
        let old = r.old_password.clone().unwrap_or_default();
        let stored = u.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_password(&old, &stored))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(HarborError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Current password is incorrect",
            ));
        }
        if r.old_password.as_deref() == Some(r.new_password.as_str()) {
            return Err(HarborError::bad_request(
                "New password is identical to old password",
            ));
        }
    }
    check_password_strength(&r.new_password)?;
    let hashed = hash(r.new_password).await?;
    state.auth.identity.set_password_hash(id, &hashed).await?;
    // Whoever knew the old password is signed out everywhere; the session
    // this change came with (the user's own) stays.
    if let Some(sessions) = &state.auth.sessions {
        sessions.end_others(id, &headers).await?;
    }
    tracing::info!(user = %u.username, by = %caller.0, "password changed");
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn sysadmin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<SysAdminFlag>, HarborError>,
) -> ApiResult {
    // Harbor asks only for the system `user:update` permission here; making
    // someone a system administrator is kept for administrators, so that no
    // robot can hand out more than any robot may hold.
    caller.require_admin()?;
    let HarborJson(r) = body?;
    let id = user_id(&id)?;
    let u = find(&state, id).await?;
    if id == 1 && !r.sysadmin_flag {
        return Err(HarborError::forbidden());
    }
    state
        .auth
        .identity
        .set_sysadmin(id, r.sysadmin_flag)
        .await?;
    tracing::info!(user = %u.username, sysadmin = r.sysadmin_flag, by = %caller.0, "system administrator flag changed");
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("user", "delete")?;
    let id = user_id(&id)?;
    if id == 1 || caller.0.user_id() == Some(id) {
        return Err(HarborError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the administrator 'admin' and the caller itself cannot be deleted",
        ));
    }
    let u = find(&state, id).await?;
    robots_leave_admins_alone(&caller, &u)?;
    state.auth.identity.delete_user(id).await?;
    tracing::info!(user = %u.username, by = %caller.0, "user deleted");
    state
        .audit(
            None,
            &caller,
            u.username.clone(),
            AuditResource::User,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}
