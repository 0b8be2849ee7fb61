//! `/projects/{project}/webhook/...`: a project's webhook policies (CRUD),
//! the last trigger of each event type, and the supported event and notify
//! types, in Harbor's `WebhookPolicy`, `WebhookLastTrigger` and
//! `SupportedWebhookEventTypes` shapes (executions and tasks:
//! `webhook_runs.rs`).
//!
//! Beyond Harbor, a target may carry a `secret`: deliveries to it are then
//! signed (Standard Webhooks). It is stored sealed and never returned; a
//! `PUT` that leaves it out keeps the secret of the target at the same
//! address, and `"secret": ""` removes it.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::{
    NotifyType, PayloadFormat, Project, WebhookEventType, WebhookPolicy, WebhookTarget,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged,
};
use crate::webhook::{sign, WebhookService};

/// Harbor's `WebhookTargetObject`, plus `secret` (write only).
#[derive(Debug, Deserialize)]
pub(super) struct TargetReq {
    #[serde(rename = "type")]
    notify_type: Option<String>,
    address: Option<String>,
    #[serde(default)]
    auth_header: String,
    #[serde(default)]
    skip_cert_verify: bool,
    payload_format: Option<String>,
    secret: Option<String>,
}

/// Harbor's `WebhookPolicy` as sent.
#[derive(Debug, Deserialize)]
pub(super) struct PolicyReq {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    targets: Vec<TargetReq>,
    #[serde(default)]
    event_types: Vec<String>,
    enabled: Option<bool>,
}

/// Harbor's `WebhookTargetObject` as answered (never the secret).
#[derive(Debug, Serialize)]
pub(super) struct TargetResp {
    #[serde(rename = "type")]
    notify_type: &'static str,
    address: String,
    auth_header: String,
    skip_cert_verify: bool,
    payload_format: &'static str,
}

/// Harbor's `WebhookPolicy` as answered.
#[derive(Debug, Serialize)]
pub(super) struct PolicyResp {
    id: i64,
    name: String,
    description: String,
    project_id: i64,
    targets: Vec<TargetResp>,
    event_types: Vec<&'static str>,
    creator: String,
    creation_time: String,
    update_time: String,
    enabled: bool,
}

impl From<&WebhookPolicy> for PolicyResp {
    fn from(p: &WebhookPolicy) -> Self {
        PolicyResp {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            project_id: p.project_id,
            targets: p
                .targets
                .iter()
                .map(|t| TargetResp {
                    notify_type: t.notify_type.as_str(),
                    address: t.address.clone(),
                    auth_header: t.auth_header.clone(),
                    skip_cert_verify: t.skip_cert_verify,
                    payload_format: t.payload_format.as_str(),
                })
                .collect(),
            event_types: p.event_types.iter().map(|t| t.as_str()).collect(),
            creator: p.creator.clone(),
            creation_time: time(p.creation_time),
            update_time: time(p.update_time),
            enabled: p.enabled,
        }
    }
}

pub(super) fn service(state: &AppState) -> ApiResult<&Arc<WebhookService>> {
    state.webhooks.as_ref().ok_or_else(|| {
        HarborError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "webhooks are not enabled",
        )
    })
}

pub(super) fn id_of(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| HarborError::bad_request(format!("{what} {raw:?} is not an id")))
}

/// The policy `raw` of project `p`, or 404.
pub(super) async fn policy_of(
    svc: &WebhookService,
    p: &Project,
    raw: &str,
) -> ApiResult<WebhookPolicy> {
    let id = id_of(raw, "webhook policy id")?;
    svc.store()
        .webhook_policy(id)
        .await?
        .filter(|w| w.project_id == p.id)
        .ok_or_else(|| HarborError::not_found(format!("webhook policy {id} not found")))
}

/// Checks a policy as sent and turns it into the stored form; `old` is the
/// policy it replaces, whose targets' secrets are kept when not resent.
fn checked(
    svc: &WebhookService,
    req: PolicyReq,
    project_id: i64,
    creator: &str,
    old: Option<&WebhookPolicy>,
) -> ApiResult<WebhookPolicy> {
    let name = req.name.unwrap_or_default().trim().to_owned();
    if name.is_empty() {
        return Err(HarborError::bad_request("name is required"));
    }
    if name.len() > 256 {
        return Err(HarborError::bad_request(
            "name is longer than 256 characters",
        ));
    }
    if req.targets.is_empty() {
        return Err(HarborError::bad_request("at least one target is required"));
    }
    if req.event_types.is_empty() {
        return Err(HarborError::bad_request(
            "at least one event type is required",
        ));
    }
    let mut event_types = Vec::new();
    for t in &req.event_types {
        let parsed = WebhookEventType::parse(t).ok_or_else(|| {
            HarborError::bad_request(format!("{t:?} is not a supported event type"))
        })?;
        if !event_types.contains(&parsed) {
            event_types.push(parsed);
        }
    }
    let mut targets = Vec::with_capacity(req.targets.len());
    for t in req.targets {
        let notify_type = match t.notify_type.as_deref() {
            None | Some("") => NotifyType::Http,
            Some(s) => NotifyType::parse(s).ok_or_else(|| {
                HarborError::bad_request(format!("{s:?} is not a notify type: http or slack"))
            })?,
        };
        let address = t.address.unwrap_or_default().trim().to_owned();
        match url::Url::parse(&address) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(HarborError::bad_request(format!(
                    "target address {address:?} is not an http or https URL"
                )))
            }
        }
        let payload_format = match t.payload_format.as_deref() {
            None | Some("") => PayloadFormat::Default,
            Some(s) => PayloadFormat::parse(s).ok_or_else(|| {
                HarborError::bad_request(format!(
                    "{s:?} is not a payload format: Default or CloudEvents"
                ))
            })?,
        };
        if notify_type == NotifyType::Slack && payload_format != PayloadFormat::Default {
            return Err(HarborError::bad_request(
                "slack targets take the Default payload format",
            ));
        }
        let secret = match t.secret {
            Some(s) if s.is_empty() => None,
            Some(s) => {
                sign::check_secret(&s).map_err(HarborError::bad_request)?;
                Some(svc.seal(&s).map_err(|e| {
                    HarborError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL_SERVER_ERROR",
                        format!("sealing the secret failed: {e}"),
                    )
                })?)
            }
            None => old.and_then(|o| {
                o.targets
                    .iter()
                    .find(|ot| ot.address == address)
                    .and_then(|ot| ot.secret.clone())
            }),
        };
        targets.push(WebhookTarget {
            notify_type,
            address,
            auth_header: t.auth_header,
            skip_cert_verify: t.skip_cert_verify,
            payload_format,
            secret,
        });
    }
    Ok(WebhookPolicy {
        id: old.map_or(0, |o| o.id),
        project_id,
        name,
        description: req.description,
        targets,
        event_types,
        creator: old.map_or_else(|| creator.to_owned(), |o| o.creator.clone()),
        enabled: req.enabled.unwrap_or(true),
        creation_time: SystemTime::UNIX_EPOCH,
        update_time: SystemTime::UNIX_EPOCH,
    })
}

/// Policies changed here apply on this instance at once.
async fn refreshed(svc: &WebhookService) {
    if let Err(e) = svc.refresh().await {
        tracing::warn!(error = %e, "reading the webhook policies failed");
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<PolicyResp>> {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::List,
        )
        .await?;
    let svc = service(&state)?;
    let name = list.q.matcher("name").map_err(HarborError::bad_request)?;
    // A project has a handful of policies: filter, then page, in memory.
    let (all, _) = svc
        .store()
        .webhook_policies(
            Some(p.id),
            harbor_core::Page {
                page: 1,
                page_size: u64::MAX >> 1,
            },
        )
        .await?;
    let selected: Vec<&WebhookPolicy> = all.iter().filter(|w| name.matches(&w.name)).collect();
    Ok(Paged {
        items: super::paging::slice(&selected, list.page)
            .iter()
            .map(|w| PolicyResp::from(*w))
            .collect(),
        total: selected.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<HarborJson<PolicyReq>, HarborError>,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Create,
        )
        .await?;
    let svc = service(&state)?;
    let HarborJson(req) = body?;
    let policy = checked(svc, req, p.id, caller.0.name(), None)?;
    let stored = svc.store().create_webhook_policy(&policy).await?;
    refreshed(svc).await;
    tracing::info!(project = %p.name, policy = %stored.name, by = %caller.0, "webhook policy created");
    Ok(created(&format!(
        "/api/v2.0/projects/{}/webhook/policies/{}",
        p.name, stored.id
    )))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Read,
        )
        .await?;
    let policy = policy_of(service(&state)?, &p, &id).await?;
    Ok(json(StatusCode::OK, &PolicyResp::from(&policy)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<HarborJson<PolicyReq>, HarborError>,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Update,
        )
        .await?;
    let svc = service(&state)?;
    let old = policy_of(svc, &p, &id).await?;
    let HarborJson(req) = body?;
    let policy = checked(svc, req, p.id, caller.0.name(), Some(&old))?;
    if !svc.store().update_webhook_policy(&policy).await? {
        return Err(HarborError::not_found(format!(
            "webhook policy {} not found",
            old.id
        )));
    }
    refreshed(svc).await;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Delete,
        )
        .await?;
    let svc = service(&state)?;
    let policy = policy_of(svc, &p, &id).await?;
    svc.store().delete_webhook_policy(policy.id).await?;
    refreshed(svc).await;
    Ok(StatusCode::OK.into_response())
}

/// Harbor's `WebhookLastTrigger`.
#[derive(Debug, Serialize)]
pub(super) struct LastTriggerResp {
    policy_name: String,
    event_type: &'static str,
    enabled: bool,
    creation_time: String,
    last_trigger_time: String,
}

pub(super) async fn last_trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::List,
        )
        .await?;
    let svc = service(&state)?;
    let triggers = svc.store().webhook_last_triggers(p.id).await?;
    let mut out = Vec::with_capacity(triggers.len());
    for t in triggers {
        if let Some(policy) = svc.store().webhook_policy(t.policy_id).await? {
            out.push(LastTriggerResp {
                policy_name: policy.name,
                event_type: t.event_type.as_str(),
                enabled: policy.enabled,
                creation_time: time(policy.creation_time),
                last_trigger_time: time(t.last_trigger_time),
            });
        }
    }
    Ok(json(StatusCode::OK, &out))
}

pub(super) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    state
        .project_for(
            &caller,
            &headers,
            &key,
            Resource::NotificationPolicy,
            Action::Read,
        )
        .await?;
    service(&state)?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "event_type": WebhookEventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "notify_type": [NotifyType::Http.as_str(), NotifyType::Slack.as_str()],
            "payload_formats": [
                {"notify_type": "http", "formats": ["Default", "CloudEvents"]},
                {"notify_type": "slack", "formats": ["Default"]},
            ],
        }),
    ))
}
