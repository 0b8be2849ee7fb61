//! User groups for `SqliteMetaStore`: the groups, who is in them, and groups
//! as project members (the `IdentityStore` methods in `identity.rs` call
//! these).

use harbor_core::{GroupQuery, GroupType, Member, NewUserGroup, Page, Result, Role, UserGroup};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::identity::{like_pattern, member_row, role_of, to_member, MEMBER_SELECT};
use super::{cache, from_ms, now_ms, sql_limit, sql_offset, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};

const GROUP_COLUMNS: &str = "id, name, group_type, ldap_dn, created_at, updated_at";

fn group_row(r: &Row<'_>) -> rusqlite::Result<(i64, String, i64, String, i64, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_group(row: (i64, String, i64, String, i64, i64)) -> Result<UserGroup, StorageError> {
    let (id, name, kind, ldap_dn, created, updated) = row;
    Ok(UserGroup {
        id,
        name,
        group_type: GroupType::from_id(kind)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown group type {kind}")))?,
        ldap_dn,
        created_at: from_ms(created),
        updated_at: from_ms(updated),
    })
}

fn group_by_id(c: &Connection, id: i64) -> Result<Option<UserGroup>, StorageError> {
    c.prepare_cached(&format!(
        "SELECT {GROUP_COLUMNS} FROM user_groups WHERE id = ?1"
    ))?
    .query_row([id], group_row)
    .optional()?
    .map(to_group)
    .transpose()
}

/// The stored group `g` names: an LDAP group by DN (case-insensitively),
/// the others by type and name.
fn find_group(c: &Connection, g: &NewUserGroup) -> Result<Option<UserGroup>, StorageError> {
    let row = if g.group_type == GroupType::Ldap {
        c.prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = 1 AND lower(ldap_dn) = lower(?1)"
        ))?
        .query_row([&g.ldap_dn], group_row)
        .optional()?
    } else {
        c.prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = ?1 AND name = ?2"
        ))?
        .query_row(params![g.group_type.id(), g.name], group_row)
        .optional()?
    };
    row.map(to_group).transpose()
}

fn insert_group(tx: &Transaction<'_>, g: &NewUserGroup) -> Result<UserGroup, StorageError> {
    let dn = if g.group_type == GroupType::Ldap {
        g.ldap_dn.as_str()
    } else {
        ""
    };
    tx.prepare_cached(
        "INSERT INTO user_groups (name, group_type, ldap_dn, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![g.name, g.group_type.id(), dn, now_ms()])
    .map_err(|e| conflict_on_unique(e, || format!("the group {:?} already exists", g.name)))?;
    group_by_id(tx, tx.last_insert_rowid())?
        .ok_or_else(|| StorageError::Corrupt("new group vanished".into()))
}

impl SqliteMetaStore {
    pub(super) async fn add_group_member_row(
        &self,
        project_id: i64,
        group_id: i64,
        role: Role,
    ) -> Result<Member> {
        self.write_identity(move |tx| {
            tx.prepare_cached(
                "INSERT INTO project_members (project_id, group_id, role) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![project_id, group_id, role.id()])
            .map_err(|e| {
                conflict_on_unique(e, || "the group is already a member of the project".into())
            })?;
            let row = tx
                .prepare_cached(&format!("{MEMBER_SELECT} WHERE m.id = ?1"))?
                .query_row([tx.last_insert_rowid()], member_row)?;
            to_member(row)
        })
        .await
    }

    pub(super) async fn effective_role_of(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<Role>> {
        self.cached(
            format!("r:{project_id}:{user_id}"),
            |i| match i {
                cache::Identity::Role(r) => Some(r),
                _ => None,
            },
            cache::Identity::Role,
            move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT role FROM project_members WHERE project_id = ?1 AND (user_id = ?2
                     OR group_id IN (SELECT group_id FROM user_group_members WHERE user_id = ?2))",
                )?;
                let roles = stmt.query_map([project_id, user_id], |r| r.get::<_, i64>(0))?;
                let mut best: Option<Role> = None;
                for role in roles {
                    let role = role_of(role?)?;
                    if best.is_none_or(|b| role.rank() > b.rank()) {
                        best = Some(role);
                    }
                }
                Ok(best)
            },
        )
        .await
    }

    pub(super) async fn create_group_row(&self, group: &NewUserGroup) -> Result<UserGroup> {
        let g = group.clone();
        self.write_identity(move |tx| insert_group(tx, &g)).await
    }

    pub(super) async fn group_row(&self, id: i64) -> Result<Option<UserGroup>> {
        self.call(move |c| group_by_id(c, id)).await
    }

    pub(super) async fn group_rows(
        &self,
        query: &GroupQuery,
        page: Page,
    ) -> Result<(Vec<UserGroup>, u64)> {
        let q = query.clone();
        self.call(move |c| {
            let filter = "FROM user_groups WHERE name LIKE ?1 ESCAPE '\\'
                 AND (?2 IS NULL OR group_type = ?2)
                 AND (?3 IS NULL OR (group_type = 1 AND lower(ldap_dn) = lower(?3)))";
            let pattern = like_pattern(q.name_contains.as_deref().unwrap_or(""));
            let kind = q.group_type.map(GroupType::id);
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) {filter}"))?
                .query_row(params![pattern, kind, q.ldap_dn], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} {filter} ORDER BY id LIMIT ?4 OFFSET ?5"
            ))?;
            let rows = stmt.query_map(
                params![pattern, kind, q.ldap_dn, sql_limit(page), sql_offset(page)],
                group_row,
            )?;
            let groups = rows.map(|r| to_group(r?)).collect::<Result<Vec<_>, _>>()?;
            Ok((groups, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    pub(super) async fn rename_group_row(&self, id: i64, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached("UPDATE user_groups SET name = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, name, now_ms()])
                .map_err(|e| {
                    conflict_on_unique(e, || format!("the group {name:?} already exists"))
                })?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn delete_group_row(&self, id: i64) -> Result<bool> {
        self.write_identity(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM user_groups WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    pub(super) async fn onboard_group_rows(
        &self,
        groups: &[NewUserGroup],
    ) -> Result<Vec<UserGroup>> {
        let groups = groups.to_vec();
        self.write_identity(move |tx| {
            groups
                .iter()
                .map(|g| match find_group(tx, g)? {
                    Some(found) => Ok(found),
                    None => insert_group(tx, g),
                })
                .collect()
        })
        .await
    }

    pub(super) async fn set_user_group_rows(&self, user_id: i64, group_ids: &[i64]) -> Result<()> {
        let ids = group_ids.to_vec();
        self.write_identity(move |tx| {
            tx.prepare_cached("DELETE FROM user_group_members WHERE user_id = ?1")?
                .execute([user_id])?;
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO user_group_members (user_id, group_id) VALUES (?1, ?2)",
            )?;
            for id in ids {
                insert.execute([user_id, id])?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn user_group_rows(&self, user_id: i64) -> Result<Vec<UserGroup>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.id, g.name, g.group_type, g.ldap_dn, g.created_at, g.updated_at
                 FROM user_groups g JOIN user_group_members m ON m.group_id = g.id
                 WHERE m.user_id = ?1 ORDER BY g.id",
            )?;
            let rows = stmt.query_map([user_id], group_row)?;
            rows.map(|r| to_group(r?)).collect()
        })
        .await
    }
}
