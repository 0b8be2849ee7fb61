//! `ReplicationStore` for `PgStore`: registry endpoints, policies,
//! executions and their tasks. Task counts are computed on each read, never
//! kept as counters, so instances updating tasks at once cannot lose a count.

use async_trait::async_trait;
use harbor_core::{
    Execution, NewTask, Page, PolicyRecord, RegistryRecord, RegistryType, ReplicationStore, Result,
    RunStatus, TaskOperation, TaskRecord, TriggerKind,
};
use tokio_postgres::Row;

use super::{from_ms, parsed, pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};

const REGISTRY_COLUMNS: &str =
    "id, name, kind, url, credential, insecure, description, created_at, updated_at";
const POLICY_COLUMNS: &str = "id, name, definition, created_at, updated_at";
const EXECUTION_SELECT: &str = "SELECT e.id, e.policy_id, e.trigger, e.status, e.status_text, e.start_time, e.end_time,
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Succeeded'),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Failed'),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status IN ('Pending', 'InProgress')),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Stopped')
    FROM replication_executions e";
const TASK_COLUMNS: &str = "id, execution_id, operation, src_resource, dst_resource, status, attempts, start_time, end_time";

fn registry_row(r: &Row) -> Result<RegistryRecord, StorageError> {
    Ok(RegistryRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: RegistryType::parse(r.try_get(2)?),
        url: r.try_get(3)?,
        credential: r.try_get(4)?,
        insecure: r.try_get(5)?,
        description: r.try_get(6)?,
        created_at: from_ms(r.try_get(7)?),
        updated_at: from_ms(r.try_get(8)?),
    })
}

fn policy_row(r: &Row) -> Result<PolicyRecord, StorageError> {
    Ok(PolicyRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        definition: r.try_get(2)?,
        created_at: from_ms(r.try_get(3)?),
        updated_at: from_ms(r.try_get(4)?),
    })
}

fn execution_row(r: &Row) -> Result<Execution, StorageError> {
    Ok(Execution {
        id: r.try_get(0)?,
        policy_id: r.try_get(1)?,
        trigger: parsed("trigger", TriggerKind::parse, r.try_get(2)?)?,
        status: parsed("status", RunStatus::parse, r.try_get(3)?)?,
        status_text: r.try_get(4)?,
        start_time: from_ms(r.try_get(5)?),
        end_time: r.try_get::<_, Option<i64>>(6)?.map(from_ms),
        total: unsigned(r.try_get(7)?),
        succeeded: unsigned(r.try_get(8)?),
        failed: unsigned(r.try_get(9)?),
        in_progress: unsigned(r.try_get(10)?),
        stopped: unsigned(r.try_get(11)?),
    })
}

fn task_row(r: &Row) -> Result<TaskRecord, StorageError> {
    Ok(TaskRecord {
        id: r.try_get(0)?,
        execution_id: r.try_get(1)?,
        operation: parsed("operation", TaskOperation::parse, r.try_get(2)?)?,
        src_resource: r.try_get(3)?,
        dst_resource: r.try_get(4)?,
        status: parsed("status", RunStatus::parse, r.try_get(5)?)?,
        attempts: u32::try_from(r.try_get::<_, i64>(6)?).unwrap_or(u32::MAX),
        start_time: r.try_get::<_, Option<i64>>(7)?.map(from_ms),
        end_time: r.try_get::<_, Option<i64>>(8)?.map(from_ms),
    })
}

impl PgStore {
    /// Every row of a one-statement read without arguments, in order.
    async fn read_all<T: Send>(
        &self,
        sql: String,
        map: fn(&Row) -> Result<T, StorageError>,
    ) -> Result<Vec<T>> {
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(map)
                .collect::<Result<Vec<_>, _>>()?
        })
    }
}

#[async_trait]
impl ReplicationStore for PgStore {
    async fn create_registry(&self, r: &RegistryRecord) -> Result<RegistryRecord> {
        let sql = format!(
            "INSERT INTO replication_registries (name, kind, url, credential, insecure, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, harbor_now_ms(), harbor_now_ms()) RETURNING {REGISTRY_COLUMNS}"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &r.name,
                        &r.kind.as_str(),
                        &r.url,
                        &r.credential,
                        &r.insecure,
                        &r.description,
                    ],
                )
                .await
                .map_err(|e| {
                    pg_conflict(e, || {
                        format!("a registry named {:?} already exists", r.name)
                    })
                })?;
            registry_row(&row)?
        })
    }

    async fn registry(&self, id: i64) -> Result<Option<RegistryRecord>> {
        let sql = format!("SELECT {REGISTRY_COLUMNS} FROM replication_registries WHERE id = $1");
        self.read_one(sql, &[&id], registry_row).await
    }

    async fn list_registries(&self) -> Result<Vec<RegistryRecord>> {
        let sql = format!("SELECT {REGISTRY_COLUMNS} FROM replication_registries ORDER BY id");
        self.read_all(sql, registry_row).await
    }

    async fn update_registry(&self, r: &RegistryRecord) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE replication_registries SET name = $2, kind = $3, url = $4, credential = $5,
                     insecure = $6, description = $7, updated_at = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &r.id,
                    &r.name,
                    &r.kind.as_str(),
                    &r.url,
                    &r.credential,
                    &r.insecure,
                    &r.description,
                ],
            )
            .await
            .map_err(|e| {
                pg_conflict(e, || {
                    format!("a registry named {:?} already exists", r.name)
                })
            })? > 0
        })
    }

    async fn delete_registry(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM replication_registries WHERE id = $1", &[&id])
            .await
    }

    async fn create_policy(&self, name: &str, definition: &str) -> Result<PolicyRecord> {
        let sql = format!(
            "INSERT INTO replication_policies (name, definition, created_at, updated_at)
             VALUES ($1, $2, harbor_now_ms(), harbor_now_ms()) RETURNING {POLICY_COLUMNS}"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c.query_one(&st, &[&name, &definition]).await.map_err(|e| {
                pg_conflict(e, || format!("a policy named {name:?} already exists"))
            })?;
            policy_row(&row)?
        })
    }

    async fn policy(&self, id: i64) -> Result<Option<PolicyRecord>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = $1");
        self.read_one(sql, &[&id], policy_row).await
    }

    async fn list_policies(&self) -> Result<Vec<PolicyRecord>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM replication_policies ORDER BY id");
        self.read_all(sql, policy_row).await
    }

    async fn update_policy(&self, id: i64, name: &str, definition: &str) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE replication_policies SET name = $2, definition = $3,
                     updated_at = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &name, &definition])
                .await
                .map_err(|e| pg_conflict(e, || format!("a policy named {name:?} already exists")))?
                > 0
        })
    }

    async fn delete_policy(&self, id: i64) -> Result<bool> {
        self.touched("DELETE FROM replication_policies WHERE id = $1", &[&id])
            .await
    }

    async fn create_execution(&self, policy_id: i64, trigger: TriggerKind) -> Result<Execution> {
        let trigger = trigger.as_str();
        let select = format!("{EXECUTION_SELECT} WHERE e.id = $1");
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO replication_executions (policy_id, trigger, status, status_text, start_time)
                     VALUES ($1, $2, 'InProgress', '', harbor_now_ms()) RETURNING id",
                )
                .await?;
            let id: i64 = tx
                .query_one(&st, &[&policy_id, &trigger])
                .await?
                .try_get(0)?;
            let st = tx.prepare_cached(&select).await?;
            execution_row(&tx.query_one(&st, &[&id]).await?)?
        })
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>> {
        let sql = format!("{EXECUTION_SELECT} WHERE e.id = $1");
        self.read_one(sql, &[&id], execution_row).await
    }

    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<Execution>, u64)> {
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached(
                    "SELECT count(*) FROM replication_executions
                     WHERE $1::bigint IS NULL OR policy_id = $1",
                )
                .await?;
            let total: i64 = tx.query_one(&count, &[&policy_id]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "{EXECUTION_SELECT} WHERE $1::bigint IS NULL OR e.policy_id = $1
                     ORDER BY e.id DESC LIMIT $2 OFFSET $3"
                ))
                .await?;
            let rows = tx
                .query(&st, &[&policy_id, &sql_limit(page), &sql_offset(page)])
                .await?;
            let list = rows
                .iter()
                .map(execution_row)
                .collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn unfinished_executions(&self) -> Result<Vec<Execution>> {
        let sql =
            format!("{EXECUTION_SELECT} WHERE e.status IN ('Pending', 'InProgress') ORDER BY e.id");
        self.read_all(sql, execution_row).await
    }

    async fn set_execution_status(&self, id: i64, status: RunStatus, text: &str) -> Result<bool> {
        let is_final = status.is_final();
        self.touched(
            "UPDATE replication_executions SET status = $2, status_text = $3,
             end_time = CASE WHEN $4::boolean THEN harbor_now_ms() END WHERE id = $1",
            &[&id, &status.as_str(), &text, &is_final],
        )
        .await
    }

    async fn create_tasks(&self, execution_id: i64, tasks: &[NewTask]) -> Result<Vec<TaskRecord>> {
        let insert = format!(
            "INSERT INTO replication_tasks (execution_id, operation, src_resource, dst_resource, status, attempts)
             VALUES ($1, $2, $3, $4, 'Pending', 0) RETURNING {TASK_COLUMNS}"
        );
        pg!(self, write, |tx| {
            let st = tx.prepare_cached(&insert).await?;
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                let row = tx
                    .query_one(
                        &st,
                        &[
                            &execution_id,
                            &t.operation.as_str(),
                            &t.src_resource,
                            &t.dst_resource,
                        ],
                    )
                    .await?;
                out.push(task_row(&row)?);
            }
            out
        })
    }

    async fn tasks(&self, execution_id: i64) -> Result<Vec<TaskRecord>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM replication_tasks WHERE execution_id = $1 ORDER BY id"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query(&st, &[&execution_id])
                .await?
                .iter()
                .map(task_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn task(&self, id: i64) -> Result<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM replication_tasks WHERE id = $1");
        self.read_one(sql, &[&id], task_row).await
    }

    async fn set_task_status(&self, id: i64, status: RunStatus, attempts: u32) -> Result<bool> {
        let attempts = i64::from(attempts);
        self.touched(
            "UPDATE replication_tasks SET status = $2, attempts = $3,
             start_time = CASE WHEN $2 = 'InProgress' THEN harbor_now_ms() ELSE start_time END,
             end_time = CASE WHEN $2 IN ('Succeeded', 'Failed', 'Stopped') THEN harbor_now_ms() END
             WHERE id = $1",
            &[&id, &status.as_str(), &attempts],
        )
        .await
    }

    async fn append_task_log(&self, id: i64, line: &str) -> Result<()> {
        // `log || $2` is evaluated on the row as it is when the update
        // takes its lock, so concurrent appends are all kept.
        let line = format!("{}\n", line.trim_end());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("UPDATE replication_tasks SET log = log || $2 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &line]).await?;
        })
    }

    async fn task_log(&self, id: i64) -> Result<Option<String>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("SELECT log FROM replication_tasks WHERE id = $1")
                .await?;
            match c.query_opt(&st, &[&id]).await? {
                Some(row) => Some(row.try_get::<_, String>(0)?),
                None => None,
            }
        })
    }
}
