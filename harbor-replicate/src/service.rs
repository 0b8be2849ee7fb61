//! Replication over stored state: endpoints with sealed credentials, stored
//! policies resolved to adapters, the durable job runner, and the triggers
//! (manual, `event_based` on pushes and deletes, `scheduled` by cron). A
//! program that embeds the registry gets Harbor's replication from this
//! alone, with or without an HTTP server.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use harbor_core::{
    ErrorCode, Execution, IdentityStore, LabelStore, LeaseStore, LocalLeases, Registry,
    RegistryRecord, ReplicationStore, RepositoryName, TriggerKind,
};
use tokio::sync::{mpsc, Mutex};

use crate::adapter::{AdapterRegistry, Credential, Endpoint, RegistryAdapter};
use crate::adapters::Local;
use crate::error::{ReplicateError, Result};
use crate::execution::{JobRunner, PolicyResolver};
use crate::policy::Policy;
use crate::replicator::Replicator;
use crate::secret::SecretBox;
use crate::trigger::{schedule_due, ArtifactEvent};

/// Events waiting for the event trigger, at most; beyond, events are dropped
/// with a warning rather than slow a push down.
const EVENT_QUEUE: usize = 4096;

/// A policy with the two adapters it copies between.
type Resolved = (Policy, Arc<dyn RegistryAdapter>, Arc<dyn RegistryAdapter>);

/// Replication state and machinery: what the management API and the
/// triggers share.
///
/// ```no_run
/// # async fn demo(
/// #     store: std::sync::Arc<dyn harbor_core::ReplicationStore>,
/// #     identity: std::sync::Arc<dyn harbor_core::IdentityStore>,
/// #     local: harbor_core::Registry,
/// # ) -> harbor_replicate::Result<()> {
/// use harbor_replicate::{ReplicationService, Replicator, SecretBox};
/// let secrets = SecretBox::load_or_create(std::path::Path::new("data"))?;
/// let service = ReplicationService::new(store, identity, secrets, local, Replicator::default());
/// let triggers = service.spawn_triggers(); // event and cron triggers
/// service.runner().recover().await?;         // executions a crash left unfinished
/// // ... service.notify(event) after each push or delete ...
/// triggers.stop().await;
/// # Ok(()) }
/// ```
pub struct ReplicationService {
    /// Endpoints, policies, executions.
    pub store: Arc<dyn ReplicationStore>,
    /// Users and projects (pull mode creates missing projects).
    pub identity: Arc<dyn IdentityStore>,
    /// Adapter types; register a vendor's adapter here.
    pub adapters: AdapterRegistry,
    /// Credential encryption.
    pub secrets: SecretBox,
    /// The local registry.
    pub local: Registry,
    runner: Arc<JobRunner>,
    labels: std::sync::OnceLock<Arc<dyn LabelStore>>,
    events_tx: mpsc::Sender<ArtifactEvent>,
    events_rx: Arc<Mutex<mpsc::Receiver<ArtifactEvent>>>,
}

impl std::fmt::Debug for ReplicationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationService")
            .field("adapters", &self.adapters)
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

/// A stored policy's definition, with its id.
pub fn parse_policy(id: i64, definition: &str) -> Result<Policy> {
    let mut p: Policy = serde_json::from_str(definition).map_err(|e| {
        ReplicateError::invalid_because(format!("stored policy {id} does not parse"), e)
    })?;
    p.id = id;
    Ok(p)
}

impl ReplicationService {
    /// The service over `store`, with its job runner.
    pub fn new(
        store: Arc<dyn ReplicationStore>,
        identity: Arc<dyn IdentityStore>,
        secrets: SecretBox,
        local: Registry,
        replicator: Replicator,
    ) -> Arc<Self> {
        Self::clustered(
            store,
            identity,
            secrets,
            local,
            replicator,
            Arc::new(LocalLeases::new()),
        )
    }

    /// As [`ReplicationService::new`], with leases from a store that every
    /// instance of a cluster shares: each execution is driven by one
    /// instance, and each cron tick starts one execution, cluster-wide.
    pub fn clustered(
        store: Arc<dyn ReplicationStore>,
        identity: Arc<dyn IdentityStore>,
        secrets: SecretBox,
        local: Registry,
        replicator: Replicator,
        leases: Arc<dyn LeaseStore>,
    ) -> Arc<Self> {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        Arc::new_cyclic(|weak: &Weak<ReplicationService>| ReplicationService {
            store: store.clone(),
            identity,
            adapters: AdapterRegistry::with_defaults(),
            secrets,
            local,
            runner: JobRunner::with_leases(
                store,
                Arc::new(Resolver(weak.clone())),
                replicator,
                leases,
            ),
            labels: std::sync::OnceLock::new(),
            events_tx,
            events_rx: Arc::new(Mutex::new(events_rx)),
        })
    }

    /// Reads the local registry's labels from `labels`, so that label
    /// filters select by them (set once; later calls are ignored).
    pub fn set_labels(&self, labels: Arc<dyn LabelStore>) {
        let _ = self.labels.set(labels);
    }

    /// The job runner.
    pub fn runner(&self) -> &Arc<JobRunner> {
        &self.runner
    }

    /// Seals a credential for storage.
    pub fn seal(&self, c: &Credential) -> Result<String> {
        let json = serde_json::to_string(c)
            .map_err(|e| ReplicateError::invalid_because("a credential does not serialize", e))?;
        self.secrets.seal(&json)
    }

    /// Opens a credential [`ReplicationService::seal`] sealed.
    pub fn open(&self, sealed: &str) -> Result<Credential> {
        let json = self.secrets.open(sealed)?;
        serde_json::from_str(&json)
            .map_err(|e| ReplicateError::invalid_because("a stored credential does not parse", e))
    }

    /// An adapter for a stored endpoint.
    pub fn adapter_for(&self, r: &RegistryRecord) -> Result<Arc<dyn RegistryAdapter>> {
        let credential = r.credential.as_deref().map(|c| self.open(c)).transpose()?;
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
        let local = Local::with_prepare(
            self.local.clone(),
            Arc::new(move |repos: Vec<RepositoryName>| {
                let identity = identity.clone();
                Box::pin(async move {
                    let mut projects: Vec<String> = repos
                        .iter()
                        .map(|r| r.first_component().to_owned())
                        .collect();
                    projects.sort();
                    projects.dedup();
                    for p in projects {
                        if identity.project_by_name(&p).await?.is_none() {
                            match identity.create_project(&p, false, 1).await {
                                Ok(_) => {
                                    tracing::info!(project = %p, "project created for replication")
                                }
                                Err(e) if e.code() == ErrorCode::Conflict => {}
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                    Ok(())
                })
            }),
        );
        Arc::new(match self.labels.get() {
            Some(labels) => local.with_labels(labels.clone()),
            None => local,
        })
    }

    /// A stored policy with its two ends.
    pub async fn resolve_policy(&self, policy_id: i64) -> Result<Resolved> {
        let record = self
            .store
            .policy(policy_id)
            .await?
            .ok_or(ReplicateError::NotFound {
                kind: "policy",
                id: policy_id,
            })?;
        let policy = parse_policy(record.id, &record.definition)?;
        let remote_id = policy
            .dest_registry
            .as_ref()
            .or(policy.src_registry.as_ref())
            .map(|r| r.id)
            .ok_or_else(|| ReplicateError::invalid("the policy names no registry"))?;
        let remote = self
            .store
            .registry(remote_id)
            .await?
            .ok_or(ReplicateError::NotFound {
                kind: "registry",
                id: remote_id,
            })?;
        let remote = self.adapter_for(&remote)?;
        let local = self.local_adapter();
        Ok(if policy.dest_registry.is_some() {
            (policy, local, remote)
        } else {
            (policy, remote, local)
        })
    }

    /// Runs `policy_id` now (a manual trigger).
    pub async fn start(&self, policy_id: i64) -> Result<Execution> {
        self.runner.start(policy_id, TriggerKind::Manual).await
    }

    /// Reports a push or delete in the local registry to the event trigger,
    /// without waiting: a push is never slowed by replication. The event is
    /// handled by [`ReplicationService::spawn_triggers`]' background task (or
    /// by calling [`ReplicationService::on_event`] directly).
    pub fn notify(&self, event: ArtifactEvent) {
        if let Err(e) = self.events_tx.try_send(event) {
            tracing::warn!(error = %e, "replication event queue full or closed: an event was dropped");
        }
    }

    /// Starts executions of the enabled push-mode `event_based` policies that
    /// select this event. Returns the executions started.
    pub async fn on_event(&self, event: &ArtifactEvent) -> Vec<Execution> {
        let policies = match self.store.list_policies().await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "event trigger: listing policies failed");
                return Vec::new();
            }
        };
        let mut started = Vec::new();
        for record in policies {
            let Ok(policy) = parse_policy(record.id, &record.definition) else {
                continue;
            };
            let Some(task) = event.task_for(&policy) else {
                continue;
            };
            match self
                .runner
                .start_tasks(record.id, TriggerKind::EventBased, vec![task])
                .await
            {
                Ok(e) => started.push(e),
                Err(e) => {
                    tracing::warn!(policy = %policy.name, error = %e, "event trigger failed to start")
                }
            }
        }
        started
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
            let Some(tick) = schedule_due(&policy, since, now) else {
                continue;
            };
            // Every instance sees the tick; the one that takes its lease
            // starts the execution. The lease outlives any clock skew.
            let (leases, holder) = self.runner.leases();
            let lease = format!("replication/cron/{}/{}", record.id, tick.timestamp());
            match leases
                .acquire_lease(&lease, holder, Duration::from_secs(3600))
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(policy = %policy.name, error = %e, "cannot take a cron tick's lease");
                    continue;
                }
            }
            match self.runner.start(record.id, TriggerKind::Scheduled).await {
                Ok(_) => started.push(record.id),
                Err(e) => {
                    tracing::warn!(policy = %policy.name, error = %e, "scheduled replication failed to start")
                }
            }
        }
        started
    }

    /// Runs the event trigger (events from [`ReplicationService::notify`])
    /// and the cron trigger (checked every second) in the background until
    /// the returned handle is stopped or dropped.
    pub fn spawn_triggers(self: &Arc<Self>) -> Triggers {
        let weak = Arc::downgrade(self);
        let schedule = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
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
        });
        let weak = Arc::downgrade(self);
        let events = tokio::spawn(async move {
            let Some(service) = weak.upgrade() else {
                return;
            };
            // One consumer at a time; a second `spawn_triggers` waits here
            // until the first is stopped.
            let events_rx = service.events_rx.clone();
            drop(service);
            let mut rx = events_rx.lock_owned().await;
            while let Some(event) = rx.recv().await {
                let Some(service) = weak.upgrade() else {
                    return;
                };
                service.on_event(&event).await;
            }
        });
        Triggers {
            tasks: vec![schedule, events],
        }
    }
}

/// The running event and cron triggers; [`Triggers::stop`] (or dropping
/// it) ends them. Executions already started go on in the job runner.
#[derive(Debug)]
#[must_use = "the triggers stop when this handle is dropped"]
pub struct Triggers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Triggers {
    /// Stops both triggers and waits until they have.
    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Triggers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Resolves policies through the service without keeping it alive.
struct Resolver(Weak<ReplicationService>);

#[async_trait]
impl PolicyResolver for Resolver {
    async fn resolve(&self, policy_id: i64) -> Result<Resolved> {
        let service = self
            .0
            .upgrade()
            .ok_or_else(|| ReplicateError::invalid("the replication service has shut down"))?;
        service.resolve_policy(policy_id).await
    }
}
