//! Storage accounting for `PgStore` (the model is in `harbor_core::quota`),
//! and its `QuotaStore`.
//!
//! Every change to what a project counts happens while its transaction
//! holds the project's `quotas` row lock (`FOR UPDATE`), and reads what is
//! counted in statements after the lock is granted: pushes to one project
//! from any number of instances are counted one after the other, exactly.
//! That row lock is the last lock any transaction takes (after the
//! per-digest advisory locks of `gc` and the rows it writes), so waiting
//! for it never closes a cycle; a transaction that locks several projects'
//! rows (a claim) takes them in name order.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use harbor_core::{Page, Quota, QuotaExceeded, QuotaSort, QuotaStore, Result, StorageCharge};
use tokio_postgres::Row;

use super::{from_ms, pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::StorageError;
pub(super) use crate::quota_sql::project_of;

/// Whether repository `r` belongs to project `$1`.
const IN_PROJECT: &str = "(r.name = $1 OR starts_with(r.name, $1 || '/'))";

/// Locks `project`'s quota row (creating it, unlimited, if needed) and
/// reads its limit (`-1`: none) and usage.
async fn lock(tx: &Transaction<'_>, project: &str) -> Result<(i64, i64), StorageError> {
    let ensure = tx
        .prepare_cached(
            "INSERT INTO quotas (project, hard, used, created_at, updated_at)
             VALUES ($1, -1, 0, harbor_now_ms(), harbor_now_ms()) ON CONFLICT (project) DO NOTHING",
        )
        .await?;
    tx.execute(&ensure, &[&project]).await?;
    let st = tx
        .prepare_cached("SELECT hard, used FROM quotas WHERE project = $1 FOR UPDATE")
        .await?;
    let row = tx.query_one(&st, &[&project]).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Refuses a blob that would take `project` past its limit were it
/// counted: the early check of a blob upload or mount, so that a push over
/// quota stops at its first blob that does not fit. Blobs count when a
/// manifest references them ([`charge`]), which checks again under the
/// lock; this one takes none.
pub(super) async fn check(
    tx: &Transaction<'_>,
    project: &str,
    digest: &str,
    size: i64,
) -> Result<(), StorageError> {
    let st = tx
        .prepare_cached(
            "SELECT q.hard, q.used FROM quotas q WHERE q.project = $1 AND q.hard >= 0
             AND q.used + $3 > q.hard
             AND NOT EXISTS (SELECT 1 FROM project_blobs p WHERE p.project = $1 AND p.digest = $2)",
        )
        .await?;
    match tx.query_opt(&st, &[&project, &digest, &size]).await? {
        None => Ok(()),
        Some(row) => Err(StorageError::QuotaExceeded(QuotaExceeded {
            project: project.to_owned(),
            adding: unsigned(size),
            used: unsigned(row.try_get(1)?),
            limit: unsigned(row.try_get(0)?),
        })),
    }
}

/// Counts in `project` those of `digests` it does not count yet, each
/// with its size as repository `repo_id` holds it (a blob link or a
/// manifest); refused whole, as `QuotaExceeded`, past the limit.
pub(super) async fn charge(
    tx: &Transaction<'_>,
    project: &str,
    repo_id: i64,
    digests: &[String],
) -> Result<StorageCharge, StorageError> {
    let (hard, used) = lock(tx, project).await?;
    let st = tx
        .prepare_cached(
            "SELECT u.d, coalesce(
                 (SELECT b.size FROM blob_links b WHERE b.repository_id = $2 AND b.digest = u.d),
                 (SELECT octet_length(m.payload)::bigint FROM manifests m
                  WHERE m.repository_id = $2 AND m.digest = u.d))
             FROM (SELECT DISTINCT d FROM unnest($3::text[]) AS d) AS u
             WHERE NOT EXISTS (SELECT 1 FROM project_blobs p WHERE p.project = $1 AND p.digest = u.d)",
        )
        .await?;
    let mut items: Vec<(String, i64)> = Vec::new();
    for row in tx.query(&st, &[&project, &repo_id, &digests]).await? {
        let digest: String = row.try_get(0)?;
        let size: Option<i64> = row.try_get(1)?;
        let size = size.ok_or_else(|| {
            StorageError::Corrupt(format!("{digest} vanished while it was counted"))
        })?;
        items.push((digest, size));
    }
    let added: i64 = items.iter().map(|(_, s)| s).sum();
    let charge = StorageCharge {
        added: unsigned(added),
        used: unsigned(used + added),
        limit: u64::try_from(hard).ok(),
    };
    if let Some(limit) = charge.limit {
        if added > 0 && charge.used > limit {
            return Err(StorageError::QuotaExceeded(QuotaExceeded {
                project: project.to_owned(),
                adding: unsigned(added),
                used: unsigned(used),
                limit,
            }));
        }
    }
    if items.is_empty() {
        return Ok(charge);
    }
    let (names, sizes): (Vec<String>, Vec<i64>) = items.into_iter().unzip();
    let insert = tx
        .prepare_cached(
            "INSERT INTO project_blobs (project, digest, size)
             SELECT $1, d, s FROM unnest($2::text[], $3::bigint[]) AS u(d, s)",
        )
        .await?;
    tx.execute(&insert, &[&project, &names, &sizes]).await?;
    let update = tx
        .prepare_cached(
            "UPDATE quotas SET used = used + $2, updated_at = harbor_now_ms() WHERE project = $1",
        )
        .await?;
    tx.execute(&update, &[&project, &added]).await?;
    Ok(charge)
}

/// Stops counting, in `project`, those of `digests` that no manifest of the
/// project is or references any more.
pub(super) async fn release(
    tx: &Transaction<'_>,
    project: &str,
    digests: &[String],
) -> Result<(), StorageError> {
    lock(tx, project).await?;
    let sql = format!(
        "WITH gone AS (
             DELETE FROM project_blobs p WHERE p.project = $1 AND p.digest = ANY($2::text[])
             AND NOT EXISTS (SELECT 1 FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
                             WHERE x.reference = p.digest AND {IN_PROJECT})
             AND NOT EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                             WHERE m.digest = p.digest AND {IN_PROJECT})
             RETURNING p.size)
         UPDATE quotas SET used = used - (SELECT sum(size) FROM gone), updated_at = harbor_now_ms()
         WHERE project = $1 AND EXISTS (SELECT 1 FROM gone)"
    );
    let st = tx.prepare_cached(&sql).await?;
    tx.execute(&st, &[&project, &digests]).await?;
    Ok(())
}

/// Stops counting `digests` in every project (their bytes are being
/// deleted, no manifest references them, so none should count them; the caller holds their exclusive advisory locks, so no project
/// starts counting them meanwhile).
pub(super) async fn release_everywhere(
    tx: &Transaction<'_>,
    digests: &[String],
) -> Result<(), StorageError> {
    if digests.is_empty() {
        return Ok(());
    }
    let holders = tx
        .prepare_cached(
            "SELECT DISTINCT project FROM project_blobs WHERE digest = ANY($1::text[]) ORDER BY project",
        )
        .await?;
    let projects: Vec<String> = tx
        .query(&holders, &[&digests])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if projects.is_empty() {
        return Ok(());
    }
    for project in &projects {
        lock(tx, project).await?;
    }
    let drop = tx
        .prepare_cached(
            "DELETE FROM project_blobs WHERE digest = ANY($1::text[]) RETURNING project, size",
        )
        .await?;
    let mut freed: BTreeMap<String, i64> = BTreeMap::new();
    for row in tx.query(&drop, &[&digests]).await? {
        *freed.entry(row.try_get(0)?).or_default() += row.try_get::<_, i64>(1)?;
    }
    let update = tx
        .prepare_cached(
            "UPDATE quotas SET used = used - $2, updated_at = harbor_now_ms() WHERE project = $1",
        )
        .await?;
    for (project, size) in freed {
        tx.execute(&update, &[&project, &size]).await?;
    }
    Ok(())
}

/// The references of manifest `digest` of repository `repo`, and the
/// digest: what its delete may stop counting.
pub(super) async fn manifest_and_references(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
) -> Result<Vec<String>, StorageError> {
    let st = tx
        .prepare_cached(
            "SELECT x.reference FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
             WHERE r.name = $1 AND x.manifest_digest = $2",
        )
        .await?;
    let mut out: Vec<String> = tx
        .query(&st, &[&repo, &digest])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    out.push(digest.to_owned());
    Ok(out)
}

const COLUMNS: &str = "id, project, hard, used, created_at, updated_at";

fn quota_row(r: &Row) -> Result<Quota, StorageError> {
    Ok(Quota {
        id: r.try_get(0)?,
        project: r.try_get(1)?,
        limit: u64::try_from(r.try_get::<_, i64>(2)?).ok(),
        used: unsigned(r.try_get(3)?),
        created_at: from_ms(r.try_get(4)?),
        updated_at: from_ms(r.try_get(5)?),
    })
}

#[async_trait]
impl QuotaStore for PgStore {
    async fn set_storage_limit(&self, project: &str, limit: Option<u64>) -> Result<Quota> {
        let hard = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        pg!(self, write, |tx| {
            lock(&tx, project).await?;
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE quotas SET hard = $2, updated_at = harbor_now_ms() WHERE project = $1
                     RETURNING {COLUMNS}"
                ))
                .await?;
            quota_row(&tx.query_one(&st, &[&project, &hard]).await?)?
        })
    }

    async fn quota(&self, project: &str) -> Result<Option<Quota>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM quotas WHERE project = $1"))
                .await?;
            match c.query_opt(&st, &[&project]).await? {
                Some(row) => Some(quota_row(&row)?),
                None => None,
            }
        })
    }

    async fn quota_by_id(&self, id: i64) -> Result<Option<Quota>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM quotas WHERE id = $1"))
                .await?;
            match c.query_opt(&st, &[&id]).await? {
                Some(row) => Some(quota_row(&row)?),
                None => None,
            }
        })
    }

    async fn list_quotas(&self, sort: QuotaSort, page: Page) -> Result<(Vec<Quota>, u64)> {
        let (limit, offset) = (sql_limit(page), sql_offset(page));
        pg!(self, read, |tx| {
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM quotas ORDER BY {} LIMIT $1 OFFSET $2",
                    crate::quota_sql::order(sort)
                ))
                .await?;
            let list = tx
                .query(&st, &[&limit, &offset])
                .await?
                .iter()
                .map(quota_row)
                .collect::<Result<Vec<_>, _>>()?;
            let count = tx.prepare_cached("SELECT count(*) FROM quotas").await?;
            let total: i64 = tx.query_one(&count, &[]).await?.try_get(0)?;
            (list, unsigned(total))
        })
    }

    async fn delete_quota(&self, project: &str) -> Result<bool> {
        pg!(self, write, |tx| {
            // The quota row first, as every transaction locks it.
            let st = tx
                .prepare_cached("DELETE FROM quotas WHERE project = $1")
                .await?;
            let found = tx.execute(&st, &[&project]).await? > 0;
            let blobs = tx
                .prepare_cached("DELETE FROM project_blobs WHERE project = $1")
                .await?;
            tx.execute(&blobs, &[&project]).await?;
            found
        })
    }
}
