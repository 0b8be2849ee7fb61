//! `ImmutableRuleStore` for `PgStore`.

use async_trait::async_trait;
use harbor_core::immutable::MAX_RULES_PER_PROJECT;
use harbor_core::{ImmutableRule, ImmutableRuleStore, Page, Result, RuleSpec};
use tokio_postgres::Row;

use super::{pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};
use crate::immutable_sql::{self as sql, RuleRow, COLUMNS};

fn rule(r: &Row) -> Result<ImmutableRule, StorageError> {
    sql::rule(RuleRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        priority: r.try_get(2)?,
        disabled: r.try_get(3)?,
        repo_decoration: r.try_get(4)?,
        repo_pattern: r.try_get(5)?,
        tag_decoration: r.try_get(6)?,
        tag_pattern: r.try_get(7)?,
    })
}

#[async_trait]
impl ImmutableRuleStore for PgStore {
    async fn create_immutable_rule(
        &self,
        project_id: i64,
        spec: &RuleSpec,
    ) -> Result<ImmutableRule> {
        let [rd, rp, td, tp] = sql::selectors(spec);
        let insert = format!(
            "INSERT INTO immutable_rules (project_id, priority, disabled,
             repo_decoration, repo_pattern, tag_decoration, tag_pattern)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let outcome = pg!(self, write, |tx| {
            // The project's row lock orders creations in one project, so
            // that two instances never both pass the limit.
            let lock = tx
                .prepare_cached("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
                .await?;
            if tx.query_opt(&lock, &[&project_id]).await?.is_none() {
                Err(sql::no_project(project_id))
            } else {
                let count = tx
                    .prepare_cached("SELECT count(*) FROM immutable_rules WHERE project_id = $1")
                    .await?;
                let n: i64 = tx.query_one(&count, &[&project_id]).await?.try_get(0)?;
                if unsigned(n) >= MAX_RULES_PER_PROJECT {
                    Err(sql::too_many())
                } else {
                    let st = tx.prepare_cached(&insert).await?;
                    let row = tx
                        .query_one(
                            &st,
                            &[
                                &project_id,
                                &spec.priority,
                                &spec.disabled,
                                &rd,
                                &rp,
                                &td,
                                &tp,
                            ],
                        )
                        .await
                        .map_err(|e| pg_conflict(e, sql::duplicate))?;
                    Ok(rule(&row)?)
                }
            }
        })?;
        outcome
    }

    async fn immutable_rule(&self, project_id: i64, id: i64) -> Result<Option<ImmutableRule>> {
        let select =
            format!("SELECT {COLUMNS} FROM immutable_rules WHERE id = $1 AND project_id = $2");
        pg!(self, single, |c| {
            let st = c.prepare_cached(&select).await?;
            match c.query_opt(&st, &[&id, &project_id]).await? {
                Some(r) => Some(rule(&r)?),
                None => None,
            }
        })
    }

    async fn list_immutable_rules(
        &self,
        project_id: i64,
        page: Page,
    ) -> Result<(Vec<ImmutableRule>, u64)> {
        let select = format!(
            "SELECT {COLUMNS} FROM immutable_rules WHERE project_id = $1
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM immutable_rules WHERE project_id = $1")
                .await?;
            let total: i64 = tx.query_one(&count, &[&project_id]).await?.try_get(0)?;
            let st = tx.prepare_cached(&select).await?;
            let rows = tx
                .query(&st, &[&project_id, &sql_limit(page), &sql_offset(page)])
                .await?;
            let rules = rows.iter().map(rule).collect::<Result<Vec<_>, _>>()?;
            (rules, unsigned(total))
        })
    }

    async fn update_immutable_rule(
        &self,
        project_id: i64,
        id: i64,
        spec: &RuleSpec,
    ) -> Result<bool> {
        let [rd, rp, td, tp] = sql::selectors(spec);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE immutable_rules SET priority = $3, disabled = $4,
                     repo_decoration = $5, repo_pattern = $6, tag_decoration = $7, tag_pattern = $8
                     WHERE id = $1 AND project_id = $2",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &id,
                    &project_id,
                    &spec.priority,
                    &spec.disabled,
                    &rd,
                    &rp,
                    &td,
                    &tp,
                ],
            )
            .await
            .map_err(|e| pg_conflict(e, sql::duplicate))?
                > 0
        })
    }

    async fn set_immutable_rule_disabled(
        &self,
        project_id: i64,
        id: i64,
        disabled: bool,
    ) -> Result<bool> {
        self.touched(
            "UPDATE immutable_rules SET disabled = $3 WHERE id = $1 AND project_id = $2",
            &[&id, &project_id, &disabled],
        )
        .await
    }

    async fn delete_immutable_rule(&self, project_id: i64, id: i64) -> Result<bool> {
        self.touched(
            "DELETE FROM immutable_rules WHERE id = $1 AND project_id = $2",
            &[&id, &project_id],
        )
        .await
    }

    async fn immutable_rules_of(&self, project: &str) -> Result<Vec<ImmutableRule>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT r.id, r.project_id, r.priority, r.disabled, r.repo_decoration,
                     r.repo_pattern, r.tag_decoration, r.tag_pattern
                     FROM immutable_rules r JOIN projects p ON p.id = r.project_id
                     WHERE p.name = $1 ORDER BY r.id",
                )
                .await?;
            let rows = c.query(&st, &[&project]).await?;
            rows.iter().map(rule).collect::<Result<Vec<_>, _>>()?
        })
    }
}
