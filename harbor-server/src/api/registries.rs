//! `/registries`: the endpoints replication talks to, in Harbor's `Registry`
//! shape. System administrators only. Credentials are stored sealed and
//! never returned.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_core::{AuditOperation, AuditResource, RegistryRecord, RegistryType};
use harbor_replicate::{parse_policy, Credential, Endpoint, ReplicationService};
use serde::{Deserialize, Serialize};

use super::paging::slice;
use super::q::TextMatch;
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};

/// Harbor's `RegistryCredential` as a request.
#[derive(Debug, Deserialize)]
pub(super) struct CredentialReq {
    #[serde(rename = "type")]
    kind: Option<String>,
    access_key: Option<String>,
    access_secret: Option<String>,
}

/// Harbor's `Registry` (create), `RegistryUpdate` (update, with its flat
/// `credential_type`/`access_key`/`access_secret`) and `RegistryPing`.
#[derive(Debug, Deserialize)]
pub(super) struct RegistryReq {
    id: Option<i64>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    description: Option<String>,
    insecure: Option<bool>,
    credential: Option<CredentialReq>,
    credential_type: Option<String>,
    access_key: Option<String>,
    access_secret: Option<String>,
}

impl RegistryReq {
    /// The credential, whichever of Harbor's two spellings the request uses.
    fn credential(&self) -> ApiResult<Option<Option<Credential>>> {
        let (kind, key, secret) = match &self.credential {
            Some(c) => (c.kind.as_deref(), &c.access_key, &c.access_secret),
            None if self.credential_type.is_some() || self.access_secret.is_some() => (
                self.credential_type.as_deref(),
                &self.access_key,
                &self.access_secret,
            ),
            None => return Ok(None),
        };
        let secret = secret.clone().unwrap_or_default();
        match kind.unwrap_or("basic") {
            "basic" if key.as_deref().is_some_and(|k| !k.is_empty()) => {
                Ok(Some(Some(Credential::Basic {
                    username: key.clone().unwrap_or_default(),
                    password: secret,
                })))
            }
            // Harbor's UI clears a credential by sending an empty one.
            "basic" => Ok(Some(None)),
            "secret" | "bearer" => Ok(Some(Some(Credential::Bearer { token: secret }))),
            other => Err(HarborError::bad_request(format!(
                "credential type {other:?}: basic or secret"
            ))),
        }
    }
}

/// Harbor's `RegistryCredential`, with the secret masked.
#[derive(Debug, Serialize)]
pub(super) struct CredentialResp {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<String>,
    access_secret: &'static str,
}

/// Harbor's `Registry`.
#[derive(Debug, Serialize)]
pub(crate) struct RegistryResp {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    description: String,
    insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<CredentialResp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    creation_time: String,
    update_time: String,
}

impl RegistryResp {
    pub(crate) fn new(svc: &ReplicationService, r: &RegistryRecord) -> Self {
        // The kind and the user name, never the secret itself.
        let credential = r
            .credential
            .as_deref()
            .map(|sealed| match svc.open(sealed) {
                Ok(Credential::Basic { username, .. }) => CredentialResp {
                    kind: "basic",
                    access_key: Some(username),
                    access_secret: "*****",
                },
                _ => CredentialResp {
                    kind: "secret",
                    access_key: None,
                    access_secret: "*****",
                },
            });
        RegistryResp {
            id: r.id,
            name: r.name.clone(),
            kind: r.kind.to_string(),
            url: r.url.clone(),
            description: r.description.clone(),
            insecure: r.insecure,
            credential,
            status: None,
            creation_time: time(r.created_at),
            update_time: time(r.updated_at),
        }
    }

    /// This server, as Harbor names itself in policies: registry 0, `Local`.
    pub(crate) fn local(state: &AppState) -> Self {
        let url = match &state.auth.realm {
            crate::auth::Realm::External(url) => url.clone(),
            _ => String::new(),
        };
        let epoch = time(SystemTime::UNIX_EPOCH);
        RegistryResp {
            id: 0,
            name: "Local".into(),
            kind: RegistryType::Harbor.to_string(),
            url,
            description: String::new(),
            insecure: false,
            credential: None,
            status: Some("healthy"),
            creation_time: epoch.clone(),
            update_time: epoch,
        }
    }
}

/// `name=` of `GET /registries`.
#[derive(Debug, Deserialize)]
pub(super) struct NameQuery {
    name: Option<String>,
}

/// The names a list held in memory keeps: Harbor's `q=name=..` (exact or
/// `~` fuzzy) and its `name=` parameter (a substring), both.
pub(super) fn name_filter<'a>(
    list: &'a ListParams,
    param: Option<&'a str>,
) -> ApiResult<impl Fn(&str) -> bool + 'a> {
    let by_q = list.q.matcher("name").map_err(HarborError::bad_request)?;
    let by_param = param.map_or(TextMatch::Any, TextMatch::Contains);
    Ok(move |name: &str| by_q.matches(name) && by_param.matches(name))
}

pub(super) fn service(state: &AppState) -> ApiResult<&Arc<ReplicationService>> {
    state.replication.as_ref().ok_or_else(|| {
        HarborError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "replication is not enabled",
        )
    })
}

pub(super) fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| HarborError::bad_request(format!("{raw:?} is not an id")))
}

pub(super) async fn find_registry(svc: &ReplicationService, id: i64) -> ApiResult<RegistryRecord> {
    svc.store
        .registry(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("registry {id} not found")))
}

fn check_registry(svc: &ReplicationService, kind: &RegistryType, url: &str) -> ApiResult<()> {
    let kinds = svc.adapters.kinds();
    if !kinds.contains(kind) {
        let names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
        return Err(HarborError::bad_request(format!(
            "registry type {kind} is not one of {names:?}"
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| HarborError::bad_request(format!("url {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(HarborError::bad_request("url must be http:// or https://"));
    }
    Ok(())
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(params): HarborQuery<NameQuery>,
    uri: Uri,
) -> ApiResult<Paged<RegistryResp>> {
    caller.require_system("registry", "list")?;
    let svc = service(&state)?;
    let mut all = svc.store.list_registries().await?;
    // Endpoints are few: filter and page in memory.
    let selected = name_filter(&list, params.name.as_deref())?;
    all.retain(|r| selected(&r.name));
    Ok(Paged {
        items: slice(&all, list.page)
            .iter()
            .map(|r| RegistryResp::new(svc, r))
            .collect(),
        total: all.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<RegistryReq>, HarborError>,
) -> ApiResult {
    caller.require_system("registry", "create")?;
    let HarborJson(r) = body?;
    let svc = service(&state)?;
    let name = r
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| HarborError::bad_request("name is required"))?;
    let kind = r
        .kind
        .as_deref()
        .map_or(RegistryType::DockerRegistry, RegistryType::parse);
    let url = r
        .url
        .clone()
        .ok_or_else(|| HarborError::bad_request("url is required"))?;
    check_registry(svc, &kind, &url)?;
    let sealed = match r.credential()?.flatten() {
        Some(c) => Some(svc.seal(&c)?),
        None => None,
    };
    let record = RegistryRecord {
        id: 0,
        name,
        kind,
        url: url.trim_end_matches('/').to_owned(),
        credential: sealed,
        insecure: r.insecure.unwrap_or(false),
        description: r.description.clone().unwrap_or_default(),
        created_at: SystemTime::now(),
        updated_at: SystemTime::now(),
    };
    let created_rec = svc.store.create_registry(&record).await?;
    state
        .audit(
            None,
            &caller,
            created_rec.name.clone(),
            AuditResource::Registry,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!("/api/v2.0/registries/{}", created_rec.id)))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("registry", "read")?;
    let svc = service(&state)?;
    let r = find_registry(svc, id_of(&id)?).await?;
    let healthy = match svc.adapter_for(&r) {
        Ok(a) => a.health().await.is_ok(),
        Err(_) => false,
    };
    let mut resp = RegistryResp::new(svc, &r);
    resp.status = Some(if healthy { "healthy" } else { "unhealthy" });
    Ok(json(StatusCode::OK, &resp))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<RegistryReq>, HarborError>,
) -> ApiResult {
    caller.require_system("registry", "update")?;
    let HarborJson(r) = body?;
    let svc = service(&state)?;
    let mut rec = find_registry(svc, id_of(&id)?).await?;
    if let Some(n) = r.name.clone().filter(|n| !n.trim().is_empty()) {
        rec.name = n;
    }
    if let Some(u) = r.url.clone() {
        rec.url = u.trim_end_matches('/').to_owned();
    }
    if let Some(k) = r.kind.as_deref() {
        rec.kind = RegistryType::parse(k);
    }
    check_registry(svc, &rec.kind, &rec.url)?;
    if let Some(i) = r.insecure {
        rec.insecure = i;
    }
    if let Some(d) = r.description.clone() {
        rec.description = d;
    }
    if let Some(c) = r.credential()? {
        rec.credential = match c {
            Some(c) => Some(svc.seal(&c)?),
            None => None,
        };
    }
    svc.store.update_registry(&rec).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("registry", "delete")?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    let rec = find_registry(svc, id).await?;
    for p in svc.store.list_policies().await? {
        if let Ok(policy) = parse_policy(p.id, &p.definition) {
            let uses = [&policy.src_registry, &policy.dest_registry]
                .iter()
                .any(|r| r.as_ref().is_some_and(|r| r.id == id));
            if uses {
                return Err(HarborError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION",
                    format!("registry {} is used by policy {}", rec.name, policy.name),
                ));
            }
        }
    }
    svc.store.delete_registry(id).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /registries/ping`: checks a stored registry (`id`) or an unsaved one.
pub(super) async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<RegistryReq>, HarborError>,
) -> ApiResult {
    caller.require_system("registry", "read")?;
    let HarborJson(r) = body?;
    let svc = service(&state)?;
    let adapter = match r.id {
        Some(id) => svc.adapter_for(&find_registry(svc, id).await?)?,
        None => {
            let kind = r
                .kind
                .as_deref()
                .map_or(RegistryType::DockerRegistry, RegistryType::parse);
            let url = r
                .url
                .clone()
                .ok_or_else(|| HarborError::bad_request("url or id is required"))?;
            check_registry(svc, &kind, &url)?;
            svc.adapters.create(
                &kind,
                &Endpoint {
                    url,
                    credential: r.credential()?.flatten(),
                    insecure: r.insecure.unwrap_or(false),
                },
            )?
        }
    };
    adapter.health().await.map_err(|e| {
        HarborError::bad_request(format!(
            "the registry is not reachable or refused us: {}",
            e.chain()
        ))
    })?;
    Ok(StatusCode::OK.into_response())
}
