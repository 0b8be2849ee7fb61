//! Users, projects and project members, and the `IdentityStore` trait that
//! persists them (implemented beside `MetaStore` by the same backends).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::Result;
use crate::group::{GroupQuery, MemberKind, NewUserGroup, UserGroup};

/// A registry user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (the first user, the administrator, is 1).
    pub id: i64,
    /// Login name, unique.
    pub username: String,
    /// E-mail address, unique when set.
    pub email: String,
    /// Full name.
    pub realname: String,
    /// Free text.
    pub comment: String,
    /// The stored password hash (never the password).
    pub password_hash: String,
    /// System administrator.
    pub sysadmin: bool,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// What is needed to create a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub realname: String,
    /// Free text.
    pub comment: String,
    /// The password hash.
    pub password_hash: String,
    /// System administrator.
    pub sysadmin: bool,
}

/// The link between a user and the OpenID Connect provider account it was
/// onboarded from (Harbor's `oidc_user`): the provider's issuer and subject
/// identify the account; the CLI secret and the provider's tokens are kept
/// sealed (encrypted by the caller), never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    /// Id of the link.
    pub id: i64,
    /// The user.
    pub user_id: i64,
    /// The provider's issuer URL.
    pub issuer: String,
    /// The account's subject at the provider.
    pub subject: String,
    /// The CLI secret, sealed.
    pub secret: String,
    /// The provider's tokens (JSON), sealed.
    pub token: String,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// What is needed to link a new user to a provider account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOidcUser {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The account's subject at the provider.
    pub subject: String,
    /// The CLI secret, sealed.
    pub secret: String,
    /// The provider's tokens (JSON), sealed.
    pub token: String,
}

/// A project: the unit of access control; repositories are `<project>/<repo>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Id.
    pub id: i64,
    /// Name, unique, the first path component of its repositories.
    pub name: String,
    /// Readable by anyone, signed in or not.
    pub public: bool,
    /// The user who created it.
    pub owner_id: i64,
    /// Harbor's other project settings (`auto_scan`, `severity`,
    /// `prevent_vul`, ...) by name; `public` is the field above.
    pub metadata: BTreeMap<String, String>,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// Harbor's project roles, with Harbor's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// 1: everything in the project, members included.
    ProjectAdmin,
    /// 2: pull and push.
    Developer,
    /// 3: pull and read.
    Guest,
    /// 4: push, delete and manage the project's content, not its members.
    Maintainer,
    /// 5: pull only.
    LimitedGuest,
}

impl Role {
    /// Harbor's role id.
    pub fn id(self) -> i64 {
        match self {
            Role::ProjectAdmin => 1,
            Role::Developer => 2,
            Role::Guest => 3,
            Role::Maintainer => 4,
            Role::LimitedGuest => 5,
        }
    }

    /// The role with Harbor's id `id`.
    pub fn from_id(id: i64) -> Option<Role> {
        Some(match id {
            1 => Role::ProjectAdmin,
            2 => Role::Developer,
            3 => Role::Guest,
            4 => Role::Maintainer,
            5 => Role::LimitedGuest,
            _ => return None,
        })
    }

    /// How much the role grants: each role's permissions include those of
    /// every role ranked below it, so a user holding several roles in a
    /// project (its own and its groups') acts with the highest.
    pub fn rank(self) -> u8 {
        match self {
            Role::ProjectAdmin => 5,
            Role::Maintainer => 4,
            Role::Developer => 3,
            Role::Guest => 2,
            Role::LimitedGuest => 1,
        }
    }

    /// Harbor's role name (`projectAdmin`, `developer`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Role::ProjectAdmin => "projectAdmin",
            Role::Developer => "developer",
            Role::Guest => "guest",
            Role::Maintainer => "maintainer",
            Role::LimitedGuest => "limitedGuest",
        }
    }
}

/// A membership in a project: of a user, or of a user group (then every
/// user in the group holds the role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Membership id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The user's or the group's id.
    pub entity_id: i64,
    /// The user's or the group's name.
    pub entity_name: String,
    /// A user or a group.
    pub entity_type: MemberKind,
    /// The role.
    pub role: Role,
}

/// One permission of a robot account: what it may do in a project
/// (`namespace` is the project name, or `*` for every project).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RobotPermission {
    /// `project`, or `system` (namespace `/`) for a system robot.
    pub kind: String,
    /// The project name or `*`; `/` for kind `system`.
    pub namespace: String,
    /// The resource/action pairs granted.
    pub access: Vec<RobotAccess>,
}

/// One granted resource/action pair, with Harbor's names (`repository`/`pull`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RobotAccess {
    /// `repository`, `artifact`, `tag`, ...
    pub resource: String,
    /// `pull`, `push`, `read`, `list`, ...
    pub action: String,
    /// `allow` (the default; `deny` is not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

/// Where a robot account acts, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RobotLevel {
    /// `robot$<name>`: over any project its permissions name.
    System,
    /// `robot$<project>+<name>`: within one project.
    Project,
}

/// A robot account: a non-human credential with a fixed permission list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Robot {
    /// Id.
    pub id: i64,
    /// Full login name: `robot$<project>+<name>` or `robot$<name>`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// System-wide or for one project.
    pub level: RobotLevel,
    /// The project of a project-level robot.
    pub project_id: Option<i64>,
    /// Hash of its secret.
    pub secret_hash: String,
    /// When it stops working; `None`: never.
    pub expires_at: Option<SystemTime>,
    /// Switched off.
    pub disabled: bool,
    /// What it may do.
    pub permissions: Vec<RobotPermission>,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// What an audit entry records being done, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditOperation {
    /// Something was created (a push is the creation of an artifact).
    Create,
    /// Something was deleted.
    Delete,
    /// An artifact was pulled.
    Pull,
    /// Something was changed.
    Update,
}

/// The kind of resource an audit entry is about, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditResource {
    /// An artifact (manifest) in a repository.
    Artifact,
    /// A tag.
    Tag,
    /// A project.
    Project,
    /// A project member.
    Member,
    /// A user.
    User,
    /// A robot account.
    Robot,
    /// A replication endpoint.
    Registry,
    /// A replication policy.
    ReplicationPolicy,
    /// A repository (deleted whole).
    Repository,
}

/// Harbor's names, both ways, for the enums above.
macro_rules! harbor_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Harbor's name.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            /// Parses Harbor's name.
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

harbor_names!(RobotLevel {
    System => "system",
    Project => "project",
});

harbor_names!(AuditOperation {
    Create => "create",
    Delete => "delete",
    Pull => "pull",
    Update => "update",
});

harbor_names!(AuditResource {
    Artifact => "artifact",
    Tag => "tag",
    Project => "project",
    Member => "member",
    User => "user",
    Robot => "robot",
    Registry => "registry",
    ReplicationPolicy => "replication_policy",
    Repository => "repository",
});

/// One audit-log record: who did what to which resource, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id (assigned by the store; ignored when appending).
    pub id: i64,
    /// The project the resource belongs to, if any.
    pub project: Option<String>,
    /// Who: a user or robot name, or `anonymous`.
    pub username: String,
    /// What, e.g. `library/nginx:latest` or a project name.
    pub resource: String,
    /// Its kind.
    pub resource_type: AuditResource,
    /// What was done.
    pub operation: AuditOperation,
    /// When.
    pub op_time: SystemTime,
}

/// Filters for listing audit entries; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries of this project only.
    pub project: Option<String>,
    /// By this operator only.
    pub username: Option<String>,
    /// This operation only.
    pub operation: Option<AuditOperation>,
    /// This resource type only.
    pub resource_type: Option<AuditResource>,
    /// Resources containing this text.
    pub resource_contains: Option<String>,
}

/// One page of a listing: `page` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page number, from 1.
    pub page: u64,
    /// Entries per page.
    pub page_size: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            page: 1,
            page_size: 10,
        }
    }
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        self.page.saturating_sub(1).saturating_mul(self.page_size)
    }
}

/// Filters for listing robot accounts (Harbor's `q=Level=...`,
/// `q=name=...` and `q=name=~...`), all applied by the store so a list is
/// paged there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RobotQuery {
    /// Only the robots of this project.
    pub project_id: Option<i64>,
    /// Only robots of this level.
    pub level: Option<RobotLevel>,
    /// Only the robot with exactly this name.
    pub name: Option<String>,
    /// Only robots whose name contains this.
    pub name_contains: Option<String>,
}

impl RobotQuery {
    /// The robots of project `project_id`.
    pub fn project(project_id: i64) -> RobotQuery {
        RobotQuery {
            project_id: Some(project_id),
            ..RobotQuery::default()
        }
    }
}

/// Filters for listing projects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectQuery {
    /// Only names containing this.
    pub name_contains: Option<String>,
    /// Only the project with exactly this name.
    pub name: Option<String>,
    /// Only projects this user owns.
    pub owner_id: Option<i64>,
    /// Only public (or only private) projects.
    pub public: Option<bool>,
    /// Only projects that are public or of which this user is a member
    /// (`None`: all projects, for administrators).
    pub visible_to: Option<Option<i64>>,
}

/// Persistence of users, projects and members. Each method is one atomic step;
/// a duplicate name is `CONFLICT`. Every backend runs the identity conformance
/// suite in `harbor-storage`.
#[async_trait]
pub trait IdentityStore: Debug + Send + Sync + 'static {
    /// Creates a user; `CONFLICT` if the username or e-mail is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    /// A user by id.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// A user by login name.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>>;
    /// Users whose name contains `name_contains`, by id, and the total count.
    async fn list_users(&self, name_contains: Option<&str>, page: Page)
        -> Result<(Vec<User>, u64)>;
    /// Changes e-mail, real name and comment; `false` if there is no such user.
    async fn update_user_profile(
        &self,
        id: i64,
        email: &str,
        realname: &str,
        comment: &str,
    ) -> Result<bool>;
    /// Replaces the password hash.
    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool>;
    /// Grants or revokes system administration.
    async fn set_sysadmin(&self, id: i64, sysadmin: bool) -> Result<bool>;
    /// Deletes a user and their memberships.
    async fn delete_user(&self, id: i64) -> Result<bool>;

    /// Creates a user onboarded from an OpenID Connect provider together
    /// with its link, in one step; `CONFLICT` if the username or e-mail is
    /// taken or the provider account is already linked.
    async fn create_oidc_user(
        &self,
        user: &NewUser,
        link: &NewOidcUser,
    ) -> Result<(User, OidcUser)>;
    /// The link of the provider account `subject` of `issuer`.
    async fn oidc_user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<OidcUser>>;
    /// The provider link of user `user_id`, if it was onboarded from one.
    async fn oidc_user_by_user_id(&self, user_id: i64) -> Result<Option<OidcUser>>;
    /// Replaces the sealed CLI secret of user `user_id`; `false` if it has no link.
    async fn set_oidc_secret(&self, user_id: i64, secret: &str) -> Result<bool>;
    /// Replaces the sealed provider tokens of user `user_id`; `false` if it has no link.
    async fn set_oidc_token(&self, user_id: i64, token: &str) -> Result<bool>;

    /// Records signed-in session `id` of user `user_id`, valid until
    /// `expires_at`, and drops sessions that have expired. Sessions are
    /// kept in the store, not only in their cookie, so signing out (or a
    /// password change) ends them on every instance at once.
    async fn create_session(&self, id: &str, user_id: i64, expires_at: SystemTime) -> Result<()>;
    /// Whether session `id` exists and has not expired.
    async fn session_alive(&self, id: &str) -> Result<bool>;
    /// Ends session `id`; `false` if there was none.
    async fn delete_session(&self, id: &str) -> Result<bool>;
    /// Ends every session of user `user_id` but `keep`; how many ended.
    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<u64>;

    /// Creates a project with `metadata` and `owner_id` as its ProjectAdmin,
    /// in one step; `CONFLICT` if the name is taken.
    async fn create_project_with_metadata(
        &self,
        name: &str,
        public: bool,
        owner_id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Project>;
    /// Creates a project without other settings, with `owner_id` as its
    /// ProjectAdmin, in one step.
    async fn create_project(&self, name: &str, public: bool, owner_id: i64) -> Result<Project> {
        self.create_project_with_metadata(name, public, owner_id, &BTreeMap::new())
            .await
    }
    /// A project by id.
    async fn project_by_id(&self, id: i64) -> Result<Option<Project>>;
    /// A project by name.
    async fn project_by_name(&self, name: &str) -> Result<Option<Project>>;
    /// Projects matching `query`, by name, and the total count.
    async fn list_projects(&self, query: &ProjectQuery, page: Page) -> Result<(Vec<Project>, u64)>;
    /// Makes a project public or private.
    async fn set_project_public(&self, id: i64, public: bool) -> Result<bool>;
    /// Replaces a project's other settings with `metadata`, in one step.
    async fn set_project_metadata(
        &self,
        id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool>;
    /// Deletes a project and its memberships.
    async fn delete_project(&self, id: i64) -> Result<bool>;

    /// Adds a user as a member; `CONFLICT` if the user already is one.
    async fn add_member(&self, project_id: i64, user_id: i64, role: Role) -> Result<Member>;
    /// Adds a user group as a member; `CONFLICT` if the group already is one.
    async fn add_group_member(&self, project_id: i64, group_id: i64, role: Role) -> Result<Member>;
    /// A user's own membership in a project (not through its groups).
    async fn member_of(&self, project_id: i64, user_id: i64) -> Result<Option<Member>>;
    /// The role a user acts with in a project: the highest (by
    /// [`Role::rank`]) of its own membership and those of the groups it is
    /// in; `None` if neither makes it a member.
    async fn effective_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>>;
    /// A membership by id.
    async fn member_by_id(&self, project_id: i64, member_id: i64) -> Result<Option<Member>>;
    /// A project's members, by id.
    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>>;
    /// Changes a member's role.
    async fn set_member_role(&self, project_id: i64, member_id: i64, role: Role) -> Result<bool>;
    /// Removes a member.
    async fn remove_member(&self, project_id: i64, member_id: i64) -> Result<bool>;

    /// Creates a user group; `CONFLICT` if an LDAP group with that DN, or a
    /// group of the other types with that type and name, exists.
    async fn create_group(&self, group: &NewUserGroup) -> Result<UserGroup>;
    /// A group by id.
    async fn group_by_id(&self, id: i64) -> Result<Option<UserGroup>>;
    /// Groups matching `query`, by id, one page and the total.
    async fn list_groups(&self, query: &GroupQuery, page: Page) -> Result<(Vec<UserGroup>, u64)>;
    /// Renames a group; `CONFLICT` if the new name is taken.
    async fn rename_group(&self, id: i64, name: &str) -> Result<bool>;
    /// Deletes a group, its project memberships and who is in it.
    async fn delete_group(&self, id: i64) -> Result<bool>;
    /// Finds each of `groups` (an LDAP group by DN, the others by type and
    /// name) or creates it, in one step: what a login does with the groups a
    /// directory or identity provider names. Answers in the order asked.
    async fn onboard_groups(&self, groups: &[NewUserGroup]) -> Result<Vec<UserGroup>>;
    /// Replaces the groups user `user_id` is in with `group_ids`, in one
    /// step (each login sets what the directory says now).
    async fn set_user_groups(&self, user_id: i64, group_ids: &[i64]) -> Result<()>;
    /// The groups a user is in, by id.
    async fn user_groups(&self, user_id: i64) -> Result<Vec<UserGroup>>;

    /// Creates a robot account (`id`, `created_at` and `updated_at` of `robot`
    /// are ignored); `CONFLICT` if the name is taken.
    async fn create_robot(&self, robot: &Robot) -> Result<Robot>;
    /// A robot by id.
    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>>;
    /// A robot by full name.
    async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>>;
    /// The robots `query` selects, by id, one page and the total.
    async fn list_robots(&self, query: &RobotQuery, page: Page) -> Result<(Vec<Robot>, u64)>;
    /// Replaces description, expiry, disabled flag and permissions.
    async fn update_robot(&self, robot: &Robot) -> Result<bool>;
    /// Replaces the secret hash.
    async fn set_robot_secret(&self, id: i64, hash: &str) -> Result<bool>;
    /// Deletes a robot.
    async fn delete_robot(&self, id: i64) -> Result<bool>;

    /// Appends audit entries in one transaction.
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// Audit entries matching `query`, newest first, one page and the total.
    async fn list_audit(&self, query: &AuditQuery, page: Page) -> Result<(Vec<AuditEntry>, u64)>;
    /// Deletes the audit entries older than `before` whose operation is one
    /// of `operations` (Harbor's audit log purge), or only counts them when
    /// `dry_run`; how many.
    async fn purge_audit(
        &self,
        before: SystemTime,
        operations: &[AuditOperation],
        dry_run: bool,
    ) -> Result<u64>;
}
