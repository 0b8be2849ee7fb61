//! Who is making a request.

use std::fmt;

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
}

impl Principal {
    /// The name tokens and logs carry; empty for anonymous, as Docker expects.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { name, .. } => name,
        }
    }

    /// Whether this is a system administrator.
    pub fn is_sysadmin(&self) -> bool {
        matches!(self, Principal::User { sysadmin: true, .. })
    }

    /// The user id, if a user.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Anonymous => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::User { name, .. } => f.write_str(name),
        }
    }
}
