//! User groups: sets of users, filled from a directory (LDAP), an identity
//! provider's claim (OIDC) or an authenticating proxy (HTTP), that can be
//! project members, so that a role granted to a group reaches every user in it.

use std::time::SystemTime;

/// Where a group comes from, with Harbor's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupType {
    /// 1: an LDAP group, known by its DN.
    Ldap,
    /// 2: an HTTP authentication proxy's group, known by name.
    Http,
    /// 3: an OIDC provider's group (a value of the groups claim), known by name.
    Oidc,
}

impl GroupType {
    /// Harbor's id.
    pub fn id(self) -> i64 {
        match self {
            GroupType::Ldap => 1,
            GroupType::Http => 2,
            GroupType::Oidc => 3,
        }
    }

    /// The type with Harbor's id `id`.
    pub fn from_id(id: i64) -> Option<GroupType> {
        Some(match id {
            1 => GroupType::Ldap,
            2 => GroupType::Http,
            3 => GroupType::Oidc,
            _ => return None,
        })
    }
}

/// A user group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    /// Id.
    pub id: i64,
    /// Display name (unique per type, except for LDAP groups, which the DN
    /// identifies).
    pub name: String,
    /// Where it comes from.
    pub group_type: GroupType,
    /// The DN of an LDAP group; empty for the others.
    pub ldap_dn: String,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// What is needed to create (or find) a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserGroup {
    /// Display name.
    pub name: String,
    /// Where it comes from.
    pub group_type: GroupType,
    /// The DN of an LDAP group; empty for the others.
    pub ldap_dn: String,
}

impl NewUserGroup {
    /// A group of a type known by name (HTTP or OIDC).
    pub fn named(group_type: GroupType, name: impl Into<String>) -> Self {
        NewUserGroup {
            name: name.into(),
            group_type,
            ldap_dn: String::new(),
        }
    }

    /// An LDAP group.
    pub fn ldap(name: impl Into<String>, dn: impl Into<String>) -> Self {
        NewUserGroup {
            name: name.into(),
            group_type: GroupType::Ldap,
            ldap_dn: dn.into(),
        }
    }
}

/// Filters for listing groups; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupQuery {
    /// Names containing this.
    pub name_contains: Option<String>,
    /// Of this type.
    pub group_type: Option<GroupType>,
    /// The LDAP group with exactly this DN (compared case-insensitively, as
    /// LDAP compares DNs).
    pub ldap_dn: Option<String>,
}

/// What a project member is: a user or a group, with Harbor's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberKind {
    /// `u`: a user.
    User,
    /// `g`: a user group.
    Group,
}

impl MemberKind {
    /// Harbor's `entity_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "u",
            MemberKind::Group => "g",
        }
    }
}
