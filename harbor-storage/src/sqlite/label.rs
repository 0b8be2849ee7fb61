//! `LabelStore` for `SqliteMetaStore`. An artifact's labels reference its
//! manifest row, so that deleting the artifact (by any path: the API, GC,
//! retention) takes them with it.

use async_trait::async_trait;
use harbor_core::{Digest, Label, LabelScope, LabelStore, Page, RepositoryName, Result};
use rusqlite::{params, OptionalExtension, Row};

use super::{
    from_ms, now_ms, parse_digest, parsed, repo_id, sql_limit, sql_offset, SqliteMetaStore,
};
use crate::error::{conflict_on_unique, StorageError};

const COLUMNS: &str = "id, name, description, color, scope, project_id, created_at, updated_at";

fn label_row(r: &Row<'_>) -> rusqlite::Result<Label> {
    Ok(Label {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        color: r.get(3)?,
        scope: parsed(LabelScope::parse, r.get(4)?)?,
        project_id: r.get(5)?,
        creation_time: from_ms(r.get(6)?),
        update_time: from_ms(r.get(7)?),
    })
}

fn taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a label named {name:?} already exists in its scope")
}

#[async_trait]
impl LabelStore for SqliteMetaStore {
    async fn create_label(&self, l: &Label) -> Result<Label> {
        let l = l.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![l.name, l.description, l.color, l.scope.as_str(), l.project_id, now_ms()])
            .map_err(|e| conflict_on_unique(e, taken(&l.name)))?;
            let id = tx.last_insert_rowid();
            Ok(tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM labels WHERE id = ?1"))?
                .query_row([id], label_row)?)
        })
        .await
    }

    async fn label(&self, id: i64) -> Result<Option<Label>> {
        self.call(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM labels WHERE id = ?1"))?
                    .query_row([id], label_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn labels(
        &self,
        scope: LabelScope,
        project_id: Option<i64>,
        name: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Label>, u64)> {
        let name = name.map(|n| {
            format!(
                "%{}%",
                n.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        self.call(move |c| {
            let filter = "scope = ?1 AND (?2 IS NULL OR project_id = ?2)
                          AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\')";
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM labels WHERE {filter}"))?
                .query_row(params![scope.as_str(), project_id, name], |r| r.get(0))?;
            let list = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM labels WHERE {filter} ORDER BY id LIMIT ?4 OFFSET ?5"
                ))?
                .query_map(
                    params![
                        scope.as_str(),
                        project_id,
                        name,
                        sql_limit(page),
                        sql_offset(page)
                    ],
                    label_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((list, total.max(0) as u64))
        })
        .await
    }

    async fn update_label(&self, l: &Label) -> Result<bool> {
        let l = l.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE labels SET name = ?2, description = ?3, color = ?4, updated_at = ?5
                     WHERE id = ?1",
                )?
                .execute(params![l.id, l.name, l.description, l.color, now_ms()])
                .map_err(|e| conflict_on_unique(e, taken(&l.name)))?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_label(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM labels WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn add_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let held = match repo_id(tx, &repo)? {
                Some(id) => tx
                    .prepare_cached(
                        "SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                    )?
                    .query_row(params![id, digest], |_| Ok(id))
                    .optional()?,
                None => None,
            };
            let Some(repository_id) = held else {
                return Err(StorageError::NotFound(format!(
                    "artifact {repo}@{digest} not found"
                )));
            };
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO artifact_labels (repository_id, digest, label_id, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![repository_id, digest, label_id, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn remove_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let Some(repository_id) = repo_id(tx, &repo)? else {
                return Ok(false);
            };
            Ok(tx
                .prepare_cached(
                    "DELETE FROM artifact_labels
                     WHERE repository_id = ?1 AND digest = ?2 AND label_id = ?3",
                )?
                .execute(params![repository_id, digest, label_id])?
                > 0)
        })
        .await
    }

    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Label)>> {
        let repo = repo.to_string();
        let digests: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        self.call(move |c| {
            let Some(repository_id) = repo_id(c, &repo)? else {
                return Ok(Vec::new());
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT a.digest, {} FROM artifact_labels a JOIN labels l ON l.id = a.label_id
                 WHERE a.repository_id = ?1 AND a.digest = ?2 ORDER BY l.id",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("l.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let mut out = Vec::new();
            for d in &digests {
                let rows = stmt.query_map(params![repository_id, d], |r| {
                    let digest: String = r.get(0)?;
                    let label = Label {
                        id: r.get(1)?,
                        name: r.get(2)?,
                        description: r.get(3)?,
                        color: r.get(4)?,
                        scope: parsed(LabelScope::parse, r.get(5)?)?,
                        project_id: r.get(6)?,
                        creation_time: from_ms(r.get(7)?),
                        update_time: from_ms(r.get(8)?),
                    };
                    Ok((digest, label))
                })?;
                for row in rows {
                    let (digest, label) = row?;
                    out.push((parse_digest(&digest)?, label));
                }
            }
            Ok(out)
        })
        .await
    }
}
