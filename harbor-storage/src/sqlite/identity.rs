//! `IdentityStore` for `SqliteMetaStore`: users, projects and members here;
//! robots, groups, OIDC users, sessions and the audit log in modules of
//! their own, which the trait implementation below calls.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use harbor_core::{
    AuditEntry, AuditOperation, AuditQuery, GroupQuery, IdentityStore, Member, MemberKind,
    NewOidcUser, NewUser, NewUserGroup, OidcUser, Page, Project, ProjectQuery, Result, Robot,
    RobotQuery, Role, User, UserGroup,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{cache, from_ms, now_ms, sql_limit, sql_offset, to_ms, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};

const USER_COLUMNS: &str =
    "id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at";
const PROJECT_COLUMNS: &str = "id, name, public, owner_id, created_at, updated_at, metadata";
pub(super) const MEMBER_SELECT: &str = "SELECT m.id, m.project_id, coalesce(m.user_id, m.group_id),
     coalesce(u.username, g.name), m.group_id IS NOT NULL, m.role
     FROM project_members m LEFT JOIN users u ON u.id = m.user_id
     LEFT JOIN user_groups g ON g.id = m.group_id";

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        realname: r.get(3)?,
        comment: r.get(4)?,
        password_hash: r.get(5)?,
        sysadmin: r.get(6)?,
        created_at: from_ms(r.get(7)?),
        updated_at: from_ms(r.get(8)?),
    })
}

fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    let metadata: String = r.get(6)?;
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        public: r.get(2)?,
        owner_id: r.get(3)?,
        metadata: serde_json::from_str(&metadata).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?,
        created_at: from_ms(r.get(4)?),
        updated_at: from_ms(r.get(5)?),
    })
}

fn metadata_json(m: &BTreeMap<String, String>) -> Result<String, StorageError> {
    serde_json::to_string(m).map_err(|e| StorageError::encoding("project metadata", e))
}

type MemberRow = (i64, i64, i64, String, bool, i64);

pub(super) fn member_row(r: &Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

pub(super) fn to_member(row: MemberRow) -> Result<Member, StorageError> {
    let (id, project_id, entity_id, entity_name, group, role) = row;
    Ok(Member {
        id,
        project_id,
        entity_id,
        entity_name,
        entity_type: if group {
            MemberKind::Group
        } else {
            MemberKind::User
        },
        role: role_of(role)?,
    })
}

pub(super) fn role_of(id: i64) -> Result<Role, StorageError> {
    Role::from_id(id).ok_or_else(|| StorageError::Corrupt(format!("unknown role id {id}")))
}

pub(super) fn user_by(
    c: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<User>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([value], user_row)
        .optional()?)
}

fn project_by(
    c: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<Project>, StorageError> {
    let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE {column} = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([value], project_row)
        .optional()?)
}

pub(super) fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl SqliteMetaStore {
    /// A lookup through the identity cache: `key`'s entry if it holds one
    /// (`unwrap` tells it apart), else `f` on the database, kept unless an
    /// identity write completed meanwhile.
    pub(super) async fn cached<T: Clone + Send + 'static>(
        &self,
        key: String,
        unwrap: fn(cache::Identity) -> Option<Option<T>>,
        wrap: fn(Option<T>) -> cache::Identity,
        f: impl FnOnce(&mut Connection) -> Result<Option<T>, StorageError> + Send + 'static,
    ) -> Result<Option<T>> {
        if let Some(hit) = self.identity.get(&key).and_then(unwrap) {
            return Ok(hit);
        }
        let generation = self.identity.generation();
        let found = self.call(f).await?;
        self.identity.put(generation, key, wrap(found.clone()));
        Ok(found)
    }

    /// A write to users, projects, members or robots: the identity cache is
    /// emptied once it is done (committed or not).
    pub(super) async fn write_identity<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T> {
        let out = self.write(f).await;
        self.identity.invalidate();
        out
    }
}

/// Inserts user `u` in `tx` and answers its id; `CONFLICT` if the
/// username or e-mail is taken. Every way a user is created goes through
/// here.
pub(super) fn insert_user(tx: &Connection, u: &NewUser) -> Result<i64, StorageError> {
    tx.prepare_cached(
        "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![u.username, u.email, u.realname, u.comment, u.password_hash, u.sysadmin, now_ms()])
    .map_err(|e| conflict_on_unique(e, || format!("the username {:?} or e-mail {:?} is already taken", u.username, u.email)))?;
    Ok(tx.last_insert_rowid())
}

#[async_trait]
impl IdentityStore for SqliteMetaStore {
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
        self.oidc_set(user_id, "secret", secret).await
    }

    async fn set_oidc_token(&self, user_id: i64, token: &str) -> Result<bool> {
        self.oidc_set(user_id, "token", token).await
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

    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let u = user.clone();
        self.write_identity(move |tx| {
            let id = insert_user(tx, &u)?;
            user_by(tx, "id", &id)?.ok_or_else(|| StorageError::Corrupt("new user vanished".into()))
        })
        .await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.call(move |c| user_by(c, "id", &id)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let name = username.to_owned();
        self.cached(
            format!("u:{username}"),
            |i| match i {
                cache::Identity::User(u) => Some(u),
                _ => None,
            },
            cache::Identity::User,
            move |c| user_by(c, "username", &name),
        )
        .await
    }

    async fn list_users(
        &self,
        name_contains: Option<&str>,
        page: Page,
    ) -> Result<(Vec<User>, u64)> {
        let pattern = like_pattern(name_contains.unwrap_or(""));
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM users WHERE username LIKE ?1 ESCAPE '\\'")?
                .query_row([&pattern], |r| r.get(0))?;
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT ?2 OFFSET ?3"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![pattern, sql_limit(page), sql_offset(page)], user_row)?;
            Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
        })
        .await
    }

    async fn update_user_profile(
        &self,
        id: i64,
        email: &str,
        realname: &str,
        comment: &str,
    ) -> Result<bool> {
        let (email, realname, comment) =
            (email.to_owned(), realname.to_owned(), comment.to_owned());
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("UPDATE users SET email = ?2, realname = ?3, comment = ?4, updated_at = ?5 WHERE id = ?1")?
                .execute(params![id, email, realname, comment, now_ms()])
                .map_err(|e| conflict_on_unique(e, || format!("the e-mail {email:?} is already taken")))?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool> {
        let hash = hash.to_owned();
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, hash, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_sysadmin(&self, id: i64, sysadmin: bool) -> Result<bool> {
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("UPDATE users SET sysadmin = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, sysadmin, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<bool> {
        self.write_identity(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn create_project_with_metadata(
        &self,
        name: &str,
        public: bool,
        owner_id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Project> {
        let name = name.to_owned();
        let metadata = metadata_json(metadata)?;
        self.write_identity(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO projects (name, public, owner_id, created_at, updated_at, metadata) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            )?
            .execute(params![name, public, owner_id, now, metadata])
            .map_err(|e| conflict_on_unique(e, || format!("the project {name:?} already exists")))?;
            let id = tx.last_insert_rowid();
            tx.prepare_cached("INSERT INTO project_members (project_id, user_id, role) VALUES (?1, ?2, ?3)")?
                .execute(params![id, owner_id, Role::ProjectAdmin.id()])?;
            project_by(tx, "id", &id)?.ok_or_else(|| StorageError::Corrupt("new project vanished".into()))
        })
        .await
    }

    async fn project_by_id(&self, id: i64) -> Result<Option<Project>> {
        self.call(move |c| project_by(c, "id", &id)).await
    }

    async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        let key = format!("p:{name}");
        let name = name.to_owned();
        self.cached(
            key,
            |i| match i {
                cache::Identity::Project(p) => Some(p),
                _ => None,
            },
            cache::Identity::Project,
            move |c| project_by(c, "name", &name),
        )
        .await
    }

    async fn list_projects(&self, query: &ProjectQuery, page: Page) -> Result<(Vec<Project>, u64)> {
        let q = query.clone();
        self.call(move |c| {
            // -1 / NULL disable a filter, so one prepared statement serves all.
            let public: i64 = q.public.map(i64::from).unwrap_or(-1);
            let (restrict, user): (bool, i64) = match q.visible_to {
                None => (false, 0),
                Some(user) => (true, user.unwrap_or(-1)),
            };
            let filter = "FROM projects p WHERE p.name LIKE ?1 ESCAPE '\\'
                 AND (?2 = -1 OR p.public = ?2)
                 AND (?3 = 0 OR p.public = 1 OR EXISTS
                      (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND (m.user_id = ?4
                       OR m.group_id IN (SELECT group_id FROM user_group_members WHERE user_id = ?4))))
                 AND (?5 IS NULL OR p.name = ?5) AND (?6 IS NULL OR p.owner_id = ?6)";
            let pattern = like_pattern(q.name_contains.as_deref().unwrap_or(""));
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) {filter}"))?
                .query_row(params![pattern, public, restrict, user, q.name, q.owner_id], |r| r.get(0))?;
            let sql = format!(
                "SELECT p.id, p.name, p.public, p.owner_id, p.created_at, p.updated_at, p.metadata {filter} ORDER BY p.name LIMIT ?7 OFFSET ?8"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![pattern, public, restrict, user, q.name, q.owner_id, sql_limit(page), sql_offset(page)],
                project_row,
            )?;
            Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
        })
        .await
    }

    async fn set_project_public(&self, id: i64, public: bool) -> Result<bool> {
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("UPDATE projects SET public = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, public, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_project_metadata(
        &self,
        id: i64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool> {
        let metadata = metadata_json(metadata)?;
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("UPDATE projects SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, metadata, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_project(&self, id: i64) -> Result<bool> {
        self.write_identity(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM projects WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn add_member(&self, project_id: i64, user_id: i64, role: Role) -> Result<Member> {
        self.write_identity(move |tx| {
            tx.prepare_cached(
                "INSERT INTO project_members (project_id, user_id, role) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![project_id, user_id, role.id()])
            .map_err(|e| {
                conflict_on_unique(e, || "the user is already a member of the project".into())
            })?;
            let id = tx.last_insert_rowid();
            let row = tx
                .prepare_cached(&format!("{MEMBER_SELECT} WHERE m.id = ?1"))?
                .query_row([id], member_row)?;
            to_member(row)
        })
        .await
    }

    async fn member_of(&self, project_id: i64, user_id: i64) -> Result<Option<Member>> {
        self.cached(
            format!("m:{project_id}:{user_id}"),
            |i| match i {
                cache::Identity::Member(m) => Some(m),
                _ => None,
            },
            cache::Identity::Member,
            move |c| {
                c.prepare_cached(&format!(
                    "{MEMBER_SELECT} WHERE m.project_id = ?1 AND m.user_id = ?2"
                ))?
                .query_row([project_id, user_id], member_row)
                .optional()?
                .map(to_member)
                .transpose()
            },
        )
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
        self.delete_group_row(id).await
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
        self.call(move |c| {
            c.prepare_cached(&format!(
                "{MEMBER_SELECT} WHERE m.project_id = ?1 AND m.id = ?2"
            ))?
            .query_row([project_id, member_id], member_row)
            .optional()?
            .map(to_member)
            .transpose()
        })
        .await
    }

    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{MEMBER_SELECT} WHERE m.project_id = ?1 ORDER BY m.id"
            ))?;
            let rows = stmt.query_map([project_id], member_row)?;
            rows.map(|r| to_member(r?)).collect()
        })
        .await
    }

    async fn set_member_role(&self, project_id: i64, member_id: i64, role: Role) -> Result<bool> {
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE project_members SET role = ?3 WHERE project_id = ?1 AND id = ?2",
                )?
                .execute(params![project_id, member_id, role.id()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn remove_member(&self, project_id: i64, member_id: i64) -> Result<bool> {
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM project_members WHERE project_id = ?1 AND id = ?2")?
                .execute([project_id, member_id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_robot(&self, robot: &Robot) -> Result<Robot> {
        self.robot_create(robot).await
    }

    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>> {
        self.robot_get(id).await
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>> {
        self.robot_named(name).await
    }

    async fn list_robots(&self, query: &RobotQuery, page: Page) -> Result<(Vec<Robot>, u64)> {
        self.robots_list(query, page).await
    }

    async fn update_robot(&self, robot: &Robot) -> Result<bool> {
        self.robot_update(robot).await
    }

    async fn set_robot_secret(&self, id: i64, hash: &str) -> Result<bool> {
        self.robot_set_secret(id, hash).await
    }

    async fn delete_robot(&self, id: i64) -> Result<bool> {
        self.robot_delete(id).await
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        self.audit_append(entries).await
    }

    async fn purge_audit(
        &self,
        before: SystemTime,
        operations: &[AuditOperation],
        dry_run: bool,
    ) -> Result<u64> {
        let ops: Vec<String> = operations.iter().map(|o| o.as_str().to_owned()).collect();
        let before = to_ms(before);
        self.write(move |tx| super::audit::purge(tx, before, &ops, dry_run))
            .await
    }

    async fn list_audit(&self, query: &AuditQuery, page: Page) -> Result<(Vec<AuditEntry>, u64)> {
        self.audit_list(query, page).await
    }
}
