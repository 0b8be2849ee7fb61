//! Webhooks: a project's policies (which events go to which targets) and
//! the durable queue their deliveries wait in. Harbor's names throughout:
//! a policy's events become *executions*, one per event and policy, each
//! with one *task* per target; a task is one delivery, retried until it
//! succeeds or runs out of attempts, each attempt written to its log.
//!
//! The queue lives in the store every instance shares, so that a delivery
//! outlives the process that queued it and is taken by exactly one
//! instance: [`WebhookStore::claim_deliveries`] leases tasks, and a lease
//! that runs out (its instance died) hands the task to the next claimer.

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::identity::Page;

/// What happened, by Harbor's event type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WebhookEventType {
    /// A manifest was pushed (`PUSH_ARTIFACT`).
    PushArtifact,
    /// A manifest was pulled (`PULL_ARTIFACT`).
    PullArtifact,
    /// An artifact was deleted (`DELETE_ARTIFACT`).
    DeleteArtifact,
    /// A push left a project's usage past its warning level (`QUOTA_WARNING`).
    QuotaWarning,
    /// A push was refused for its project's quota (`QUOTA_EXCEED`).
    QuotaExceed,
    /// A replication execution ended (`REPLICATION`).
    Replication,
    /// A tag retention run ended (`TAG_RETENTION`).
    TagRetention,
}

impl WebhookEventType {
    /// Every type, in Harbor's order.
    pub const ALL: [WebhookEventType; 7] = [
        WebhookEventType::DeleteArtifact,
        WebhookEventType::PullArtifact,
        WebhookEventType::PushArtifact,
        WebhookEventType::QuotaExceed,
        WebhookEventType::QuotaWarning,
        WebhookEventType::Replication,
        WebhookEventType::TagRetention,
    ];

    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::PushArtifact => "PUSH_ARTIFACT",
            WebhookEventType::PullArtifact => "PULL_ARTIFACT",
            WebhookEventType::DeleteArtifact => "DELETE_ARTIFACT",
            WebhookEventType::QuotaWarning => "QUOTA_WARNING",
            WebhookEventType::QuotaExceed => "QUOTA_EXCEED",
            WebhookEventType::Replication => "REPLICATION",
            WebhookEventType::TagRetention => "TAG_RETENTION",
        }
    }

    /// The CloudEvents `type` Harbor gives it.
    pub fn cloud_event_type(self) -> &'static str {
        match self {
            WebhookEventType::PushArtifact => "harbor.artifact.pushed",
            WebhookEventType::PullArtifact => "harbor.artifact.pulled",
            WebhookEventType::DeleteArtifact => "harbor.artifact.deleted",
            WebhookEventType::QuotaWarning => "harbor.quota.warned",
            WebhookEventType::QuotaExceed => "harbor.quota.exceeded",
            WebhookEventType::Replication => "harbor.replication.status.changed",
            WebhookEventType::TagRetention => "harbor.tag_retention.finished",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<WebhookEventType> {
        WebhookEventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// How a target is notified (Harbor's `NotifyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyType {
    /// A JSON `POST` to the address.
    Http,
    /// A message to a Slack incoming-webhook address.
    Slack,
}

impl NotifyType {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyType::Http => "http",
            NotifyType::Slack => "slack",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<NotifyType> {
        match s {
            "http" => Some(NotifyType::Http),
            "slack" => Some(NotifyType::Slack),
            _ => None,
        }
    }
}

/// The shape of an `http` target's body (Harbor's `PayloadFormatType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PayloadFormat {
    /// Harbor's own JSON (`Default`).
    #[default]
    Default,
    /// A CloudEvents 1.0 structured-mode event (`CloudEvents`).
    CloudEvents,
}

impl PayloadFormat {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Default => "Default",
            PayloadFormat::CloudEvents => "CloudEvents",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<PayloadFormat> {
        match s {
            "Default" => Some(PayloadFormat::Default),
            "CloudEvents" => Some(PayloadFormat::CloudEvents),
            _ => None,
        }
    }
}

/// Where a policy sends its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// How.
    pub notify_type: NotifyType,
    /// The URL.
    pub address: String,
    /// Sent as the `Authorization` header when not empty.
    #[serde(default)]
    pub auth_header: String,
    /// Whether a TLS certificate the machine does not trust is accepted.
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// The body's shape.
    #[serde(default)]
    pub payload_format: PayloadFormat,
    /// The key that signs each delivery (Standard Webhooks), as the caller
    /// keeps it: the server stores it sealed and never shows it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A project's webhook policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Id (set by the store).
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// Unique in the project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Where events go.
    pub targets: Vec<WebhookTarget>,
    /// Which events.
    pub event_types: Vec<WebhookEventType>,
    /// Who created it.
    pub creator: String,
    /// Whether events reach it.
    pub enabled: bool,
    /// Created (set by the store).
    pub creation_time: SystemTime,
    /// Last changed (set by the store).
    pub update_time: SystemTime,
}

/// Where an execution or a delivery stands (Harbor's job status names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// An instance is sending it.
    Running,
    /// Delivered (answered 2xx).
    Success,
    /// Every attempt failed.
    Error,
}

impl DeliveryStatus {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "Pending",
            DeliveryStatus::Running => "Running",
            DeliveryStatus::Success => "Success",
            DeliveryStatus::Error => "Error",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Some(match s {
            "Pending" => DeliveryStatus::Pending,
            "Running" => DeliveryStatus::Running,
            "Success" => DeliveryStatus::Success,
            "Error" => DeliveryStatus::Error,
            _ => return None,
        })
    }
}

/// A delivery to queue: one target's copy of an event, its body rendered
/// once so that every attempt sends the same bytes (and signature input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The target, as the policy had it when the event happened.
    pub target: WebhookTarget,
    /// The body.
    pub body: String,
    /// Its `Content-Type`.
    pub content_type: String,
}

/// An event for one policy, to queue: an execution with its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookExecution {
    /// The policy.
    pub policy_id: i64,
    /// What happened.
    pub event_type: WebhookEventType,
    /// The event in Harbor's default payload (the execution's
    /// `extra_attrs.payload`).
    pub payload: String,
    /// One per target.
    pub deliveries: Vec<NewDelivery>,
}

/// One event for one policy, as listed (Harbor's `Execution`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookExecution {
    /// Id.
    pub id: i64,
    /// The policy.
    pub policy_id: i64,
    /// What happened.
    pub event_type: WebhookEventType,
    /// The event's default payload.
    pub payload: String,
    /// Pending while a delivery waits, else Success or Error.
    pub status: DeliveryStatus,
    /// Queued.
    pub start_time: SystemTime,
    /// When its last delivery ended.
    pub end_time: Option<SystemTime>,
}

/// One delivery, as listed (Harbor's `Task`); also what an instance sends
/// when it claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTask {
    /// Id; the Standard Webhooks message id is derived from it, the same
    /// for every attempt.
    pub id: i64,
    /// Its execution.
    pub execution_id: i64,
    /// Its policy.
    pub policy_id: i64,
    /// What happened.
    pub event_type: WebhookEventType,
    /// Where it goes.
    pub target: WebhookTarget,
    /// The body.
    pub body: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts begun so far.
    pub run_count: u32,
    /// Queued.
    pub creation_time: SystemTime,
    /// Last changed.
    pub update_time: SystemTime,
    /// When it is next due (while pending).
    pub next_attempt: SystemTime,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered.
    Delivered,
    /// Failed; try again at this time.
    RetryAt(SystemTime),
    /// Failed for the last time.
    GaveUp,
}

/// The last time each of a project's policies fired for each of its event
/// types (Harbor's `WebhookLastTrigger`, less the policy's own fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastTrigger {
    /// The policy.
    pub policy_id: i64,
    /// The event type.
    pub event_type: WebhookEventType,
    /// When its last execution was queued.
    pub last_trigger_time: SystemTime,
}

/// Webhook policies and the queue of their deliveries, persisted; shared
/// by every instance of a cluster.
#[async_trait]
pub trait WebhookStore: Debug + Send + Sync + 'static {
    /// Stores a new policy (its id and times are set here) and returns it;
    /// `Conflict` if the project has a policy of that name.
    async fn create_webhook_policy(&self, policy: &WebhookPolicy) -> Result<WebhookPolicy>;

    /// A policy by id.
    async fn webhook_policy(&self, id: i64) -> Result<Option<WebhookPolicy>>;

    /// A project's policies (`None`: every project's), by id, and how many
    /// there are.
    async fn webhook_policies(
        &self,
        project_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<WebhookPolicy>, u64)>;

    /// Replaces a policy's name, description, targets, event types and
    /// enabled flag; `false` if there is no such policy; `Conflict` if the
    /// new name is taken in its project.
    async fn update_webhook_policy(&self, policy: &WebhookPolicy) -> Result<bool>;

    /// Deletes a policy with its executions and deliveries; `false` if
    /// there was none.
    async fn delete_webhook_policy(&self, id: i64) -> Result<bool>;

    /// Deletes a project's policies with their executions and deliveries.
    async fn delete_project_webhooks(&self, project_id: i64) -> Result<()>;

    /// Queues events, each with its deliveries, all in one transaction;
    /// the deliveries are due at once.
    async fn enqueue_webhooks(&self, executions: &[NewWebhookExecution]) -> Result<()>;

    /// Takes up to `limit` deliveries that are due (pending and due by
    /// `now`, or running under a lease that ran out) for `lease`: each is
    /// marked running with its attempt count raised, and no other claimer
    /// gets it until the lease runs out or it is finished.
    async fn claim_deliveries(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<WebhookTask>>;

    /// Records how an attempt of a claimed delivery ended, appending `log`
    /// to its log, and brings its execution's status up to date.
    async fn finish_delivery(&self, task_id: i64, outcome: AttemptOutcome, log: &str)
        -> Result<()>;

    /// A policy's executions, newest first, and how many there are.
    async fn webhook_executions(
        &self,
        policy_id: i64,
        page: Page,
    ) -> Result<(Vec<WebhookExecution>, u64)>;

    /// An execution by id.
    async fn webhook_execution(&self, id: i64) -> Result<Option<WebhookExecution>>;

    /// An execution's deliveries, by id.
    async fn webhook_tasks(&self, execution_id: i64) -> Result<Vec<WebhookTask>>;

    /// A delivery's log: a line per attempt.
    async fn webhook_task_log(&self, task_id: i64) -> Result<Option<String>>;

    /// When each policy of the project last fired, per event type.
    async fn webhook_last_triggers(&self, project_id: i64) -> Result<Vec<LastTrigger>>;

    /// How many deliveries wait to be sent or are being sent (the queue's
    /// length, for `harbor_task_queue_size`).
    async fn pending_deliveries(&self) -> Result<u64>;

    /// When the delivery that has waited longest to be sent became due:
    /// the earliest due time of those waiting (not being sent), for
    /// `harbor_task_queue_latency`; `None` when none waits.
    async fn oldest_due_delivery(&self) -> Result<Option<std::time::SystemTime>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(WebhookEventType::parse("SCANNING_FAILED"), None);
    }
}
