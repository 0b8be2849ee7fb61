//! Replication in the server: endpoints with encrypted credentials, stored
//! policies resolved to adapters, the durable job runner, and the triggers
//! (manual, `event_based` on pushes and deletes, `scheduled` by cron).

mod secret;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use harbor_core::{IdentityStore, NewTask, Registry, RegistryRecord, ReplicationStore};
use harbor_replicate::adapters::Local;
use harbor_replicate::{
    AdapterRegistry, Credential, Endpoint, Filters, JobRunner, Policy, PolicyResolver,
    RegistryAdapter, ReplicateError, Replicator,
};

pub use secret::SecretBox;

/// What happened to an artifact in the local registry, for event triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEvent {
    /// `push` or `delete`.
    pub operation: &'static str,
    /// Repository.
    pub repository: String,
    /// Tag (or digest) pushed or deleted.
    pub reference: String,
}

/// Replication state and machinery shared by the API and the triggers.
pub struct ReplicationService {
    /// Endpoints, policies, executions.
    pub store: Arc<dyn ReplicationStore>,
    /// Users and projects (pull mode creates missing projects).
    pub identity: Arc<dyn IdentityStore>,
    /// Adapter types.
    pub adapters: AdapterRegistry,
    /// Credential encryption.
    pub secrets: SecretBox,
    /// The local registry.
    pub local: Registry,
    runner: OnceLock<Arc<JobRunner>>,
}

impl std::fmt::Debug for ReplicationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationService").finish_non_exhaustive()
    }
}

/// A stored policy's definition, with its id.
pub fn parse_policy(id: i64, definition: &str) -> Result<Policy, ReplicateError> {
    let mut p: Policy = serde_json::from_str(definition)
        .map_err(|e| ReplicateError::Invalid(format!("stored policy {id} does not parse: {e}")))?;
    p.id = id;
    Ok(p)
}

impl ReplicationService {
    /// The service over `store`, starting its job runner.
    pub fn new(
        store: Arc<dyn ReplicationStore>,
        identity: Arc<dyn IdentityStore>,
        secrets: SecretBox,
        local: Registry,
        replicator: Replicator,
    ) -> Arc<Self> {
        let service = Arc::new(ReplicationService {
            store: store.clone(),
            identity,
            adapters: AdapterRegistry::with_defaults(),
            secrets,
            local,
            runner: OnceLock::new(),
        });
        let runner = JobRunner::new(
            store,
            Arc::new(Resolver(Arc::downgrade(&service))),
            replicator,
        );
        let _ = service.runner.set(runner);
        service
    }

    /// The job runner.
    pub fn runner(&self) -> Result<&Arc<JobRunner>, ReplicateError> {
        self.runner
            .get()
            .ok_or_else(|| ReplicateError::Invalid("the job runner is not running".into()))
    }

    /// Seals a credential for storage.
    pub fn seal(&self, c: &Credential) -> Result<String, ReplicateError> {
        let json = serde_json::to_string(c).map_err(|e| ReplicateError::Invalid(e.to_string()))?;
        self.secrets
            .seal(&json)
            .map_err(|e| ReplicateError::Invalid(e.to_string()))
    }

    /// An adapter for a stored endpoint.
    pub fn adapter_for(
        &self,
        r: &RegistryRecord,
    ) -> Result<Arc<dyn RegistryAdapter>, ReplicateError> {
        let credential = match &r.credential {
            None => None,
            Some(sealed) => {
                let json = self
                    .secrets
                    .open(sealed)
                    .map_err(|e| ReplicateError::Invalid(e.to_string()))?;
                Some(
                    serde_json::from_str::<Credential>(&json)
                        .map_err(|e| ReplicateError::Invalid(e.to_string()))?,
                )
            }
        };
        self.adapters.create(
            &r.kind,
            &Endpoint {
                url: r.url.clone(),
                credential,
                insecure: r.insecure,
            },
        )
    }

    /// The local registry as an adapter that creates missing projects (owned
    /// by the administrator) before pushes.
    fn local_adapter(&self) -> Arc<dyn RegistryAdapter> {
        let identity = self.identity.clone();
        Arc::new(Local::with_prepare(
            self.local.clone(),
            Arc::new(move |repos: Vec<String>| {
                let identity = identity.clone();
                Box::pin(async move {
                    let mut projects: Vec<String> = repos
                        .iter()
                        .filter_map(|r| r.split('/').next().map(str::to_owned))
                        .collect();
                    projects.sort();
                    projects.dedup();
                    for p in projects {
                        if identity.project_by_name(&p).await?.is_none() {
                            match identity.create_project(&p, false, 1).await {
                                Ok(_) => {
                                    tracing::info!(project = %p, "project created for replication")
                                }
                                Err(e) if e.code() == harbor_core::ErrorCode::Conflict => {}
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                    Ok(())
                })
            }),
        ))
    }

    async fn resolve_policy(
        &self,
        policy_id: i64,
    ) -> Result<(Policy, Arc<dyn RegistryAdapter>, Arc<dyn RegistryAdapter>), ReplicateError> {
        let record = self
            .store
            .policy(policy_id)
            .await?
            .ok_or_else(|| ReplicateError::Invalid(format!("policy {policy_id} not found")))?;
        let policy = parse_policy(record.id, &record.definition)?;
        let remote_id = policy
            .dest_registry
            .as_ref()
            .or(policy.src_registry.as_ref())
            .map(|r| r.id)
            .ok_or_else(|| ReplicateError::Invalid("the policy names no registry".into()))?;
        let remote =
            self.store.registry(remote_id).await?.ok_or_else(|| {
                ReplicateError::Invalid(format!("registry {remote_id} not found"))
            })?;
        let remote = self.adapter_for(&remote)?;
        let local = self.local_adapter();
        Ok(if policy.dest_registry.is_some() {
            (policy, local, remote)
        } else {
            (policy, remote, local)
        })
    }

    /// Starts executions of the enabled push-mode `event_based` policies that
    /// select this artifact.
    pub async fn on_event(&self, event: &ArtifactEvent) {
        let policies = match self.store.list_policies().await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "event trigger: listing policies failed");
                return;
            }
        };
        for record in policies {
            let Ok(policy) = parse_policy(record.id, &record.definition) else {
                continue;
            };
            let event_based = policy
                .trigger
                .as_ref()
                .is_some_and(|t| t.kind == "event_based");
            if !policy.enabled || !event_based || policy.dest_registry.is_none() {
                continue;
            }
            if event.operation == "delete" && !policy.replicate_deletion {
                continue;
            }
            let Ok(filters) = Filters::compile(&policy.filters) else {
                continue;
            };
            let is_tag = !event.reference.contains(':');
            // Only tagged artifacts replicate on events, as in Harbor.
            if !is_tag || !filters.repository(&event.repository) || !filters.tag(&event.reference) {
                continue;
            }
            let Ok(dst_repo) = harbor_replicate::policy::destination(
                &event.repository,
                policy.dest_namespace.as_deref(),
                policy.dest_namespace_replace_count,
            ) else {
                continue;
            };
            let task = NewTask {
                operation: if event.operation == "delete" {
                    "deletion".into()
                } else {
                    "copy".into()
                },
                src_resource: format!("{}:{}", event.repository, event.reference),
                dst_resource: format!("{dst_repo}:{}", event.reference),
            };
            match self.runner() {
                Ok(runner) => {
                    if let Err(e) = runner
                        .start_tasks(record.id, "event_based", vec![task])
                        .await
                    {
                        tracing::warn!(policy = %policy.name, error = %e, "event trigger failed to start");
                    }
                }
                Err(e) => tracing::error!(error = %e, "event trigger"),
            }
        }
    }

    /// Starts the scheduled policies whose cron fired in `(since, now]`. The
    /// background loop calls it every second; tests call it with their own
    /// clock. Returns the policies started.
    pub async fn fire_due(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<i64> {
        if since >= now {
            return Vec::new();
        }
        let mut started = Vec::new();
        let Ok(policies) = self.store.list_policies().await else {
            return started;
        };
        for record in policies {
            let Ok(policy) = parse_policy(record.id, &record.definition) else {
                continue;
            };
            let Some(cron) = policy
                .trigger
                .as_ref()
                .filter(|t| t.kind == "scheduled" && policy.enabled)
                .and_then(|t| t.trigger_settings.as_ref())
                .map(|s| s.cron.clone())
            else {
                continue;
            };
            let Ok(schedule) = cron::Schedule::from_str(&cron) else {
                continue;
            };
            let due = schedule.after(&since).next().is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            match self.runner() {
                Ok(runner) => match runner.start(record.id, "scheduled").await {
                    Ok(_) => started.push(record.id),
                    Err(e) => {
                        tracing::warn!(policy = %policy.name, error = %e, "scheduled replication failed to start")
                    }
                },
                Err(e) => tracing::error!(error = %e, "scheduler"),
            }
        }
        started
    }

    /// Runs the scheduler loop (every second) until the task is dropped.
    pub fn spawn_scheduler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
            let mut last = Utc::now();
            loop {
                interval.tick().await;
                let Some(service) = weak.upgrade() else {
                    return;
                };
                let now = Utc::now();
                service.fire_due(last, now).await;
                last = now;
            }
        })
    }
}

/// Resolves policies through the service without keeping it alive.
struct Resolver(std::sync::Weak<ReplicationService>);

#[async_trait]
impl PolicyResolver for Resolver {
    async fn resolve(
        &self,
        policy_id: i64,
    ) -> Result<(Policy, Arc<dyn RegistryAdapter>, Arc<dyn RegistryAdapter>), ReplicateError> {
        let service = self
            .0
            .upgrade()
            .ok_or_else(|| ReplicateError::Invalid("the server is shutting down".into()))?;
        service.resolve_policy(policy_id).await
    }
}
