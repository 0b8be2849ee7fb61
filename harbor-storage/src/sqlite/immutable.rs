//! `ImmutableRuleStore` for `SqliteMetaStore`.

use async_trait::async_trait;
use harbor_core::immutable::MAX_RULES_PER_PROJECT;
use harbor_core::{ImmutableRule, ImmutableRuleStore, Page, Result, RuleSpec};
use rusqlite::{params, OptionalExtension, Row};

use super::{sql_limit, sql_offset, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};
use crate::immutable_sql::{self as sql, RuleRow, COLUMNS};

fn row(r: &Row<'_>) -> rusqlite::Result<RuleRow> {
    Ok(RuleRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        priority: r.get(2)?,
        disabled: r.get(3)?,
        repo_decoration: r.get(4)?,
        repo_pattern: r.get(5)?,
        tag_decoration: r.get(6)?,
        tag_pattern: r.get(7)?,
    })
}

fn rules(rows: Vec<RuleRow>) -> Result<Vec<ImmutableRule>, StorageError> {
    rows.into_iter().map(sql::rule).collect()
}

#[async_trait]
impl ImmutableRuleStore for SqliteMetaStore {
    async fn create_immutable_rule(
        &self,
        project_id: i64,
        spec: &RuleSpec,
    ) -> Result<ImmutableRule> {
        let (priority, disabled) = (spec.priority, spec.disabled);
        let [rd, rp, td, tp] = sql::selectors(spec);
        // One write transaction at a time: the count and the insert are
        // atomic together.
        self.write(move |tx| {
            let project: Option<i64> = tx
                .prepare_cached("SELECT id FROM projects WHERE id = ?1")?
                .query_row([project_id], |r| r.get(0))
                .optional()?;
            if project.is_none() {
                return Ok(Err(sql::no_project(project_id)));
            }
            let count: i64 = tx
                .prepare_cached("SELECT count(*) FROM immutable_rules WHERE project_id = ?1")?
                .query_row([project_id], |r| r.get(0))?;
            if u64::try_from(count).unwrap_or(0) >= MAX_RULES_PER_PROJECT {
                return Ok(Err(sql::too_many()));
            }
            let r = tx
                .prepare_cached(&format!(
                    "INSERT INTO immutable_rules (project_id, priority, disabled,
                     repo_decoration, repo_pattern, tag_decoration, tag_pattern)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {COLUMNS}"
                ))?
                .query_row(params![project_id, priority, disabled, rd, rp, td, tp], row)
                .map_err(|e| conflict_on_unique(e, sql::duplicate))?;
            Ok(Ok(sql::rule(r)?))
        })
        .await?
    }

    async fn immutable_rule(&self, project_id: i64, id: i64) -> Result<Option<ImmutableRule>> {
        self.call(move |c| {
            let r = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM immutable_rules WHERE id = ?1 AND project_id = ?2"
                ))?
                .query_row([id, project_id], row)
                .optional()?;
            r.map(sql::rule).transpose()
        })
        .await
    }

    async fn list_immutable_rules(
        &self,
        project_id: i64,
        page: Page,
    ) -> Result<(Vec<ImmutableRule>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM immutable_rules WHERE project_id = ?1")?
                .query_row([project_id], |r| r.get(0))?;
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM immutable_rules WHERE project_id = ?1
                     ORDER BY id LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![project_id, sql_limit(page), sql_offset(page)], row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rules(rows)?, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn update_immutable_rule(
        &self,
        project_id: i64,
        id: i64,
        spec: &RuleSpec,
    ) -> Result<bool> {
        let (priority, disabled) = (spec.priority, spec.disabled);
        let [rd, rp, td, tp] = sql::selectors(spec);
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE immutable_rules SET priority = ?3, disabled = ?4,
                     repo_decoration = ?5, repo_pattern = ?6, tag_decoration = ?7, tag_pattern = ?8
                     WHERE id = ?1 AND project_id = ?2",
                )?
                .execute(params![id, project_id, priority, disabled, rd, rp, td, tp])
                .map_err(|e| conflict_on_unique(e, sql::duplicate))?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_immutable_rule_disabled(
        &self,
        project_id: i64,
        id: i64,
        disabled: bool,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE immutable_rules SET disabled = ?3 WHERE id = ?1 AND project_id = ?2",
                )?
                .execute(params![id, project_id, disabled])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_immutable_rule(&self, project_id: i64, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM immutable_rules WHERE id = ?1 AND project_id = ?2")?
                .execute([id, project_id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn immutable_rules_of(&self, project: &str) -> Result<Vec<ImmutableRule>> {
        let project = project.to_owned();
        self.call(move |c| {
            let rows = c
                .prepare_cached(
                    "SELECT r.id, r.project_id, r.priority, r.disabled, r.repo_decoration,
                     r.repo_pattern, r.tag_decoration, r.tag_pattern
                     FROM immutable_rules r JOIN projects p ON p.id = r.project_id
                     WHERE p.name = ?1 ORDER BY r.id",
                )?
                .query_map([project], row)?
                .collect::<Result<Vec<_>, _>>()?;
            rules(rows)
        })
        .await
    }
}
