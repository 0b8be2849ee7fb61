//! `GET /users/current/permissions?scope=&relative=`: what the caller may do
//! in a scope (`/project/{id}` or `/system`), in Harbor's `Permission` shape.
//! A client such as a portal asks it to show only the controls the caller's
//! role allows; the answer comes from the same authorizer every request
//! passes through.

use axum::extract::State;
use axum::http::StatusCode;
use harbor_auth::rbac::{ACTIONS, RESOURCES};
use serde::{Deserialize, Serialize};

use super::{json, ApiResult, AppState, Caller, HarborQuery};
use crate::settings::CreationRestriction;

/// The query.
#[derive(Debug, Deserialize)]
pub(super) struct PermissionsQuery {
    scope: Option<String>,
    relative: Option<bool>,
}

/// Harbor's `Permission`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Permission {
    resource: String,
    action: &'static str,
}

/// What system administrators may do system-wide, with Harbor's resource
/// and action names, for what this server has.
const SYSTEM: &[(&str, &[&str])] = &[
    ("audit-log", &["list"]),
    ("configuration", &["read", "update"]),
    (
        "garbage-collection",
        &["create", "read", "update", "stop", "list"],
    ),
    ("label", &["create", "read", "update", "delete", "list"]),
    ("ldap-user", &["create", "list"]),
    ("project", &["create", "list"]),
    ("purge-audit", &["create", "read", "update", "stop", "list"]),
    ("quota", &["read", "update", "list"]),
    ("registry", &["create", "read", "update", "delete", "list"]),
    ("replication", &["create", "read", "update", "stop", "list"]),
    (
        "replication-policy",
        &["create", "read", "update", "delete", "list"],
    ),
    ("robot", &["create", "read", "update", "delete", "list"]),
    ("user", &["create", "read", "update", "delete", "list"]),
    (
        "user-group",
        &["create", "read", "update", "delete", "list"],
    ),
];

pub(super) async fn current(
    State(state): State<AppState>,
    caller: Caller,
    HarborQuery(q): HarborQuery<PermissionsQuery>,
) -> ApiResult {
    caller.require_user()?;
    let scope = q.scope.unwrap_or_default();
    let scope = scope.trim_end_matches('/');
    let mut granted: Vec<(String, &'static str)> = Vec::new();
    if scope == "/system" {
        if caller.0.is_sysadmin() {
            for (resource, actions) in SYSTEM {
                granted.extend(actions.iter().map(|a| ((*resource).to_owned(), *a)));
            }
        } else if state.settings.get().project_creation_restriction == CreationRestriction::Everyone
        {
            granted.push(("project".to_owned(), "create"));
        }
    } else if let Some(id) = scope
        .strip_prefix("/project/")
        .and_then(|id| id.parse::<i64>().ok())
    {
        // An unknown project, or one the caller cannot see, grants nothing.
        if let Some(project) = state.auth.identity.project_by_id(id).await? {
            for resource in RESOURCES {
                for action in ACTIONS {
                    if state
                        .auth
                        .authorizer
                        .allowed(&caller.0, &project, resource, action)
                        .await?
                    {
                        granted.push((resource.as_str().to_owned(), action.as_str()));
                    }
                }
            }
        }
    }
    let relative = q.relative.unwrap_or(false);
    let answer: Vec<Permission> = granted
        .into_iter()
        .map(|(resource, action)| Permission {
            resource: if relative || scope.is_empty() {
                resource
            } else {
                format!("{scope}/{resource}")
            },
            action,
        })
        .collect();
    Ok(json(StatusCode::OK, &answer))
}
