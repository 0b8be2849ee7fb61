//! `ReplicationStore` for `SqliteMetaStore`.

use async_trait::async_trait;
use harbor_core::{
    Execution, NewTask, Page, PolicyRecord, RegistryRecord, RegistryType, ReplicationStore, Result,
    RunStatus, TaskOperation, TaskRecord, TriggerKind,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{from_ms, now_ms, parsed, sql_limit, sql_offset, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};

const REGISTRY_COLUMNS: &str =
    "id, name, kind, url, credential, insecure, description, created_at, updated_at";
const EXECUTION_SELECT: &str = "SELECT e.id, e.policy_id, e.trigger, e.status, e.status_text, e.start_time, e.end_time,
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Succeeded'),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Failed'),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status IN ('Pending', 'InProgress')),
    (SELECT count(*) FROM replication_tasks t WHERE t.execution_id = e.id AND t.status = 'Stopped')
    FROM replication_executions e";
const TASK_COLUMNS: &str = "id, execution_id, operation, src_resource, dst_resource, status, attempts, start_time, end_time";

fn registry_row(r: &Row<'_>) -> rusqlite::Result<RegistryRecord> {
    Ok(RegistryRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: RegistryType::parse(&r.get::<_, String>(2)?),
        url: r.get(3)?,
        credential: r.get(4)?,
        insecure: r.get(5)?,
        description: r.get(6)?,
        created_at: from_ms(r.get(7)?),
        updated_at: from_ms(r.get(8)?),
    })
}

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRecord> {
    Ok(PolicyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        definition: r.get(2)?,
        created_at: from_ms(r.get(3)?),
        updated_at: from_ms(r.get(4)?),
    })
}

fn execution_row(r: &Row<'_>) -> rusqlite::Result<Execution> {
    Ok(Execution {
        id: r.get(0)?,
        policy_id: r.get(1)?,
        trigger: parsed(TriggerKind::parse, r.get(2)?)?,
        status: parsed(RunStatus::parse, r.get(3)?)?,
        status_text: r.get(4)?,
        start_time: from_ms(r.get(5)?),
        end_time: r.get::<_, Option<i64>>(6)?.map(from_ms),
        total: r.get::<_, i64>(7)? as u64,
        succeeded: r.get::<_, i64>(8)? as u64,
        failed: r.get::<_, i64>(9)? as u64,
        in_progress: r.get::<_, i64>(10)? as u64,
        stopped: r.get::<_, i64>(11)? as u64,
    })
}

fn task_row(r: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        id: r.get(0)?,
        execution_id: r.get(1)?,
        operation: parsed(TaskOperation::parse, r.get(2)?)?,
        src_resource: r.get(3)?,
        dst_resource: r.get(4)?,
        status: parsed(RunStatus::parse, r.get(5)?)?,
        attempts: r.get::<_, i64>(6)? as u32,
        start_time: r.get::<_, Option<i64>>(7)?.map(from_ms),
        end_time: r.get::<_, Option<i64>>(8)?.map(from_ms),
    })
}

fn execution_by_id(c: &Connection, id: i64) -> Result<Option<Execution>, StorageError> {
    Ok(
        c.prepare_cached(&format!("{EXECUTION_SELECT} WHERE e.id = ?1"))?
            .query_row([id], execution_row)
            .optional()?,
    )
}

#[async_trait]
impl ReplicationStore for SqliteMetaStore {
    async fn create_registry(&self, r: &RegistryRecord) -> Result<RegistryRecord> {
        let r = r.clone();
        self.write(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO replication_registries (name, kind, url, credential, insecure, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![r.name, r.kind.as_str(), r.url, r.credential, r.insecure, r.description, now])
            .map_err(|e| conflict_on_unique(e, || format!("a registry named {:?} already exists", r.name)))?;
            let id = tx.last_insert_rowid();
            Ok(tx
                .prepare_cached(&format!("SELECT {REGISTRY_COLUMNS} FROM replication_registries WHERE id = ?1"))?
                .query_row([id], registry_row)?)
        })
        .await
    }

    async fn registry(&self, id: i64) -> Result<Option<RegistryRecord>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {REGISTRY_COLUMNS} FROM replication_registries WHERE id = ?1"
            ))?
            .query_row([id], registry_row)
            .optional()?)
        })
        .await
    }

    async fn list_registries(&self) -> Result<Vec<RegistryRecord>> {
        self.call(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REGISTRY_COLUMNS} FROM replication_registries ORDER BY id"
            ))?;
            let rows = stmt.query_map([], registry_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn update_registry(&self, r: &RegistryRecord) -> Result<bool> {
        let r = r.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE replication_registries SET name = ?2, kind = ?3, url = ?4, credential = ?5, insecure = ?6,
                     description = ?7, updated_at = ?8 WHERE id = ?1",
                )?
                .execute(params![r.id, r.name, r.kind.as_str(), r.url, r.credential, r.insecure, r.description, now_ms()])
                .map_err(|e| conflict_on_unique(e, || format!("a registry named {:?} already exists", r.name)))?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_registry(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM replication_registries WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn create_policy(&self, name: &str, definition: &str) -> Result<PolicyRecord> {
        let (name, definition) = (name.to_owned(), definition.to_owned());
        self.write(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO replication_policies (name, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![name, definition, now])
            .map_err(|e| conflict_on_unique(e, || format!("a policy named {name:?} already exists")))?;
            let id = tx.last_insert_rowid();
            Ok(tx
                .prepare_cached("SELECT id, name, definition, created_at, updated_at FROM replication_policies WHERE id = ?1")?
                .query_row([id], policy_row)?)
        })
        .await
    }

    async fn policy(&self, id: i64) -> Result<Option<PolicyRecord>> {
        self.call(move |c| {
            Ok(c.prepare_cached("SELECT id, name, definition, created_at, updated_at FROM replication_policies WHERE id = ?1")?
                .query_row([id], policy_row)
                .optional()?)
        })
        .await
    }

    async fn list_policies(&self) -> Result<Vec<PolicyRecord>> {
        self.call(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, definition, created_at, updated_at FROM replication_policies ORDER BY id")?;
            let rows = stmt.query_map([], policy_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn update_policy(&self, id: i64, name: &str, definition: &str) -> Result<bool> {
        let (name, definition) = (name.to_owned(), definition.to_owned());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("UPDATE replication_policies SET name = ?2, definition = ?3, updated_at = ?4 WHERE id = ?1")?
                .execute(params![id, name, definition, now_ms()])
                .map_err(|e| conflict_on_unique(e, || format!("a policy named {name:?} already exists")))?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_policy(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM replication_policies WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn create_execution(&self, policy_id: i64, trigger: TriggerKind) -> Result<Execution> {
        let trigger = trigger.as_str();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO replication_executions (policy_id, trigger, status, status_text, start_time)
                 VALUES (?1, ?2, 'InProgress', '', ?3)",
            )?
            .execute(params![policy_id, trigger, now_ms()])?;
            let id = tx.last_insert_rowid();
            execution_by_id(tx, id)?.ok_or_else(|| StorageError::Corrupt("new execution vanished".into()))
        })
        .await
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>> {
        self.call(move |c| execution_by_id(c, id)).await
    }

    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<Execution>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM replication_executions WHERE ?1 IS NULL OR policy_id = ?1")?
                .query_row([policy_id], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(&format!(
                "{EXECUTION_SELECT} WHERE ?1 IS NULL OR e.policy_id = ?1 ORDER BY e.id DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = stmt.query_map(params![policy_id, sql_limit(page), sql_offset(page)], execution_row)?;
            Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
        })
        .await
    }

    async fn unfinished_executions(&self) -> Result<Vec<Execution>> {
        self.call(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EXECUTION_SELECT} WHERE e.status IN ('Pending', 'InProgress') ORDER BY e.id"
            ))?;
            let rows = stmt.query_map([], execution_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_execution_status(&self, id: i64, status: RunStatus, text: &str) -> Result<bool> {
        let text = text.to_owned();
        self.write(move |tx| {
            let end = status.is_final().then(now_ms);
            let n = tx
                .prepare_cached(
                    "UPDATE replication_executions SET status = ?2, status_text = ?3, end_time = ?4 WHERE id = ?1",
                )?
                .execute(params![id, status.as_str(), text, end])?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_tasks(&self, execution_id: i64, tasks: &[NewTask]) -> Result<Vec<TaskRecord>> {
        let tasks = tasks.to_vec();
        self.write(move |tx| {
            let mut ids = Vec::with_capacity(tasks.len());
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO replication_tasks (execution_id, operation, src_resource, dst_resource, status, attempts)
                     VALUES (?1, ?2, ?3, ?4, 'Pending', 0)",
                )?;
                for t in &tasks {
                    stmt.execute(params![execution_id, t.operation.as_str(), t.src_resource, t.dst_resource])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            let mut stmt = tx.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM replication_tasks WHERE id = ?1"))?;
            ids.into_iter()
                .map(|id| Ok(stmt.query_row([id], task_row)?))
                .collect()
        })
        .await
    }

    async fn tasks(&self, execution_id: i64) -> Result<Vec<TaskRecord>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM replication_tasks WHERE execution_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([execution_id], task_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn task(&self, id: i64) -> Result<Option<TaskRecord>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM replication_tasks WHERE id = ?1"
            ))?
            .query_row([id], task_row)
            .optional()?)
        })
        .await
    }

    async fn set_task_status(&self, id: i64, status: RunStatus, attempts: u32) -> Result<bool> {
        self.write(move |tx| {
            let now = now_ms();
            let n = tx
                .prepare_cached(
                    "UPDATE replication_tasks SET status = ?2, attempts = ?3,
                     start_time = CASE WHEN ?2 = 'InProgress' THEN ?4 ELSE start_time END,
                     end_time = CASE WHEN ?2 IN ('Succeeded', 'Failed', 'Stopped') THEN ?4 ELSE NULL END
                     WHERE id = ?1",
                )?
                .execute(params![id, status.as_str(), attempts as i64, now])?;
            Ok(n > 0)
        })
        .await
    }

    async fn append_task_log(&self, id: i64, line: &str) -> Result<()> {
        let line = format!("{}\n", line.trim_end());
        self.write(move |tx| {
            tx.prepare_cached("UPDATE replication_tasks SET log = log || ?2 WHERE id = ?1")?
                .execute(params![id, line])?;
            Ok(())
        })
        .await
    }

    async fn task_log(&self, id: i64) -> Result<Option<String>> {
        self.call(move |c| {
            Ok(
                c.prepare_cached("SELECT log FROM replication_tasks WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }
}
