//! `JobStore` for `SqliteMetaStore`.

use async_trait::async_trait;
use harbor_core::{
    JobKind, JobRecord, JobSchedule, JobStatus, JobStore, JobTrigger, Page, Result, ScheduleType,
};
use rusqlite::{params, OptionalExtension, Row};

use super::{from_ms, now_ms, parsed, sql_limit, sql_offset, SqliteMetaStore};

const JOB_COLUMNS: &str =
    "id, kind, trigger, parameters, status, stop_requested, creation_time, update_time";

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: r.get(0)?,
        kind: parsed(JobKind::parse, r.get(1)?)?,
        trigger: parsed(JobTrigger::parse, r.get(2)?)?,
        parameters: r.get(3)?,
        status: parsed(JobStatus::parse, r.get(4)?)?,
        stop_requested: r.get(5)?,
        creation_time: from_ms(r.get(6)?),
        update_time: from_ms(r.get(7)?),
    })
}

fn schedule_row(r: &Row<'_>) -> rusqlite::Result<JobSchedule> {
    Ok(JobSchedule {
        schedule_type: parsed(ScheduleType::parse, r.get(0)?)?,
        cron: r.get(1)?,
        parameters: r.get(2)?,
        creation_time: from_ms(r.get(3)?),
        update_time: from_ms(r.get(4)?),
    })
}

#[async_trait]
impl JobStore for SqliteMetaStore {
    async fn create_job(
        &self,
        kind: JobKind,
        trigger: JobTrigger,
        parameters: &str,
    ) -> Result<JobRecord> {
        let parameters = parameters.to_owned();
        self.write(move |tx| {
            let now = now_ms();
            tx.prepare_cached(
                "INSERT INTO jobs (kind, trigger, parameters, status, creation_time, update_time)
                 VALUES (?1, ?2, ?3, 'Pending', ?4, ?4)",
            )?
            .execute(params![kind.as_str(), trigger.as_str(), parameters, now])?;
            let id = tx.last_insert_rowid();
            Ok(tx
                .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
                .query_row([id], job_row)?)
        })
        .await
    }

    async fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.call(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
                    .query_row([id], job_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn list_jobs(&self, kind: JobKind, page: Page) -> Result<(Vec<JobRecord>, u64)> {
        self.call(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM jobs WHERE kind = ?1")?
                .query_row([kind.as_str()], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = stmt.query_map(
                params![kind.as_str(), sql_limit(page), sql_offset(page)],
                job_row,
            )?;
            Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
        })
        .await
    }

    async fn next_pending_job(&self, kind: JobKind) -> Result<Option<JobRecord>> {
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = ?1 AND status = 'Pending' ORDER BY id LIMIT 1"
            ))?
            .query_row([kind.as_str()], job_row)
            .optional()?)
        })
        .await
    }

    async fn running_jobs(&self, kind: JobKind) -> Result<Vec<JobRecord>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = ?1 AND status = 'Running' ORDER BY id"
            ))?;
            let rows = stmt.query_map([kind.as_str()], job_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn update_job(
        &self,
        id: i64,
        status: JobStatus,
        parameters: Option<&str>,
    ) -> Result<bool> {
        let parameters = parameters.map(str::to_owned);
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE jobs SET status = ?2, parameters = coalesce(?3, parameters), update_time = ?4
                     WHERE id = ?1 AND status NOT IN ('Success', 'Error', 'Stopped')",
                )?
                .execute(params![id, status.as_str(), parameters, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn request_job_stop(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE jobs SET stop_requested = 1, update_time = ?2
                     WHERE id = ?1 AND status NOT IN ('Success', 'Error', 'Stopped')",
                )?
                .execute(params![id, now_ms()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn append_job_log(&self, id: i64, text: &str) -> Result<()> {
        let text = text.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("UPDATE jobs SET log = log || ?2 WHERE id = ?1")?
                .execute(params![id, text])?;
            Ok(())
        })
        .await
    }

    async fn job_log(&self, id: i64) -> Result<Option<String>> {
        self.call(move |c| {
            Ok(c.prepare_cached("SELECT log FROM jobs WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn job_schedule(&self, kind: JobKind) -> Result<Option<JobSchedule>> {
        self.call(move |c| {
            Ok(c.prepare_cached(
                "SELECT schedule_type, cron, parameters, creation_time, update_time
                 FROM job_schedules WHERE kind = ?1",
            )?
            .query_row([kind.as_str()], schedule_row)
            .optional()?)
        })
        .await
    }

    async fn set_job_schedule(&self, kind: JobKind, schedule: Option<&JobSchedule>) -> Result<()> {
        let schedule = schedule.cloned();
        self.write(move |tx| {
            match schedule {
                None => {
                    tx.prepare_cached("DELETE FROM job_schedules WHERE kind = ?1")?
                        .execute([kind.as_str()])?;
                }
                Some(s) => {
                    tx.prepare_cached(
                        "INSERT INTO job_schedules (kind, schedule_type, cron, parameters, creation_time, update_time)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                         ON CONFLICT (kind) DO UPDATE SET schedule_type = excluded.schedule_type,
                           cron = excluded.cron, parameters = excluded.parameters,
                           update_time = excluded.update_time",
                    )?
                    .execute(params![
                        kind.as_str(),
                        s.schedule_type.as_str(),
                        s.cron,
                        s.parameters,
                        now_ms()
                    ])?;
                }
            }
            Ok(())
        })
        .await
    }
}
