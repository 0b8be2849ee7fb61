//! The management API's listings: repositories with their figures and
//! artifacts with their tags. Each runs in the caller's read-only snapshot,
//! so a page and its total agree.

use deadpool_postgres::Transaction;
use harbor_core::{ArtifactInfo, Digest, Page, RepositoryInfo, TagInfo};
use tokio_postgres::Row;

use super::{from_ms, parse_digest, sql_limit, sql_offset, unsigned};
use crate::error::StorageError;

/// A manifest is top-level unless another manifest of its repository lists it.
const TOP_LEVEL: &str = "NOT EXISTS (SELECT 1 FROM manifest_references x
     WHERE x.repository_id = m.repository_id AND x.reference = m.digest)";

/// Repositories holding at least one manifest, whose name is `name` (when
/// given), starts with `prefix` and contains `contains` (when given).
pub(super) async fn repositories(
    tx: &Transaction<'_>,
    prefix: &str,
    name: Option<&str>,
    contains: Option<&str>,
    page: Page,
) -> Result<(Vec<RepositoryInfo>, u64), StorageError> {
    let filter = "FROM repositories r
         WHERE ($1::text IS NULL OR r.name = $1) AND starts_with(r.name, $2::text)
         AND ($3::text IS NULL OR strpos(r.name, $3) > 0)
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)";
    let count = tx
        .prepare_cached(&format!("SELECT count(*) {filter}"))
        .await?;
    let total: i64 = tx
        .query_one(&count, &[&name, &prefix, &contains])
        .await?
        .try_get(0)?;
    let sql = format!(
        "SELECT r.id, r.name, r.created_at,
           COALESCE((SELECT max(m.pushed_at) FROM manifests m WHERE m.repository_id = r.id), r.created_at),
           (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id AND {TOP_LEVEL})
         {filter} ORDER BY r.name LIMIT $4 OFFSET $5"
    );
    let st = tx.prepare_cached(&sql).await?;
    let rows = tx
        .query(
            &st,
            &[
                &name,
                &prefix,
                &contains,
                &sql_limit(page),
                &sql_offset(page),
            ],
        )
        .await?;
    let list = rows
        .iter()
        .map(|r| {
            Ok(RepositoryInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                created_at: from_ms(r.try_get(2)?),
                updated_at: from_ms(r.try_get(3)?),
                artifact_count: unsigned(r.try_get(4)?),
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok((list, unsigned(total)))
}

/// The artifact columns, and its tags as two parallel arrays.
const ARTIFACT_SELECT: &str = "SELECT m.id, m.digest, m.media_type, m.artifact_type, m.pushed_at, m.pulled_at,
       ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest ORDER BY t.name),
       ARRAY(SELECT t.updated_at FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest ORDER BY t.name)
     FROM manifests m JOIN repositories r ON r.id = m.repository_id";

fn to_artifact(row: &Row) -> Result<ArtifactInfo, StorageError> {
    let pulled_at: Option<i64> = row.try_get(5)?;
    let names: Vec<String> = row.try_get(6)?;
    let times: Vec<i64> = row.try_get(7)?;
    Ok(ArtifactInfo {
        id: row.try_get(0)?,
        digest: parse_digest(row.try_get(1)?)?,
        media_type: row.try_get(2)?,
        artifact_type: row.try_get(3)?,
        pushed_at: from_ms(row.try_get(4)?),
        pulled_at: pulled_at.map(from_ms),
        tags: names
            .into_iter()
            .zip(times)
            .map(|(name, t)| TagInfo {
                name,
                updated_at: from_ms(t),
            })
            .collect(),
    })
}

/// The top-level artifacts of `repo`, newest first, and their total.
pub(super) async fn artifacts(
    tx: &Transaction<'_>,
    repo: &str,
    page: Page,
) -> Result<(Vec<ArtifactInfo>, u64), StorageError> {
    let count = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND {TOP_LEVEL}"
        ))
        .await?;
    let total: i64 = tx.query_one(&count, &[&repo]).await?.try_get(0)?;
    let st = tx
        .prepare_cached(&format!(
            "{ARTIFACT_SELECT} WHERE r.name = $1 AND {TOP_LEVEL}
             ORDER BY m.pushed_at DESC, m.digest LIMIT $2 OFFSET $3"
        ))
        .await?;
    let list = tx
        .query(&st, &[&repo, &sql_limit(page), &sql_offset(page)])
        .await?
        .iter()
        .map(to_artifact)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((list, unsigned(total)))
}

/// One manifest of `repo` as an artifact, with its tags.
pub(super) async fn artifact(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &Digest,
) -> Result<Option<ArtifactInfo>, StorageError> {
    let st = tx
        .prepare_cached(&format!(
            "{ARTIFACT_SELECT} WHERE r.name = $1 AND m.digest = $2"
        ))
        .await?;
    tx.query_opt(&st, &[&repo, &digest.to_string()])
        .await?
        .as_ref()
        .map(to_artifact)
        .transpose()
}
