//! What happened, and the bodies Harbor sends for it: its own JSON
//! (`Default`), a CloudEvents 1.0 event, or a Slack message.

use std::time::{SystemTime, UNIX_EPOCH};

use harbor_core::{
    Digest, NotifyType, PayloadFormat, QuotaEvent, RepositoryName, WebhookEventType, WebhookPolicy,
    WebhookTarget,
};
use serde::Serialize;
use serde_json::{json, Value};

/// An event a webhook policy may subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A manifest pushed, pulled or deleted.
    Artifact {
        /// Push, pull or delete.
        kind: ArtifactAction,
        /// Where.
        repository: RepositoryName,
        /// Which manifest.
        digest: Digest,
        /// The tags it was pushed or pulled by, or had when deleted.
        tags: Vec<String>,
        /// Who (a user or robot name).
        operator: String,
        /// When.
        at: SystemTime,
    },
    /// A project's quota was nearly or over used.
    Quota {
        /// What the quota did.
        event: QuotaEvent,
        /// When.
        at: SystemTime,
    },
    /// A replication execution ended, as a project it copied from or into
    /// sees it.
    Replication {
        /// The project.
        project: String,
        /// What started the execution (`MANUAL`, `SCHEDULE`, `EVENT_BASED`).
        trigger: &'static str,
        /// Harbor's `event_data.replication`.
        replication: Value,
        /// When it ended.
        at: SystemTime,
    },
    /// A real tag retention run ended (`TAG_RETENTION`).
    TagRetention(RetentionOutcome),
}

/// What a tag retention run did, for its `TAG_RETENTION` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// The project's name.
    pub project: String,
    /// The policy's id.
    pub policy_id: i64,
    /// The policy's rules in Harbor's `RetentionRule` JSON.
    pub rules: Vec<Value>,
    /// Artifacts looked at.
    pub total: u64,
    /// Artifacts kept.
    pub retained: u64,
    /// Whether every task succeeded.
    pub success: bool,
    /// The artifacts deleted: repository, digest and the tags they had.
    pub deleted: Vec<(RepositoryName, Digest, Vec<String>)>,
    /// What started the run (`MANUAL` or `SCHEDULE`), Harbor's operator.
    pub operator: String,
    /// When it ended.
    pub at: SystemTime,
}

/// What was done to an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactAction {
    /// Pushed.
    Push,
    /// Pulled.
    Pull,
    /// Deleted.
    Delete,
}

impl ArtifactAction {
    /// Harbor's event type for it.
    pub fn event_type(self) -> WebhookEventType {
        match self {
            ArtifactAction::Push => WebhookEventType::PushArtifact,
            ArtifactAction::Pull => WebhookEventType::PullArtifact,
            ArtifactAction::Delete => WebhookEventType::DeleteArtifact,
        }
    }
}

impl WebhookEvent {
    /// Harbor's event type.
    pub fn event_type(&self) -> WebhookEventType {
        match self {
            WebhookEvent::Artifact { kind, .. } => kind.event_type(),
            WebhookEvent::Quota { event, .. } => match event {
                QuotaEvent::Warning { .. } => WebhookEventType::QuotaWarning,
                QuotaEvent::Exceeded { .. } => WebhookEventType::QuotaExceed,
            },
            WebhookEvent::Replication { .. } => WebhookEventType::Replication,
            WebhookEvent::TagRetention(_) => WebhookEventType::TagRetention,
        }
    }

    /// The repository it concerns, if one (none for a project-wide event).
    pub fn repository(&self) -> Option<&RepositoryName> {
        match self {
            WebhookEvent::Artifact { repository, .. } => Some(repository),
            WebhookEvent::Quota { event, .. } => Some(event.repository()),
            WebhookEvent::Replication { .. } => None,
            WebhookEvent::TagRetention(_) => None,
        }
    }

    /// The project it belongs to.
    pub fn project(&self) -> &str {
        match self {
            WebhookEvent::Replication { project, .. } => project,
            WebhookEvent::TagRetention(r) => &r.project,
            _ => self.repository().map_or("", |r| r.first_component()),
        }
    }
}

/// What a payload needs to know beyond the event.
#[derive(Debug, Clone)]
pub struct EventContext {
    /// The registry's host (and port), as clients address it.
    pub host: String,
    /// The project's id.
    pub project_id: i64,
    /// Whether the project is public.
    pub public: bool,
    /// When the repository was created, when known.
    pub repo_created: Option<SystemTime>,
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Harbor's `Resource`.
#[derive(Debug, Serialize)]
struct Resource {
    digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tag: String,
    resource_url: String,
}

/// Harbor's `event_data.retention` of a retention run.
fn retention_data(r: &RetentionOutcome, ctx: &EventContext) -> Value {
    let deleted: Vec<Value> = r
        .deleted
        .iter()
        .flat_map(|(repo, digest, tags)| {
            let name = |tag: &str| {
                if tag.is_empty() {
                    format!("{repo}@{digest}")
                } else {
                    format!("{repo}:{tag}")
                }
            };
            let tags: Vec<&str> = if tags.is_empty() {
                vec![""]
            } else {
                tags.iter().map(String::as_str).collect()
            };
            tags.into_iter()
                .map(|tag| {
                    json!({
                        "type": "image",
                        "status": "SUCCESS",
                        "name_tag": name(tag),
                        "tag": tag,
                        "digest": digest.to_string(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    json!({
        "retention": {
            "total": r.total,
            "retained": r.retained,
            "harbor_hostname": ctx.host,
            "project_name": r.project,
            "retention_policy_id": r.policy_id,
            "retention_rule": r.rules,
            "result": if r.success { "SUCCESS" } else { "FAILED" },
            "deleted_artifact": deleted,
        }
    })
}

/// Harbor's `event_data` of an event.
fn event_data(event: &WebhookEvent, ctx: &EventContext) -> Value {
    let (Some(repo), false) = (
        event.repository(),
        matches!(event, WebhookEvent::Replication { .. }),
    ) else {
        return match event {
            WebhookEvent::Replication { replication, .. } => {
                let mut r = replication.clone();
                r["harbor_hostname"] = json!(ctx.host);
                json!({ "replication": r })
            }
            WebhookEvent::TagRetention(r) => retention_data(r, ctx),
            _ => json!({}),
        };
    };
    let full = repo.as_str();
    let project = repo.first_component();
    let name = full
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(full);
    let mut repository = json!({
        "name": name,
        "namespace": project,
        "repo_full_name": full,
        "repo_type": if ctx.public { "public" } else { "private" },
    });
    if let Some(created) = ctx.repo_created {
        repository["date_created"] = json!(secs(created));
    }
    let by_tag = |digest: &Digest, tag: &str| Resource {
        digest: digest.to_string(),
        tag: tag.to_owned(),
        resource_url: format!("{}/{full}:{tag}", ctx.host),
    };
    let by_digest = |digest: &Digest| Resource {
        digest: digest.to_string(),
        tag: String::new(),
        resource_url: format!("{}/{full}@{digest}", ctx.host),
    };
    match event {
        WebhookEvent::Artifact { digest, tags, .. } => {
            let resources: Vec<Resource> = if tags.is_empty() {
                vec![by_digest(digest)]
            } else {
                tags.iter().map(|t| by_tag(digest, t)).collect()
            };
            json!({ "resources": resources, "repository": repository })
        }
        WebhookEvent::Quota { event, .. } => json!({
            "resources": [by_digest(event.digest())],
            "repository": repository,
            "custom_attributes": { "Details": event.details() },
        }),
        WebhookEvent::Replication { .. } => json!({}),
        WebhookEvent::TagRetention(r) => retention_data(r, ctx),
    }
}

fn operator(event: &WebhookEvent) -> &str {
    match event {
        WebhookEvent::Artifact { operator, .. } => operator,
        WebhookEvent::TagRetention(r) => &r.operator,
        WebhookEvent::Quota { .. } => "",
        WebhookEvent::Replication { trigger, .. } => trigger,
    }
}

fn occur_at(event: &WebhookEvent) -> SystemTime {
    match event {
        WebhookEvent::Artifact { at, .. }
        | WebhookEvent::Quota { at, .. }
        | WebhookEvent::Replication { at, .. } => *at,
        WebhookEvent::TagRetention(r) => r.at,
    }
}

/// Harbor's default payload: `type`, `occur_at`, `operator`, `event_data`.
pub fn default_payload(event: &WebhookEvent, ctx: &EventContext) -> Value {
    json!({
        "type": event.event_type().as_str(),
        "occur_at": secs(occur_at(event)),
        "operator": operator(event),
        "event_data": event_data(event, ctx),
    })
}

/// The body and content type one target gets.
pub fn render(
    event: &WebhookEvent,
    ctx: &EventContext,
    policy: &WebhookPolicy,
    target: &WebhookTarget,
    default: &Value,
) -> (String, &'static str) {
    match (target.notify_type, target.payload_format) {
        (NotifyType::Slack, _) => (slack(event, default), "application/json"),
        (NotifyType::Http, PayloadFormat::Default) => (default.to_string(), "application/json"),
        (NotifyType::Http, PayloadFormat::CloudEvents) => {
            let at = occur_at(event);
            let body = json!({
                "specversion": "1.0",
                "id": uuid::Uuid::new_v4().to_string(),
                "requestid": uuid::Uuid::new_v4().to_string(),
                "source": format!("/projects/{}/webhook/policies/{}", ctx.project_id, policy.id),
                "type": event.event_type().cloud_event_type(),
                "datacontenttype": "application/json",
                "time": humantime::format_rfc3339_seconds(at).to_string(),
                "data": event_data(event, ctx),
                "operator": operator(event),
            });
            (body.to_string(), "application/cloudevents+json")
        }
    }
}

/// A Slack message in Harbor's layout: the event type, time and operator,
/// then the event data as a code block.
fn slack(event: &WebhookEvent, default: &Value) -> String {
    let section =
        |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let data = serde_json::to_string_pretty(&default["event_data"]).unwrap_or_default();
    let at = occur_at(event);
    json!({
        "blocks": [
            section("*Harbor webhook events*".into()),
            section(format!("*event_type:* {}", event.event_type().as_str())),
            section(format!(
                "*occur_at:* <!date^{}^{{date}} at {{time}}|{}>",
                secs(at),
                humantime::format_rfc3339_seconds(at)
            )),
            section(format!("*operator:* {}", operator(event))),
            section("*event_data:*".into()),
            section(format!("```{data}```")),
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn push() -> WebhookEvent {
        WebhookEvent::Artifact {
            kind: ArtifactAction::Push,
            repository: RepositoryName::parse("lib/app/web").unwrap(),
            digest: Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            tags: vec!["v1".into()],
            operator: "alice".into(),
            at: UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        }
    }

    fn ctx() -> EventContext {
        EventContext {
            host: "reg.example:5000".into(),
            project_id: 3,
            public: false,
            repo_created: Some(UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000)),
        }
    }

    #[test]
    fn the_default_payload_has_harbors_fields() {
        let p = default_payload(&push(), &ctx());
        assert_eq!(p["type"], "PUSH_ARTIFACT");
        assert_eq!(p["occur_at"], 1_700_000_000);
        assert_eq!(p["operator"], "alice");
        let r = &p["event_data"]["resources"][0];
        assert_eq!(r["tag"], "v1");
        assert_eq!(r["resource_url"], "reg.example:5000/lib/app/web:v1");
        let repo = &p["event_data"]["repository"];
        assert_eq!(repo["name"], "app/web");
        assert_eq!(repo["namespace"], "lib");
        assert_eq!(repo["repo_full_name"], "lib/app/web");
        assert_eq!(repo["repo_type"], "private");
        assert_eq!(repo["date_created"], 1_600_000_000);
    }
}
