//! Harbor's audit log purge as a server runs it: runs recorded in the
//! [`JobStore`] as `PURGE_AUDIT_LOG` (Harbor's purge history), taken by
//! whichever instance holds the `purge-audit` lease, a cron schedule whose
//! each firing starts one run across a cluster, and a log per run. The
//! purge itself is one statement of the [`IdentityStore`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use harbor_core::{
    AuditOperation, Error, ErrorCode, IdentityStore, JobKind, JobRecord, JobSchedule, JobStatus,
    JobStore, JobTrigger, LeaseStore, Result,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::gc::harbor_cron;

/// The lease whose holder runs purges.
const LEASE: &str = "purge-audit";
/// Long enough for one purge statement.
const LEASE_TTL: Duration = Duration::from_secs(300);
/// How often each instance looks for pending runs and due schedules.
const LOOK_INTERVAL: Duration = Duration::from_secs(2);
/// The longest retention accepted, in hours (ten years).
const MAX_HOURS: u64 = 10 * 365 * 24;

/// Harbor's purge `job_parameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeParameters {
    /// Entries older than this many hours go.
    #[serde(default = "default_hours")]
    pub audit_retention_hour: u64,
    /// Which operations' entries, comma-separated (`create,delete,pull`).
    #[serde(default = "default_operations")]
    pub include_operations: String,
    /// Count only.
    #[serde(default)]
    pub dry_run: bool,
    /// After a run: how many entries went (or would go).
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub purged: Option<u64>,
}

fn default_hours() -> u64 {
    24 * 30
}

fn default_operations() -> String {
    "create,delete,pull".into()
}

impl Default for PurgeParameters {
    fn default() -> Self {
        PurgeParameters {
            audit_retention_hour: default_hours(),
            include_operations: default_operations(),
            dry_run: false,
            purged: None,
        }
    }
}

impl PurgeParameters {
    /// The operations named, checked.
    pub fn operations(&self) -> Result<Vec<AuditOperation>> {
        let mut out = Vec::new();
        for name in self
            .include_operations
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let op = AuditOperation::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
                Error::new(
                    ErrorCode::BadRequest,
                    format!(
                        "include_operations names {name:?}: expected create, delete, pull or update"
                    ),
                )
            })?;
            if !out.contains(&op) {
                out.push(op);
            }
        }
        Ok(out)
    }

    /// Checks the parameters as the API takes them.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_HOURS).contains(&self.audit_retention_hour) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("audit_retention_hour must be 1 to {MAX_HOURS}"),
            ));
        }
        if self.operations()?.is_empty() {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "include_operations names no operation",
            ));
        }
        Ok(())
    }

    /// Parses stored parameters (a schedule's, a run's), defaults for what
    /// does not parse.
    pub fn from_json(text: &str) -> PurgeParameters {
        serde_json::from_str(text).unwrap_or_default()
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Audit log purging for one server. Cheap to share.
#[derive(Debug)]
pub struct PurgeService {
    identity: Arc<dyn IdentityStore>,
    /// Runs, logs and the schedule.
    pub jobs: Arc<dyn JobStore>,
    leases: Arc<dyn LeaseStore>,
    holder: String,
    wake: Notify,
}

impl PurgeService {
    /// Purging `identity`'s audit log, runs kept in `jobs`, one at a time
    /// across the instances sharing `leases`.
    pub fn new(
        identity: Arc<dyn IdentityStore>,
        jobs: Arc<dyn JobStore>,
        leases: Arc<dyn LeaseStore>,
    ) -> Arc<PurgeService> {
        Arc::new(PurgeService {
            identity,
            jobs,
            leases,
            holder: format!("purge-audit-{}", uuid::Uuid::new_v4()),
            wake: Notify::new(),
        })
    }

    /// Records a run to do now; an instance takes it within moments.
    pub async fn start(&self, params: &PurgeParameters, trigger: JobTrigger) -> Result<JobRecord> {
        params.validate()?;
        let run = self
            .jobs
            .create_job(JobKind::PurgeAudit, trigger, &params.to_json())
            .await?;
        self.wake.notify_one();
        Ok(run)
    }

    /// Stops run `id` if nobody has taken it yet (a purge, once begun, is
    /// one statement and ends by itself); `false` if it had started or
    /// ended.
    pub async fn stop(&self, id: i64) -> Result<bool> {
        match self.jobs.job(id).await? {
            Some(run) if run.status == JobStatus::Pending => {
                self.jobs.update_job(id, JobStatus::Stopped, None).await
            }
            _ => Ok(false),
        }
    }

    /// Sets or removes the schedule.
    pub async fn set_schedule(&self, schedule: Option<&JobSchedule>) -> Result<()> {
        if let Some(s) = schedule {
            harbor_cron(&s.cron)?;
            PurgeParameters::from_json(&s.parameters).validate()?;
        }
        self.jobs
            .set_job_schedule(JobKind::PurgeAudit, schedule)
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Runs the loop until the returned handle is aborted.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        tokio::spawn(async move {
            let mut since = Utc::now();
            loop {
                let now = Utc::now();
                if let Err(e) = svc.fire_schedule(since, now).await {
                    tracing::warn!(error = %e, "audit log purge schedule");
                }
                since = now;
                if let Err(e) = svc.run_pending().await {
                    tracing::warn!(error = %e, "audit log purge");
                }
                let _ = tokio::time::timeout(LOOK_INTERVAL, svc.wake.notified()).await;
            }
        })
    }

    /// Records a scheduled run when the schedule fired in `(since, now]`;
    /// once per firing across a cluster (a lease per firing).
    async fn fire_schedule(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        let Some(schedule) = self.jobs.job_schedule(JobKind::PurgeAudit).await? else {
            return Ok(());
        };
        let Ok(cron) = harbor_cron(&schedule.cron) else {
            return Ok(());
        };
        let Some(due) = cron.after(&since).next().filter(|t| *t <= now) else {
            return Ok(());
        };
        let firing = format!("purge-audit/cron/{}", due.timestamp());
        if self
            .leases
            .acquire_lease(&firing, &self.holder, Duration::from_secs(3600))
            .await?
        {
            let params = PurgeParameters::from_json(&schedule.parameters);
            self.start(&params, JobTrigger::Schedule).await?;
        }
        Ok(())
    }

    /// Holding the lease, runs every pending purge, oldest first; a run
    /// left `Running` by a dead instance is marked failed.
    async fn run_pending(&self) -> Result<()> {
        let pending = self.jobs.next_pending_job(JobKind::PurgeAudit).await?;
        let orphans = self.jobs.running_jobs(JobKind::PurgeAudit).await?;
        if pending.is_none() && orphans.is_empty() {
            return Ok(());
        }
        if !self
            .leases
            .acquire_lease(LEASE, &self.holder, LEASE_TTL)
            .await?
        {
            return Ok(());
        }
        let outcome = async {
            for orphan in orphans {
                let _ = self
                    .jobs
                    .append_job_log(orphan.id, "the instance running this purge stopped\n")
                    .await;
                self.jobs
                    .update_job(orphan.id, JobStatus::Error, None)
                    .await?;
            }
            while let Some(run) = self.jobs.next_pending_job(JobKind::PurgeAudit).await? {
                if self
                    .jobs
                    .update_job(run.id, JobStatus::Running, None)
                    .await?
                {
                    self.run_one(run).await?;
                }
            }
            Ok(())
        }
        .await;
        let _ = self.leases.release_lease(LEASE, &self.holder).await;
        outcome
    }

    async fn run_one(&self, run: JobRecord) -> Result<()> {
        let mut params = PurgeParameters::from_json(&run.parameters);
        let now = Utc::now().to_rfc3339();
        let mut log = format!(
            "{now} audit log purge {} started ({}): audit_retention_hour={} include_operations={} dry_run={}\n",
            run.id,
            run.trigger.as_str(),
            params.audit_retention_hour,
            params.include_operations,
            params.dry_run
        );
        let before = SystemTime::now()
            .checked_sub(Duration::from_secs(params.audit_retention_hour * 3600))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let outcome = match params.operations() {
            Ok(ops) => {
                self.identity
                    .purge_audit(before, &ops, params.dry_run)
                    .await
            }
            Err(e) => Err(e),
        };
        let status = match outcome {
            Ok(n) => {
                log.push_str(&format!(
                    "{} done: {n} audit log entries {}\n",
                    Utc::now().to_rfc3339(),
                    if params.dry_run { "to purge" } else { "purged" }
                ));
                params.purged = Some(n);
                JobStatus::Success
            }
            Err(e) => {
                log.push_str(&format!("{} failed: {e}\n", Utc::now().to_rfc3339()));
                JobStatus::Error
            }
        };
        self.jobs.append_job_log(run.id, &log).await?;
        self.jobs
            .update_job(run.id, status, Some(&params.to_json()))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_as_the_api_takes_them() {
        let p = PurgeParameters::from_json(
            r#"{"audit_retention_hour":24,"include_operations":"create,PULL","dry_run":true}"#,
        );
        assert_eq!(
            p.operations().ok(),
            Some(vec![AuditOperation::Create, AuditOperation::Pull])
        );
        assert!(p.validate().is_ok());
        let none = PurgeParameters {
            audit_retention_hour: 0,
            ..PurgeParameters::default()
        };
        assert!(none.validate().is_err());
        let bad = PurgeParameters {
            include_operations: "create,frobnicate".into(),
            ..PurgeParameters::default()
        };
        assert!(bad.validate().is_err());
    }
}
