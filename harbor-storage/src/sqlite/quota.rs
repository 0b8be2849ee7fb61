//! Storage accounting for `SqliteMetaStore` (the model is in
//! `harbor_core::quota`), and its `QuotaStore`. SQLite runs one write
//! transaction at a time, so a check against the limit and the change it
//! allows are atomic with every other push.

use async_trait::async_trait;
use harbor_core::{Page, Quota, QuotaExceeded, QuotaSort, QuotaStore, Result, StorageCharge};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{from_ms, now_ms, sql_limit, sql_offset, SqliteMetaStore};
use crate::error::StorageError;
pub(super) use crate::quota_sql::project_of;

/// Whether repository `r` belongs to project `:project`.
const IN_PROJECT: &str =
    "(r.name = :project OR substr(r.name, 1, length(:project) + 1) = :project || '/')";

/// Makes sure `project` has a quota row (unlimited when new).
fn ensure(tx: &Transaction<'_>, project: &str) -> Result<(), StorageError> {
    let now = now_ms();
    tx.prepare_cached(
        "INSERT OR IGNORE INTO quotas (project, hard, used, created_at, updated_at)
         VALUES (?1, -1, 0, ?2, ?2)",
    )?
    .execute(params![project, now])?;
    Ok(())
}

/// The limit (`-1`: none) and usage of `project`.
fn figures(tx: &Transaction<'_>, project: &str) -> Result<(i64, i64), StorageError> {
    Ok(tx
        .prepare_cached("SELECT hard, used FROM quotas WHERE project = ?1")?
        .query_row([project], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Those of `digests` that `project` does not count yet.
pub(super) fn uncounted<'a>(
    tx: &Transaction<'_>,
    project: &str,
    digests: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<&'a str>, StorageError> {
    let mut stmt =
        tx.prepare_cached("SELECT 1 FROM project_blobs WHERE project = ?1 AND digest = ?2")?;
    let mut out = Vec::new();
    for d in digests {
        if !stmt.exists(params![project, d])? && !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Refuses a blob that would take `project` past its limit were it
/// counted: the early check of a blob upload or mount, so that a push over
/// quota stops at its first blob that does not fit. Blobs count when a
/// manifest references them ([`charge`]), which checks again.
pub(super) fn check(
    tx: &Transaction<'_>,
    project: &str,
    digest: &str,
    size: i64,
) -> Result<(), StorageError> {
    let figures: Option<(i64, i64)> = tx
        .prepare_cached("SELECT hard, used FROM quotas WHERE project = ?1")?
        .query_row([project], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((hard, used)) = figures else {
        return Ok(());
    };
    let Ok(limit) = u64::try_from(hard) else {
        return Ok(());
    };
    if (used + size) as u64 <= limit || uncounted(tx, project, [digest])?.is_empty() {
        return Ok(());
    }
    Err(StorageError::QuotaExceeded(QuotaExceeded {
        project: project.to_owned(),
        adding: size as u64,
        used: used as u64,
        limit,
    }))
}

/// Starts counting `items` (digest and size, none counted yet) in
/// `project`; refused whole if that takes usage past the limit.
pub(super) fn charge(
    tx: &Transaction<'_>,
    project: &str,
    items: &[(&str, i64)],
) -> Result<StorageCharge, StorageError> {
    ensure(tx, project)?;
    let (hard, used) = figures(tx, project)?;
    let added: i64 = items.iter().map(|(_, size)| size).sum();
    let charge = StorageCharge {
        added: added as u64,
        used: (used + added) as u64,
        limit: u64::try_from(hard).ok(),
    };
    if let Some(limit) = charge.limit {
        if added > 0 && charge.used > limit {
            return Err(StorageError::QuotaExceeded(QuotaExceeded {
                project: project.to_owned(),
                adding: added as u64,
                used: used as u64,
                limit,
            }));
        }
    }
    if added == 0 && items.is_empty() {
        return Ok(charge);
    }
    let mut insert =
        tx.prepare_cached("INSERT INTO project_blobs (project, digest, size) VALUES (?1, ?2, ?3)")?;
    for (digest, size) in items {
        insert.execute(params![project, digest, size])?;
    }
    tx.prepare_cached("UPDATE quotas SET used = used + ?2, updated_at = ?3 WHERE project = ?1")?
        .execute(params![project, added, now_ms()])?;
    Ok(charge)
}

/// Stops counting, in `project`, those of `digests` that no manifest of the
/// project is or references any more.
pub(super) fn release(
    tx: &Transaction<'_>,
    project: &str,
    digests: &[String],
) -> Result<(), StorageError> {
    let held = format!(
        "SELECT EXISTS (SELECT 1 FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
                        WHERE x.reference = :digest AND {IN_PROJECT})
             OR EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                        WHERE m.digest = :digest AND {IN_PROJECT})"
    );
    let mut held = tx.prepare_cached(&held)?;
    let mut drop = tx.prepare_cached(
        "DELETE FROM project_blobs WHERE project = ?1 AND digest = ?2 RETURNING size",
    )?;
    let mut freed: i64 = 0;
    for d in digests {
        let still: bool = held.query_row(
            rusqlite::named_params! { ":digest": d, ":project": project },
            |r| r.get(0),
        )?;
        if !still {
            freed += drop
                .query_row(params![project, d], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0);
        }
    }
    if freed > 0 {
        tx.prepare_cached(
            "UPDATE quotas SET used = used - ?2, updated_at = ?3 WHERE project = ?1",
        )?
        .execute(params![project, freed, now_ms()])?;
    }
    Ok(())
}

/// Stops counting `digest` in every project (its bytes are being deleted;
/// no manifest references it, so none should count it).
pub(super) fn release_everywhere(tx: &Transaction<'_>, digest: &str) -> Result<(), StorageError> {
    let freed: Vec<(String, i64)> = tx
        .prepare_cached("DELETE FROM project_blobs WHERE digest = ?1 RETURNING project, size")?
        .query_map([digest], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = tx
        .prepare_cached("UPDATE quotas SET used = used - ?2, updated_at = ?3 WHERE project = ?1")?;
    for (project, size) in freed {
        update.execute(params![project, size, now_ms()])?;
    }
    Ok(())
}

/// The references of manifest `digest` of repository `id`, and the digest.
pub(super) fn manifest_and_references(
    tx: &Transaction<'_>,
    id: i64,
    digest: &str,
) -> Result<Vec<String>, StorageError> {
    let mut out: Vec<String> = tx
        .prepare_cached(
            "SELECT reference FROM manifest_references WHERE repository_id = ?1 AND manifest_digest = ?2",
        )?
        .query_map(params![id, digest], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    out.push(digest.to_owned());
    Ok(out)
}

/// The size of `digest` as repository `id` holds it: a blob link or a
/// manifest.
pub(super) fn held_size(tx: &Transaction<'_>, id: i64, digest: &str) -> Result<i64, StorageError> {
    tx.prepare_cached(
        "SELECT size FROM blob_links WHERE repository_id = ?1 AND digest = ?2
         UNION ALL SELECT length(payload) FROM manifests WHERE repository_id = ?1 AND digest = ?2
         LIMIT 1",
    )?
    .query_row(params![id, digest], |r| r.get(0))
    .optional()?
    .ok_or_else(|| StorageError::Corrupt(format!("{digest} vanished while it was counted")))
}

const COLUMNS: &str = "id, project, hard, used, created_at, updated_at";

fn quota_row(r: &Row<'_>) -> rusqlite::Result<Quota> {
    Ok(Quota {
        id: r.get(0)?,
        project: r.get(1)?,
        limit: u64::try_from(r.get::<_, i64>(2)?).ok(),
        used: r.get::<_, i64>(3)?.max(0) as u64,
        created_at: from_ms(r.get(4)?),
        updated_at: from_ms(r.get(5)?),
    })
}

fn by(
    c: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<Quota>, StorageError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLUMNS} FROM quotas WHERE {column} = ?1"))?
            .query_row([value], quota_row)
            .optional()?,
    )
}

#[async_trait]
impl QuotaStore for SqliteMetaStore {
    async fn set_storage_limit(&self, project: &str, limit: Option<u64>) -> Result<Quota> {
        let project = project.to_owned();
        let hard = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        self.write(move |tx| {
            ensure(tx, &project)?;
            tx.prepare_cached("UPDATE quotas SET hard = ?2, updated_at = ?3 WHERE project = ?1")?
                .execute(params![project, hard, now_ms()])?;
            by(tx, "project", &project)?
                .ok_or_else(|| StorageError::Corrupt(format!("quota of {project} vanished")))
        })
        .await
    }

    async fn quota(&self, project: &str) -> Result<Option<Quota>> {
        let project = project.to_owned();
        self.call(move |c| by(c, "project", &project)).await
    }

    async fn quota_by_id(&self, id: i64) -> Result<Option<Quota>> {
        self.call(move |c| by(c, "id", &id)).await
    }

    async fn list_quotas(&self, sort: QuotaSort, page: Page) -> Result<(Vec<Quota>, u64)> {
        self.call(move |c| {
            let sql = format!(
                "SELECT {COLUMNS} FROM quotas ORDER BY {} LIMIT ?1 OFFSET ?2",
                crate::quota_sql::order(sort)
            );
            let list = c
                .prepare_cached(&sql)?
                .query_map(params![sql_limit(page), sql_offset(page)], quota_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM quotas")?
                .query_row([], |r| r.get(0))?;
            Ok((list, total as u64))
        })
        .await
    }

    async fn delete_quota(&self, project: &str) -> Result<bool> {
        let project = project.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM project_blobs WHERE project = ?1")?
                .execute([&project])?;
            let n = tx
                .prepare_cached("DELETE FROM quotas WHERE project = ?1")?
                .execute([&project])?;
            Ok(n > 0)
        })
        .await
    }
}
