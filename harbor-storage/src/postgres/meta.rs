//! `MetaStore` for `PgStore`: repositories, blob links, manifests, tags,
//! referrers and upload sessions.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::blob_store::upload_unknown;
use harbor_core::meta_store::manifest_blob_unknown;
use harbor_core::{
    ArtifactInfo, Descriptor, Digest, ManifestRecord, MetaStore, Page, RepositoryInfo,
    RepositoryName, Result, StorageCharge, Tag, UploadSession,
};
use tokio_postgres::Row;

use super::{from_ms, gc, listing, parse_digest, pg, quota, to_ms, unsigned, PgStore};
use crate::error::StorageError;

/// Times a `put_manifest` finds its manifest deleted under it by another
/// instance between inserting and locking it, before giving up.
const PUT_ATTEMPTS: usize = 8;

/// The id of repository `name`, created if absent. Safe against another
/// instance creating it at the same moment: the insert waits for that one
/// and then does nothing, and the select (a new statement, so a new
/// snapshot) sees its row.
async fn ensure_repo(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
) -> Result<i64, StorageError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO repositories (name, created_at) VALUES ($1, harbor_now_ms())
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .await?;
    if let Some(row) = tx.query_opt(&insert, &[&name]).await? {
        return Ok(row.try_get(0)?);
    }
    let select = tx
        .prepare_cached("SELECT id FROM repositories WHERE name = $1")
        .await?;
    match tx.query_opt(&select, &[&name]).await? {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(StorageError::Corrupt(format!("repository {name} vanished"))),
    }
}

fn annotations_of(digest: &str, json: &str) -> Result<BTreeMap<String, String>, StorageError> {
    serde_json::from_str(json)
        .map_err(|e| StorageError::encoding(format!("annotations of {digest}"), e))
}

fn manifest_record(digest: Digest, row: &Row) -> Result<ManifestRecord, StorageError> {
    let key = digest.to_string();
    let subject: Option<String> = row.try_get(2)?;
    let references: Vec<String> = row.try_get(6)?;
    Ok(ManifestRecord {
        media_type: row.try_get(0)?,
        payload: Bytes::from(row.try_get::<_, Vec<u8>>(1)?),
        subject: subject.as_deref().map(parse_digest).transpose()?,
        artifact_type: row.try_get(3)?,
        annotations: annotations_of(&key, row.try_get(4)?)?,
        pushed_at: from_ms(row.try_get(5)?),
        references: references
            .iter()
            .map(|r| parse_digest(r))
            .collect::<Result<_, _>>()?,
        digest,
    })
}

fn upload_session(row: &Row) -> Result<UploadSession, StorageError> {
    let repo: &str = row.try_get(1)?;
    Ok(UploadSession {
        id: row.try_get(0)?,
        repository: RepositoryName::parse(repo)
            .map_err(|_| StorageError::Corrupt(format!("bad repository name {repo:?}")))?,
        started_at: from_ms(row.try_get(2)?),
    })
}

#[async_trait]
impl MetaStore for PgStore {
    async fn repository_exists(&self, repo: &RepositoryName) -> Result<bool> {
        let repo = repo.as_str();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM repositories WHERE name = $1)")
                .await?;
            c.query_one(&st, &[&repo]).await?.try_get::<_, bool>(0)?
        })
    }

    async fn list_repositories(&self, last: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let last = last.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
                )
                .await?;
            c.query(&st, &[&last, &limit])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()?
        })
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> Result<bool> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        pg!(self, write, |tx| {
            let repo_lock = gc::repository_lock(repo);
            gc::lock_shared(&tx, [digest.as_str(), repo_lock.as_str()]).await?;
            if gc::claimed(&tx, &digest).await? {
                false
            } else {
                quota::check(&tx, quota::project_of(repo), &digest, size).await?;
                let id = ensure_repo(&tx, repo).await?;
                let st = tx
                    .prepare_cached(
                        "INSERT INTO blob_links (repository_id, digest, size, linked_at)
                         VALUES ($1, $2, $3, harbor_now_ms())
                         ON CONFLICT (repository_id, digest)
                         DO UPDATE SET size = excluded.size, linked_at = excluded.linked_at",
                    )
                    .await?;
                tx.execute(&st, &[&id, &digest, &size]).await?;
                true
            }
        })
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT b.size FROM blob_links b JOIN repositories r ON r.id = b.repository_id
                     WHERE r.name = $1 AND b.digest = $2",
                )
                .await?;
            match c.query_opt(&st, &[&repo, &digest]).await? {
                Some(row) => Some(unsigned(row.try_get(0)?)),
                None => None,
            }
        })
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        pg!(self, write, |tx| {
            gc::lock_exclusive(&tx, &digest).await?;
            let st = tx
                .prepare_cached(
                    "DELETE FROM blob_links WHERE digest = $2
                     AND repository_id = (SELECT id FROM repositories WHERE name = $1)",
                )
                .await?;
            tx.execute(&st, &[&repo, &digest]).await? > 0
        })
    }

    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        record: &ManifestRecord,
        tag: Option<&Tag>,
        required: &[Digest],
    ) -> Result<StorageCharge> {
        let repo = repo.as_str();
        let required: Vec<String> = required.iter().map(|d| d.to_string()).collect();
        let tag = tag.map(|t| t.as_str());
        let digest = record.digest.to_string();
        let subject = record.subject.as_ref().map(|s| s.to_string());
        let references: Vec<String> = record.references.iter().map(|r| r.to_string()).collect();
        let annotations = serde_json::to_string(&record.annotations)
            .map_err(|e| StorageError::encoding("annotations do not encode", e))?;
        let payload: &[u8] = &record.payload;
        let pushed_at = to_ms(record.pushed_at);
        let outcome = pg!(self, write, |tx| {
            // Shared locks on its own digest (a tag keeps it) and on what it
            // requires, then the check: see `gc` for why this is atomic
            // with garbage collection.
            let repo_lock = gc::repository_lock(repo);
            gc::lock_shared(
                &tx,
                [digest.as_str(), repo_lock.as_str()]
                    .into_iter()
                    .chain(required.iter().map(String::as_str)),
            )
            .await?;
            if let Some(missing) = gc::first_missing(&tx, repo, &required).await? {
                return Ok(Err(missing));
            }
            let id = ensure_repo(&tx, repo).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO manifests
                     (repository_id, digest, media_type, payload, subject, artifact_type, annotations, pushed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .await?;
            // The manifest must exist until this commits: lock it, and if
            // another instance deleted it between the insert and the lock,
            // insert it again.
            let lock = tx
                .prepare_cached(
                    "SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR KEY SHARE",
                )
                .await?;
            let mut held = false;
            for _ in 0..PUT_ATTEMPTS {
                tx.execute(
                    &insert,
                    &[
                        &id,
                        &digest,
                        &record.media_type,
                        &payload,
                        &subject,
                        &record.artifact_type,
                        &annotations,
                        &pushed_at,
                    ],
                )
                .await?;
                if tx.query_opt(&lock, &[&id, &digest]).await?.is_some() {
                    held = true;
                    break;
                }
            }
            if !held {
                return Err(StorageError::Corrupt(format!(
                    "manifest {digest} of {repo} keeps being deleted while it is put"
                )));
            }
            let refs = tx
                .prepare_cached(
                    "INSERT INTO manifest_references (repository_id, manifest_digest, reference)
                     SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&refs, &[&id, &digest, &references]).await?;
            if let Some(tag) = tag {
                let st = tx
                    .prepare_cached(
                        "INSERT INTO tags (repository_id, name, digest, updated_at)
                         VALUES ($1, $2, $3, harbor_now_ms())
                         ON CONFLICT (repository_id, name)
                         DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                    )
                    .await?;
                tx.execute(&st, &[&id, &tag, &digest]).await?;
            }
            // Last: the quota row is the last lock (see `quota`).
            let counted: Vec<String> = required.iter().cloned().chain([digest.clone()]).collect();
            Ok(quota::charge(&tx, quota::project_of(repo), id, &counted).await?)
        })?;
        match outcome {
            Err(d) => Err(manifest_blob_unknown(&parse_digest(&d)?)),
            Ok(charge) => Ok(charge),
        }
    }

    async fn get_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>> {
        let (name, key) = (repo.as_str(), digest.to_string());
        pg!(self, single, |c| {
            // One statement, so the references come from the same snapshot.
            let st = c
                .prepare_cached(
                    "SELECT m.media_type, m.payload, m.subject, m.artifact_type, m.annotations, m.pushed_at,
                       ARRAY(SELECT x.reference FROM manifest_references x
                             WHERE x.repository_id = m.repository_id AND x.manifest_digest = m.digest
                             ORDER BY x.reference)
                     FROM manifests m JOIN repositories r ON r.id = m.repository_id
                     WHERE r.name = $1 AND m.digest = $2",
                )
                .await?;
            match c.query_opt(&st, &[&name, &key]).await? {
                Some(row) => Some(manifest_record(digest.clone(), &row)?),
                None => None,
            }
        })
    }

    async fn resolve_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<Option<Digest>> {
        let (repo, tag) = (repo.as_str(), tag.as_str());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id
                     WHERE r.name = $1 AND t.name = $2",
                )
                .await?;
            match c.query_opt(&st, &[&repo, &tag]).await? {
                Some(row) => Some(parse_digest(row.try_get(0)?)?),
                None => None,
            }
        })
    }

    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (repo, last) = (repo.as_str(), last.unwrap_or(""));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
                     WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3",
                )
                .await?;
            c.query(&st, &[&repo, &last, &limit])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()?
        })
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool> {
        let (repo, tag) = (repo.as_str(), tag.as_str());
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "DELETE FROM tags WHERE name = $2
                     AND repository_id = (SELECT id FROM repositories WHERE name = $1)",
                )
                .await?;
            tx.execute(&st, &[&repo, &tag]).await? > 0
        })
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        pg!(self, write, |tx| {
            gc::lock_exclusive(&tx, &digest).await?;
            let counted = quota::manifest_and_references(&tx, repo, &digest).await?;
            // Tags and references go with it through ON DELETE CASCADE, in
            // this transaction.
            let st = tx
                .prepare_cached(
                    "DELETE FROM manifests WHERE digest = $2
                     AND repository_id = (SELECT id FROM repositories WHERE name = $1)",
                )
                .await?;
            let deleted = tx.execute(&st, &[&repo, &digest]).await? > 0;
            if deleted {
                quota::release(&tx, quota::project_of(repo), &counted).await?;
            }
            deleted
        })
    }

    async fn referrers(&self, repo: &RepositoryName, subject: &Digest) -> Result<Vec<Descriptor>> {
        let (repo, subject) = (repo.as_str(), subject.to_string());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT m.media_type, m.digest, octet_length(m.payload)::bigint, m.artifact_type, m.annotations
                     FROM manifests m JOIN repositories r ON r.id = m.repository_id
                     WHERE r.name = $1 AND m.subject = $2 ORDER BY m.digest",
                )
                .await?;
            let mut out = Vec::new();
            for row in c.query(&st, &[&repo, &subject]).await? {
                let digest: &str = row.try_get(1)?;
                let annotations = annotations_of(digest, row.try_get(4)?)?;
                out.push(Descriptor {
                    media_type: row.try_get(0)?,
                    digest: parse_digest(digest)?,
                    size: unsigned(row.try_get(2)?),
                    urls: Vec::new(),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    platform: None,
                    artifact_type: row.try_get(3)?,
                });
            }
            out
        })
    }

    async fn repositories_with_prefix(
        &self,
        prefix: &str,
        name_contains: Option<&str>,
        page: Page,
    ) -> Result<(Vec<RepositoryInfo>, u64)> {
        pg!(self, read, |tx| {
            listing::repositories(&tx, prefix, None, name_contains, page).await?
        })
    }

    async fn repository_info(&self, repo: &RepositoryName) -> Result<Option<RepositoryInfo>> {
        let one = Page {
            page: 1,
            page_size: 1,
        };
        pg!(self, read, |tx| {
            let (mut list, _) =
                listing::repositories(&tx, "", Some(repo.as_str()), None, one).await?;
            list.pop()
        })
    }

    async fn list_artifacts(
        &self,
        repo: &RepositoryName,
        page: Page,
    ) -> Result<(Vec<ArtifactInfo>, u64)> {
        pg!(self, read, |tx| listing::artifacts(
            &tx,
            repo.as_str(),
            page
        )
        .await?)
    }

    async fn record_pulls(&self, pulls: &[(RepositoryName, Digest, SystemTime)]) -> Result<()> {
        let repos: Vec<&str> = pulls.iter().map(|(r, _, _)| r.as_str()).collect();
        let digests: Vec<String> = pulls.iter().map(|(_, d, _)| d.to_string()).collect();
        let times: Vec<i64> = pulls.iter().map(|(_, _, t)| to_ms(*t)).collect();
        // One statement for the whole batch; GREATEST keeps the later time
        // when two instances flush the same artifact.
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE manifests m SET pulled_at = GREATEST(COALESCE(m.pulled_at, 0), p.at)
                     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS p(repo, digest, at)
                     JOIN repositories r ON r.name = p.repo
                     WHERE m.repository_id = r.id AND m.digest = p.digest",
                )
                .await?;
            c.execute(&st, &[&repos, &digests, &times]).await?;
        })
    }

    async fn artifact(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ArtifactInfo>> {
        pg!(self, read, |tx| listing::artifact(
            &tx,
            repo.as_str(),
            digest
        )
        .await?)
    }

    async fn create_upload(&self, session: &UploadSession) -> Result<()> {
        let started = to_ms(session.started_at);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO upload_sessions (id, repository, started_at) VALUES ($1, $2, $3)",
                )
                .await?;
            c.execute(&st, &[&session.id, &session.repository.as_str(), &started])
                .await?;
        })
    }

    async fn get_upload(&self, id: &str) -> Result<Option<UploadSession>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT id, repository, started_at FROM upload_sessions WHERE id = $1",
                )
                .await?;
            match c.query_opt(&st, &[&id]).await? {
                Some(row) => Some(upload_session(&row)?),
                None => None,
            }
        })
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        self.touched("DELETE FROM upload_sessions WHERE id = $1", &[&id])
            .await
    }

    async fn uploads_started_before(&self, before: SystemTime) -> Result<Vec<UploadSession>> {
        let before = to_ms(before);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT id, repository, started_at FROM upload_sessions
                     WHERE started_at < $1 ORDER BY started_at",
                )
                .await?;
            c.query(&st, &[&before])
                .await?
                .iter()
                .map(upload_session)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn pin_upload(&self, id: &str, digest: &Digest) -> Result<bool> {
        let key = digest.to_string();
        let pinned = pg!(self, write, |tx| {
            gc::lock_shared(&tx, [key.as_str()]).await?;
            if gc::claimed(&tx, &key).await? {
                Some(false)
            } else {
                let st = tx
                    .prepare_cached("UPDATE upload_sessions SET digest = $2 WHERE id = $1")
                    .await?;
                (tx.execute(&st, &[&id, &key]).await? > 0).then_some(true)
            }
        })?;
        pinned.ok_or_else(|| upload_unknown(id))
    }

    async fn untagged_manifests(
        &self,
        cutoff: SystemTime,
        after: Option<&(RepositoryName, Digest)>,
        limit: usize,
    ) -> Result<Vec<(RepositoryName, Digest)>> {
        let cutoff = to_ms(cutoff);
        let after = after
            .map(|(r, d)| (r.to_string(), d.to_string()))
            .unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        pg!(self, read, |tx| {
            gc::untagged_page(&tx, cutoff, after.clone(), limit).await?
        })
    }

    async fn delete_untagged_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        cutoff: SystemTime,
    ) -> Result<bool> {
        let (repo, digest, cutoff) = (repo.as_str(), digest.to_string(), to_ms(cutoff));
        pg!(self, write, |tx| {
            gc::delete_untagged(&tx, repo, &digest, cutoff).await?
        })
    }

    async fn empty_repositories(
        &self,
        cutoff: SystemTime,
        after: Option<&RepositoryName>,
        limit: usize,
        ignoring_untagged: bool,
    ) -> Result<Vec<RepositoryName>> {
        let cutoff = to_ms(cutoff);
        let after = after.map(|r| r.as_str()).unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        pg!(self, read, |tx| {
            gc::empty_page(&tx, cutoff, after, limit, ignoring_untagged).await?
        })
    }

    async fn delete_empty_repository(
        &self,
        repo: &RepositoryName,
        cutoff: SystemTime,
    ) -> Result<bool> {
        let (repo, cutoff) = (repo.as_str(), to_ms(cutoff));
        pg!(self, write, |tx| {
            gc::delete_empty(&tx, repo, cutoff).await?
        })
    }

    async fn unreferenced_blobs(
        &self,
        digests: &[Digest],
        cutoff: SystemTime,
        ignoring_untagged: bool,
    ) -> Result<Vec<Digest>> {
        let cutoff = to_ms(cutoff);
        pg!(self, read, |tx| {
            let mut out = Vec::new();
            for d in digests {
                if gc::claimable(&tx, &d.to_string(), cutoff, ignoring_untagged).await? {
                    out.push(d.clone());
                }
            }
            out
        })
    }

    async fn claim_blobs(&self, digests: &[Digest], cutoff: SystemTime) -> Result<Vec<Digest>> {
        let cutoff = to_ms(cutoff);
        let mut sorted: Vec<(i64, &Digest)> = digests
            .iter()
            .map(|d| (gc::lock_key(&d.to_string()), d))
            .collect();
        // In key order, as every transaction takes its locks.
        sorted.sort_unstable_by_key(|(k, _)| *k);
        let mut out = Vec::new();
        for batch in sorted.chunks(gc::CLAIMS_PER_TRANSACTION) {
            let claimed = pg!(self, write, |tx| {
                let mut claimed = Vec::new();
                let mut keys = Vec::new();
                for (_, d) in batch {
                    let key = d.to_string();
                    if gc::claim(&tx, &key, cutoff).await? {
                        claimed.push((*d).clone());
                        keys.push(key);
                    }
                }
                // After every advisory lock: quota rows are the last locks.
                quota::release_everywhere(&tx, &keys).await?;
                claimed
            })?;
            out.extend(claimed);
        }
        Ok(out)
    }

    async fn blob_claims(&self, limit: usize) -> Result<Vec<Digest>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("SELECT digest FROM blob_claims ORDER BY digest LIMIT $1")
                .await?;
            let mut out = Vec::new();
            for row in c.query(&st, &[&limit]).await? {
                out.push(parse_digest(row.try_get(0)?)?);
            }
            out
        })
    }

    async fn release_blob_claims(&self, digests: &[Digest]) -> Result<()> {
        let keys: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached("DELETE FROM blob_claims WHERE digest = ANY($1::text[])")
                .await?;
            tx.execute(&st, &[&keys]).await?;
        })
    }
}
