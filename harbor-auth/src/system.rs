//! System-level permissions: what system administrators may do outside any
//! project, with Harbor's resource and action names, and which of it a
//! system robot holds through `kind: "system"` permissions (namespace `/`).

use harbor_core::RobotPermission;

use crate::Principal;

/// The `kind` of a system permission.
pub const SYSTEM_KIND: &str = "system";

/// The one namespace of a system permission.
pub const SYSTEM_NAMESPACE: &str = "/";

/// The system-level (resource, actions) pairs this server checks, with
/// Harbor's names: what an administrator holds, and all a system robot may
/// be given.
pub const SYSTEM: &[(&str, &[&str])] = &[
    ("audit-log", &["list"]),
    ("catalog", &["read"]),
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

/// The part of [`SYSTEM`] a robot may be given: Harbor's list of system
/// permissions for robots (its `NolimitProvider`), for what this server has.
/// Never the configuration (a robot would change how everyone signs in), nor
/// `robot:update` (a robot refreshing a stronger robot's secret would become
/// it).
pub const ROBOT_SYSTEM: &[(&str, &[&str])] = &[
    ("audit-log", &["list"]),
    ("catalog", &["read"]),
    (
        "garbage-collection",
        &["create", "read", "update", "stop", "list"],
    ),
    ("label", &["create", "read", "update", "delete"]),
    ("ldap-user", &["create", "list"]),
    ("project", &["create", "list"]),
    ("purge-audit", &["create", "read", "update", "stop", "list"]),
    ("quota", &["read", "update", "list"]),
    ("registry", &["create", "read", "update", "delete", "list"]),
    ("replication", &["create", "read", "list"]),
    (
        "replication-policy",
        &["create", "read", "update", "delete", "list"],
    ),
    ("robot", &["create", "read", "delete", "list"]),
    ("user", &["create", "read", "update", "delete", "list"]),
    (
        "user-group",
        &["create", "read", "update", "delete", "list"],
    ),
];

fn in_table(table: &[(&str, &[&str])], resource: &str, action: &str) -> bool {
    table
        .iter()
        .any(|(r, actions)| *r == resource && actions.contains(&action))
}

/// Whether a robot may be given the system-level `action` on `resource`
/// (it is in [`ROBOT_SYSTEM`]).
pub fn robot_may_hold(resource: &str, action: &str) -> bool {
    in_table(ROBOT_SYSTEM, resource, action)
}

/// Whether `resource`/`action` is in [`SYSTEM`].
pub fn is_system_access(resource: &str, action: &str) -> bool {
    in_table(SYSTEM, resource, action)
}

/// Whether a robot's permission list grants the system-level `action` on
/// `resource` (a `kind: "system"`, namespace `/` permission naming it, and
/// one a robot may hold: a list stored otherwise grants nothing more).
pub fn robot_allows_system(permissions: &[RobotPermission], resource: &str, action: &str) -> bool {
    permissions
        .iter()
        .filter(|p| p.kind == SYSTEM_KIND && p.namespace == SYSTEM_NAMESPACE)
        .flat_map(|p| &p.access)
        .any(|a| {
            a.effect.as_deref().unwrap_or("allow") == "allow"
                && a.resource == resource
                && a.action == action
        })
        && robot_may_hold(resource, action)
}

impl Principal {
    /// Whether this principal may do the system-level `action` on
    /// `resource`: system administrators may do everything, a robot what
    /// its system permissions grant, other users nothing.
    pub fn may_system(&self, resource: &str, action: &str) -> bool {
        match self {
            Principal::User { sysadmin, .. } => *sysadmin,
            Principal::Robot { permissions, .. } => {
                robot_allows_system(permissions, resource, action)
            }
            Principal::Anonymous => false,
        }
    }
}

/// Whether every access of `wanted` is also granted by `held`, as Harbor
/// checks a robot creating robots: each permission must find one of the
/// same kind and namespace (or, failing that, the same kind with namespace
/// `*`) among `held` whose accesses include all of its own.
pub fn within(wanted: &[RobotPermission], held: &[RobotPermission]) -> bool {
    let effect = |e: &Option<String>| e.as_deref().unwrap_or("allow").to_owned();
    wanted.iter().all(|w| {
        let exact = held
            .iter()
            .find(|h| h.kind == w.kind && h.namespace == w.namespace);
        let Some(h) =
            exact.or_else(|| held.iter().find(|h| h.kind == w.kind && h.namespace == "*"))
        else {
            return false;
        };
        w.access.iter().all(|a| {
            h.access.iter().any(|g| {
                g.resource == a.resource
                    && g.action == a.action
                    && effect(&g.effect) == effect(&a.effect)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use harbor_core::RobotAccess;

    use super::*;

    fn perm(kind: &str, namespace: &str, access: &[(&str, &str)]) -> RobotPermission {
        RobotPermission {
            kind: kind.into(),
            namespace: namespace.into(),
            access: access
                .iter()
                .map(|(r, a)| RobotAccess {
                    resource: (*r).into(),
                    action: (*a).into(),
                    effect: None,
                })
                .collect(),
        }
    }

    fn robot(perms: Vec<RobotPermission>) -> Principal {
        Principal::Robot {
            id: 1,
            name: "robot$ci".into(),
            permissions: Arc::new(perms),
        }
    }

    #[test]
    fn a_robot_holds_exactly_the_system_accesses_it_was_given() {
        let r = robot(vec![perm("system", "/", &[("registry", "create")])]);
        assert!(r.may_system("registry", "create"));
        assert!(!r.may_system("registry", "delete"));
        assert!(!r.may_system("project", "create"));
    }

    #[test]
    fn project_permissions_and_other_namespaces_grant_nothing_system_wide() {
        let r = robot(vec![
            perm("project", "*", &[("registry", "create")]),
            perm("system", "library", &[("registry", "create")]),
        ]);
        assert!(!r.may_system("registry", "create"));
    }

    #[test]
    fn a_denied_access_is_not_granted() {
        let mut p = perm("system", "/", &[("user", "list")]);
        p.access[0].effect = Some("deny".into());
        assert!(!robot(vec![p]).may_system("user", "list"));
    }

    #[test]
    fn administrators_may_everything_other_users_and_anonymous_nothing() {
        let admin = Principal::User {
            id: 1,
            name: "admin".into(),
            sysadmin: true,
        };
        let ann = Principal::User {
            id: 2,
            name: "ann".into(),
            sysadmin: false,
        };
        assert!(admin.may_system("configuration", "update"));
        assert!(!ann.may_system("project", "list"));
        assert!(!Principal::Anonymous.may_system("project", "list"));
    }

    #[test]
    fn the_table_knows_harbor_names_and_nothing_else() {
        assert!(is_system_access("garbage-collection", "stop"));
        assert!(is_system_access("replication-policy", "delete"));
        assert!(!is_system_access("repository", "pull"));
        assert!(!is_system_access("project", "delete"));
    }

    #[test]
    fn robots_may_hold_part_of_the_table_but_never_the_configuration_or_robot_update() {
        for (resource, actions) in ROBOT_SYSTEM {
            for action in *actions {
                assert!(is_system_access(resource, action), "{resource}:{action}");
            }
        }
        assert!(robot_may_hold("registry", "create"));
        assert!(!robot_may_hold("configuration", "update"));
        assert!(!robot_may_hold("configuration", "read"));
        assert!(!robot_may_hold("robot", "update"));
        let r = robot(vec![perm(
            "system",
            "/",
            &[("configuration", "update"), ("robot", "update")],
        )]);
        assert!(!r.may_system("configuration", "update"));
        assert!(!r.may_system("robot", "update"));
    }

    #[test]
    fn a_grant_within_what_is_held_passes_and_anything_more_does_not() {
        let held = vec![
            perm("system", "/", &[("robot", "create"), ("registry", "list")]),
            perm("project", "*", &[("repository", "pull")]),
        ];
        assert!(within(
            &[perm("system", "/", &[("registry", "list")])],
            &held
        ));
        assert!(within(
            &[perm("project", "library", &[("repository", "pull")])],
            &held
        ));
        assert!(within(&[], &held));
        assert!(!within(
            &[perm("system", "/", &[("registry", "create")])],
            &held
        ));
        assert!(!within(
            &[perm("project", "library", &[("repository", "push")])],
            &held
        ));
        assert!(!within(
            &[perm("project", "*", &[("repository", "pull")])],
            &held[..1]
        ));
    }
}
