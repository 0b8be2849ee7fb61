//! Persistence of retention policies, their executions, tasks and logs.

use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{PolicySpec, RetentionPolicy};
use crate::error::Result;
use crate::identity::Page;
use crate::jobs::JobTrigger;

/// Where an execution or a task stands, with Harbor's retention names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionStatus {
    /// Running, or waiting for an instance to run it.
    InProgress,
    /// Done.
    Succeed,
    /// Failed (an error, or its instance died).
    Failed,
    /// Stopped on request.
    Stopped,
}

impl RetentionStatus {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionStatus::InProgress => "InProgress",
            RetentionStatus::Succeed => "Succeed",
            RetentionStatus::Failed => "Failed",
            RetentionStatus::Stopped => "Stopped",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<RetentionStatus> {
        Some(match s {
            "InProgress" => RetentionStatus::InProgress,
            "Succeed" => RetentionStatus::Succeed,
            "Failed" => RetentionStatus::Failed,
            "Stopped" => RetentionStatus::Stopped,
            _ => return None,
        })
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        self != RetentionStatus::InProgress
    }
}

/// What a new execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRetentionExecution {
    /// The policy it runs.
    pub policy_id: i64,
    /// What started it.
    pub trigger: JobTrigger,
    /// Only report what a real run would delete.
    pub dry_run: bool,
}

/// One run of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionExecution {
    /// Id.
    pub id: i64,
    /// The policy.
    pub policy_id: i64,
    /// What started it.
    pub trigger: JobTrigger,
    /// Whether it only reports.
    pub dry_run: bool,
    /// Where it stands.
    pub status: RetentionStatus,
    /// Whether a stop was asked for (through any instance).
    pub stop_requested: bool,
    /// Created.
    pub start_time: SystemTime,
    /// Ended, once final.
    pub end_time: Option<SystemTime>,
}

/// The part of an execution for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionTask {
    /// Id.
    pub id: i64,
    /// Its execution.
    pub execution_id: i64,
    /// The repository's full name.
    pub repository: String,
    /// Where it stands.
    pub status: RetentionStatus,
    /// Artifacts looked at.
    pub total: u64,
    /// Artifacts kept.
    pub retained: u64,
    /// Created.
    pub start_time: SystemTime,
    /// Ended, once final.
    pub end_time: Option<SystemTime>,
}

/// Storage of retention policies (one per project, deleted with it),
/// executions (deleted with their policy), tasks and their logs. Every
/// backend runs the suite in `harbor-storage`'s `conformance::retention`.
#[async_trait]
pub trait RetentionStore: Debug + Send + Sync + 'static {
    /// Stores a policy for `spec.project_id`; `CONFLICT` if the project
    /// has one, `NOT_FOUND` without the project.
    async fn create_retention_policy(&self, spec: &PolicySpec) -> Result<RetentionPolicy>;

    /// Policy `id`.
    async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicy>>;

    /// The policy of project `project_id`, if it has one.
    async fn retention_policy_of_project(&self, project_id: i64)
        -> Result<Option<RetentionPolicy>>;

    /// Replaces policy `id`'s rules and schedule (its project stays);
    /// `false` without it.
    async fn update_retention_policy(&self, id: i64, spec: &PolicySpec) -> Result<bool>;

    /// Deletes policy `id` with its executions; `false` without it.
    async fn delete_retention_policy(&self, id: i64) -> Result<bool>;

    /// Every policy that has a schedule, for the cron trigger.
    async fn scheduled_retention_policies(&self) -> Result<Vec<RetentionPolicy>>;

    /// Records a new execution, `InProgress`.
    async fn create_retention_execution(
        &self,
        new: &NewRetentionExecution,
    ) -> Result<RetentionExecution>;

    /// Execution `id`.
    async fn retention_execution(&self, id: i64) -> Result<Option<RetentionExecution>>;

    /// A page of policy `policy_id`'s executions, newest first, and the
    /// total.
    async fn list_retention_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionExecution>, u64)>;

    /// Executions still `InProgress`, oldest first, for an instance to run
    /// or to end.
    async fn unfinished_retention_executions(&self) -> Result<Vec<RetentionExecution>>;

    /// Ends execution `id` with `status` (a final one) and the end time;
    /// `false` if unknown or already final.
    async fn finish_retention_execution(&self, id: i64, status: RetentionStatus) -> Result<bool>;

    /// Asks execution `id` to stop; `false` if unknown or already final.
    async fn request_retention_stop(&self, id: i64) -> Result<bool>;

    /// Records a task of execution `execution_id` for `repository`,
    /// `InProgress`.
    async fn create_retention_task(
        &self,
        execution_id: i64,
        repository: &str,
    ) -> Result<RetentionTask>;

    /// Ends task `id` with `status` and its counts; `false` if unknown.
    async fn finish_retention_task(
        &self,
        id: i64,
        status: RetentionStatus,
        total: u64,
        retained: u64,
    ) -> Result<bool>;

    /// Task `id`.
    async fn retention_task(&self, id: i64) -> Result<Option<RetentionTask>>;

    /// A page of execution `execution_id`'s tasks by id, and the total.
    async fn list_retention_tasks(
        &self,
        execution_id: i64,
        page: Page,
    ) -> Result<(Vec<RetentionTask>, u64)>;

    /// Adds `text` to task `id`'s log.
    async fn append_retention_task_log(&self, id: i64, text: &str) -> Result<()>;

    /// Task `id`'s log; `None` if the task is unknown.
    async fn retention_task_log(&self, id: i64) -> Result<Option<String>>;
}
