//! Replication state: registry endpoints, policies, executions and their
//! tasks, and the `ReplicationStore` trait that persists them (implemented by
//! the same backends as `MetaStore`).

use std::fmt::{self, Debug};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::Result;
use crate::identity::Page;

/// A remote registry replication talks to.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Adapter type: `docker-registry`, `harbor`, or a vendor's.
    pub kind: RegistryType,
    /// Base URL.
    pub url: String,
    /// The credential, encrypted by the caller (the store never sees it in clear).
    pub credential: Option<String>,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Free text.
    pub description: String,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

impl Debug for RegistryRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// The type of a remote registry: which adapter talks to it.
///
/// The built-in types are variants; a vendor's adapter registered at run
/// time (as `object_store` lets a program bring its own store) is `Other`,
/// by name. Equality, ordering and hashing go by the name, so an
/// `Other("harbor")` built by hand is the same type as `Harbor`, and a type
/// that becomes a variant later stays equal to the `Other` it was. Stored and
/// serialized as the plain name (`"docker-registry"`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RegistryType {
    /// Any OCI distribution v2 registry: `docker-registry`.
    DockerRegistry,
    /// A Harbor, which adds projects (`/api/v2.0`) to distribution: `harbor`.
    Harbor,
    /// Any other type, by its name.
    Other(String),
}

impl RegistryType {
    /// The type's name, as Harbor's API and the store spell it.
    pub fn as_str(&self) -> &str {
        match self {
            RegistryType::DockerRegistry => "docker-registry",
            RegistryType::Harbor => "harbor",
            RegistryType::Other(name) => name,
        }
    }

    /// The type named `name`; a name that is not built in is `Other`, so
    /// that types registered at run time round-trip through the store.
    pub fn parse(name: &str) -> RegistryType {
        match name {
            "docker-registry" => RegistryType::DockerRegistry,
            "harbor" => RegistryType::Harbor,
            other => RegistryType::Other(other.to_owned()),
        }
    }
}

impl PartialEq for RegistryType {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RegistryType {}

impl std::hash::Hash for RegistryType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for RegistryType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RegistryType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for RegistryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RegistryType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(RegistryType::parse(s))
    }
}

impl serde::Serialize for RegistryType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RegistryType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(RegistryType::parse(&name))
    }
}

/// A stored replication policy: its name and its definition (JSON, in
/// Harbor's shape, owned by `harbor-replicate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The policy as JSON.
    pub definition: String,
    /// Created.
    pub created_at: SystemTime,
    /// Last changed.
    pub updated_at: SystemTime,
}

/// What started an execution, with Harbor's names (`trigger.type` of a
/// policy, `trigger` of an execution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TriggerKind {
    /// Someone asked for it (`POST /replication/executions`).
    Manual,
    /// A cron schedule fired.
    Scheduled,
    /// A push or a delete in the local registry.
    EventBased,
}

impl TriggerKind {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Manual => "manual",
            TriggerKind::Scheduled => "scheduled",
            TriggerKind::EventBased => "event_based",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<TriggerKind> {
        Some(match s {
            "manual" => TriggerKind::Manual,
            "scheduled" => TriggerKind::Scheduled,
            "event_based" => TriggerKind::EventBased,
            _ => return None,
        })
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a replication task does to its artifact, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskOperation {
    /// Copy it to the destination.
    Copy,
    /// Delete it at the destination.
    Deletion,
}

impl TaskOperation {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOperation::Copy => "copy",
            TaskOperation::Deletion => "deletion",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<TaskOperation> {
        Some(match s {
            "copy" => TaskOperation::Copy,
            "deletion" => TaskOperation::Deletion,
            _ => return None,
        })
    }
}

impl fmt::Display for TaskOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an execution or a task stands, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Waiting to run.
    Pending,
    /// Running.
    InProgress,
    /// Done, successfully.
    Succeeded,
    /// Done, with a failure.
    Failed,
    /// Stopped on request.
    Stopped,
}

impl RunStatus {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "Pending",
            RunStatus::InProgress => "InProgress",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Stopped => "Stopped",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "Pending" => RunStatus::Pending,
            "InProgress" => RunStatus::InProgress,
            "Succeeded" => RunStatus::Succeeded,
            "Failed" => RunStatus::Failed,
            "Stopped" => RunStatus::Stopped,
            _ => return None,
        })
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Stopped
        )
    }
}

/// One run of a policy, with its task counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Id.
    pub id: i64,
    /// The policy run.
    pub policy_id: i64,
    /// What started it.
    pub trigger: TriggerKind,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it ended as it did.
    pub status_text: String,
    /// Started.
    pub start_time: SystemTime,
    /// Ended.
    pub end_time: Option<SystemTime>,
    /// Tasks in all.
    pub total: u64,
    /// Tasks succeeded.
    pub succeeded: u64,
    /// Tasks failed.
    pub failed: u64,
    /// Tasks running or waiting.
    pub in_progress: u64,
    /// Tasks stopped.
    pub stopped: u64,
}

/// A task to create: one artifact to copy or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Copy or delete.
    pub operation: TaskOperation,
    /// Source, e.g. `library/nginx:1.25`.
    pub src_resource: String,
    /// Destination, e.g. `mirror/nginx:1.25`.
    pub dst_resource: String,
}

/// One task of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// Id.
    pub id: i64,
    /// Its execution.
    pub execution_id: i64,
    /// Copy or delete.
    pub operation: TaskOperation,
    /// Source resource.
    pub src_resource: String,
    /// Destination resource.
    pub dst_resource: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Started.
    pub start_time: Option<SystemTime>,
    /// Ended.
    pub end_time: Option<SystemTime>,
}

/// Persistence of replication state. Each method is atomic.
#[async_trait]
pub trait ReplicationStore: Debug + Send + Sync + 'static {
    /// Creates an endpoint; `CONFLICT` if the name is taken.
    async fn create_registry(&self, r: &RegistryRecord) -> Result<RegistryRecord>;
    /// An endpoint by id.
    async fn registry(&self, id: i64) -> Result<Option<RegistryRecord>>;
    /// Every endpoint, by id.
    async fn list_registries(&self) -> Result<Vec<RegistryRecord>>;
    /// Replaces an endpoint's fields (by id).
    async fn update_registry(&self, r: &RegistryRecord) -> Result<bool>;
    /// Deletes an endpoint.
    async fn delete_registry(&self, id: i64) -> Result<bool>;

    /// Stores a policy; `CONFLICT` if the name is taken.
    async fn create_policy(&self, name: &str, definition: &str) -> Result<PolicyRecord>;
    /// A policy by id.
    async fn policy(&self, id: i64) -> Result<Option<PolicyRecord>>;
    /// Every policy, by id.
    async fn list_policies(&self) -> Result<Vec<PolicyRecord>>;
    /// Replaces a policy's name and definition.
    async fn update_policy(&self, id: i64, name: &str, definition: &str) -> Result<bool>;
    /// Deletes a policy and its executions.
    async fn delete_policy(&self, id: i64) -> Result<bool>;

    /// Starts recording an execution (status InProgress).
    async fn create_execution(&self, policy_id: i64, trigger: TriggerKind) -> Result<Execution>;
    /// An execution with its counts.
    async fn execution(&self, id: i64) -> Result<Option<Execution>>;
    /// Executions (of one policy, or all), newest first, one page and the total.
    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        page: Page,
    ) -> Result<(Vec<Execution>, u64)>;
    /// Executions not yet final, for recovery after a crash.
    async fn unfinished_executions(&self) -> Result<Vec<Execution>>;
    /// Ends (or updates) an execution.
    async fn set_execution_status(&self, id: i64, status: RunStatus, text: &str) -> Result<bool>;

    /// Adds Pending tasks to an execution.
    async fn create_tasks(&self, execution_id: i64, tasks: &[NewTask]) -> Result<Vec<TaskRecord>>;
    /// An execution's tasks, by id.
    async fn tasks(&self, execution_id: i64) -> Result<Vec<TaskRecord>>;
    /// One task.
    async fn task(&self, id: i64) -> Result<Option<TaskRecord>>;
    /// Moves a task to `status` (setting its start on InProgress and its end on a final status).
    async fn set_task_status(&self, id: i64, status: RunStatus, attempts: u32) -> Result<bool>;
    /// Appends a line to a task's log.
    async fn append_task_log(&self, id: i64, line: &str) -> Result<()>;
    /// A task's log.
    async fn task_log(&self, id: i64) -> Result<Option<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_types_parse_by_name_and_unknown_names_are_other() {
        assert_eq!(
            RegistryType::parse("docker-registry"),
            RegistryType::DockerRegistry
        );
        assert_eq!(RegistryType::parse("harbor"), RegistryType::Harbor);
        let quay = RegistryType::parse("quay");
        assert!(matches!(&quay, RegistryType::Other(n) if n == "quay"));
        assert_eq!(quay.to_string(), "quay");
        assert_eq!(RegistryType::Other("harbor".into()), RegistryType::Harbor);
    }

    #[test]
    fn registry_types_serialize_as_their_plain_name() {
        let json = serde_json::to_string(&RegistryType::DockerRegistry).unwrap_or_default();
        assert_eq!(json, r#""docker-registry""#);
        let back: Option<RegistryType> = serde_json::from_str(r#""gitlab""#).ok();
        assert_eq!(back, Some(RegistryType::Other("gitlab".into())));
    }
}
