//! Who is making a request.

use std::fmt;
use std::sync::Arc;

use harbor_core::RobotPermission;

/// The authenticated caller, or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A user of the registry.
    User {
        /// User id.
        id: i64,
        /// Login name.
        name: String,
        /// System administrator.
        sysadmin: bool,
    },
    /// A robot account, holding exactly its permission list.
    Robot {
        /// Robot id.
        id: i64,
        /// Full name, `robot$...`.
        name: String,
        /// What it may do.
        permissions: Arc<Vec<RobotPermission>>,
    },
}

impl Principal {
    /// The name tokens and logs carry; empty for anonymous, as Docker expects.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { name, .. } | Principal::Robot { name, .. } => name,
        }
    }

    /// Whether this is a system administrator.
    pub fn is_sysadmin(&self) -> bool {
        matches!(self, Principal::User { sysadmin: true, .. })
    }

    /// Whether this is a project's robot account, named
    /// `robot$<project>+<name>` (system robots have no `+`).
    pub fn is_project_robot(&self) -> bool {
        matches!(self, Principal::Robot { name, .. } if name.contains('+'))
    }

    /// The user id, if a user.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Anonymous | Principal::Robot { .. } => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::User { name, .. } | Principal::Robot { name, .. } => f.write_str(name),
        }
    }
}

/// The prefix of robot account names, as Harbor's default `robot_name_prefix`.
pub const ROBOT_PREFIX: &str = "robot$";

/// The principal a token's subject names: a user, or a robot account that is
/// still enabled and unexpired. `None` if there is no such (usable) account.
pub async fn resolve_principal(
    store: &dyn harbor_core::IdentityStore,
    name: &str,
) -> Result<Option<Principal>, harbor_core::Error> {
    if name.starts_with(ROBOT_PREFIX) {
        let robot = store.robot_by_name(name).await?;
        return Ok(robot.filter(robot_usable).map(|r| Principal::Robot {
            id: r.id,
            name: r.name,
            permissions: Arc::new(r.permissions),
        }));
    }
    Ok(store.user_by_name(name).await?.map(|u| Principal::User {
        id: u.id,
        name: u.username,
        sysadmin: u.sysadmin,
    }))
}

/// Whether a robot may authenticate: enabled and not expired.
pub fn robot_usable(r: &harbor_core::Robot) -> bool {
    !r.disabled
        && r.expires_at
            .is_none_or(|t| t > std::time::SystemTime::now())
}
