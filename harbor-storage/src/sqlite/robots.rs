//! Robot accounts (`robots`), for the `IdentityStore` of
//! `SqliteMetaStore`.

use harbor_core::{Page, Result, Robot, RobotLevel, RobotPermission, RobotQuery};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{cache, from_ms, now_ms, sql_limit, sql_offset, to_ms, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};

const ROBOT_COLUMNS: &str =
    "id, name, description, level, project_id, secret_hash, expires_at, disabled,
     permissions, created_at, updated_at";

type RobotRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    Option<i64>,
    bool,
    String,
    i64,
    i64,
);

fn robot_row(r: &Row<'_>) -> rusqlite::Result<RobotRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn to_robot(row: RobotRow) -> Result<Robot, StorageError> {
    let (
        id,
        name,
        description,
        level,
        project_id,
        secret_hash,
        expires_at,
        disabled,
        permissions,
        created,
        updated,
    ) = row;
    let permissions: Vec<RobotPermission> = serde_json::from_str(&permissions)
        .map_err(|e| StorageError::encoding(format!("permissions of robot {name}"), e))?;
    let level = RobotLevel::parse(&level)
        .ok_or_else(|| StorageError::Corrupt(format!("level {level:?} of robot {name}")))?;
    Ok(Robot {
        id,
        name,
        description,
        level,
        project_id,
        secret_hash,
        expires_at: expires_at.map(from_ms),
        disabled,
        permissions,
        created_at: from_ms(created),
        updated_at: from_ms(updated),
    })
}

fn robot_by(
    c: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<Robot>, StorageError> {
    let sql = format!("SELECT {ROBOT_COLUMNS} FROM robots WHERE {column} = ?1");
    c.prepare_cached(&sql)?
        .query_row([value], robot_row)
        .optional()?
        .map(to_robot)
        .transpose()
}

fn permissions_json(p: &[RobotPermission]) -> Result<String, StorageError> {
    serde_json::to_string(p).map_err(|e| StorageError::encoding("permissions do not encode", e))
}

impl SqliteMetaStore {
    pub(super) async fn robot_create(&self, robot: &Robot) -> Result<Robot> {
        let r = robot.clone();
        let permissions = permissions_json(&r.permissions)?;
        self.write_identity(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO robots (name, description, level, project_id, secret_hash, expires_at, disabled,
                 permissions, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            )?
            .execute(params![
                r.name,
                r.description,
                r.level.as_str(),
                r.project_id,
                r.secret_hash,
                r.expires_at.map(to_ms),
                r.disabled,
                permissions,
                now
            ])
            .map_err(|e| conflict_on_unique(e, || format!("the robot account {:?} already exists", r.name)))?;
            let id = tx.last_insert_rowid();
            robot_by(tx, "id", &id)?.ok_or_else(|| StorageError::Corrupt("new robot vanished".into()))
        })
        .await
    }

    pub(super) async fn robot_get(&self, id: i64) -> Result<Option<Robot>> {
        self.call(move |c| robot_by(c, "id", &id)).await
    }

    pub(super) async fn robot_named(&self, name: &str) -> Result<Option<Robot>> {
        let key = format!("r:{name}");
        let name = name.to_owned();
        self.cached(
            key,
            |i| match i {
                cache::Identity::Robot(r) => Some(r),
                _ => None,
            },
            cache::Identity::Robot,
            move |c| robot_by(c, "name", &name),
        )
        .await
    }

    pub(super) async fn robots_list(
        &self,
        query: &RobotQuery,
        page: Page,
    ) -> Result<(Vec<Robot>, u64)> {
        let q = query.clone();
        self.call(move |c| {
            let filter =
                "FROM robots WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR level = ?2)
                 AND (?3 IS NULL OR name = ?3) AND (?4 IS NULL OR instr(name, ?4) > 0)";
            let level = q.level.map(RobotLevel::as_str);
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) {filter}"))?
                .query_row(params![q.project_id, level, q.name, q.name_contains], |r| {
                    r.get(0)
                })?;
            let sql = format!("SELECT {ROBOT_COLUMNS} {filter} ORDER BY id LIMIT ?5 OFFSET ?6");
            let rows: Vec<RobotRow> = c
                .prepare_cached(&sql)?
                .query_map(
                    params![
                        q.project_id,
                        level,
                        q.name,
                        q.name_contains,
                        sql_limit(page),
                        sql_offset(page)
                    ],
                    robot_row,
                )?
                .collect::<Result<_, _>>()?;
            let robots = rows
                .into_iter()
                .map(to_robot)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((robots, total as u64))
        })
        .await
    }

    pub(super) async fn robot_update(&self, robot: &Robot) -> Result<bool> {
        let r = robot.clone();
        let permissions = permissions_json(&r.permissions)?;
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE robots SET description = ?2, expires_at = ?3, disabled = ?4, permissions = ?5,
                     updated_at = ?6 WHERE id = ?1",
                )?
                .execute(params![r.id, r.description, r.expires_at.map(to_ms), r.disabled, permissions, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn robot_set_secret(&self, id: i64, hash: &str) -> Result<bool> {
        let hash = hash.to_owned();
        self.write_identity(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE robots SET secret_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, hash, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn robot_delete(&self, id: i64) -> Result<bool> {
        self.write_identity(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM robots WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }
}
