//! The management API's listings: repositories with their figures and
//! artifacts with their tags.

use harbor_core::{ArtifactInfo, Digest, Page, RepositoryInfo, TagInfo};
use rusqlite::{params, Connection, OptionalExtension};

use super::{from_ms, parse_digest, sql_limit, sql_offset};
use crate::error::StorageError;

/// A manifest is top-level unless another manifest of its repository lists it.
const TOP_LEVEL: &str = "NOT EXISTS (SELECT 1 FROM manifest_references x
     WHERE x.repository_id = m.repository_id AND x.reference = m.digest)";

pub(super) fn repositories(
    c: &Connection,
    prefix: &str,
    name: Option<&str>,
    contains: Option<&str>,
    page: Page,
) -> Result<(Vec<RepositoryInfo>, u64), StorageError> {
    let filter = "FROM repositories r
         WHERE (?1 IS NULL OR r.name = ?1) AND substr(r.name, 1, length(?2)) = ?2
         AND (?5 IS NULL OR instr(r.name, ?5) > 0)
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)";
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) {filter}"))?
        .query_row(
            params![name, prefix, None::<i64>, None::<i64>, contains],
            |r| r.get(0),
        )?;
    let sql = format!(
        "SELECT r.id, r.name, r.created_at,
           COALESCE((SELECT max(m.pushed_at) FROM manifests m WHERE m.repository_id = r.id), r.created_at),
           (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id AND {TOP_LEVEL})
         {filter} ORDER BY r.name LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![name, prefix, sql_limit(page), sql_offset(page), contains],
        |r| {
            Ok(RepositoryInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: from_ms(r.get(2)?),
                updated_at: from_ms(r.get(3)?),
                artifact_count: r.get::<_, i64>(4)? as u64,
            })
        },
    )?;
    Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
}

fn tags(c: &Connection, repository_id: i64, digest: &str) -> Result<Vec<TagInfo>, StorageError> {
    let mut stmt = c.prepare_cached(
        "SELECT name, updated_at FROM tags WHERE repository_id = ?1 AND digest = ?2 ORDER BY name",
    )?;
    let rows = stmt.query_map(params![repository_id, digest], |r| {
        Ok(TagInfo {
            name: r.get(0)?,
            updated_at: from_ms(r.get(1)?),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

type Row = (i64, i64, String, String, Option<String>, i64, Option<i64>);

fn to_artifact(c: &Connection, row: Row) -> Result<ArtifactInfo, StorageError> {
    let (id, repository_id, digest, media_type, artifact_type, pushed_at, pulled_at) = row;
    Ok(ArtifactInfo {
        id,
        tags: tags(c, repository_id, &digest)?,
        digest: parse_digest(&digest)?,
        media_type,
        artifact_type,
        pushed_at: from_ms(pushed_at),
        pulled_at: pulled_at.map(from_ms),
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(super) fn artifacts(
    c: &Connection,
    repo: &str,
    page: Page,
) -> Result<(Vec<ArtifactInfo>, u64), StorageError> {
    let filter = format!(
        "FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ?1 AND {TOP_LEVEL}"
    );
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) {filter}"))?
        .query_row([repo], |r| r.get(0))?;
    let sql = format!(
        "SELECT m.rowid, m.repository_id, m.digest, m.media_type, m.artifact_type, m.pushed_at, m.pulled_at {filter}
         ORDER BY m.pushed_at DESC, m.digest LIMIT ?2 OFFSET ?3"
    );
    let rows: Vec<Row> = c
        .prepare_cached(&sql)?
        .query_map(params![repo, sql_limit(page), sql_offset(page)], row)?
        .collect::<Result<_, _>>()?;
    let list = rows
        .into_iter()
        .map(|r| to_artifact(c, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((list, total as u64))
}

pub(super) fn artifact(
    c: &Connection,
    repo: &str,
    digest: &Digest,
) -> Result<Option<ArtifactInfo>, StorageError> {
    let found = c
        .prepare_cached(
            "SELECT m.rowid, m.repository_id, m.digest, m.media_type, m.artifact_type, m.pushed_at, m.pulled_at
             FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ?1 AND m.digest = ?2",
        )?
        .query_row(params![repo, digest.to_string()], row)
        .optional()?;
    found.map(|r| to_artifact(c, r)).transpose()
}
