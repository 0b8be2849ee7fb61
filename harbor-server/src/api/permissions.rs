//! `GET /users/current/permissions?scope=&relative=`: what the caller may do
//! in a scope (`/project/{id}` or `/system`), in Harbor's `Permission` shape;
//! and `GET /permissions`: every permission a robot can be given.
//! A client such as a portal asks it to show only the controls the caller's
//! role allows; the answer comes from the same authorizer every request
//! passes through.

use axum::extract::State;
use axum::http::StatusCode;
use harbor_auth::rbac::{role_allows, ACTIONS, RESOURCES};
use harbor_auth::system::{ROBOT_SYSTEM, SYSTEM};
use harbor_core::Role;
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
        for (resource, actions) in SYSTEM {
            granted.extend(
                actions
                    .iter()
                    .filter(|a| caller.0.may_system(resource, a))
                    .map(|a| ((*resource).to_owned(), *a)),
            );
        }
        // Anyone but a project robot may create projects when everyone may.
        if !caller.0.may_system("project", "create")
            && !caller.0.is_project_robot()
            && state.settings.get().project_creation_restriction == CreationRestriction::Everyone
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

/// Harbor's `Permissions`: what robots can be given, system-wide and in a
/// project.
#[derive(Debug, Serialize)]
pub(super) struct Permissions {
    system: Vec<Permission>,
    project: Vec<Permission>,
}

/// Every system permission a robot may hold ([`ROBOT_SYSTEM`], part of the
/// table every system-level check uses) and every project permission (what
/// a ProjectAdmin holds).
fn grantable() -> Permissions {
    let system = ROBOT_SYSTEM
        .iter()
        .flat_map(|(resource, actions)| {
            actions.iter().map(|action| Permission {
                resource: (*resource).to_owned(),
                action,
            })
        })
        .collect();
    let project = RESOURCES
        .iter()
        .flat_map(|r| ACTIONS.iter().map(move |a| (*r, *a)))
        .filter(|(r, a)| role_allows(Role::ProjectAdmin, *r, *a))
        .map(|(r, a)| Permission {
            resource: r.as_str().to_owned(),
            action: a.as_str(),
        })
        .collect();
    Permissions { system, project }
}

/// `GET /permissions`: for system administrators, and for robots that may
/// read system robots (Harbor answers administrators only; a robot that
/// manages robots needs the list as much).
pub(super) async fn all(caller: Caller) -> ApiResult {
    caller.require_system("robot", "read")?;
    Ok(json(StatusCode::OK, &grantable()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grantable_list_is_what_robots_may_hold_and_a_project_admins_permissions() {
        let p = grantable();
        let count: usize = ROBOT_SYSTEM.iter().map(|(_, a)| a.len()).sum();
        assert_eq!(p.system.len(), count);
        assert!(p.system.contains(&Permission {
            resource: "registry".into(),
            action: "create"
        }));
        assert!(p.project.contains(&Permission {
            resource: "repository".into(),
            action: "push"
        }));
        assert!(!p.project.iter().any(|x| x.resource == "registry"));
    }
}
