//! `WebhookStore` for `SqliteMetaStore`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use harbor_core::{
    AttemptOutcome, DeliveryStatus, LastTrigger, NewWebhookExecution, Page, Result,
    WebhookEventType, WebhookExecution, WebhookPolicy, WebhookStore, WebhookTask,
};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{from_ms, now_ms, parsed, sql_limit, sql_offset, to_ms, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};
use crate::webhook_sql::{
    decode_event_types, decode_target, decode_targets, encode_event_types, encode_target,
    encode_targets, EXECUTION_STATUS_UPDATE,
};

const POLICY_COLUMNS: &str = "id, project_id, name, description, targets, event_types, creator, enabled, created_at, updated_at";
const EXECUTION_COLUMNS: &str = "id, policy_id, event_type, payload, status, start_time, end_time";
const TASK_SELECT: &str =
    "SELECT t.id, t.execution_id, e.policy_id, e.event_type, t.target, t.body,
    t.content_type, t.status, t.run_count, t.created_at, t.updated_at, t.due_at
    FROM webhook_tasks t JOIN webhook_executions e ON e.id = t.execution_id";

fn policy_row(r: &Row<'_>) -> rusqlite::Result<(WebhookPolicy, String, String)> {
    Ok((
        WebhookPolicy {
            id: r.get(0)?,
            project_id: r.get(1)?,
            name: r.get(2)?,
            description: r.get(3)?,
            targets: Vec::new(),
            event_types: Vec::new(),
            creator: r.get(6)?,
            enabled: r.get(7)?,
            creation_time: from_ms(r.get(8)?),
            update_time: from_ms(r.get(9)?),
        },
        r.get(4)?,
        r.get(5)?,
    ))
}

fn policy(row: (WebhookPolicy, String, String)) -> Result<WebhookPolicy, StorageError> {
    let (mut p, targets, types) = row;
    p.targets = decode_targets(&targets)?;
    p.event_types = decode_event_types(&types)?;
    Ok(p)
}

fn execution_row(r: &Row<'_>) -> rusqlite::Result<WebhookExecution> {
    Ok(WebhookExecution {
        id: r.get(0)?,
        policy_id: r.get(1)?,
        event_type: parsed(WebhookEventType::parse, r.get(2)?)?,
        payload: r.get(3)?,
        status: parsed(DeliveryStatus::parse, r.get(4)?)?,
        start_time: from_ms(r.get(5)?),
        end_time: r.get::<_, Option<i64>>(6)?.map(from_ms),
    })
}

fn task_row(r: &Row<'_>) -> rusqlite::Result<(WebhookTask, String)> {
    Ok((
        WebhookTask {
            id: r.get(0)?,
            execution_id: r.get(1)?,
            policy_id: r.get(2)?,
            event_type: parsed(WebhookEventType::parse, r.get(3)?)?,
            target: harbor_core::WebhookTarget {
                notify_type: harbor_core::NotifyType::Http,
                address: String::new(),
                auth_header: String::new(),
                skip_cert_verify: false,
                payload_format: harbor_core::PayloadFormat::Default,
                secret: None,
            },
            body: r.get(5)?,
            content_type: r.get(6)?,
            status: parsed(DeliveryStatus::parse, r.get(7)?)?,
            run_count: r.get(8)?,
            creation_time: from_ms(r.get(9)?),
            update_time: from_ms(r.get(10)?),
            next_attempt: from_ms(r.get(11)?),
        },
        r.get(4)?,
    ))
}

fn task(row: (WebhookTask, String)) -> Result<WebhookTask, StorageError> {
    let (mut t, target) = row;
    t.target = decode_target(&target)?;
    Ok(t)
}

fn tasks_where(
    c: &rusqlite::Connection,
    clause: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<WebhookTask>, StorageError> {
    let mut stmt = c.prepare_cached(&format!("{TASK_SELECT} WHERE {clause} ORDER BY t.id"))?;
    let rows = stmt.query_map(args, task_row)?;
    rows.map(|r| task(r?)).collect()
}

fn update_execution_status(tx: &Transaction<'_>, execution_id: i64) -> Result<(), StorageError> {
    let sql = EXECUTION_STATUS_UPDATE
        .replace("{now}", "?2")
        .replace("{id}", "?1");
    tx.prepare_cached(&sql)?
        .execute(params![execution_id, now_ms()])?;
    Ok(())
}

fn name_taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a webhook policy named {name:?} already exists in the project")
}

#[async_trait]
impl WebhookStore for SqliteMetaStore {
    async fn create_webhook_policy(&self, p: &WebhookPolicy) -> Result<WebhookPolicy> {
        let p = p.clone();
        let targets = encode_targets(&p.targets)?;
        self.write(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO webhook_policies (project_id, name, description, targets, event_types,
                     creator, enabled, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )?
            .execute(params![
                p.project_id,
                p.name,
                p.description,
                targets,
                encode_event_types(&p.event_types),
                p.creator,
                p.enabled,
                now
            ])
            .map_err(|e| conflict_on_unique(e, name_taken(&p.name)))?;
            let id = tx.last_insert_rowid();
            policy(
                tx.prepare_cached(&format!(
                    "SELECT {POLICY_COLUMNS} FROM webhook_policies WHERE id = ?1"
                ))?
                .query_row([id], policy_row)?,
            )
        })
        .await
    }

    async fn webhook_policy(&self, id: i64) -> Result<Option<WebhookPolicy>> {
        self.call(move |c| {
            c.prepare_cached(&format!(
                "SELECT {POLICY_COLUMNS} FROM webhook_policies WHERE id = ?1"
            ))?
            .query_row([id], policy_row)
            .optional()?
            .map(policy)
            .transpose()
        })
        .await
    }

    async fn webhook_policies(
        &self,
        project_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<WebhookPolicy>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM webhook_policies WHERE ?1 IS NULL OR project_id = ?1",
                )?
                .query_row([project_id], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {POLICY_COLUMNS} FROM webhook_policies WHERE ?1 IS NULL OR project_id = ?1
                 ORDER BY id LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = stmt.query_map(
                params![project_id, sql_limit(page), sql_offset(page)],
                policy_row,
            )?;
            let list = rows.map(|r| policy(r?)).collect::<Result<Vec<_>, _>>()?;
            Ok((list, total.max(0) as u64))
        })
        .await
    }

    async fn update_webhook_policy(&self, p: &WebhookPolicy) -> Result<bool> {
        let p = p.clone();
        let targets = encode_targets(&p.targets)?;
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE webhook_policies SET name = ?2, description = ?3, targets = ?4,
                         event_types = ?5, enabled = ?6, updated_at = ?7 WHERE id = ?1",
                )?
                .execute(params![
                    p.id,
                    p.name,
                    p.description,
                    targets,
                    encode_event_types(&p.event_types),
                    p.enabled,
                    now_ms()
                ])
                .map_err(|e| conflict_on_unique(e, name_taken(&p.name)))?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_webhook_policy(&self, id: i64) -> Result<bool> {
        // Executions and their deliveries go with it (ON DELETE CASCADE).
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM webhook_policies WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
        .await
    }

    async fn delete_project_webhooks(&self, project_id: i64) -> Result<()> {
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM webhook_policies WHERE project_id = ?1")?
                .execute([project_id])?;
            Ok(())
        })
        .await
    }

    async fn enqueue_webhooks(&self, executions: &[NewWebhookExecution]) -> Result<()> {
        let mut rows = Vec::with_capacity(executions.len());
        for e in executions {
            let deliveries = e
                .deliveries
                .iter()
                .map(|d| {
                    Ok((
                        encode_target(&d.target)?,
                        d.body.clone(),
                        d.content_type.clone(),
                    ))
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            rows.push((e.policy_id, e.event_type, e.payload.clone(), deliveries));
        }
        self.write(move |tx| {
            let now = now_ms();
            let mut exec = tx.prepare_cached(
                "INSERT INTO webhook_executions (policy_id, event_type, payload, status, start_time)
                 VALUES (?1, ?2, ?3, 'Pending', ?4)",
            )?;
            let mut task = tx.prepare_cached(
                "INSERT INTO webhook_tasks (execution_id, target, body, content_type, status,
                     run_count, due_at, log, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'Pending', 0, ?5, '', ?5, ?5)",
            )?;
            for (policy_id, event_type, payload, deliveries) in &rows {
                exec.execute(params![policy_id, event_type.as_str(), payload, now])?;
                let id = tx.last_insert_rowid();
                for (target, body, content_type) in deliveries {
                    task.execute(params![id, target, body, content_type, now])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<WebhookTask>> {
        let now = to_ms(now);
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |tx| {
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM webhook_tasks WHERE status IN ('Pending', 'Running')
                     AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
                )?
                .query_map(params![now, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut claim = tx.prepare_cached(
                "UPDATE webhook_tasks SET status = 'Running', run_count = run_count + 1,
                     due_at = ?2, updated_at = ?3 WHERE id = ?1",
            )?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                claim.execute(params![id, until, now])?;
                out.extend(tasks_where(tx, "t.id = ?1", [id])?);
            }
            Ok(out)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        task_id: i64,
        outcome: AttemptOutcome,
        log: &str,
    ) -> Result<()> {
        let log = log.to_owned();
        self.write(move |tx| {
            let now = now_ms();
            let (status, due) = match outcome {
                AttemptOutcome::Delivered => (DeliveryStatus::Success, now),
                AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, to_ms(at)),
                AttemptOutcome::GaveUp => (DeliveryStatus::Error, now),
            };
            let execution: Option<i64> = tx
                .prepare_cached(
                    "UPDATE webhook_tasks SET status = ?2, due_at = ?3, updated_at = ?4,
                         log = log || ?5 WHERE id = ?1 RETURNING execution_id",
                )?
                .query_row(params![task_id, status.as_str(), due, now, log], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(execution) = execution {
                update_execution_status(tx, execution)?;
            }
            Ok(())
        })
        .await
    }

    async fn webhook_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<WebhookExecution>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM webhook_executions WHERE policy_id = ?1")?
                .query_row([policy_id], |r| r.get(0))?;
            let list = c
                .prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM webhook_executions WHERE policy_id = ?1
                     ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(
                    params![policy_id, sql_limit(page), sql_offset(page)],
                    execution_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((list, total.max(0) as u64))
        })
        .await
    }

    async fn webhook_execution(&self, id: i64) -> Result<Option<WebhookExecution>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM webhook_executions WHERE id = ?1"
            ))?
            .query_row([id], execution_row)
            .optional()?)
        })
        .await
    }

    async fn webhook_tasks(&self, execution_id: i64) -> Result<Vec<WebhookTask>> {
        self.call(move |c| tasks_where(c, "t.execution_id = ?1", [execution_id]))
            .await
    }

    async fn webhook_task_log(&self, task_id: i64) -> Result<Option<String>> {
        self.call(move |c| {
            Ok(
                c.prepare_cached("SELECT log FROM webhook_tasks WHERE id = ?1")?
                    .query_row([task_id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        self.call(|c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM webhook_tasks WHERE status IN ('Pending', 'Running')",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn oldest_due_delivery(&self) -> Result<Option<std::time::SystemTime>> {
        self.call(|c| {
            let due: Option<i64> = c
                .prepare_cached(
                    "SELECT min(due_at) FROM webhook_tasks
                     WHERE status IN ('Pending', 'Running') AND status = 'Pending'",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(due.map(super::from_ms))
        })
        .await
    }

    async fn webhook_last_triggers(&self, project_id: i64) -> Result<Vec<LastTrigger>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.policy_id, e.event_type, max(e.start_time)
                 FROM webhook_executions e JOIN webhook_policies p ON p.id = e.policy_id
                 WHERE p.project_id = ?1 GROUP BY e.policy_id, e.event_type
                 ORDER BY e.policy_id, e.event_type",
            )?;
            let rows = stmt.query_map([project_id], |r| {
                Ok(LastTrigger {
                    policy_id: r.get(0)?,
                    event_type: parsed(WebhookEventType::parse, r.get(1)?)?,
                    last_trigger_time: from_ms(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
