//! `DELETE /projects/{project}/repositories/{repository}`: a repository and
//! every artifact in it, as Harbor deletes it, each artifact's deletion
//! reported as an API delete of it is (replication events, webhooks).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::{AuditOperation, AuditResource, ErrorCode, Tag};
use harbor_replicate::ArtifactEvent;

use super::artifacts::repo_name;
use super::{ApiResult, AppState, Caller, HarborError};

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::Repository,
            Action::Delete,
        )
        .await?;
    let repo = repo_name(&p, &repository)?;
    let deleted = match state.registry.delete_repository(&repo).await {
        Ok(deleted) => deleted,
        Err(e) if e.code() == ErrorCode::NameUnknown => {
            return Err(HarborError::not_found(format!(
                "repository {repo} not found"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(%repo, artifacts = deleted.len(), by = %caller.0, "repository deleted");
    for a in &deleted {
        state.notify(|| {
            let tags = a.tags.iter().filter_map(|t| Tag::parse(t).ok());
            ArtifactEvent::manifest_deleted(repo.clone(), a.digest.clone(), tags.collect())
        });
        if let Some(webhooks) = &state.webhooks {
            webhooks.notify(crate::webhook::WebhookEvent::Artifact {
                kind: crate::webhook::ArtifactAction::Delete,
                repository: repo.clone(),
                digest: a.digest.clone(),
                tags: a.tags.clone(),
                operator: caller.0.name().to_owned(),
                at: std::time::SystemTime::now(),
            });
        }
    }
    state
        .audit(
            Some(&p.name),
            &caller,
            repo.to_string(),
            AuditResource::Repository,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}
