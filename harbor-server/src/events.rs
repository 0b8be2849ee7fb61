//! What follows a successful `/v2/` manifest request: its audit record,
//! the replication event for event-based policies (pushes, and deletions by
//! tag or by digest), and the webhook event (pushes, pulls, deletions).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use harbor_auth::Principal;
use harbor_core::{AuditOperation, AuditResource, Reference, Registry, RepositoryName, Tag};
use harbor_replicate::{ArtifactEvent, ReplicationService};

use crate::audit::AuditSink;
use crate::oci::{parse_route, Route};
use crate::webhook::{ArtifactAction, WebhookEvent, WebhookService};

/// What the `/v2/` hooks need.
#[derive(Debug, Clone)]
pub struct V2Hooks {
    /// The audit log.
    pub audit: AuditSink,
    /// Replication, for event-based policies.
    pub replication: Option<Arc<ReplicationService>>,
    /// The engine, to learn a manifest's tags before it is deleted.
    pub registry: Registry,
    /// Webhooks, for `PUSH_ARTIFACT`, `PULL_ARTIFACT` and `DELETE_ARTIFACT`.
    pub webhooks: Option<Arc<WebhookService>>,
}

/// Records manifest pushes, pulls and deletes on `/v2/` (after the guard has
/// put the caller in the request), and reports pushes and deletes to
/// replication.
pub async fn record_v2(State(hooks): State<V2Hooks>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let who = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let Some(Route::Manifest(name, reference)) = parse_route(&path) else {
        return next.run(req).await;
    };
    let operation = match method {
        Method::GET => AuditOperation::Pull,
        Method::PUT => AuditOperation::Create,
        Method::DELETE => AuditOperation::Delete,
        _ => return next.run(req).await,
    };
    let target = match (RepositoryName::parse(name), Reference::parse(reference)) {
        (Ok(repo), Ok(reference)) => Some((repo, reference)),
        _ => None,
    };
    let webhook = match (&hooks.webhooks, &target) {
        (Some(w), Some((repo, _))) => {
            let action = match operation {
                AuditOperation::Create => ArtifactAction::Push,
                AuditOperation::Pull => ArtifactAction::Pull,
                _ => ArtifactAction::Delete,
            };
            w.wants(repo.first_component(), action.event_type())
                .then_some((w, action))
        }
        _ => None,
    };
    // A manifest deleted by digest takes its tags with it: learn them first,
    // for the tag filters of policies that replicate deletions and for the
    // webhook payload; one deleted by tag, its digest.
    let deleting_for_webhook = matches!(webhook, Some((_, ArtifactAction::Delete)));
    let tags_before = match (&target, operation) {
        (Some((repo, Reference::Digest(d))), AuditOperation::Delete)
            if hooks.replication.is_some() || deleting_for_webhook =>
        {
            tags_of(&hooks.registry, repo, d).await
        }
        _ => Vec::new(),
    };
    let digest_before = match (&target, deleting_for_webhook) {
        (Some((repo, Reference::Tag(tag))), true) => hooks
            .registry
            .meta_store()
            .resolve_tag(repo, tag)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    // The host clients address this registry by, for payloads' URLs.
    if let (Some(w), Some(host)) = (&hooks.webhooks, req.headers().get("host")) {
        if let Ok(host) = host.to_str() {
            w.saw_host(host);
        }
    }
    let resp = next.run(req).await;
    if !resp.status().is_success() {
        return resp;
    }
    if let (AuditOperation::Pull, Some((repo, reference))) = (operation, &target) {
        // In memory only: written in batches off the request path.
        let pulled = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| harbor_core::Digest::parse(v).ok()),
        };
        if let Some(digest) = pulled {
            hooks.registry.note_pull(repo, &digest);
        }
    }
    if let (Some((w, action)), Some((repo, reference))) = (webhook, &target) {
        let from_header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| harbor_core::Digest::parse(v).ok());
        let (digest, tags) = match reference {
            Reference::Digest(d) => (
                Some(d.clone()),
                tags_before.iter().map(|t| t.as_str().to_owned()).collect(),
            ),
            Reference::Tag(t) => (digest_before.or(from_header), vec![t.as_str().to_owned()]),
        };
        if let Some(digest) = digest {
            w.notify(WebhookEvent::Artifact {
                kind: action,
                repository: repo.clone(),
                digest,
                tags,
                operator: who.name().to_owned(),
                at: std::time::SystemTime::now(),
            });
        }
    }
    let sep = if reference.contains(':') { "@" } else { ":" };
    hooks
        .audit
        .record(
            name.split('/').next(),
            &who,
            format!("{name}{sep}{reference}"),
            AuditResource::Artifact,
            operation,
        )
        .await;
    if let (Some(service), Some((repo, reference))) = (&hooks.replication, target) {
        let event = match (operation, reference) {
            (AuditOperation::Create, reference) => Some(ArtifactEvent::push(repo, reference)),
            (AuditOperation::Delete, Reference::Tag(tag)) => {
                Some(ArtifactEvent::tag_deleted(repo, tag))
            }
            (AuditOperation::Delete, Reference::Digest(d)) => {
                Some(ArtifactEvent::manifest_deleted(repo, d, tags_before))
            }
            _ => None,
        };
        if let Some(event) = event {
            service.notify(event);
        }
    }
    resp
}

/// The tags of manifest `digest` in `repo` (none if it is not there).
pub(crate) async fn tags_of(
    registry: &Registry,
    repo: &RepositoryName,
    digest: &harbor_core::Digest,
) -> Vec<Tag> {
    match registry.meta_store().artifact(repo, digest).await {
        Ok(Some(a)) => a
            .tags
            .iter()
            .filter_map(|t| Tag::parse(&t.name).ok())
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, %repo, %digest, "reading a manifest's tags before its deletion failed");
            Vec::new()
        }
    }
}
