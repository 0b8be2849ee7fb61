//! User groups for `PgStore`: the groups, who is in them, and groups as
//! project members (the `IdentityStore` methods in `identity.rs` call these).

use deadpool_postgres::Transaction;
use harbor_core::{GroupQuery, GroupType, Member, NewUserGroup, Page, Result, Role, UserGroup};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::identity::{like_pattern, member_row, role_of, MEMBER_SELECT};
use super::{from_ms, pg, sql_limit, sql_offset, to_ms, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};

const GROUP_COLUMNS: &str = "id, name, group_type, ldap_dn, created_at, updated_at";

fn group_row(r: &Row) -> Result<UserGroup, StorageError> {
    let kind: i64 = r.try_get(2)?;
    Ok(UserGroup {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        group_type: GroupType::from_id(kind)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown group type {kind}")))?,
        ldap_dn: r.try_get(3)?,
        created_at: from_ms(r.try_get(4)?),
        updated_at: from_ms(r.try_get(5)?),
    })
}

/// The stored group `g` names (an LDAP group by DN, case-insensitively; the
/// others by type and name), created if missing. Concurrent logins naming the
/// same new group meet at the unique index: `DO NOTHING` and a second look.
async fn find_or_insert(tx: &Transaction<'_>, g: &NewUserGroup) -> Result<UserGroup, StorageError> {
    let (find, key): (String, &(dyn ToSql + Sync)) = if g.group_type == GroupType::Ldap {
        (
            format!("SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = 1 AND lower(ldap_dn) = lower($1)"),
            &g.ldap_dn,
        )
    } else {
        (
            format!("SELECT {GROUP_COLUMNS} FROM user_groups WHERE group_type = $2 AND name = $1"),
            &g.name,
        )
    };
    let kind = g.group_type.id();
    let find_args: Vec<&(dyn ToSql + Sync)> = if g.group_type == GroupType::Ldap {
        vec![key]
    } else {
        vec![key, &kind]
    };
    let st = tx.prepare_cached(&find).await?;
    if let Some(row) = tx.query_opt(&st, &find_args).await? {
        return group_row(&row);
    }
    let dn = if g.group_type == GroupType::Ldap {
        g.ldap_dn.as_str()
    } else {
        ""
    };
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO user_groups (name, group_type, ldap_dn, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING {GROUP_COLUMNS}"
        ))
        .await?;
    let now = to_ms(std::time::SystemTime::now());
    if let Some(row) = tx.query_opt(&insert, &[&g.name, &kind, &dn, &now]).await? {
        return group_row(&row);
    }
    let row = tx.query_one(&st, &find_args).await?;
    group_row(&row)
}

impl PgStore {
    pub(super) async fn add_group_member_row(
        &self,
        project_id: i64,
        group_id: i64,
        role: Role,
    ) -> Result<Member> {
        let select = format!("{MEMBER_SELECT} WHERE m.id = $1");
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO project_members (project_id, group_id, role) VALUES ($1, $2, $3)
                     RETURNING id",
                )
                .await?;
            let id: i64 = tx
                .query_one(&st, &[&project_id, &group_id, &role.id()])
                .await
                .map_err(|e| {
                    pg_conflict(e, || "the group is already a member of the project".into())
                })?
                .try_get(0)?;
            let st = tx.prepare_cached(&select).await?;
            member_row(&tx.query_one(&st, &[&id]).await?)?
        })
    }

    pub(super) async fn effective_role_of(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<Role>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT role FROM project_members WHERE project_id = $1 AND (user_id = $2
                     OR group_id IN (SELECT group_id FROM user_group_members WHERE user_id = $2))",
                )
                .await?;
            let mut best: Option<Role> = None;
            for row in c.query(&st, &[&project_id, &user_id]).await? {
                let role = role_of(row.try_get(0)?)?;
                if best.is_none_or(|b| role.rank() > b.rank()) {
                    best = Some(role);
                }
            }
            best
        })
    }

    pub(super) async fn create_group_row(&self, g: &NewUserGroup) -> Result<UserGroup> {
        let dn = if g.group_type == GroupType::Ldap {
            g.ldap_dn.as_str()
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO user_groups (name, group_type, ldap_dn, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING {GROUP_COLUMNS}"
        );
        let now = to_ms(std::time::SystemTime::now());
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c
                .query_one(&st, &[&g.name, &g.group_type.id(), &dn, &now])
                .await
                .map_err(|e| pg_conflict(e, || format!("the group {:?} already exists", g.name)))?;
            group_row(&row)?
        })
    }

    pub(super) async fn group_row(&self, id: i64) -> Result<Option<UserGroup>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM user_groups WHERE id = $1");
        self.read_one(sql, &[&id], group_row).await
    }

    pub(super) async fn group_rows(
        &self,
        q: &GroupQuery,
        page: Page,
    ) -> Result<(Vec<UserGroup>, u64)> {
        let pattern = like_pattern(q.name_contains.as_deref().unwrap_or(""));
        let kind = q.group_type.map(GroupType::id);
        let filter = "FROM user_groups WHERE name ILIKE $1 ESCAPE '\\'
             AND ($2::bigint IS NULL OR group_type = $2)
             AND ($3::text IS NULL OR (group_type = 1 AND lower(ldap_dn) = lower($3)))";
        pg!(self, read, |tx| {
            let args: [&(dyn ToSql + Sync); 3] = [&pattern, &kind, &q.ldap_dn];
            let count = tx
                .prepare_cached(&format!("SELECT count(*) {filter}"))
                .await?;
            let total: i64 = tx.query_one(&count, &args).await?.try_get(0)?;
            let list = tx
                .prepare_cached(&format!(
                    "SELECT {GROUP_COLUMNS} {filter} ORDER BY id LIMIT $4 OFFSET $5"
                ))
                .await?;
            let rows = tx
                .query(
                    &list,
                    &[
                        &pattern,
                        &kind,
                        &q.ldap_dn,
                        &sql_limit(page),
                        &sql_offset(page),
                    ],
                )
                .await?;
            let groups = rows.iter().map(group_row).collect::<Result<Vec<_>, _>>()?;
            (groups, unsigned(total))
        })
    }

    pub(super) async fn rename_group_row(&self, id: i64, name: &str) -> Result<bool> {
        let now = to_ms(std::time::SystemTime::now());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("UPDATE user_groups SET name = $2, updated_at = $3 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &name, &now])
                .await
                .map_err(|e| pg_conflict(e, || format!("the group {name:?} already exists")))?
                > 0
        })
    }

    pub(super) async fn onboard_group_rows(
        &self,
        groups: &[NewUserGroup],
    ) -> Result<Vec<UserGroup>> {
        pg!(self, write, |tx| {
            let mut out = Vec::with_capacity(groups.len());
            for g in groups {
                out.push(find_or_insert(&tx, g).await?);
            }
            out
        })
    }

    pub(super) async fn set_user_group_rows(&self, user_id: i64, group_ids: &[i64]) -> Result<()> {
        pg!(self, write, |tx| {
            let clear = tx
                .prepare_cached("DELETE FROM user_group_members WHERE user_id = $1")
                .await?;
            tx.execute(&clear, &[&user_id]).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO user_group_members (user_id, group_id)
                     SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&insert, &[&user_id, &group_ids]).await?;
        })
    }

    pub(super) async fn user_group_rows(&self, user_id: i64) -> Result<Vec<UserGroup>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT g.id, g.name, g.group_type, g.ldap_dn, g.created_at, g.updated_at
                     FROM user_groups g JOIN user_group_members m ON m.group_id = g.id
                     WHERE m.user_id = $1 ORDER BY g.id",
                )
                .await?;
            c.query(&st, &[&user_id])
                .await?
                .iter()
                .map(group_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }
}
