//! Authorization: the `Authorizer` trait and Harbor's role-based model.
//!
//! The project permission matrix follows Harbor's `rbac_util.go`: five roles,
//! per-project resources, and the read-only policies every visitor gets on a
//! public project. System administrators may do everything.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use harbor_core::{IdentityStore, Project, Role};

use crate::error::AuthError;
use crate::principal::Principal;

/// A project resource, as Harbor names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// The project itself.
    Project,
    /// Its members.
    Member,
    /// Its metadata (e.g. `public`).
    Metadata,
    /// Its audit log.
    Log,
    /// Its repositories (pull and push live here).
    Repository,
    /// Artifacts in its repositories.
    Artifact,
    /// Tags in its repositories.
    Tag,
    /// Its robot accounts.
    Robot,
    /// Its webhook policies (Harbor's `notification-policy`).
    NotificationPolicy,
    /// Its immutable tag rules (Harbor's `immutable-tag`).
    ImmutableTag,
    /// Its labels (Harbor's `label`).
    Label,
    /// Labels on its artifacts (Harbor's `artifact-label`).
    ArtifactLabel,
    /// Its tag retention policy and runs (Harbor's `tag-retention`).
    TagRetention,
}

/// An action on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Read one.
    Read,
    /// List them.
    List,
    /// Create one.
    Create,
    /// Change one.
    Update,
    /// Delete one.
    Delete,
    /// Pull content.
    Pull,
    /// Push content.
    Push,
}

/// Every resource, for tests and permission listings.
pub const RESOURCES: [Resource; 13] = [
    Resource::Project,
    Resource::Member,
    Resource::Metadata,
    Resource::Log,
    Resource::Repository,
    Resource::Artifact,
    Resource::Tag,
    Resource::Robot,
    Resource::NotificationPolicy,
    Resource::ImmutableTag,
    Resource::Label,
    Resource::ArtifactLabel,
    Resource::TagRetention,
];

/// Every action.
pub const ACTIONS: [Action; 7] = [
    Action::Read,
    Action::List,
    Action::Create,
    Action::Update,
    Action::Delete,
    Action::Pull,
    Action::Push,
];

/// Whether `role` grants `action` on `resource` (Harbor's matrix).
pub fn role_allows(role: Role, resource: Resource, action: Action) -> bool {
    use Action::*;
    use Resource as R;
    let allowed: &[Action] = match (role, resource) {
        (Role::ProjectAdmin, R::Project) => &[Read, Update, Delete],
        (Role::ProjectAdmin, R::Member | R::Metadata | R::Robot) => {
            &[Create, Read, Update, Delete, List]
        }
        (Role::ProjectAdmin, R::Log) => &[List],
        (Role::ProjectAdmin, R::NotificationPolicy) => &[Create, Read, Update, Delete, List],
        (Role::Maintainer, R::NotificationPolicy) => &[Read, List],
        (Role::ProjectAdmin | Role::Maintainer, R::Label) => &[Create, Read, Update, Delete, List],
        (Role::Developer | Role::Guest, R::Label) => &[Read, List],
        (Role::ProjectAdmin | Role::Maintainer | Role::Developer, R::ArtifactLabel) => {
            &[Create, Delete]
        }
        (Role::ProjectAdmin | Role::Maintainer, R::Repository) => {
            &[Create, Read, Update, Delete, List, Pull, Push]
        }
        (Role::ProjectAdmin | Role::Maintainer, R::Artifact) => &[Create, Read, Delete, List],
        (Role::ProjectAdmin | Role::Maintainer, R::Tag) => &[List, Create, Delete],
        (Role::ProjectAdmin | Role::Maintainer, R::ImmutableTag) => &[Create, Update, Delete, List],
        (Role::Developer | Role::Guest | Role::LimitedGuest, R::ImmutableTag) => &[],
        // Harbor's matrix gives developers the retention policy too
        // (`rbac_role.go`); Harbor's `operate` (run, stop) is `Update` here.
        (Role::ProjectAdmin | Role::Maintainer | Role::Developer, R::TagRetention) => {
            &[Create, Read, Update, Delete, List]
        }
        (Role::Guest | Role::LimitedGuest, R::TagRetention) => &[],

        (Role::Maintainer, R::Project | R::Metadata) => &[Read],
        (Role::Maintainer | Role::Developer | Role::Guest, R::Member | R::Robot) => &[Read, List],
        (Role::Maintainer | Role::Developer | Role::Guest | Role::LimitedGuest, R::Log) => &[],

        (Role::Developer | Role::Guest | Role::LimitedGuest, R::Project) => &[Read],
        (Role::Developer, R::Repository) => &[Create, Read, Update, List, Pull, Push],
        (Role::Developer, R::Artifact) => &[Create, Read, List],
        (Role::Developer, R::Tag) => &[List, Create],
        (Role::Developer | Role::Guest | Role::LimitedGuest, R::Metadata) => &[],

        (Role::Guest | Role::LimitedGuest, R::Repository) => &[Read, List, Pull],
        (Role::Guest | Role::LimitedGuest, R::Artifact) => &[Read, List],
        (Role::Guest | Role::LimitedGuest, R::Tag) => &[List],
        (Role::LimitedGuest, R::Member | R::Robot) => &[],
        // Roles added to the enum later get nothing until listed here.
        _ => &[],
    };
    allowed.contains(&action)
}

/// What every visitor, anonymous included, may do in a public project.
pub fn public_project_allows(resource: Resource, action: Action) -> bool {
    matches!(
        (resource, action),
        (Resource::Project, Action::Read)
            | (Resource::Repository, Action::List | Action::Pull)
            | (Resource::Tag, Action::List)
            | (Resource::Artifact, Action::Read | Action::List)
    )
}

impl Resource {
    /// Parses Harbor's name; `None` for resources this registry does not
    /// have (a robot may list them; they grant nothing here).
    pub fn parse(s: &str) -> Option<Resource> {
        RESOURCES.into_iter().find(|r| r.as_str() == s)
    }

    /// Harbor's name for it in robot permissions.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Project => "project",
            Resource::Member => "member",
            Resource::Metadata => "metadata",
            Resource::Log => "log",
            Resource::Repository => "repository",
            Resource::Artifact => "artifact",
            Resource::Tag => "tag",
            Resource::Robot => "robot",
            Resource::NotificationPolicy => "notification-policy",
            Resource::ImmutableTag => "immutable-tag",
            Resource::Label => "label",
            Resource::ArtifactLabel => "artifact-label",
            Resource::TagRetention => "tag-retention",
        }
    }
}

impl Action {
    /// Parses Harbor's name; `None` for an action Harbor does not have.
    pub fn parse(s: &str) -> Option<Action> {
        ACTIONS.into_iter().find(|a| a.as_str() == s)
    }

    /// Harbor's name for it in robot permissions.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// Whether a robot's permission list grants `action` on `resource` of the
/// project named `project` (`*` namespaces cover every project; push implies
/// pull, as in Harbor).
pub fn robot_allows(
    permissions: &[harbor_core::RobotPermission],
    project: &str,
    resource: Resource,
    action: Action,
) -> bool {
    permissions
        .iter()
        .filter(|p| p.kind == "project" && (p.namespace == project || p.namespace == "*"))
        .flat_map(|p| &p.access)
        .filter(|a| {
            a.effect.as_deref().unwrap_or("allow") == "allow"
                && Resource::parse(&a.resource) == Some(resource)
        })
        .filter_map(|a| Action::parse(&a.action))
        .any(|granted| granted == action || (action == Action::Pull && granted == Action::Push))
}

/// Decides whether a principal may act on a project's resources.
#[async_trait]
pub trait Authorizer: Debug + Send + Sync + 'static {
    /// Whether `principal` may do `action` on `resource` of `project`.
    async fn allowed(
        &self,
        principal: &Principal,
        project: &Project,
        resource: Resource,
        action: Action,
    ) -> Result<bool, AuthError>;

    /// Whether `principal` may read the whole catalog (Harbor's
    /// `catalog:read`): system administrators, and robots given it.
    fn system_allowed(&self, principal: &Principal) -> bool {
        principal.may_system("catalog", "read")
    }
}

/// Harbor's RBAC over the project memberships in an [`IdentityStore`].
#[derive(Debug, Clone)]
pub struct RbacAuthorizer {
    store: Arc<dyn IdentityStore>,
    anonymous_access: bool,
}

impl RbacAuthorizer {
    /// An authorizer over `store`. With `anonymous_access` off, anonymous
    /// callers get nothing, even in public projects.
    pub fn new(store: Arc<dyn IdentityStore>, anonymous_access: bool) -> Self {
        RbacAuthorizer {
            store,
            anonymous_access,
        }
    }

    /// The role `principal` acts with in `project`, if a member: the highest
    /// of its own and those of the user groups it is in.
    pub async fn role_in(
        &self,
        principal: &Principal,
        project: &Project,
    ) -> Result<Option<Role>, AuthError> {
        match principal.user_id() {
            Some(uid) => Ok(self.store.effective_role(project.id, uid).await?),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Authorizer for RbacAuthorizer {
    async fn allowed(
        &self,
        principal: &Principal,
        project: &Project,
        resource: Resource,
        action: Action,
    ) -> Result<bool, AuthError> {
        if principal.is_sysadmin() {
            return Ok(true);
        }
        if *principal == Principal::Anonymous && !self.anonymous_access {
            return Ok(false);
        }
        if project.public && public_project_allows(resource, action) {
            return Ok(true);
        }
        if let Principal::Robot { permissions, .. } = principal {
            return Ok(robot_allows(permissions, &project.name, resource, action));
        }
        Ok(self
            .role_in(principal, project)
            .await?
            .is_some_and(|role| role_allows(role, resource, action)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Resource as R;

    /// The whole matrix, written out as Harbor's table reads, checked cell by cell.
    #[test]
    fn every_role_gets_exactly_harbors_permissions() {
        let expected: &[(Role, Resource, &[Action])] = &[
            (Role::ProjectAdmin, R::Project, &[Read, Update, Delete]),
            (
                Role::ProjectAdmin,
                R::Member,
                &[Create, Read, Update, Delete, List],
            ),
            (
                Role::ProjectAdmin,
                R::Metadata,
                &[Create, Read, Update, Delete, List],
            ),
            (Role::ProjectAdmin, R::Log, &[List]),
            (
                Role::ProjectAdmin,
                R::Repository,
                &[Create, Read, Update, Delete, List, Pull, Push],
            ),
            (
                Role::ProjectAdmin,
                R::Artifact,
                &[Create, Read, Delete, List],
            ),
            (Role::ProjectAdmin, R::Tag, &[List, Create, Delete]),
            (
                Role::ProjectAdmin,
                R::Robot,
                &[Create, Read, Update, Delete, List],
            ),
            (Role::Maintainer, R::Project, &[Read]),
            (Role::Maintainer, R::Member, &[Read, List]),
            (Role::Maintainer, R::Metadata, &[Read]),
            (Role::Maintainer, R::Log, &[]),
            (
                Role::Maintainer,
                R::Repository,
                &[Create, Read, Update, Delete, List, Pull, Push],
            ),
            (Role::Maintainer, R::Artifact, &[Create, Read, Delete, List]),
            (Role::Maintainer, R::Tag, &[List, Create, Delete]),
            (Role::Maintainer, R::Robot, &[Read, List]),
            (Role::Developer, R::Project, &[Read]),
            (Role::Developer, R::Member, &[Read, List]),
            (Role::Developer, R::Metadata, &[]),
            (Role::Developer, R::Log, &[]),
            (
                Role::Developer,
                R::Repository,
                &[Create, Read, Update, List, Pull, Push],
            ),
            (Role::Developer, R::Artifact, &[Create, Read, List]),
            (Role::Developer, R::Tag, &[List, Create]),
            (Role::Developer, R::Robot, &[Read, List]),
            (Role::Guest, R::Project, &[Read]),
            (Role::Guest, R::Member, &[Read, List]),
            (Role::Guest, R::Metadata, &[]),
            (Role::Guest, R::Log, &[]),
            (Role::Guest, R::Repository, &[Read, List, Pull]),
            (Role::Guest, R::Artifact, &[Read, List]),
            (Role::Guest, R::Tag, &[List]),
            (Role::Guest, R::Robot, &[Read, List]),
            (Role::LimitedGuest, R::Project, &[Read]),
            (Role::LimitedGuest, R::Member, &[]),
            (Role::LimitedGuest, R::Metadata, &[]),
            (Role::LimitedGuest, R::Log, &[]),
            (Role::LimitedGuest, R::Repository, &[Read, List, Pull]),
            (Role::LimitedGuest, R::Artifact, &[Read, List]),
            (Role::LimitedGuest, R::Tag, &[List]),
            (Role::LimitedGuest, R::Robot, &[]),
            (
                Role::ProjectAdmin,
                R::NotificationPolicy,
                &[Create, Read, Update, Delete, List],
            ),
            (Role::Maintainer, R::NotificationPolicy, &[Read, List]),
            (Role::Developer, R::NotificationPolicy, &[]),
            (Role::Guest, R::NotificationPolicy, &[]),
            (Role::LimitedGuest, R::NotificationPolicy, &[]),
            (
                Role::ProjectAdmin,
                R::ImmutableTag,
                &[Create, Update, Delete, List],
            ),
            (
                Role::Maintainer,
                R::ImmutableTag,
                &[Create, Update, Delete, List],
            ),
            (Role::Developer, R::ImmutableTag, &[]),
            (Role::Guest, R::ImmutableTag, &[]),
            (Role::LimitedGuest, R::ImmutableTag, &[]),
            (
                Role::ProjectAdmin,
                R::Label,
                &[Create, Read, Update, Delete, List],
            ),
            (
                Role::Maintainer,
                R::Label,
                &[Create, Read, Update, Delete, List],
            ),
            (Role::Developer, R::Label, &[Read, List]),
            (Role::Guest, R::Label, &[Read, List]),
            (Role::LimitedGuest, R::Label, &[]),
            (Role::ProjectAdmin, R::ArtifactLabel, &[Create, Delete]),
            (Role::Maintainer, R::ArtifactLabel, &[Create, Delete]),
            (Role::Developer, R::ArtifactLabel, &[Create, Delete]),
            (Role::Guest, R::ArtifactLabel, &[]),
            (Role::LimitedGuest, R::ArtifactLabel, &[]),
            (
                Role::ProjectAdmin,
                R::TagRetention,
                &[Create, Read, Update, Delete, List],
            ),
            (
                Role::Maintainer,
                R::TagRetention,
                &[Create, Read, Update, Delete, List],
            ),
            (
                Role::Developer,
                R::TagRetention,
                &[Create, Read, Update, Delete, List],
            ),
            (Role::Guest, R::TagRetention, &[]),
            (Role::LimitedGuest, R::TagRetention, &[]),
        ];
        assert_eq!(
            expected.len(),
            5 * RESOURCES.len(),
            "every role × resource is listed"
        );
        for (role, resource, actions) in expected {
            for action in ACTIONS {
                assert_eq!(
                    role_allows(*role, *resource, action),
                    actions.contains(&action),
                    "{role:?} {resource:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn names_parse_back_to_their_values() {
        for r in RESOURCES {
            assert_eq!(Resource::parse(r.as_str()), Some(r));
        }
        for a in ACTIONS {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Resource::parse("helm-chart"), None);
        assert_eq!(Action::parse("fly"), None);
    }

    #[test]
    fn a_public_project_lets_anyone_read_and_pull_but_nothing_more() {
        assert!(public_project_allows(R::Repository, Pull));
        assert!(public_project_allows(R::Project, Read));
        for action in [Push, Delete, Create, Update] {
            assert!(!public_project_allows(R::Repository, action), "{action:?}");
        }
        assert!(!public_project_allows(R::Member, List));
    }
}
