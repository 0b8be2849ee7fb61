//! The garbage-collection queries of `PgStore` (the protocol is in
//! `harbor_core::gc`).
//!
//! Under READ COMMITTED a check and the change it allows are not atomic
//! with other transactions by themselves; per-digest advisory locks make
//! them so. Every step that relies on a digest staying alive (a manifest
//! put for its own digest and the ones it requires, a link, a pin) takes a
//! shared lock on it; every step that removes one (a claim, an untagged
//! manifest's delete, an API delete) takes an exclusive lock, and checks
//! in a statement after the lock is granted, whose fresh snapshot sees
//! everything committed before. Repositories have locks too (keyed by
//! name): a link or a manifest put takes its repository's shared, the
//! removal of an empty repository exclusive, so that no push finds the
//! repository it is filling gone. Locks are taken in key order, before any
//! row lock, so two transactions never wait on each other in a cycle.

use deadpool_postgres::Transaction;
use harbor_core::{Digest, RepositoryName};

use super::parse_digest;
use crate::error::StorageError;

/// Claims granted per transaction: each holds one advisory lock until the
/// commit, and PostgreSQL's lock table is shared by every session.
pub(super) const CLAIMS_PER_TRANSACTION: usize = 64;

/// Whether manifest `m` is untagged garbage (`$cutoff` is parameter 1).
const UNTAGGED: &str = "m.pushed_at < $1
    AND NOT EXISTS (SELECT 1 FROM tags t
                    WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
    AND NOT EXISTS (SELECT 1 FROM manifest_references x
                    WHERE x.repository_id = m.repository_id AND x.reference = m.digest)
    AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s
                    WHERE s.repository_id = m.repository_id AND s.digest = m.subject))";

/// The advisory lock key of a digest: FNV-1a, the same in every instance.
pub(super) fn lock_key(digest: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in digest.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// The keys of `digests`, sorted and without repeats: the order every
/// transaction takes them in.
fn keys<'a>(digests: impl IntoIterator<Item = &'a str>) -> Vec<i64> {
    let mut keys: Vec<i64> = digests.into_iter().map(lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Takes shared locks on `digests` until the transaction ends.
pub(super) async fn lock_shared<'a>(
    tx: &Transaction<'_>,
    digests: impl IntoIterator<Item = &'a str>,
) -> Result<(), StorageError> {
    let keys = keys(digests);
    let st = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock_shared(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
        )
        .await?;
    tx.execute(&st, &[&keys]).await?;
    Ok(())
}

/// Takes the exclusive lock on `digest` until the transaction ends.
pub(super) async fn lock_exclusive(tx: &Transaction<'_>, digest: &str) -> Result<(), StorageError> {
    let st = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    tx.execute(&st, &[&lock_key(digest)]).await?;
    Ok(())
}

/// The advisory lock name of repository `repo`: pushes that may create
/// it take it shared, the removal of an empty one exclusive.
pub(super) fn repository_lock(repo: &str) -> String {
    format!("repository {repo}")
}

/// Whether repository `r` holds nothing (no manifest, save untagged
/// garbage when `ignoring` is true; no link younger than `$1`) and was
/// created before `$1`.
fn empty(ignoring: &str) -> String {
    format!(
        "r.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id
                         AND NOT ({ignoring} AND {UNTAGGED}))
         AND NOT EXISTS (SELECT 1 FROM blob_links b WHERE b.repository_id = r.id
                         AND b.linked_at >= $1)"
    )
}

/// One page of empty repositories after `after`, by name.
pub(super) async fn empty_page(
    tx: &Transaction<'_>,
    cutoff: i64,
    after: &str,
    limit: i64,
    ignoring_untagged: bool,
) -> Result<Vec<RepositoryName>, StorageError> {
    let sql = format!(
        "SELECT r.name FROM repositories r WHERE r.name > $2 AND {}
         ORDER BY r.name LIMIT $3",
        empty("$4")
    );
    let st = tx.prepare_cached(&sql).await?;
    let mut out = Vec::new();
    for row in tx
        .query(&st, &[&cutoff, &after, &limit, &ignoring_untagged])
        .await?
    {
        let name: &str = row.try_get(0)?;
        out.push(
            RepositoryName::parse(name)
                .map_err(|_| StorageError::Corrupt(format!("bad repository name {name:?}")))?,
        );
    }
    Ok(out)
}

/// Deletes a repository (and its old links) if it still holds nothing:
/// under its exclusive
/// lock, so no push that may create or fill it is half-way.
pub(super) async fn delete_empty(
    tx: &Transaction<'_>,
    repo: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    lock_exclusive(tx, &repository_lock(repo)).await?;
    let sql = format!(
        "DELETE FROM repositories r WHERE r.name = $2 AND {}",
        empty("false")
    );
    let st = tx.prepare_cached(&sql).await?;
    Ok(tx.execute(&st, &[&cutoff, &repo]).await? > 0)
}

/// Whether a claim on `digest` is held.
pub(super) async fn claimed(tx: &Transaction<'_>, digest: &str) -> Result<bool, StorageError> {
    let st = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM blob_claims WHERE digest = $1)")
        .await?;
    Ok(tx.query_one(&st, &[&digest]).await?.try_get(0)?)
}

/// One page of untagged manifests after `after`, by (repository, digest).
pub(super) async fn untagged_page(
    tx: &Transaction<'_>,
    cutoff: i64,
    after: (String, String),
    limit: i64,
) -> Result<Vec<(RepositoryName, Digest)>, StorageError> {
    let sql = format!(
        "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE (r.name, m.digest) > ($2, $3) AND {UNTAGGED}
         ORDER BY r.name, m.digest LIMIT $4"
    );
    let st = tx.prepare_cached(&sql).await?;
    let mut out = Vec::new();
    for row in tx
        .query(&st, &[&cutoff, &after.0, &after.1, &limit])
        .await?
    {
        let repo: &str = row.try_get(0)?;
        let repo = RepositoryName::parse(repo)
            .map_err(|_| StorageError::Corrupt(format!("bad repository name {repo:?}")))?;
        out.push((repo, parse_digest(row.try_get(1)?)?));
    }
    Ok(out)
}

/// Deletes one manifest if it is still untagged garbage.
pub(super) async fn delete_untagged(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    lock_exclusive(tx, digest).await?;
    let counted = super::quota::manifest_and_references(tx, repo, digest).await?;
    let sql = format!(
        "DELETE FROM manifests m WHERE m.digest = $2
         AND m.repository_id = (SELECT id FROM repositories WHERE name = $3) AND {UNTAGGED}"
    );
    let st = tx.prepare_cached(&sql).await?;
    let deleted = tx.execute(&st, &[&cutoff, &digest, &repo]).await? > 0;
    if deleted {
        super::quota::release(tx, super::quota::project_of(repo), &counted).await?;
    }
    Ok(deleted)
}

/// Whether a claim on `digest` may be granted now; with
/// `ignoring_untagged`, references from untagged garbage do not count.
pub(super) async fn claimable(
    tx: &Transaction<'_>,
    digest: &str,
    cutoff: i64,
    ignoring_untagged: bool,
) -> Result<bool, StorageError> {
    let sql = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM blob_claims WHERE digest = $2)
            AND NOT EXISTS (SELECT 1 FROM blob_links WHERE digest = $2 AND linked_at >= $1)
            AND NOT EXISTS (SELECT 1 FROM upload_sessions WHERE digest = $2)
            AND NOT EXISTS (SELECT 1 FROM manifest_references x JOIN manifests m
                              ON m.repository_id = x.repository_id AND m.digest = x.manifest_digest
                            WHERE x.reference = $2 AND NOT ($3 AND {UNTAGGED}))"
    );
    let st = tx.prepare_cached(&sql).await?;
    Ok(tx
        .query_one(&st, &[&cutoff, &digest, &ignoring_untagged])
        .await?
        .try_get(0)?)
}

/// Grants a claim if it may be granted: the links go, the claim is kept.
pub(super) async fn claim(
    tx: &Transaction<'_>,
    digest: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    lock_exclusive(tx, digest).await?;
    if !claimable(tx, digest, cutoff, false).await? {
        return Ok(false);
    }
    let unlink = tx
        .prepare_cached("DELETE FROM blob_links WHERE digest = $1")
        .await?;
    tx.execute(&unlink, &[&digest]).await?;
    let record = tx
        .prepare_cached("INSERT INTO blob_claims (digest, claimed_at) VALUES ($1, harbor_now_ms())")
        .await?;
    tx.execute(&record, &[&digest]).await?;
    Ok(true)
}

/// The first of `required` that repository `repo` holds neither as a blob
/// link nor as a manifest.
pub(super) async fn first_missing(
    tx: &Transaction<'_>,
    repo: &str,
    required: &[String],
) -> Result<Option<String>, StorageError> {
    if required.is_empty() {
        return Ok(None);
    }
    let st = tx
        .prepare_cached(
            "SELECT d FROM unnest($2::text[]) WITH ORDINALITY AS u(d, n)
             WHERE NOT EXISTS (SELECT 1 FROM blob_links b JOIN repositories r ON r.id = b.repository_id
                               WHERE r.name = $1 AND b.digest = u.d)
               AND NOT EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                               WHERE r.name = $1 AND m.digest = u.d)
             ORDER BY n LIMIT 1",
        )
        .await?;
    match tx.query_opt(&st, &[&repo, &required]).await? {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_sorted_and_unique() {
        // Every instance must derive the same key from the same digest.
        assert_eq!(lock_key("sha256:abc"), lock_key("sha256:abc"));
        assert_ne!(lock_key("sha256:abc"), lock_key("sha256:abd"));
        let k = keys(["sha256:b", "sha256:a", "sha256:b"]);
        assert_eq!(k.len(), 2);
        assert!(k[0] < k[1]);
    }
}
