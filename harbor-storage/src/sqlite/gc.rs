//! The garbage-collection queries of `SqliteMetaStore` (the protocol is in
//! `harbor_core::gc`). SQLite runs one write transaction at a time, so each
//! check and the change it allows are atomic with every push.

use harbor_core::{Digest, RepositoryName};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{parse_digest, quota};
use crate::error::StorageError;

/// Whether manifest `m` is untagged garbage: pushed before `:cutoff`, no
/// tag, no manifest of its repository referencing it, no subject that its
/// repository holds.
const UNTAGGED: &str = "m.pushed_at < :cutoff
    AND NOT EXISTS (SELECT 1 FROM tags t
                    WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
    AND NOT EXISTS (SELECT 1 FROM manifest_references x
                    WHERE x.reference = m.digest AND x.repository_id = m.repository_id)
    AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s
                    WHERE s.repository_id = m.repository_id AND s.digest = m.subject))";

/// One page of untagged manifests after `after`, by (repository, digest).
pub(super) fn untagged_page(
    conn: &Connection,
    cutoff: i64,
    after: Option<(String, String)>,
    limit: usize,
) -> Result<Vec<(RepositoryName, Digest)>, StorageError> {
    let (after_repo, after_digest) = after.unwrap_or_default();
    let sql = format!(
        "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE (r.name, m.digest) > (:after_repo, :after_digest) AND {UNTAGGED}
         ORDER BY r.name, m.digest LIMIT :limit"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        rusqlite::named_params! {
            ":cutoff": cutoff,
            ":after_repo": after_repo,
            ":after_digest": after_digest,
            ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
        },
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (repo, digest) = row?;
        let repo = RepositoryName::parse(&repo)
            .map_err(|_| StorageError::Corrupt(format!("bad repository name {repo:?}")))?;
        out.push((repo, parse_digest(&digest)?));
    }
    Ok(out)
}

/// Deletes one manifest if it is still untagged garbage.
pub(super) fn delete_untagged(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    let Some(id) = super::repo_id(tx, repo)? else {
        return Ok(false);
    };
    let counted = quota::manifest_and_references(tx, id, digest)?;
    let sql = format!(
        "DELETE FROM manifests AS m WHERE m.digest = :digest
         AND m.repository_id = :id AND {UNTAGGED}"
    );
    let n = tx.prepare_cached(&sql)?.execute(rusqlite::named_params! {
        ":digest": digest,
        ":id": id,
        ":cutoff": cutoff,
    })?;
    if n > 0 {
        quota::release(tx, quota::project_of(repo), &counted)?;
    }
    Ok(n > 0)
}

/// Whether repository `r` holds nothing (no manifest, save untagged
/// garbage with `:ignoring`; no link younger than `:cutoff`) and was
/// created before `:cutoff`.
fn empty() -> String {
    format!(
        "r.created_at < :cutoff
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id
                         AND NOT (:ignoring AND {UNTAGGED}))
         AND NOT EXISTS (SELECT 1 FROM blob_links b WHERE b.repository_id = r.id
                         AND b.linked_at >= :cutoff)"
    )
}

/// One page of empty repositories after `after`, by name.
pub(super) fn empty_page(
    conn: &Connection,
    cutoff: i64,
    after: &str,
    limit: usize,
    ignoring_untagged: bool,
) -> Result<Vec<RepositoryName>, StorageError> {
    let sql = format!(
        "SELECT r.name FROM repositories r WHERE r.name > :after AND {}
         ORDER BY r.name LIMIT :limit",
        empty()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        rusqlite::named_params! {
            ":cutoff": cutoff,
            ":after": after,
            ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
            ":ignoring": ignoring_untagged,
        },
        |r| r.get::<_, String>(0),
    )?;
    let mut out = Vec::new();
    for name in rows {
        let name = name?;
        out.push(
            RepositoryName::parse(&name)
                .map_err(|_| StorageError::Corrupt(format!("bad repository name {name:?}")))?,
        );
    }
    Ok(out)
}

/// Deletes a repository (and its old links) if it still holds nothing.
pub(super) fn delete_empty(
    tx: &Transaction<'_>,
    repo: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    let sql = format!(
        "DELETE FROM repositories AS r WHERE r.name = :repo AND {}",
        empty()
    );
    let n = tx.prepare_cached(&sql)?.execute(
        rusqlite::named_params! { ":repo": repo, ":cutoff": cutoff, ":ignoring": false },
    )?;
    Ok(n > 0)
}

/// Whether a claim on `digest` may be granted now; with
/// `ignoring_untagged`, references from untagged garbage do not count.
pub(super) fn claimable(
    conn: &Connection,
    digest: &str,
    cutoff: i64,
    ignoring_untagged: bool,
) -> Result<bool, StorageError> {
    let sql = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM blob_claims WHERE digest = :digest)
            AND NOT EXISTS (SELECT 1 FROM blob_links WHERE digest = :digest AND linked_at >= :cutoff)
            AND NOT EXISTS (SELECT 1 FROM upload_sessions WHERE digest = :digest)
            AND NOT EXISTS (SELECT 1 FROM manifest_references x JOIN manifests m
                              ON m.repository_id = x.repository_id AND m.digest = x.manifest_digest
                            WHERE x.reference = :digest AND NOT (:ignoring AND {UNTAGGED}))"
    );
    let ok: bool = conn.prepare_cached(&sql)?.query_row(
        rusqlite::named_params! {
            ":digest": digest,
            ":cutoff": cutoff,
            ":ignoring": ignoring_untagged,
        },
        |r| r.get(0),
    )?;
    Ok(ok)
}

/// Whether a claim on `digest` is held.
pub(super) fn claimed(conn: &Connection, digest: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM blob_claims WHERE digest = ?1")?
        .query_row([digest], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Grants a claim if it may be granted: the links go, the claim is kept.
pub(super) fn claim(
    tx: &Transaction<'_>,
    digest: &str,
    cutoff: i64,
    now: i64,
) -> Result<bool, StorageError> {
    if !claimable(tx, digest, cutoff, false)? {
        return Ok(false);
    }
    tx.prepare_cached("DELETE FROM blob_links WHERE digest = ?1")?
        .execute([digest])?;
    quota::release_everywhere(tx, digest)?;
    tx.prepare_cached("INSERT INTO blob_claims (digest, claimed_at) VALUES (?1, ?2)")?
        .execute(params![digest, now])?;
    Ok(true)
}

/// The first of `required` that repository `repo_id` holds neither as a
/// blob link nor as a manifest.
pub(super) fn first_missing<'a>(
    conn: &Connection,
    repo_id: Option<i64>,
    required: &'a [String],
) -> Result<Option<&'a String>, StorageError> {
    let Some(id) = repo_id else {
        return Ok(required.first());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM blob_links WHERE repository_id = ?1 AND digest = ?2)
             OR EXISTS (SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2)",
    )?;
    for digest in required {
        let held: bool = stmt.query_row(params![id, digest], |r| r.get(0))?;
        if !held {
            return Ok(Some(digest));
        }
    }
    Ok(None)
}
