//! `IdentityStore` for `PgStore`: users, projects, members, robot accounts
//! and the audit log. A duplicate name is a unique violation, which is
//! `CONFLICT` whichever instance wrote first.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use harbor_core::{
    AuditEntry, AuditOperation, AuditQuery, AuditResource, GroupQuery, IdentityStore, Member,
    MemberKind, NewOidcUser, NewUser, NewUserGroup, OidcUser, Page, Project, ProjectQuery, Result,
    Robot, RobotLevel, RobotPermission, RobotQuery, Role, User, UserGroup,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{from_ms, parsed, pg, sql_limit, sql_offset, to_ms, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};

pub(super) const USER_COLUMNS: &str =
    "id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at";
const PROJECT_COLUMNS: &str = "id, name, public, owner_id, created_at, updated_at, metadata";
pub(super) const MEMBER_SELECT: &str = "SELECT m.id, m.project_id, coalesce(m.user_id, m.group_id),
     coalesce(u.username, g.name), m.group_id IS NOT NULL, m.role
     FROM project_members m LEFT JOIN users u ON u.id = m.user_id
     LEFT JOIN user_groups g ON g.id = m.group_id";
const ROBOT_COLUMNS: &str = "id, name, description, level, project_id, secret_hash, expires_at,
     disabled, permissions, created_at, updated_at";

pub(super) fn user_row(r: &Row) -> Result<User, StorageError> {
    Ok(User {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        email: r.try_get(2)?,
        realname: r.try_get(3)?,
        comment: r.try_get(4)?,
        password_hash: r.try_get(5)?,
        sysadmin: r.try_get(6)?,
        created_at: from_ms(r.try_get(7)?),
        updated_at: from_ms(r.try_get(8)?),
    })
}

fn project_row(r: &Row) -> Result<Project, StorageError> {
    let name: String = r.try_get(1)?;
    let metadata: &str = r.try_get(6)?;
    Ok(Project {
        id: r.try_get(0)?,
        public: r.try_get(2)?,
        owner_id: r.try_get(3)?,
        metadata: serde_json::from_str(metadata)
            .map_err(|e| StorageError::encoding(format!("metadata of project {name}"), e))?,
        created_at: from_ms(r.try_get(4)?),
        updated_at: from_ms(r.try_get(5)?),
        name,
    })
}

pub(super) fn member_row(r: &Row) -> Result<Member, StorageError> {
    let group: bool = r.try_get(4)?;
    Ok(Member {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        entity_id: r.try_get(2)?,
        entity_name: r.try_get(3)?,
        entity_type: if group {
            MemberKind::Group
        } else {
            MemberKind::User
        },
        role: role_of(r.try_get(5)?)?,
    })
}

pub(super) fn role_of(id: i64) -> Result<Role, StorageError> {
    Role::from_id(id).ok_or_else(|| StorageError::Corrupt(format!("unknown role id {id}")))
}

fn robot_row(r: &Row) -> Result<Robot, StorageError> {
    let name: String = r.try_get(1)?;
    let level: &str = r.try_get(3)?;
    let permissions: &str = r.try_get(8)?;
    Ok(Robot {
        id: r.try_get(0)?,
        description: r.try_get(2)?,
        level: RobotLevel::parse(level)
            .ok_or_else(|| StorageError::Corrupt(format!("level {level:?} of robot {name}")))?,
        project_id: r.try_get(4)?,
        secret_hash: r.try_get(5)?,
        expires_at: r.try_get::<_, Option<i64>>(6)?.map(from_ms),
        disabled: r.try_get(7)?,
        permissions: serde_json::from_str(permissions)
            .map_err(|e| StorageError::encoding(format!("permissions of robot {name}"), e))?,
        created_at: from_ms(r.try_get(9)?),
        updated_at: from_ms(r.try_get(10)?),
        name,
    })
}

fn permissions_json(p: &[RobotPermission]) -> Result<String, StorageError> {
    serde_json::to_string(p).map_err(|e| StorageError::encoding("permissions do not encode", e))
}

fn metadata_json(m: &BTreeMap<String, String>) -> Result<String, StorageError> {
    serde_json::to_string(m).map_err(|e| StorageError::encoding("project metadata", e))
}

/// A pattern for `ILIKE ... ESCAPE '\'` matching names that contain `s`:
/// case-insensitive, like SQLite's `LIKE` (and Harbor's name filters).
pub(super) fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Inserts user `u` in `tx`; `CONFLICT` if the username or e-mail is
/// taken. Every way a user is created goes through here.
pub(super) async fn insert_user(
    tx: &deadpool_postgres::Transaction<'_>,
    u: &NewUser,
) -> Result<User, StorageError> {
    let sql = format!(
        "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, harbor_now_ms(), harbor_now_ms()) RETURNING {USER_COLUMNS}"
    );
    let st = tx.prepare_cached(&sql).await?;
    let row = tx
        .query_one(
            &st,
            &[
                &u.username,
                &u.email,
                &u.realname,
                &u.comment,
                &u.password_hash,
                &u.sysadmin,
            ],
        )
        .await
        .map_err(|e| {
            pg_conflict(e, || {
                format!(
                    "the username {:?} or e-mail {:?} is already taken",
                    u.username, u.email
                )
            })
        })?;
    user_row(&row)
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn create_oidc_user(
        &self,
        user: &NewUser,
        link: &NewOidcUser,
    ) -> Result<(User, OidcUser)> {
        self.oidc_create(user, link).await
    }

    async fn oidc_user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<OidcUser>> {
        self.oidc_by_subject(issuer, subject).await
    }

    async fn oidc_user_by_user_id(&self, user_id: i64) -> Result<Option<OidcUser>> {
        self.oidc_by_user(user_id).await
    }

    async fn set_oidc_secret(&self, user_id: i64, secret: &str) -> Result<bool> {
        self.oidc_set_secret(user_id, secret).await
    }

    async fn set_oidc_token(&self, user_id: i64, token: &str) -> Result<bool> {
        self.oidc_set_token(user_id, token).await
    }

    async fn create_session(&self, id: &str, user_id: i64, expires_at: SystemTime) -> Result<()> {
        self.session_create(id, user_id, expires_at).await
    }

    async fn session_alive(&self, id: &str) -> Result<bool> {
        self.session_is_alive(id).await
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        self.session_delete(id).await
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<u64> {
        self.sessions_delete_of_user(user_id, keep).await
    }

    async fn create_user(&self, u: &NewUser) -> Result<User> {
        pg!(self, write, |tx| insert_user(&tx, u).await?)
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.read_one(sql, &[&id], user_row).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        self.read_one(sql, &[&username], user_row).await
    }

    async fn list_users(
        &self,
        name_contains: Option<&str>,
        page: Page,
    ) -> Result<(Vec<User>, u64)> {
        let pattern = like_pattern(name_contains.unwrap_or(""));
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM users WHERE username ILIKE $1 ESCAPE '\\'")
                .await?;
            let total: i64 = tx.query_one(&count, &[&pattern]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE username ILIKE $1 ESCAPE '\\'
                     ORDER BY id LIMIT $2 OFFSET $3"
                ))
                .await?;
            let rows = tx
                .query(&st, &[&pattern, &sql_limit(page), &sql_offset(page)])
                .await?;
            let users = rows.iter().map(user_row).collect::<Result<Vec<_>, _>>()?;
            (users, unsigned(total))
        })
    }

    async fn update_user_profile(
        &self,
        id: i64,
        email: &str,
        realname: &str,
        comment: &str,
    ) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE users SET email = $2, realname = $3, comment = $4, updated_at = harbor_now_ms()
                     WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &email, &realname, &comment])
                .await
                .map_err(|e| pg_conflict(e, || format!("the e-mail {email:?} is already taken")))?
                > 0
        })
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool> {
        self.touched(
            "UPDATE users SET password_hash = $2, updated_at = harbor_now_ms() WHERE id = $1",
            &[&id, &hash],
        )
        .await
    }

    async fn set_sysadmin(&self, id: i64, sysadmin: bool) -> Result<bool> {
        self.touched(
            "UPDATE users SET sysadmin = $2, updated_at = harbor_now_ms() WHERE id = $1",
            &[&id, &sysadmin],
        )
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM users WHERE id = $1", &[&id])
            .await
    }

    async fn create_project_with_metadata(
        &self,
        name: &str,
        public: bool,
        owner_id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Project> {
        let metadata = metadata_json(metadata)?;
        let insert = format!(
            "INSERT INTO projects (name, public, owner_id, created_at, updated_at, metadata)
             VALUES ($1, $2, $3, harbor_now_ms(), harbor_now_ms(), $4) RETURNING {PROJECT_COLUMNS}"
        );
        pg!(self, write, |tx| {
            let st = tx.prepare_cached(&insert).await?;
            let row = tx
                .query_one(&st, &[&name, &public, &owner_id, &metadata])
                .await
                .map_err(|e| pg_conflict(e, || format!("the project {name:?} already exists")))?;
            let project = project_row(&row)?;
            let member = tx
                .prepare_cached(
                    "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)",
                )
                .await?;
            tx.execute(&member, &[&project.id, &owner_id, &Role::ProjectAdmin.id()])
                .await?;
            project
        })
    }

    async fn project_by_id(&self, id: i64) -> Result<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        self.read_one(sql, &[&id], project_row).await
    }

    async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1");
        self.read_one(sql, &[&name], project_row).await
    }

    async fn list_projects(&self, q: &ProjectQuery, page: Page) -> Result<(Vec<Project>, u64)> {
        // NULL disables a filter, so one prepared statement serves all.
        let (restrict, user): (bool, i64) = match q.visible_to {
            None => (false, 0),
            Some(user) => (true, user.unwrap_or(-1)),
        };
        let pattern = like_pattern(q.name_contains.as_deref().unwrap_or(""));
        let filter = "FROM projects p WHERE p.name ILIKE $1 ESCAPE '\\'
             AND ($2::boolean IS NULL OR p.public = $2)
             AND (NOT $3::boolean OR p.public OR EXISTS
                  (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND (m.user_id = $4::bigint
                   OR m.group_id IN (SELECT group_id FROM user_group_members WHERE user_id = $4::bigint))))
             AND ($5::text IS NULL OR p.name = $5) AND ($6::bigint IS NULL OR p.owner_id = $6)";
        pg!(self, read, |tx| {
            let args: [&(dyn ToSql + Sync); 6] =
                [&pattern, &q.public, &restrict, &user, &q.name, &q.owner_id];
            let count = tx
                .prepare_cached(&format!("SELECT count(*) {filter}"))
                .await?;
            let total: i64 = tx.query_one(&count, &args).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT p.id, p.name, p.public, p.owner_id, p.created_at, p.updated_at, p.metadata
                     {filter} ORDER BY p.name LIMIT $7 OFFSET $8"
                ))
                .await?;
            let (limit, offset) = (sql_limit(page), sql_offset(page));
            let mut all = args.to_vec();
            all.extend([&limit as &(dyn ToSql + Sync), &offset]);
            let rows = tx.query(&st, &all).await?;
            let projects = rows
                .iter()
                .map(project_row)
                .collect::<Result<Vec<_>, _>>()?;
            (projects, unsigned(total))
        })
    }

    async fn set_project_public(&self, id: i64, public: bool) -> Result<bool> {
        self.touched(
            "UPDATE projects SET public = $2, updated_at = harbor_now_ms() WHERE id = $1",
            &[&id, &public],
        )
        .await
    }

    async fn set_project_metadata(
        &self,
        id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool> {
        let metadata = metadata_json(metadata)?;
        self.touched(
            "UPDATE projects SET metadata = $2, updated_at = harbor_now_ms() WHERE id = $1",
            &[&id, &metadata],
        )
        .await
    }

    async fn delete_project(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM projects WHERE id = $1", &[&id])
            .await
    }

    async fn add_member(&self, project_id: i64, user_id: i64, role: Role) -> Result<Member> {
        let select = format!("{MEMBER_SELECT} WHERE m.id = $1");
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
                     RETURNING id",
                )
                .await?;
            let id: i64 = tx
                .query_one(&st, &[&project_id, &user_id, &role.id()])
                .await
                .map_err(|e| {
                    pg_conflict(e, || "the user is already a member of the project".into())
                })?
                .try_get(0)?;
            let st = tx.prepare_cached(&select).await?;
            member_row(&tx.query_one(&st, &[&id]).await?)?
        })
    }

    async fn member_of(&self, project_id: i64, user_id: i64) -> Result<Option<Member>> {
        let sql = format!("{MEMBER_SELECT} WHERE m.project_id = $1 AND m.user_id = $2");
        self.read_one(sql, &[&project_id, &user_id], member_row)
            .await
    }

    async fn add_group_member(&self, project_id: i64, group_id: i64, role: Role) -> Result<Member> {
        self.add_group_member_row(project_id, group_id, role).await
    }

    async fn effective_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>> {
        self.effective_role_of(project_id, user_id).await
    }

    async fn create_group(&self, group: &NewUserGroup) -> Result<UserGroup> {
        self.create_group_row(group).await
    }

    async fn group_by_id(&self, id: i64) -> Result<Option<UserGroup>> {
        self.group_row(id).await
    }

    async fn list_groups(&self, query: &GroupQuery, page: Page) -> Result<(Vec<UserGroup>, u64)> {
        self.group_rows(query, page).await
    }

    async fn rename_group(&self, id: i64, name: &str) -> Result<bool> {
        self.rename_group_row(id, name).await
    }

    async fn delete_group(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM user_groups WHERE id = $1", &[&id])
            .await
    }

    async fn onboard_groups(&self, groups: &[NewUserGroup]) -> Result<Vec<UserGroup>> {
        self.onboard_group_rows(groups).await
    }

    async fn set_user_groups(&self, user_id: i64, group_ids: &[i64]) -> Result<()> {
        self.set_user_group_rows(user_id, group_ids).await
    }

    async fn user_groups(&self, user_id: i64) -> Result<Vec<UserGroup>> {
        self.user_group_rows(user_id).await
    }

    async fn member_by_id(&self, project_id: i64, member_id: i64) -> Result<Option<Member>> {
        let sql = format!("{MEMBER_SELECT} WHERE m.project_id = $1 AND m.id = $2");
        self.read_one(sql, &[&project_id, &member_id], member_row)
            .await
    }

    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>> {
        let sql = format!("{MEMBER_SELECT} WHERE m.project_id = $1 ORDER BY m.id");
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query(&st, &[&project_id])
                .await?
                .iter()
                .map(member_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn set_member_role(&self, project_id: i64, member_id: i64, role: Role) -> Result<bool> {
        self.touched(
            "UPDATE project_members SET role = $3 WHERE project_id = $1 AND id = $2",
            &[&project_id, &member_id, &role.id()],
        )
        .await
    }

    async fn remove_member(&self, project_id: i64, member_id: i64) -> Result<bool> {
        self.touched(
            "DELETE FROM project_members WHERE project_id = $1 AND id = $2",
            &[&project_id, &member_id],
        )
        .await
    }

    async fn create_robot(&self, r: &Robot) -> Result<Robot> {
        let permissions = permissions_json(&r.permissions)?;
        let expires_at = r.expires_at.map(to_ms);
        let sql = format!(
            "INSERT INTO robots (name, description, level, project_id, secret_hash, expires_at, disabled,
             permissions, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, harbor_now_ms(), harbor_now_ms())
             RETURNING {ROBOT_COLUMNS}"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &r.name,
                        &r.description,
                        &r.level.as_str(),
                        &r.project_id,
                        &r.secret_hash,
                        &expires_at,
                        &r.disabled,
                        &permissions,
                    ],
                )
                .await
                .map_err(|e| {
                    pg_conflict(e, || {
                        format!("the robot account {:?} already exists", r.name)
                    })
                })?;
            robot_row(&row)?
        })
    }

    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>> {
        let sql = format!("SELECT {ROBOT_COLUMNS} FROM robots WHERE id = $1");
        self.read_one(sql, &[&id], robot_row).await
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>> {
        let sql = format!("SELECT {ROBOT_COLUMNS} FROM robots WHERE name = $1");
        self.read_one(sql, &[&name], robot_row).await
    }

    async fn list_robots(&self, query: &RobotQuery, page: Page) -> Result<(Vec<Robot>, u64)> {
        let filter = "FROM robots WHERE ($1::bigint IS NULL OR project_id = $1)
             AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR name = $3)
             AND ($4::text IS NULL OR strpos(name, $4) > 0)";
        let level = query.level.map(RobotLevel::as_str);
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached(&format!("SELECT count(*) {filter}"))
                .await?;
            let total: i64 = tx
                .query_one(
                    &count,
                    &[&query.project_id, &level, &query.name, &query.name_contains],
                )
                .await?
                .try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {ROBOT_COLUMNS} {filter} ORDER BY id LIMIT $5 OFFSET $6"
                ))
                .await?;
            let rows = tx
                .query(
                    &st,
                    &[
                        &query.project_id,
                        &level,
                        &query.name,
                        &query.name_contains,
                        &sql_limit(page),
                        &sql_offset(page),
                    ],
                )
                .await?;
            let robots = rows.iter().map(robot_row).collect::<Result<Vec<_>, _>>()?;
            (robots, unsigned(total))
        })
    }

    async fn update_robot(&self, r: &Robot) -> Result<bool> {
        let permissions = permissions_json(&r.permissions)?;
        let expires_at = r.expires_at.map(to_ms);
        self.touched(
            "UPDATE robots SET description = $2, expires_at = $3, disabled = $4, permissions = $5,
             updated_at = harbor_now_ms() WHERE id = $1",
            &[
                &r.id,
                &r.description,
                &expires_at,
                &r.disabled,
                &permissions,
            ],
        )
        .await
    }

    async fn set_robot_secret(&self, id: i64, hash: &str) -> Result<bool> {
        self.touched(
            "UPDATE robots SET secret_hash = $2, updated_at = harbor_now_ms() WHERE id = $1",
            &[&id, &hash],
        )
        .await
    }

    async fn delete_robot(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM robots WHERE id = $1", &[&id])
            .await
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO audit_log (project, username, resource, resource_type, operation, op_time)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            for e in entries {
                tx.execute(
                    &st,
                    &[
                        &e.project,
                        &e.username,
                        &e.resource,
                        &e.resource_type.as_str(),
                        &e.operation.as_str(),
                        &to_ms(e.op_time),
                    ],
                )
                .await?;
            }
        })
    }

    async fn purge_audit(
        &self,
        before: std::time::SystemTime,
        operations: &[AuditOperation],
        dry_run: bool,
    ) -> Result<u64> {
        let ops: Vec<&str> = operations.iter().map(|o| o.as_str()).collect();
        let before = to_ms(before);
        let sql = if dry_run {
            "SELECT count(*) FROM audit_log WHERE op_time < $1 AND operation = ANY($2)"
        } else {
            "WITH gone AS (DELETE FROM audit_log WHERE op_time < $1 AND operation = ANY($2)
                           RETURNING 1)
             SELECT count(*) FROM gone"
        };
        pg!(self, write, |tx| {
            let st = tx.prepare_cached(sql).await?;
            let n: i64 = tx.query_one(&st, &[&before, &ops]).await?.try_get(0)?;
            unsigned(n)
        })
    }

    async fn list_audit(&self, q: &AuditQuery, page: Page) -> Result<(Vec<AuditEntry>, u64)> {
        let filter = "FROM audit_log WHERE ($1::text IS NULL OR project = $1)
             AND ($2::text IS NULL OR username = $2)
             AND ($3::text IS NULL OR operation = $3) AND ($4::text IS NULL OR resource_type = $4)
             AND ($5::text IS NULL OR strpos(resource, $5) > 0)";
        let operation = q.operation.map(|o| o.as_str());
        let resource_type = q.resource_type.map(|r| r.as_str());
        pg!(self, read, |tx| {
            let args: [&(dyn ToSql + Sync); 5] = [
                &q.project,
                &q.username,
                &operation,
                &resource_type,
                &q.resource_contains,
            ];
            let count = tx
                .prepare_cached(&format!("SELECT count(*) {filter}"))
                .await?;
            let total: i64 = tx.query_one(&count, &args).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT id, project, username, resource, resource_type, operation, op_time {filter}
                     ORDER BY op_time DESC, id DESC LIMIT $6 OFFSET $7"
                ))
                .await?;
            let (limit, offset) = (sql_limit(page), sql_offset(page));
            let mut all = args.to_vec();
            all.extend([&limit as &(dyn ToSql + Sync), &offset]);
            let mut out = Vec::new();
            for r in tx.query(&st, &all).await? {
                out.push(AuditEntry {
                    id: r.try_get(0)?,
                    project: r.try_get(1)?,
                    username: r.try_get(2)?,
                    resource: r.try_get(3)?,
                    resource_type: parsed("resource type", AuditResource::parse, r.try_get(4)?)?,
                    operation: parsed("operation", AuditOperation::parse, r.try_get(5)?)?,
                    op_time: from_ms(r.try_get(6)?),
                });
            }
            (out, unsigned(total))
        })
    }
}
