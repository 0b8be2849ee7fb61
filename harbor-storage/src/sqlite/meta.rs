//! `MetaStore` for `SqliteMetaStore`: repositories, blob links,
//! manifests and tags, artifacts, uploads, and what garbage collection
//! asks of the metadata.

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
use rusqlite::{params, OptionalExtension};

use super::*;
use crate::error::StorageError;

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn repository_exists(&self, repo: &RepositoryName) -> Result<bool> {
        let repo = repo.to_string();
        self.call(move |c| Ok(repo_id(c, &repo)?.is_some())).await
    }

    async fn list_repositories(&self, last: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let last = last.unwrap_or("").to_owned();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![last, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            if gc::claimed(tx, &digest)? {
                return Ok(false);
            }
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            quota::check(tx, quota::project_of(&repo), &digest, size)?;
            let id = ensure_repo(tx, &repo)?;
            tx.prepare_cached(
                "INSERT INTO blob_links (repository_id, digest, size, linked_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (repository_id, digest)
                 DO UPDATE SET size = excluded.size, linked_at = excluded.linked_at",
            )?
            .execute(params![id, digest, size, now_ms()])?;
            Ok(true)
        })
        .await
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Option<u64>> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.call(move |c| {
            let size: Option<i64> = c
                .prepare_cached(
                    "SELECT b.size FROM blob_links b JOIN repositories r ON r.id = b.repository_id
                     WHERE r.name = ?1 AND b.digest = ?2",
                )?
                .query_row([repo, digest], |r| r.get(0))
                .optional()?;
            Ok(size.map(|s| s as u64))
        })
        .await
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM blob_links WHERE digest = ?2
                     AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
                )?
                .execute([&repo, &digest])?;
            Ok(n > 0)
        })
        .await
    }

    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        record: &ManifestRecord,
        tag: Option<&Tag>,
        required: &[Digest],
    ) -> Result<StorageCharge> {
        let repo = repo.to_string();
        let record = record.clone();
        let tag = tag.map(|t| t.to_string());
        let required: Vec<String> = required.iter().map(|d| d.to_string()).collect();
        let annotations = serde_json::to_string(&record.annotations)
            .map_err(|e| StorageError::encoding("annotations do not encode", e))?;
        let outcome = self.write_content(move |tx| {
            if let Some(missing) = gc::first_missing(tx, repo_id(tx, &repo)?, &required)? {
                return Ok(Err(missing.clone()));
            }
            let id = ensure_repo(tx, &repo)?;
            let digest = record.digest.to_string();
            tx.prepare_cached(
                "INSERT OR IGNORE INTO manifests
                 (repository_id, digest, media_type, payload, subject, artifact_type, annotations, pushed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                digest,
                record.media_type,
                &record.payload[..],
                record.subject.as_ref().map(|s| s.to_string()),
                record.artifact_type,
                annotations,
                to_ms(record.pushed_at),
            ])?;
            let mut refs = tx.prepare_cached(
                "INSERT OR IGNORE INTO manifest_references (repository_id, manifest_digest, reference)
                 VALUES (?1, ?2, ?3)",
            )?;
            for r in &record.references {
                refs.execute(params![id, digest, r.to_string()])?;
            }
            if let Some(tag) = tag {
                tx.prepare_cached(
                    "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                )?
                .execute(params![id, tag, digest, now_ms()])?;
            }
            // Last, as in PostgreSQL, where the quota row is the last lock.
            let project = quota::project_of(&repo);
            let mut items = Vec::new();
            for d in quota::uncounted(tx, project, required.iter().map(String::as_str).chain([digest.as_str()]))? {
                items.push((d, quota::held_size(tx, id, d)?));
            }
            Ok(Ok(quota::charge(tx, project, &items)?))
        })
        .await?;
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
        let repo = repo.to_string();
        if let Some(hit) = self.cache.manifest(&repo, digest) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let digest = digest.clone();
        let name = repo.clone();
        let found = self.call(move |c| {
            let Some(id) = repo_id(c, &repo)? else {
                return Ok(None);
            };
            let key = digest.to_string();
            type Row = (String, Vec<u8>, Option<String>, Option<String>, String, i64);
            let row: Option<Row> = c
                .prepare_cached(
                    "SELECT media_type, payload, subject, artifact_type, annotations, pushed_at
                     FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                )?
                .query_row(params![id, key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .optional()?;
            let Some((media_type, payload, subject, artifact_type, annotations, pushed_at)) = row else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "SELECT reference FROM manifest_references WHERE repository_id = ?1 AND manifest_digest = ?2
                 ORDER BY reference",
            )?;
            let references = stmt
                .query_map(params![id, key], |r| r.get::<_, String>(0))?
                .map(|r| parse_digest(&r?))
                .collect::<Result<Vec<_>, _>>()?;
            let annotations: BTreeMap<String, String> = serde_json::from_str(&annotations)
                .map_err(|e| StorageError::encoding(format!("annotations of {key}"), e))?;
            Ok(Some(ManifestRecord {
                digest,
                media_type,
                payload: Bytes::from(payload),
                subject: subject.as_deref().map(parse_digest).transpose()?,
                artifact_type,
                annotations,
                references,
                pushed_at: from_ms(pushed_at),
            }))
        })
        .await?;
        if let Some(record) = &found {
            self.cache.put_manifest(generation, &name, record);
        }
        Ok(found)
    }

    async fn resolve_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<Option<Digest>> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        if let Some(hit) = self.cache.tag(&repo, &tag) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let (name, tag_name) = (repo.clone(), tag.clone());
        let found = self
            .call(move |c| {
                let d: Option<String> = c
                    .prepare_cached(
                        "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id
                         WHERE r.name = ?1 AND t.name = ?2",
                    )?
                    .query_row([repo, tag], |r| r.get(0))
                    .optional()?;
                d.as_deref().map(parse_digest).transpose()
            })
            .await?;
        if let Some(d) = &found {
            self.cache.put_tag(generation, &name, &tag_name, d);
        }
        Ok(found)
    }

    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (repo, last) = (repo.to_string(), last.unwrap_or("").to_owned());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
                 WHERE r.name = ?1 AND t.name > ?2 ORDER BY t.name LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![repo, last, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        self.write_content(move |tx| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM tags WHERE name = ?2
                         AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
                )?
                .execute([repo, tag])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write_content(move |tx| {
            let Some(id) = repo_id(tx, &repo)? else {
                return Ok(false);
            };
            let counted = quota::manifest_and_references(tx, id, &digest)?;
            // Tags and references go with it through ON DELETE CASCADE.
            let n = tx
                .prepare_cached("DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2")?
                .execute(params![id, digest])?;
            if n > 0 {
                quota::release(tx, quota::project_of(&repo), &counted)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn referrers(&self, repo: &RepositoryName, subject: &Digest) -> Result<Vec<Descriptor>> {
        let (repo, subject) = (repo.to_string(), subject.to_string());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT m.media_type, m.digest, length(m.payload), m.artifact_type, m.annotations
                 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                 WHERE r.name = ?1 AND m.subject = ?2 ORDER BY m.digest",
            )?;
            let rows = stmt.query_map([repo, subject], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (media_type, digest, size, artifact_type, annotations) = row?;
                let annotations: BTreeMap<String, String> = serde_json::from_str(&annotations)
                    .map_err(|e| StorageError::encoding(format!("annotations of {digest}"), e))?;
                out.push(Descriptor {
                    media_type,
                    digest: parse_digest(&digest)?,
                    size: size as u64,
                    urls: Vec::new(),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    platform: None,
                    artifact_type,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn repositories_with_prefix(
        &self,
        prefix: &str,
        name_contains: Option<&str>,
        page: Page,
    ) -> Result<(Vec<RepositoryInfo>, u64)> {
        let prefix = prefix.to_owned();
        let contains = name_contains.map(str::to_owned);
        self.call(move |c| listing::repositories(c, &prefix, None, contains.as_deref(), page))
            .await
    }

    async fn repository_info(&self, repo: &RepositoryName) -> Result<Option<RepositoryInfo>> {
        let repo = repo.to_string();
        self.call(move |c| {
            let (mut list, _) = listing::repositories(
                c,
                "",
                Some(&repo),
                None,
                Page {
                    page: 1,
                    page_size: 1,
                },
            )?;
            Ok(list.pop())
        })
        .await
    }

    async fn list_artifacts(
        &self,
        repo: &RepositoryName,
        page: Page,
    ) -> Result<(Vec<ArtifactInfo>, u64)> {
        let repo = repo.to_string();
        self.call(move |c| listing::artifacts(c, &repo, page)).await
    }

    async fn artifact(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ArtifactInfo>> {
        let (repo, digest) = (repo.to_string(), digest.clone());
        self.call(move |c| listing::artifact(c, &repo, &digest))
            .await
    }

    async fn record_pulls(&self, pulls: &[(RepositoryName, Digest, SystemTime)]) -> Result<()> {
        let rows: Vec<(String, String, i64)> = pulls
            .iter()
            .map(|(r, d, t)| (r.to_string(), d.to_string(), to_ms(*t)))
            .collect();
        // A plain write: pull times are in no cached lookup, so the read
        // cache stays (a flush every second must not empty it).
        self.write(move |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE manifests SET pulled_at = max(COALESCE(pulled_at, 0), ?3)
                 WHERE digest = ?2
                 AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
            )?;
            for (repo, digest, at) in &rows {
                st.execute(params![repo, digest, at])?;
            }
            Ok(())
        })
        .await
    }

    async fn create_upload(&self, session: &UploadSession) -> Result<()> {
        let s = session.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO upload_sessions (id, repository, started_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![s.id, s.repository.as_str(), to_ms(s.started_at)])?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<UploadSession>> {
        let id = id.to_owned();
        self.call(move |c| {
            let row: Option<(String, i64)> = c
                .prepare_cached("SELECT repository, started_at FROM upload_sessions WHERE id = ?1")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(repo, started)| {
                Ok(UploadSession {
                    repository: RepositoryName::parse(&repo).map_err(|_| {
                        StorageError::Corrupt(format!("bad repository name {repo:?}"))
                    })?,
                    id,
                    started_at: from_ms(started),
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM upload_sessions WHERE id = ?1")?
                .execute([id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn uploads_started_before(&self, before: SystemTime) -> Result<Vec<UploadSession>> {
        let before = to_ms(before);
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, repository, started_at FROM upload_sessions WHERE started_at < ?1 ORDER BY started_at",
            )?;
            let rows = stmt.query_map([before], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, repo, started) = row?;
                out.push(UploadSession {
                    id,
                    repository: RepositoryName::parse(&repo)
                        .map_err(|_| StorageError::Corrupt(format!("bad repository name {repo:?}")))?,
                    started_at: from_ms(started),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn pin_upload(&self, id: &str, digest: &Digest) -> Result<bool> {
        let (session, digest) = (id.to_owned(), digest.to_string());
        let pinned = self
            .write(move |tx| {
                if gc::claimed(tx, &digest)? {
                    return Ok(Some(false));
                }
                let n = tx
                    .prepare_cached("UPDATE upload_sessions SET digest = ?2 WHERE id = ?1")?
                    .execute([&session, &digest])?;
                Ok((n > 0).then_some(true))
            })
            .await?;
        pinned.ok_or_else(|| upload_unknown(id))
    }

    async fn untagged_manifests(
        &self,
        cutoff: SystemTime,
        after: Option<&(RepositoryName, Digest)>,
        limit: usize,
    ) -> Result<Vec<(RepositoryName, Digest)>> {
        let cutoff = to_ms(cutoff);
        let after = after.map(|(r, d)| (r.to_string(), d.to_string()));
        self.call(move |c| gc::untagged_page(c, cutoff, after, limit))
            .await
    }

    async fn delete_untagged_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        cutoff: SystemTime,
    ) -> Result<bool> {
        let (repo, digest, cutoff) = (repo.to_string(), digest.to_string(), to_ms(cutoff));
        self.write_content(move |tx| gc::delete_untagged(tx, &repo, &digest, cutoff))
            .await
    }

    async fn empty_repositories(
        &self,
        cutoff: SystemTime,
        after: Option<&RepositoryName>,
        limit: usize,
        ignoring_untagged: bool,
    ) -> Result<Vec<RepositoryName>> {
        let (cutoff, after) = (
            to_ms(cutoff),
            after.map(|r| r.to_string()).unwrap_or_default(),
        );
        self.call(move |c| gc::empty_page(c, cutoff, &after, limit, ignoring_untagged))
            .await
    }

    async fn delete_empty_repository(
        &self,
        repo: &RepositoryName,
        cutoff: SystemTime,
    ) -> Result<bool> {
        let (repo, cutoff) = (repo.to_string(), to_ms(cutoff));
        self.write(move |tx| gc::delete_empty(tx, &repo, cutoff))
            .await
    }

    async fn unreferenced_blobs(
        &self,
        digests: &[Digest],
        cutoff: SystemTime,
        ignoring_untagged: bool,
    ) -> Result<Vec<Digest>> {
        let digests = digests.to_vec();
        let cutoff = to_ms(cutoff);
        self.call(move |c| {
            let mut out = Vec::new();
            for d in digests {
                if gc::claimable(c, &d.to_string(), cutoff, ignoring_untagged)? {
                    out.push(d);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn claim_blobs(&self, digests: &[Digest], cutoff: SystemTime) -> Result<Vec<Digest>> {
        let digests = digests.to_vec();
        let cutoff = to_ms(cutoff);
        self.write(move |tx| {
            let now = now_ms();
            let mut out = Vec::new();
            for d in digests {
                if gc::claim(tx, &d.to_string(), cutoff, now)? {
                    out.push(d);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn blob_claims(&self, limit: usize) -> Result<Vec<Digest>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT digest FROM blob_claims ORDER BY digest LIMIT ?1")?;
            let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(parse_digest(&row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn release_blob_claims(&self, digests: &[Digest]) -> Result<()> {
        let digests: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM blob_claims WHERE digest = ?1")?;
            for d in &digests {
                stmt.execute([d])?;
            }
            Ok(())
        })
        .await
    }
}
