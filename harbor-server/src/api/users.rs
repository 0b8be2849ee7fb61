//! `/users`: create (administrators), current user, list and search, profile,
//! password, system-administrator flag, delete.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use harbor_auth::password::{check_password_strength, hash_password, verify_password};
use harbor_core::{AuditOperation, AuditResource};
use harbor_core::{NewUser, User};
use serde::Deserialize;

use super::{
    body, created, json, page_of, paged, param, query_of, time, ApiResult, AppState, Caller,
    HarborError,
};

/// `UserCreationReq`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserCreationReq {
    username: String,
    email: String,
    realname: Option<String>,
    password: String,
    comment: Option<String>,
}

/// `UserProfile`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserProfile {
    email: Option<String>,
    realname: Option<String>,
    comment: Option<String>,
}

/// `PasswordReq`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordReq {
    old_password: Option<String>,
    new_password: String,
}

/// `UserSysAdminFlag`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SysAdminFlag {
    sysadmin_flag: bool,
}

fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "user_id": u.id,
        "username": u.username,
        "email": u.email,
        "realname": u.realname,
        "comment": u.comment,
        "sysadmin_flag": u.sysadmin,
        "admin_role_in_auth": false,
        "creation_time": time(u.created_at),
        "update_time": time(u.updated_at),
    })
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

/// Administrators may act on anyone; others on themselves only.
fn self_or_admin(caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_user()?;
    if caller.0.is_sysadmin() || caller.0.user_id() == Some(id) {
        Ok(())
    } else {
        Err(HarborError::forbidden())
    }
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
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let r: UserCreationReq = body(req).await?;
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

pub(super) async fn list(State(state): State<AppState>, caller: Caller, req: Request) -> ApiResult {
    caller.require_admin()?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let (users, total) = state
        .auth
        .identity
        .list_users(param(&query, "username"), page)
        .await?;
    let items: Vec<_> = users.iter().map(user_json).collect();
    Ok(paged("/api/v2.0/users", &query, page, total, &items))
}

pub(super) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_user()?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let name = param(&query, "username")
        .ok_or_else(|| HarborError::bad_request("username is required"))?;
    let (users, total) = state.auth.identity.list_users(Some(name), page).await?;
    let items: Vec<_> = users
        .iter()
        .map(|u| serde_json::json!({ "user_id": u.id, "username": u.username }))
        .collect();
    Ok(paged("/api/v2.0/users/search", &query, page, total, &items))
}

pub(super) async fn current(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_user()?;
    let id = caller.0.user_id().ok_or_else(HarborError::unauthorized)?;
    Ok(json(StatusCode::OK, &user_json(&find(&state, id).await?)))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id)?;
    Ok(json(StatusCode::OK, &user_json(&find(&state, id).await?)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id)?;
    let u = find(&state, id).await?;
    let r: UserProfile = body(req).await?;
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
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let id = user_id(&id)?;
    self_or_admin(&caller, id)?;
    let u = find(&state, id).await?;
    let r: PasswordReq = body(req).await?;
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
    tracing::info!(user = %u.username, by = %caller.0, "password changed");
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn sysadmin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let id = user_id(&id)?;
    let u = find(&state, id).await?;
    let r: SysAdminFlag = body(req).await?;
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
    caller.require_admin()?;
    let id = user_id(&id)?;
    if id == 1 || caller.0.user_id() == Some(id) {
        return Err(HarborError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the administrator 'admin' and the caller itself cannot be deleted",
        ));
    }
    let u = find(&state, id).await?;
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
