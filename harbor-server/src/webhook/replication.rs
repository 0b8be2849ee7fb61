//! `REPLICATION` events: when an execution this instance drove ends, one
//! event per local project it copied from (push mode) or into (pull mode),
//! in Harbor's `event_data.replication` shape.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use harbor_core::{RunStatus, TaskRecord, TriggerKind};
use harbor_replicate::{parse_policy, ReplicationService};
use serde_json::{json, Value};

use super::WebhookEvent;

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Harbor's spelling of what started an execution.
fn trigger_name(t: TriggerKind) -> &'static str {
    match t {
        TriggerKind::Manual => "MANUAL",
        TriggerKind::Scheduled => "SCHEDULE",
        TriggerKind::EventBased => "EVENT_BASED",
        _ => "MANUAL",
    }
}

/// Harbor's spelling of how a run or task ended.
fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "Success",
        RunStatus::Failed => "Failure",
        RunStatus::Stopped => "Stopped",
        RunStatus::Pending | RunStatus::InProgress => "Running",
    }
}

fn namespace(resource: &str) -> &str {
    resource.split('/').next().unwrap_or(resource)
}

fn artifacts(tasks: &[TaskRecord], ok: bool) -> Vec<Value> {
    tasks
        .iter()
        .filter(|t| (t.status == RunStatus::Succeeded) == ok)
        .map(|t| {
            json!({
                "type": "image",
                "status": status_name(t.status),
                "name_tag": t.src_resource,
            })
        })
        .collect()
}

/// One end of a policy (Harbor's `src_resource` / `dest_resource`): a
/// stored endpoint, or this registry when `registry` is `None`.
async fn end(service: &ReplicationService, registry: Option<i64>, ns: &str) -> Value {
    let mut v = match registry {
        Some(rid) => match service.store.registry(rid).await {
            Ok(Some(r)) => json!({
                "registry_name": r.name,
                "registry_type": r.kind.as_str(),
                "endpoint": r.url,
            }),
            _ => json!({}),
        },
        None => json!({ "registry_type": "harbor" }),
    };
    v["namespace"] = json!(ns);
    v
}

/// The events of execution `id`: none if it cannot be read (logged).
pub(super) async fn events(service: &ReplicationService, id: i64) -> Vec<WebhookEvent> {
    match build(service, id).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(execution = id, error = %e, "building the REPLICATION webhook event failed");
            Vec::new()
        }
    }
}

async fn build(
    service: &ReplicationService,
    id: i64,
) -> harbor_replicate::Result<Vec<WebhookEvent>> {
    let Some(execution) = service.store.execution(id).await? else {
        return Ok(Vec::new());
    };
    let Some(record) = service.store.policy(execution.policy_id).await? else {
        return Ok(Vec::new());
    };
    let policy = parse_policy(record.id, &record.definition)?;
    let tasks = service.store.tasks(id).await?;
    let pull_mode = policy.src_registry.is_some();
    let src_ns = tasks
        .first()
        .map(|t| namespace(&t.src_resource))
        .unwrap_or("");
    let dst_ns = tasks
        .first()
        .map(|t| namespace(&t.dst_resource))
        .unwrap_or("");
    let replication = json!({
        "job_status": status_name(execution.status),
        "artifact_type": "image",
        "authentication_type": "basic",
        "override_mode": policy.override_tags,
        "trigger_type": trigger_name(execution.trigger),
        "policy_creator": "admin",
        "execution_timestamp": secs(execution.start_time),
        "src_resource": end(service, policy.src_registry.as_ref().map(|r| r.id), src_ns).await,
        "dest_resource": end(service, policy.dest_registry.as_ref().map(|r| r.id), dst_ns).await,
        "successful_artifact": artifacts(&tasks, true),
        "failed_artifact": artifacts(&tasks, false),
    });
    // The local projects the execution touched.
    let projects: BTreeSet<&str> = tasks
        .iter()
        .map(|t| {
            namespace(if pull_mode {
                &t.dst_resource
            } else {
                &t.src_resource
            })
        })
        .collect();
    let at = execution.end_time.unwrap_or_else(SystemTime::now);
    Ok(projects
        .into_iter()
        .map(|project| WebhookEvent::Replication {
            project: project.to_owned(),
            trigger: trigger_name(execution.trigger),
            replication: replication.clone(),
            at,
        })
        .collect())
}
