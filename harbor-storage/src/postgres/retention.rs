//! `RetentionStore` for `PgStore`. Times come from the server's clock.

use async_trait::async_trait;
use harbor_core::{
    JobTrigger, NewRetentionExecution, Page, PolicySpec, Result, RetentionExecution,
    RetentionPolicy, RetentionStatus, RetentionStore, RetentionTask,
};
use tokio_postgres::Row;

use super::{from_ms, parsed, pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};
use crate::retention_sql as sql;

const POLICY: &str = "SELECT id, project_id, rules, schedule FROM retention_policies";
const EXECUTION_COLUMNS: &str =
    "id, policy_id, trigger_kind, dry_run, status, stop_requested, start_time, end_time";
const TASK_COLUMNS: &str =
    "id, execution_id, repository, status, total, retained, start_time, end_time";

fn policy(r: &Row) -> Result<RetentionPolicy, StorageError> {
    let rules: String = r.try_get(2)?;
    sql::policy(r.try_get(0)?, r.try_get(1)?, &rules, r.try_get(3)?)
}

fn execution(r: &Row) -> Result<RetentionExecution, StorageError> {
    Ok(RetentionExecution {
        id: r.try_get(0)?,
        policy_id: r.try_get(1)?,
        trigger: parsed("trigger", JobTrigger::parse, r.try_get(2)?)?,
        dry_run: r.try_get(3)?,
        status: parsed("status", RetentionStatus::parse, r.try_get(4)?)?,
        stop_requested: r.try_get(5)?,
        start_time: from_ms(r.try_get(6)?),
        end_time: r.try_get::<_, Option<i64>>(7)?.map(from_ms),
    })
}

fn task(r: &Row) -> Result<RetentionTask, StorageError> {
    Ok(RetentionTask {
        id: r.try_get(0)?,
        execution_id: r.try_get(1)?,
        repository: r.try_get(2)?,
        status: parsed("status", RetentionStatus::parse, r.try_get(3)?)?,
        total: unsigned(r.try_get(4)?),
        retained: unsigned(r.try_get(5)?),
        start_time: from_ms(r.try_get(6)?),
        end_time: r.try_get::<_, Option<i64>>(7)?.map(from_ms),
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl RetentionStore for PgStore {
    async fn create_retention_policy(&self, spec: &PolicySpec) -> Result<RetentionPolicy> {
        let (project_id, rules, schedule) = (
            spec.project_id,
            sql::rules_json(spec),
            spec.schedule.clone(),
        );
        let outcome = pg!(self, write, |tx| {
            let exists = tx
                .prepare_cached("SELECT id FROM projects WHERE id = $1")
                .await?;
            if tx.query_opt(&exists, &[&project_id]).await?.is_none() {
                Err(sql::no_project(project_id))
            } else {
                let st = tx
                    .prepare_cached(
                        "INSERT INTO retention_policies (project_id, rules, schedule, created_at, updated_at)
                         VALUES ($1, $2, $3, harbor_now_ms(), harbor_now_ms())
                         RETURNING id, project_id, rules, schedule",
                    )
                    .await?;
                let row = tx
                    .query_one(&st, &[&project_id, &rules, &schedule])
                    .await
                    .map_err(|e| pg_conflict(e, sql::duplicate))?;
                Ok(policy(&row)?)
            }
        })?;
        outcome
    }

    async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicy>> {
        self.read_one(format!("{POLICY} WHERE id = $1"), &[&id], policy)
            .await
    }

    async fn retention_policy_of_project(
        &self,
        project_id: i64,
    ) -> Result<Option<RetentionPolicy>> {
        self.read_one(
            format!("{POLICY} WHERE project_id = $1"),
            &[&project_id],
            policy,
        )
        .await
    }

    async fn update_retention_policy(&self, id: i64, spec: &PolicySpec) -> Result<bool> {
        let (rules, schedule) = (sql::rules_json(spec), spec.schedule.clone());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE retention_policies SET rules = $2, schedule = $3,
                     updated_at = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &rules, &schedule]).await? > 0
        })
    }

    async fn delete_retention_policy(&self, id: i64) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("DELETE FROM retention_policies WHERE id = $1")
                .await?;
            c.execute(&st, &[&id]).await? > 0
        })
    }

    async fn scheduled_retention_policies(&self) -> Result<Vec<RetentionPolicy>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "{POLICY} WHERE schedule IS NOT NULL AND schedule <> '' ORDER BY id"
                ))
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(policy)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn create_retention_execution(
        &self,
        new: &NewRetentionExecution,
    ) -> Result<RetentionExecution> {
        let trigger = new.trigger.as_str();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO retention_executions (policy_id, trigger_kind, dry_run, status, start_time)
                     VALUES ($1, $2, $3, 'InProgress', harbor_now_ms()) RETURNING {EXECUTION_COLUMNS}"
                ))
                .await?;
            execution(
                &c.query_one(&st, &[&new.policy_id, &trigger, &new.dry_run])
                    .await?,
            )?
        })
    }

    async fn retention_execution(&self, id: i64) -> Result<Option<RetentionExecution>> {
        self.read_one(
            format!("SELECT {EXECUTION_COLUMNS} FROM retention_executions WHERE id = $1"),
            &[&id],
            execution,
        )
        .await
    }

    async fn list_retention_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionExecution>, u64)> {
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM retention_executions WHERE policy_id = $1")
                .await?;
            let total: i64 = tx.query_one(&count, &[&policy_id]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM retention_executions WHERE policy_id = $1
                     ORDER BY id DESC LIMIT $2 OFFSET $3"
                ))
                .await?;
            let list = tx
                .query(&st, &[&policy_id, &sql_limit(page), &sql_offset(page)])
                .await?
                .iter()
                .map(execution)
                .collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn unfinished_retention_executions(&self) -> Result<Vec<RetentionExecution>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM retention_executions
                     WHERE status = 'InProgress' ORDER BY id"
                ))
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(execution)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn finish_retention_execution(&self, id: i64, status: RetentionStatus) -> Result<bool> {
        let status = status.as_str();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE retention_executions SET status = $2, end_time = harbor_now_ms()
                     WHERE id = $1 AND status = 'InProgress'",
                )
                .await?;
            c.execute(&st, &[&id, &status]).await? > 0
        })
    }

    async fn request_retention_stop(&self, id: i64) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE retention_executions SET stop_requested = TRUE
                     WHERE id = $1 AND status = 'InProgress'",
                )
                .await?;
            c.execute(&st, &[&id]).await? > 0
        })
    }

    async fn create_retention_task(
        &self,
        execution_id: i64,
        repository: &str,
    ) -> Result<RetentionTask> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO retention_tasks (execution_id, repository, status, start_time)
                     VALUES ($1, $2, 'InProgress', harbor_now_ms()) RETURNING {TASK_COLUMNS}"
                ))
                .await?;
            task(&c.query_one(&st, &[&execution_id, &repository]).await?)?
        })
    }

    async fn finish_retention_task(
        &self,
        id: i64,
        status: RetentionStatus,
        total: u64,
        retained: u64,
    ) -> Result<bool> {
        let (status, total, retained) = (status.as_str(), count(total), count(retained));
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE retention_tasks SET status = $2, total = $3, retained = $4,
                     end_time = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &status, &total, &retained]).await? > 0
        })
    }

    async fn retention_task(&self, id: i64) -> Result<Option<RetentionTask>> {
        self.read_one(
            format!("SELECT {TASK_COLUMNS} FROM retention_tasks WHERE id = $1"),
            &[&id],
            task,
        )
        .await
    }

    async fn list_retention_tasks(
        &self,
        execution_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionTask>, u64)> {
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM retention_tasks WHERE execution_id = $1")
                .await?;
            let total: i64 = tx.query_one(&count, &[&execution_id]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM retention_tasks WHERE execution_id = $1
                     ORDER BY id LIMIT $2 OFFSET $3"
                ))
                .await?;
            let list = tx
                .query(&st, &[&execution_id, &sql_limit(page), &sql_offset(page)])
                .await?
                .iter()
                .map(task)
                .collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn append_retention_task_log(&self, id: i64, text: &str) -> Result<()> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("UPDATE retention_tasks SET log = log || $2 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &text]).await?;
        })
    }

    async fn retention_task_log(&self, id: i64) -> Result<Option<String>> {
        self.read_one(
            "SELECT log FROM retention_tasks WHERE id = $1".to_owned(),
            &[&id],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }
}
