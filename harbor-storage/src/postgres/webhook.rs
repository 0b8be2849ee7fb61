//! `WebhookStore` for `PgStore`. Deliveries are claimed with `FOR UPDATE
//! SKIP LOCKED`, so instances claiming at once each get different ones.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use harbor_core::{
    AttemptOutcome, DeliveryStatus, LastTrigger, NewWebhookExecution, Page, Result,
    WebhookEventType, WebhookExecution, WebhookPolicy, WebhookStore, WebhookTask,
};
use tokio_postgres::Row;

use super::{from_ms, parsed, pg, sql_limit, sql_offset, to_ms, unsigned, PgStore};
use crate::error::{pg_conflict, StorageError};
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

fn policy_row(r: &Row) -> Result<WebhookPolicy, StorageError> {
    Ok(WebhookPolicy {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        targets: decode_targets(r.try_get(4)?)?,
        event_types: decode_event_types(r.try_get(5)?)?,
        creator: r.try_get(6)?,
        enabled: r.try_get(7)?,
        creation_time: from_ms(r.try_get(8)?),
        update_time: from_ms(r.try_get(9)?),
    })
}

fn execution_row(r: &Row) -> Result<WebhookExecution, StorageError> {
    Ok(WebhookExecution {
        id: r.try_get(0)?,
        policy_id: r.try_get(1)?,
        event_type: parsed("webhook event type", WebhookEventType::parse, r.try_get(2)?)?,
        payload: r.try_get(3)?,
        status: parsed("delivery status", DeliveryStatus::parse, r.try_get(4)?)?,
        start_time: from_ms(r.try_get(5)?),
        end_time: r.try_get::<_, Option<i64>>(6)?.map(from_ms),
    })
}

fn task_row(r: &Row) -> Result<WebhookTask, StorageError> {
    let run_count: i32 = r.try_get(8)?;
    Ok(WebhookTask {
        id: r.try_get(0)?,
        execution_id: r.try_get(1)?,
        policy_id: r.try_get(2)?,
        event_type: parsed("webhook event type", WebhookEventType::parse, r.try_get(3)?)?,
        target: decode_target(r.try_get(4)?)?,
        body: r.try_get(5)?,
        content_type: r.try_get(6)?,
        status: parsed("delivery status", DeliveryStatus::parse, r.try_get(7)?)?,
        run_count: u32::try_from(run_count).unwrap_or(0),
        creation_time: from_ms(r.try_get(9)?),
        update_time: from_ms(r.try_get(10)?),
        next_attempt: from_ms(r.try_get(11)?),
    })
}

fn name_taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a webhook policy named {name:?} already exists in the project")
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook_policy(&self, p: &WebhookPolicy) -> Result<WebhookPolicy> {
        let targets = encode_targets(&p.targets)?;
        let types = encode_event_types(&p.event_types);
        let sql = format!(
            "INSERT INTO webhook_policies (project_id, name, description, targets, event_types,
                 creator, enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, harbor_now_ms(), harbor_now_ms())
             RETURNING {POLICY_COLUMNS}"
        );
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            let row = c
                .query_one(
                    &st,
                    &[
                        &p.project_id,
                        &p.name,
                        &p.description,
                        &targets,
                        &types,
                        &p.creator,
                        &p.enabled,
                    ],
                )
                .await
                .map_err(|e| pg_conflict(e, name_taken(&p.name)))?;
            policy_row(&row)?
        })
    }

    async fn webhook_policy(&self, id: i64) -> Result<Option<WebhookPolicy>> {
        self.read_one(
            format!("SELECT {POLICY_COLUMNS} FROM webhook_policies WHERE id = $1"),
            &[&id],
            policy_row,
        )
        .await
    }

    async fn webhook_policies(
        &self,
        project_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<WebhookPolicy>, u64)> {
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached(
                    "SELECT count(*) FROM webhook_policies
                     WHERE $1::BIGINT IS NULL OR project_id = $1",
                )
                .await?;
            let total: i64 = tx.query_one(&count, &[&project_id]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {POLICY_COLUMNS} FROM webhook_policies
                     WHERE $1::BIGINT IS NULL OR project_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
                ))
                .await?;
            let rows = tx
                .query(&st, &[&project_id, &sql_limit(page), &sql_offset(page)])
                .await?;
            let list = rows.iter().map(policy_row).collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn update_webhook_policy(&self, p: &WebhookPolicy) -> Result<bool> {
        let targets = encode_targets(&p.targets)?;
        let types = encode_event_types(&p.event_types);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE webhook_policies SET name = $2, description = $3, targets = $4,
                         event_types = $5, enabled = $6, updated_at = harbor_now_ms() WHERE id = $1",
                )
                .await?;
            let n = c
                .execute(
                    &st,
                    &[&p.id, &p.name, &p.description, &targets, &types, &p.enabled],
                )
                .await
                .map_err(|e| pg_conflict(e, name_taken(&p.name)))?;
            n > 0
        })
    }

    async fn delete_webhook_policy(&self, id: i64) -> Result<bool> {
        // Executions and their deliveries go with it (ON DELETE CASCADE).
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("DELETE FROM webhook_policies WHERE id = $1")
                .await?;
            c.execute(&st, &[&id]).await? > 0
        })
    }

    async fn delete_project_webhooks(&self, project_id: i64) -> Result<()> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("DELETE FROM webhook_policies WHERE project_id = $1")
                .await?;
            c.execute(&st, &[&project_id]).await?;
        })
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
                        d.body.as_str(),
                        d.content_type.as_str(),
                    ))
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            rows.push((
                e.policy_id,
                e.event_type.as_str(),
                e.payload.as_str(),
                deliveries,
            ));
        }
        pg!(self, write, |tx| {
            let exec = tx
                .prepare_cached(
                    "INSERT INTO webhook_executions (policy_id, event_type, payload, status, start_time)
                     VALUES ($1, $2, $3, 'Pending', harbor_now_ms()) RETURNING id",
                )
                .await?;
            let task = tx
                .prepare_cached(
                    "INSERT INTO webhook_tasks (execution_id, target, body, content_type, status,
                         run_count, due_at, log, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'Pending', 0, harbor_now_ms(), '', harbor_now_ms(),
                             harbor_now_ms())",
                )
                .await?;
            for (policy_id, event_type, payload, deliveries) in &rows {
                let id: i64 = tx
                    .query_one(&exec, &[policy_id, event_type, payload])
                    .await?
                    .try_get(0)?;
                for (target, body, content_type) in deliveries {
                    tx.execute(&task, &[&id, target, body, content_type])
                        .await?;
                }
            }
        })
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
        pg!(self, write, |tx| {
            let claim = tx
                .prepare_cached(
                    "UPDATE webhook_tasks SET status = 'Running', run_count = run_count + 1,
                         due_at = $2, updated_at = $1
                     WHERE id IN (SELECT id FROM webhook_tasks
                                  WHERE status IN ('Pending', 'Running') AND due_at <= $1
                                  ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                     RETURNING id",
                )
                .await?;
            let ids: Vec<i64> = tx
                .query(&claim, &[&now, &until, &limit])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let st = tx
                .prepare_cached(&format!("{TASK_SELECT} WHERE t.id = ANY($1) ORDER BY t.id"))
                .await?;
            tx.query(&st, &[&ids])
                .await?
                .iter()
                .map(task_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn finish_delivery(
        &self,
        task_id: i64,
        outcome: AttemptOutcome,
        log: &str,
    ) -> Result<()> {
        let now = to_ms(SystemTime::now());
        let (status, due) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Success, now),
            AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, to_ms(at)),
            AttemptOutcome::GaveUp => (DeliveryStatus::Error, now),
        };
        let status = status.as_str();
        let update_execution = EXECUTION_STATUS_UPDATE
            .replace("{now}", "$2::BIGINT")
            .replace("{id}", "$1");
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "UPDATE webhook_tasks SET status = $2, due_at = $3, updated_at = $4,
                         log = log || $5 WHERE id = $1 RETURNING execution_id",
                )
                .await?;
            let execution = tx
                .query_opt(&st, &[&task_id, &status, &due, &now, &log])
                .await?;
            if let Some(row) = execution {
                let execution: i64 = row.try_get(0)?;
                let st = tx.prepare_cached(&update_execution).await?;
                tx.execute(&st, &[&execution, &now]).await?;
            }
        })
    }

    async fn webhook_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<WebhookExecution>, u64)> {
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM webhook_executions WHERE policy_id = $1")
                .await?;
            let total: i64 = tx.query_one(&count, &[&policy_id]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM webhook_executions WHERE policy_id = $1
                     ORDER BY id DESC LIMIT $2 OFFSET $3"
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

    async fn webhook_execution(&self, id: i64) -> Result<Option<WebhookExecution>> {
        self.read_one(
            format!("SELECT {EXECUTION_COLUMNS} FROM webhook_executions WHERE id = $1"),
            &[&id],
            execution_row,
        )
        .await
    }

    async fn webhook_tasks(&self, execution_id: i64) -> Result<Vec<WebhookTask>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "{TASK_SELECT} WHERE t.execution_id = $1 ORDER BY t.id"
                ))
                .await?;
            c.query(&st, &[&execution_id])
                .await?
                .iter()
                .map(task_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn webhook_task_log(&self, task_id: i64) -> Result<Option<String>> {
        self.read_one(
            "SELECT log FROM webhook_tasks WHERE id = $1".to_owned(),
            &[&task_id],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT count(*) FROM webhook_tasks WHERE status IN ('Pending', 'Running')",
                )
                .await?;
            let n: i64 = c.query_one(&st, &[]).await?.try_get(0)?;
            unsigned(n)
        })
    }

    async fn oldest_due_delivery(&self) -> Result<Option<std::time::SystemTime>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT min(due_at) FROM webhook_tasks
                     WHERE status IN ('Pending', 'Running') AND status = 'Pending'",
                )
                .await?;
            let due: Option<i64> = c.query_one(&st, &[]).await?.try_get(0)?;
            due.map(super::from_ms)
        })
    }

    async fn webhook_last_triggers(&self, project_id: i64) -> Result<Vec<LastTrigger>> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT e.policy_id, e.event_type, max(e.start_time)
                     FROM webhook_executions e JOIN webhook_policies p ON p.id = e.policy_id
                     WHERE p.project_id = $1 GROUP BY e.policy_id, e.event_type
                     ORDER BY e.policy_id, e.event_type",
                )
                .await?;
            c.query(&st, &[&project_id])
                .await?
                .iter()
                .map(|r| {
                    Ok(LastTrigger {
                        policy_id: r.try_get(0)?,
                        event_type: parsed(
                            "webhook event type",
                            WebhookEventType::parse,
                            r.try_get(1)?,
                        )?,
                        last_trigger_time: from_ms(r.try_get(2)?),
                    })
                })
                .collect::<Result<Vec<_>, StorageError>>()?
        })
    }
}
