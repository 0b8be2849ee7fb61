//! `LabelStore` for `PgStore`. An artifact's labels reference its manifest
//! row, so that deleting the artifact (by any path: the API, GC,
//! retention) takes them with it.

use async_trait::async_trait;
use harbor_core::{Digest, Label, LabelScope, LabelStore, Page, RepositoryName, Result};
use tokio_postgres::Row;

use super::{from_ms, parse_digest, parsed, pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};

const COLUMNS: &str =
    "l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at";

fn label_row(r: &Row) -> Result<Label, StorageError> {
    Ok(Label {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        color: r.try_get(3)?,
        scope: parsed("label scope", LabelScope::parse, r.try_get(4)?)?,
        project_id: r.try_get(5)?,
        creation_time: from_ms(r.try_get(6)?),
        update_time: from_ms(r.try_get(7)?),
    })
}

fn taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a label named {name:?} already exists in its scope")
}

#[async_trait]
impl LabelStore for PgStore {
    async fn create_label(&self, l: &Label) -> Result<Label> {
        let sql = format!(
            "INSERT INTO labels AS l (name, description, color, scope, project_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, harbor_now_ms(), harbor_now_ms()) RETURNING {COLUMNS}"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &l.name,
                        &l.description,
                        &l.color,
                        &l.scope.as_str(),
                        &l.project_id,
                    ],
                )
                .await
                .map_err(|e| pg_conflict(e, taken(&l.name)))?;
            label_row(&row)?
        })
    }

    async fn label(&self, id: i64) -> Result<Option<Label>> {
        self.read_one(
            format!("SELECT {COLUMNS} FROM labels l WHERE l.id = $1"),
            &[&id],
            label_row,
        )
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
        let scope = scope.as_str();
        let filter = "l.scope = $1 AND ($2::BIGINT IS NULL OR l.project_id = $2)
                      AND ($3::TEXT IS NULL OR l.name LIKE $3)";
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached(&format!("SELECT count(*) FROM labels l WHERE {filter}"))
                .await?;
            let total: i64 = tx
                .query_one(&count, &[&scope, &project_id, &name])
                .await?
                .try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM labels l WHERE {filter} ORDER BY l.id LIMIT $4 OFFSET $5"
                ))
                .await?;
            let rows = tx
                .query(
                    &st,
                    &[
                        &scope,
                        &project_id,
                        &name,
                        &sql_limit(page),
                        &sql_offset(page),
                    ],
                )
                .await?;
            let list = rows.iter().map(label_row).collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn update_label(&self, l: &Label) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE labels SET name = $2, description = $3, color = $4,
                         updated_at = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&l.id, &l.name, &l.description, &l.color])
                .await
                .map_err(|e| pg_conflict(e, taken(&l.name)))?
                > 0
        })
    }

    async fn delete_label(&self, id: i64) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c.prepare_cached("DELETE FROM labels WHERE id = $1").await?;
            c.execute(&st, &[&id]).await? > 0
        })
    }

    async fn add_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        pg!(self, write, |tx| {
            let find = tx
                .prepare_cached(
                    "SELECT m.repository_id FROM manifests m JOIN repositories r ON r.id = m.repository_id
                     WHERE r.name = $1 AND m.digest = $2 FOR SHARE OF m",
                )
                .await?;
            let Some(row) = tx.query_opt(&find, &[&repo, &digest]).await? else {
                return Err(StorageError::NotFound(format!(
                    "artifact {repo}@{digest} not found"
                )));
            };
            let repository_id: i64 = row.try_get(0)?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO artifact_labels (repository_id, digest, label_id, created_at)
                     VALUES ($1, $2, $3, harbor_now_ms()) ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&st, &[&repository_id, &digest, &label_id])
                .await?
                > 0
        })
    }

    async fn remove_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM artifact_labels a USING repositories r
                     WHERE r.id = a.repository_id AND r.name = $1 AND a.digest = $2
                       AND a.label_id = $3",
                )
                .await?;
            c.execute(&st, &[&repo, &digest, &label_id]).await? > 0
        })
    }

    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Label)>> {
        let repo = repo.as_str();
        let digests: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT a.digest, {COLUMNS} FROM artifact_labels a
                     JOIN repositories r ON r.id = a.repository_id
                     JOIN labels l ON l.id = a.label_id
                     WHERE r.name = $1 AND a.digest = ANY($2) ORDER BY a.digest, l.id"
                ))
                .await?;
            let mut out = Vec::new();
            for row in c.query(&st, &[&repo, &digests]).await? {
                let digest: &str = row.try_get(0)?;
                let digest = parse_digest(digest)?;
                let label = Label {
                    id: row.try_get(1)?,
                    name: row.try_get(2)?,
                    description: row.try_get(3)?,
                    color: row.try_get(4)?,
                    scope: parsed("label scope", LabelScope::parse, row.try_get(5)?)?,
                    project_id: row.try_get(6)?,
                    creation_time: from_ms(row.try_get(7)?),
                    update_time: from_ms(row.try_get(8)?),
                };
                out.push((digest, label));
            }
            out
        })
    }
}
