//! `RetentionStore` for `SqliteMetaStore`.

use async_trait::async_trait;
use harbor_core::{
    JobTrigger, NewRetentionExecution, Page, PolicySpec, Result, RetentionExecution,
    RetentionPolicy, RetentionStatus, RetentionStore, RetentionTask,
};
use rusqlite::{params, OptionalExtension, Row};

use super::{from_ms, now_ms, parsed, sql_limit, sql_offset, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};
use crate::retention_sql as sql;

const POLICY: &str = "SELECT id, project_id, rules, schedule FROM retention_policies";
const EXECUTION: &str = "SELECT id, policy_id, trigger_kind, dry_run, status, stop_requested,
     start_time, end_time FROM retention_executions";
const TASK: &str = "SELECT id, execution_id, repository, status, total, retained, start_time,
     end_time FROM retention_tasks";

type PolicyRow = (i64, i64, String, Option<String>);

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn policy(row: PolicyRow) -> Result<RetentionPolicy, StorageError> {
    sql::policy(row.0, row.1, &row.2, row.3)
}

fn execution(r: &Row<'_>) -> rusqlite::Result<RetentionExecution> {
    Ok(RetentionExecution {
        id: r.get(0)?,
        policy_id: r.get(1)?,
        trigger: parsed(JobTrigger::parse, r.get(2)?)?,
        dry_run: r.get(3)?,
        status: parsed(RetentionStatus::parse, r.get(4)?)?,
        stop_requested: r.get(5)?,
        start_time: from_ms(r.get(6)?),
        end_time: r.get::<_, Option<i64>>(7)?.map(from_ms),
    })
}

fn task(r: &Row<'_>) -> rusqlite::Result<RetentionTask> {
    Ok(RetentionTask {
        id: r.get(0)?,
        execution_id: r.get(1)?,
        repository: r.get(2)?,
        status: parsed(RetentionStatus::parse, r.get(3)?)?,
        total: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        retained: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        start_time: from_ms(r.get(6)?),
        end_time: r.get::<_, Option<i64>>(7)?.map(from_ms),
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl RetentionStore for SqliteMetaStore {
    async fn create_retention_policy(&self, spec: &PolicySpec) -> Result<RetentionPolicy> {
        let (project_id, rules, schedule) = (
            spec.project_id,
            sql::rules_json(spec),
            spec.schedule.clone(),
        );
        self.write(move |tx| {
            let project: Option<i64> = tx
                .prepare_cached("SELECT id FROM projects WHERE id = ?1")?
                .query_row([project_id], |r| r.get(0))
                .optional()?;
            if project.is_none() {
                return Ok(Err(sql::no_project(project_id)));
            }
            let now = now_ms();
            let row = tx
                .prepare_cached(
                    "INSERT INTO retention_policies (project_id, rules, schedule, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id, project_id, rules, schedule",
                )?
                .query_row(params![project_id, rules, schedule, now], policy_row)
                .map_err(|e| conflict_on_unique(e, sql::duplicate))?;
            Ok(Ok(policy(row)?))
        })
        .await?
    }

    async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicy>> {
        self.call(move |c| {
            let row = c
                .prepare_cached(&format!("{POLICY} WHERE id = ?1"))?
                .query_row([id], policy_row)
                .optional()?;
            row.map(policy).transpose()
        })
        .await
    }

    async fn retention_policy_of_project(
        &self,
        project_id: i64,
    ) -> Result<Option<RetentionPolicy>> {
        self.call(move |c| {
            let row = c
                .prepare_cached(&format!("{POLICY} WHERE project_id = ?1"))?
                .query_row([project_id], policy_row)
                .optional()?;
            row.map(policy).transpose()
        })
        .await
    }

    async fn update_retention_policy(&self, id: i64, spec: &PolicySpec) -> Result<bool> {
        let (rules, schedule) = (sql::rules_json(spec), spec.schedule.clone());
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE retention_policies SET rules = ?2, schedule = ?3, updated_at = ?4
                     WHERE id = ?1",
                )?
                .execute(params![id, rules, schedule, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_retention_policy(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM retention_policies WHERE id = ?1")?
                .execute([id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn scheduled_retention_policies(&self) -> Result<Vec<RetentionPolicy>> {
        self.call(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "{POLICY} WHERE schedule IS NOT NULL AND schedule != '' ORDER BY id"
                ))?
                .query_map([], policy_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(policy).collect()
        })
        .await
    }

    async fn create_retention_execution(
        &self,
        new: &NewRetentionExecution,
    ) -> Result<RetentionExecution> {
        let new = *new;
        self.write(move |tx| {
            Ok(tx
                .prepare_cached(
                    "INSERT INTO retention_executions (policy_id, trigger_kind, dry_run, status, start_time)
                     VALUES (?1, ?2, ?3, 'InProgress', ?4)
                     RETURNING id, policy_id, trigger_kind, dry_run, status, stop_requested,
                     start_time, end_time",
                )?
                .query_row(
                    params![new.policy_id, new.trigger.as_str(), new.dry_run, now_ms()],
                    execution,
                )?)
        })
        .await
    }

    async fn retention_execution(&self, id: i64) -> Result<Option<RetentionExecution>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!("{EXECUTION} WHERE id = ?1"))?
                .query_row([id], execution)
                .optional()?)
        })
        .await
    }

    async fn list_retention_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionExecution>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM retention_executions WHERE policy_id = ?1")?
                .query_row([policy_id], |r| r.get(0))?;
            let list = c
                .prepare_cached(&format!(
                    "{EXECUTION} WHERE policy_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(
                    params![policy_id, sql_limit(page), sql_offset(page)],
                    execution,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((list, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn unfinished_retention_executions(&self) -> Result<Vec<RetentionExecution>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "{EXECUTION} WHERE status = 'InProgress' ORDER BY id"
            ))?
            .query_map([], execution)?
            .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn finish_retention_execution(&self, id: i64, status: RetentionStatus) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE retention_executions SET status = ?2, end_time = ?3
                     WHERE id = ?1 AND status = 'InProgress'",
                )?
                .execute(params![id, status.as_str(), now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn request_retention_stop(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE retention_executions SET stop_requested = 1
                     WHERE id = ?1 AND status = 'InProgress'",
                )?
                .execute([id])?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_retention_task(
        &self,
        execution_id: i64,
        repository: &str,
    ) -> Result<RetentionTask> {
        let repository = repository.to_owned();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached(
                    "INSERT INTO retention_tasks (execution_id, repository, status, start_time)
                     VALUES (?1, ?2, 'InProgress', ?3)
                     RETURNING id, execution_id, repository, status, total, retained,
                     start_time, end_time",
                )?
                .query_row(params![execution_id, repository, now_ms()], task)?)
        })
        .await
    }

    async fn finish_retention_task(
        &self,
        id: i64,
        status: RetentionStatus,
        total: u64,
        retained: u64,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE retention_tasks SET status = ?2, total = ?3, retained = ?4,
                     end_time = ?5 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    status.as_str(),
                    count(total),
                    count(retained),
                    now_ms()
                ])?;
            Ok(n > 0)
        })
        .await
    }

    async fn retention_task(&self, id: i64) -> Result<Option<RetentionTask>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!("{TASK} WHERE id = ?1"))?
                .query_row([id], task)
                .optional()?)
        })
        .await
    }

    async fn list_retention_tasks(
        &self,
        execution_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionTask>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM retention_tasks WHERE execution_id = ?1")?
                .query_row([execution_id], |r| r.get(0))?;
            let list = c
                .prepare_cached(&format!(
                    "{TASK} WHERE execution_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(
                    params![execution_id, sql_limit(page), sql_offset(page)],
                    task,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((list, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn append_retention_task_log(&self, id: i64, text: &str) -> Result<()> {
        let text = text.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("UPDATE retention_tasks SET log = log || ?2 WHERE id = ?1")?
                .execute(params![id, text])?;
            Ok(())
        })
        .await
    }

    async fn retention_task_log(&self, id: i64) -> Result<Option<String>> {
        self.call(move |c| {
            Ok(
                c.prepare_cached("SELECT log FROM retention_tasks WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }
}
