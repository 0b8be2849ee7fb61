//! `JobStore` for `PgStore`. Times are the database server's, as for
//! every time this store sets itself.

use async_trait::async_trait;
use harbor_core::{
    JobKind, JobRecord, JobSchedule, JobStatus, JobStore, JobTrigger, Page, Result, ScheduleType,
};
use tokio_postgres::Row;

use super::{from_ms, parsed, pg, sql_limit, sql_offset, unsigned, PgStore};
use crate::error::StorageError;

const JOB_COLUMNS: &str =
    "id, kind, trigger, parameters, status, stop_requested, creation_time, update_time";

fn job_row(r: &Row) -> Result<JobRecord, StorageError> {
    Ok(JobRecord {
        id: r.try_get(0)?,
        kind: parsed("job kind", JobKind::parse, r.try_get(1)?)?,
        trigger: parsed("job trigger", JobTrigger::parse, r.try_get(2)?)?,
        parameters: r.try_get(3)?,
        status: parsed("job status", JobStatus::parse, r.try_get(4)?)?,
        stop_requested: r.try_get(5)?,
        creation_time: from_ms(r.try_get(6)?),
        update_time: from_ms(r.try_get(7)?),
    })
}

fn schedule_row(r: &Row) -> Result<JobSchedule, StorageError> {
    Ok(JobSchedule {
        schedule_type: parsed("schedule type", ScheduleType::parse, r.try_get(0)?)?,
        cron: r.try_get(1)?,
        parameters: r.try_get(2)?,
        creation_time: from_ms(r.try_get(3)?),
        update_time: from_ms(r.try_get(4)?),
    })
}

#[async_trait]
impl JobStore for PgStore {
    async fn create_job(
        &self,
        kind: JobKind,
        trigger: JobTrigger,
        parameters: &str,
    ) -> Result<JobRecord> {
        let (kind, trigger) = (kind.as_str(), trigger.as_str());
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO jobs (kind, trigger, parameters, status, creation_time, update_time)
                     VALUES ($1, $2, $3, 'Pending', harbor_now_ms(), harbor_now_ms())
                     RETURNING {JOB_COLUMNS}"
                ))
                .await?;
            job_row(&c.query_one(&st, &[&kind, &trigger, &parameters]).await?)?
        })
    }

    async fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        self.read_one(
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
            &[&id],
            job_row,
        )
        .await
    }

    async fn list_jobs(&self, kind: JobKind, page: Page) -> Result<(Vec<JobRecord>, u64)> {
        let kind = kind.as_str();
        pg!(self, read, |tx| {
            let count = tx
                .prepare_cached("SELECT count(*) FROM jobs WHERE kind = $1")
                .await?;
            let total: i64 = tx.query_one(&count, &[&kind]).await?.try_get(0)?;
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
                ))
                .await?;
            let rows = tx
                .query(&st, &[&kind, &sql_limit(page), &sql_offset(page)])
                .await?;
            let list = rows.iter().map(job_row).collect::<Result<Vec<_>, _>>()?;
            (list, unsigned(total))
        })
    }

    async fn next_pending_job(&self, kind: JobKind) -> Result<Option<JobRecord>> {
        self.read_one(
            format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND status = 'Pending' ORDER BY id LIMIT 1"
            ),
            &[&kind.as_str()],
            job_row,
        )
        .await
    }

    async fn running_jobs(&self, kind: JobKind) -> Result<Vec<JobRecord>> {
        let kind = kind.as_str();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND status = 'Running' ORDER BY id"
                ))
                .await?;
            c.query(&st, &[&kind])
                .await?
                .iter()
                .map(job_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn update_job(
        &self,
        id: i64,
        status: JobStatus,
        parameters: Option<&str>,
    ) -> Result<bool> {
        self.touched(
            "UPDATE jobs SET status = $2, parameters = coalesce($3, parameters), update_time = harbor_now_ms()
             WHERE id = $1 AND status NOT IN ('Success', 'Error', 'Stopped')",
            &[&id, &status.as_str(), &parameters],
        )
        .await
    }

    async fn request_job_stop(&self, id: i64) -> Result<bool> {
        self.touched(
            "UPDATE jobs SET stop_requested = TRUE, update_time = harbor_now_ms()
             WHERE id = $1 AND status NOT IN ('Success', 'Error', 'Stopped')",
            &[&id],
        )
        .await
    }

    async fn append_job_log(&self, id: i64, text: &str) -> Result<()> {
        self.touched(
            "UPDATE jobs SET log = log || $2 WHERE id = $1",
            &[&id, &text],
        )
        .await
        .map(|_| ())
    }

    async fn job_log(&self, id: i64) -> Result<Option<String>> {
        self.read_one(
            "SELECT log FROM jobs WHERE id = $1".to_owned(),
            &[&id],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    async fn job_schedule(&self, kind: JobKind) -> Result<Option<JobSchedule>> {
        self.read_one(
            "SELECT schedule_type, cron, parameters, creation_time, update_time
             FROM job_schedules WHERE kind = $1"
                .to_owned(),
            &[&kind.as_str()],
            schedule_row,
        )
        .await
    }

    async fn set_job_schedule(&self, kind: JobKind, schedule: Option<&JobSchedule>) -> Result<()> {
        let kind = kind.as_str();
        match schedule {
            None => self
                .touched("DELETE FROM job_schedules WHERE kind = $1", &[&kind])
                .await
                .map(|_| ()),
            Some(s) => self
                .touched(
                    "INSERT INTO job_schedules (kind, schedule_type, cron, parameters, creation_time, update_time)
                     VALUES ($1, $2, $3, $4, harbor_now_ms(), harbor_now_ms())
                     ON CONFLICT (kind) DO UPDATE SET schedule_type = excluded.schedule_type,
                       cron = excluded.cron, parameters = excluded.parameters,
                       update_time = excluded.update_time",
                    &[&kind, &s.schedule_type.as_str(), &s.cron, &s.parameters],
                )
                .await
                .map(|_| ()),
        }
    }
}
