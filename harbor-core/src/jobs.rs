//! System jobs (garbage collection now; audit-log purging and others
//! later): their runs, logs and schedules, kept in the metadata store so
//! that every instance of a cluster sees the same history and any instance
//! can run, stop or schedule them. Harbor keeps these as "executions" of a
//! "vendor type"; the names here are Harbor's.

use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::Result;
use crate::identity::Page;

/// Which job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobKind {
    /// Garbage collection (`GARBAGE_COLLECTION`).
    GarbageCollection,
    /// Audit log purge (`PURGE_AUDIT_LOG`).
    PurgeAudit,
}

impl JobKind {
    /// Harbor's name (the `job_name` of a history entry).
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::GarbageCollection => "GARBAGE_COLLECTION",
            JobKind::PurgeAudit => "PURGE_AUDIT_LOG",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "GARBAGE_COLLECTION" => Some(JobKind::GarbageCollection),
            "PURGE_AUDIT_LOG" => Some(JobKind::PurgeAudit),
            _ => None,
        }
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobTrigger {
    /// Someone asked for it (`MANUAL`).
    Manual,
    /// Its schedule came due (`SCHEDULE`).
    Schedule,
}

impl JobTrigger {
    /// Harbor's name (the `job_kind` of a history entry).
    pub fn as_str(self) -> &'static str {
        match self {
            JobTrigger::Manual => "MANUAL",
            JobTrigger::Schedule => "SCHEDULE",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<JobTrigger> {
        match s {
            "MANUAL" => Some(JobTrigger::Manual),
            "SCHEDULE" => Some(JobTrigger::Schedule),
            _ => None,
        }
    }
}

/// Where a run stands, with Harbor's job service names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for an instance to take it.
    Pending,
    /// Running.
    Running,
    /// Done.
    Success,
    /// Failed, or its instance died.
    Error,
    /// Stopped on request.
    Stopped,
}

impl JobStatus {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "Pending",
            JobStatus::Running => "Running",
            JobStatus::Success => "Success",
            JobStatus::Error => "Error",
            JobStatus::Stopped => "Stopped",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "Pending" => JobStatus::Pending,
            "Running" => JobStatus::Running,
            "Success" => JobStatus::Success,
            "Error" => JobStatus::Error,
            "Stopped" => JobStatus::Stopped,
            _ => return None,
        })
    }

    /// Whether nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Error | JobStatus::Stopped
        )
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Id.
    pub id: i64,
    /// Which job.
    pub kind: JobKind,
    /// What started it.
    pub trigger: JobTrigger,
    /// Its parameters and, once done, its results: a JSON object (Harbor's
    /// `job_parameters`).
    pub parameters: String,
    /// Where it stands.
    pub status: JobStatus,
    /// Whether a stop was asked for (by any instance).
    pub stop_requested: bool,
    /// Created.
    pub creation_time: SystemTime,
    /// Last changed.
    pub update_time: SystemTime,
}

/// How a schedule was given (Harbor's `ScheduleObj.type`); each is a cron
/// expression in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleType {
    /// At minute 0 of every hour.
    Hourly,
    /// At midnight every day.
    Daily,
    /// At midnight every Sunday.
    Weekly,
    /// The cron expression given.
    Custom,
}

impl ScheduleType {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleType::Hourly => "Hourly",
            ScheduleType::Daily => "Daily",
            ScheduleType::Weekly => "Weekly",
            ScheduleType::Custom => "Custom",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<ScheduleType> {
        Some(match s {
            "Hourly" => ScheduleType::Hourly,
            "Daily" => ScheduleType::Daily,
            "Weekly" => ScheduleType::Weekly,
            "Custom" => ScheduleType::Custom,
            _ => return None,
        })
    }

    /// The cron expression of the fixed types, in Harbor's notation (six
    /// fields, seconds first, weekdays 0 to 6 from Sunday).
    pub fn fixed_cron(self) -> Option<&'static str> {
        match self {
            ScheduleType::Hourly => Some("0 0 * * * *"),
            ScheduleType::Daily => Some("0 0 0 * * *"),
            ScheduleType::Weekly => Some("0 0 0 * * 0"),
            ScheduleType::Custom => None,
        }
    }
}

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSchedule {
    /// How it was given.
    pub schedule_type: ScheduleType,
    /// The cron expression in Harbor's notation (six fields, seconds
    /// first, weekdays 0 to 6 from Sunday).
    pub cron: String,
    /// The parameters each run gets: a JSON object.
    pub parameters: String,
    /// Created (set by the store).
    pub creation_time: SystemTime,
    /// Last changed (set by the store).
    pub update_time: SystemTime,
}

/// Storage of job runs, their logs and schedules. Every backend runs the
/// shared conformance suite in `harbor-storage`.
#[async_trait]
pub trait JobStore: Debug + Send + Sync + 'static {
    /// Records a new run, `Pending`.
    async fn create_job(
        &self,
        kind: JobKind,
        trigger: JobTrigger,
        parameters: &str,
    ) -> Result<JobRecord>;

    /// One run.
    async fn job(&self, id: i64) -> Result<Option<JobRecord>>;

    /// Runs of `kind`, newest first, one page and the total.
    async fn list_jobs(&self, kind: JobKind, page: Page) -> Result<(Vec<JobRecord>, u64)>;

    /// The oldest `Pending` run of `kind`, for an instance to take.
    async fn next_pending_job(&self, kind: JobKind) -> Result<Option<JobRecord>>;

    /// Runs of `kind` left `Running`.
    async fn running_jobs(&self, kind: JobKind) -> Result<Vec<JobRecord>>;

    /// Moves a run to `status` (and, when given, replaces its parameters
    /// with `parameters`); `false` if the run is unknown or already final.
    async fn update_job(
        &self,
        id: i64,
        status: JobStatus,
        parameters: Option<&str>,
    ) -> Result<bool>;

    /// Asks a run to stop; `false` if it is unknown or already final.
    async fn request_job_stop(&self, id: i64) -> Result<bool>;

    /// Adds `text` to a run's log.
    async fn append_job_log(&self, id: i64, text: &str) -> Result<()>;

    /// A run's log; `None` if the run is unknown.
    async fn job_log(&self, id: i64) -> Result<Option<String>>;

    /// The schedule of `kind`, if any.
    async fn job_schedule(&self, kind: JobKind) -> Result<Option<JobSchedule>>;

    /// Sets (`Some`) or removes (`None`) the schedule of `kind`. The store
    /// sets the times: a replaced schedule keeps its creation time.
    async fn set_job_schedule(&self, kind: JobKind, schedule: Option<&JobSchedule>) -> Result<()>;
}
