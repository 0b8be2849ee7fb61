//! `/ldap/*`: testing LDAP settings (`/ldap/ping`), searching the
//! directory's users and groups, and importing users before their first
//! login, in Harbor's shapes (`LdapConf`, `LdapPingResult`, `LdapUser`,
//! `UserGroup`, `LdapFailedImportUser`). System administrators only.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harbor_auth::ldap::{LdapAuthenticator, LdapConfig, LdapScope, LdapUser, MAX_TIMEOUT};
use serde::{Deserialize, Serialize};

use super::{json, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery};

/// Harbor's `LdapConf`: the settings to test, each over the stored one.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LdapConf {
    ldap_url: Option<String>,
    ldap_search_dn: Option<String>,
    ldap_search_password: Option<String>,
    ldap_base_dn: Option<String>,
    ldap_filter: Option<String>,
    ldap_uid: Option<String>,
    ldap_scope: Option<i64>,
    ldap_connection_timeout: Option<i64>,
    ldap_verify_cert: Option<bool>,
    /// Not one of Harbor's fields: as the `ldap_starttls` setting.
    ldap_starttls: Option<bool>,
}

impl LdapConf {
    /// `stored` with what this sets; an empty search password keeps the
    /// stored one, as Harbor does (the portal never has it to send).
    fn over(self, mut stored: LdapConfig) -> Result<LdapConfig, HarborError> {
        let set = |field: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *field = v.trim().to_owned();
            }
        };
        set(&mut stored.url, self.ldap_url);
        set(&mut stored.search_dn, self.ldap_search_dn);
        set(&mut stored.base_dn, self.ldap_base_dn);
        set(&mut stored.filter, self.ldap_filter);
        set(&mut stored.uid, self.ldap_uid);
        if let Some(p) = self.ldap_search_password.filter(|p| !p.is_empty()) {
            stored.search_password = p;
        }
        if let Some(s) = self.ldap_scope {
            stored.scope = LdapScope::from_i64(s).ok_or_else(|| {
                HarborError::bad_request(format!(
                    "ldap_scope must be 0 (base), 1 (one level) or 2 (subtree), not {s}"
                ))
            })?;
        }
        if let Some(t) = self.ldap_connection_timeout {
            let max = MAX_TIMEOUT.as_secs();
            stored.timeout = u64::try_from(t)
                .ok()
                .filter(|t| (1..=max).contains(t))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    HarborError::bad_request(format!(
                        "ldap_connection_timeout must be from 1 to {max} seconds, not {t}"
                    ))
                })?;
        }
        if let Some(v) = self.ldap_verify_cert {
            stored.verify_cert = v;
        }
        if let Some(v) = self.ldap_starttls {
            stored.starttls = v;
        }
        Ok(stored)
    }
}

/// Harbor's `LdapPingResult`.
#[derive(Debug, Serialize)]
pub(super) struct LdapPingResult {
    success: bool,
    message: String,
}

/// `POST /ldap/ping`: connects and binds with the settings given over the
/// stored ones (the stored ones alone without a body). Always a 200 saying
/// whether it worked, and why not.
pub(super) async fn ping(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require_system("configuration", "read")?;
    let conf: LdapConf = if body.iter().all(u8::is_ascii_whitespace) {
        LdapConf::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| HarborError::bad_request(format!("invalid LdapConf: {e}")))?
    };
    let config = conf.over(state.ldap.config())?;
    let result = match LdapAuthenticator::ping(&config).await {
        Ok(()) => LdapPingResult {
            success: true,
            message: "ldap ping successful".into(),
        },
        Err(e) => LdapPingResult {
            success: false,
            message: format!("error: {}", message(e)),
        },
    };
    Ok(json(StatusCode::OK, &result))
}

fn message(e: harbor_auth::AuthError) -> String {
    match e {
        harbor_auth::AuthError::BadRequest(m) | harbor_auth::AuthError::Directory(m) => m,
        e => e.to_string(),
    }
}

/// Harbor's `LdapUser`.
#[derive(Debug, Serialize)]
pub(super) struct LdapUserResp {
    username: String,
    realname: String,
    email: String,
}

impl From<LdapUser> for LdapUserResp {
    fn from(u: LdapUser) -> Self {
        LdapUserResp {
            username: u.username,
            realname: u.realname,
            email: u.email,
        }
    }
}

/// `?username=`.
#[derive(Debug, Deserialize)]
pub(super) struct UserSearch {
    username: Option<String>,
}

/// `GET /ldap/users/search`: the directory's users with this login name
/// (all of them without one).
pub(super) async fn search_users(
    State(state): State<AppState>,
    caller: Caller,
    HarborQuery(q): HarborQuery<UserSearch>,
) -> ApiResult {
    caller.require_system("ldap-user", "list")?;
    let users = state
        .ldap
        .search_users(q.username.as_deref().unwrap_or(""))
        .await?;
    let body: Vec<LdapUserResp> = users.into_iter().map(Into::into).collect();
    Ok(json(StatusCode::OK, &body))
}

/// `?groupname=&groupdn=`.
#[derive(Debug, Deserialize)]
pub(super) struct GroupSearch {
    groupname: Option<String>,
    groupdn: Option<String>,
}

/// Harbor's `UserGroup`, as the LDAP group search answers it (no id: the
/// group need not be in Harbor yet).
#[derive(Debug, Serialize)]
pub(super) struct LdapGroupResp {
    group_name: String,
    group_type: i64,
    ldap_group_dn: String,
}

/// `GET /ldap/groups/search`: the group at `groupdn`, or those named
/// `groupname`; 404 when there is none, as Harbor answers.
pub(super) async fn search_groups(
    State(state): State<AppState>,
    caller: Caller,
    HarborQuery(q): HarborQuery<GroupSearch>,
) -> ApiResult {
    caller.require_system("ldap-user", "list")?;
    let name = q.groupname.unwrap_or_default();
    let dn = q.groupdn.unwrap_or_default();
    let groups = state.ldap.search_groups(&name, &dn).await?;
    if groups.is_empty() {
        return Err(HarborError::not_found(format!(
            "group name:{name}, group DN:{dn}"
        )));
    }
    let body: Vec<LdapGroupResp> = groups
        .into_iter()
        .map(|g| LdapGroupResp {
            group_name: g.name,
            group_type: 1,
            ldap_group_dn: g.dn,
        })
        .collect();
    Ok(json(StatusCode::OK, &body))
}

/// Harbor's `LdapImportUsers`.
#[derive(Debug, Deserialize)]
pub(super) struct ImportReq {
    #[serde(default)]
    ldap_uid_list: Vec<String>,
}

/// Harbor's `LdapFailedImportUser`.
#[derive(Debug, Serialize)]
pub(super) struct FailedImport {
    uid: String,
    error: String,
}

/// `POST /ldap/users/import`: onboards each user of the list found in the
/// directory, as a first login would; 200 when all were, else 404 with
/// those that were not and why (not found, or already in Harbor), as
/// Harbor answers.
pub(super) async fn import_users(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<ImportReq>, HarborError>,
) -> ApiResult<Response> {
    caller.require_system("ldap-user", "create")?;
    let HarborJson(req) = body?;
    if req.ldap_uid_list.is_empty() {
        return Err(HarborError::bad_request("ldap_uid_list is empty"));
    }
    let mut failed = Vec::new();
    for uid in req.ldap_uid_list {
        let fail = |error: &str| FailedImport {
            uid: uid.clone(),
            error: error.to_owned(),
        };
        if uid.trim().is_empty() {
            failed.push(fail("empty uid"));
            continue;
        }
        let found = state.ldap.search_users(&uid).await?;
        let Some(entry) = found.into_iter().next() else {
            failed.push(fail("not found"));
            continue;
        };
        if state
            .auth
            .identity
            .user_by_name(&entry.username)
            .await?
            .is_some()
        {
            failed.push(fail("the user already exists in Harbor"));
            continue;
        }
        let (user, _) = state.ldap.onboard(&entry).await?;
        tracing::info!(user = %user.username, by = %caller.0, "LDAP user imported");
    }
    if failed.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        Ok(json(StatusCode::NOT_FOUND, &failed))
    }
}
