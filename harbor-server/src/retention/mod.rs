//! Tag retention as a server runs it: policies kept in the
//! [`RetentionStore`] (one per project, named by the project's
//! `retention_id` metadata), executions run by whichever instance takes
//! their lease (renewed every second; a dead instance's execution is
//! marked `Failed` by the next to look), stop requests that reach the
//! running instance through the store, schedules fired once per firing
//! across a cluster (a lease per firing), and after each real run the
//! `TAG_RETENTION` webhook. The decision and the deletes are
//! [`RetentionRunner`]'s.

mod run;
pub mod shape;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use harbor_core::retention::RetentionRunner;
use harbor_core::{
    Error, ErrorCode, IdentityStore, JobTrigger, LeaseStore, NewRetentionExecution, Page,
    PolicySpec, Registry, Result, RetentionExecution, RetentionPolicy, RetentionStatus,
    RetentionStore,
};
use harbor_replicate::ReplicationService;
use tokio::sync::Notify;

use crate::audit::AuditSink;
use crate::gc::harbor_cron;
use crate::webhook::WebhookService;

/// How long an execution's lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often a running execution renews its lease and looks for a stop.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often each instance looks for executions to run and schedules due.
const LOOK_INTERVAL: Duration = Duration::from_secs(2);
/// The project metadata key naming a project's policy (Harbor's).
pub const RETENTION_ID: &str = "retention_id";

/// Where a run reports what it deleted, as any delete through the API
/// does: the audit log, replication's event trigger, webhooks.
#[derive(Debug, Clone)]
pub struct DeleteHooks {
    /// The audit log.
    pub audit: AuditSink,
    /// Replication, for event-based policies replicating deletions.
    pub replication: Option<Arc<ReplicationService>>,
    /// Webhooks (`DELETE_ARTIFACT` per artifact, `TAG_RETENTION` per run).
    pub webhooks: Option<Arc<WebhookService>>,
}

/// Tag retention for one server: policies, executions, the loop that runs
/// them and fires schedules. Cheap to share.
#[derive(Debug)]
pub struct RetentionService {
    /// Policies, executions, tasks and logs.
    pub store: Arc<dyn RetentionStore>,
    identity: Arc<dyn IdentityStore>,
    registry: Registry,
    runner: RetentionRunner,
    leases: Arc<dyn LeaseStore>,
    hooks: DeleteHooks,
    holder: String,
    wake: Notify,
    running: Mutex<HashSet<i64>>,
}

impl RetentionService {
    /// Retention over `registry`, kept in `store`, projects from
    /// `identity`, executions shared out through `leases`.
    pub fn new(
        registry: &Registry,
        store: Arc<dyn RetentionStore>,
        identity: Arc<dyn IdentityStore>,
        leases: Arc<dyn LeaseStore>,
        hooks: DeleteHooks,
        labels: Option<Arc<dyn harbor_core::LabelStore>>,
    ) -> Arc<RetentionService> {
        let runner = RetentionRunner::new(registry);
        Arc::new(RetentionService {
            store,
            identity,
            registry: registry.clone(),
            runner: match labels {
                Some(labels) => runner.with_labels(labels),
                None => runner,
            },
            leases,
            hooks,
            holder: format!("retention-{}", uuid::Uuid::new_v4()),
            wake: Notify::new(),
            running: Mutex::default(),
        })
    }

    /// `BAD_REQUEST` unless `spec` can be stored: valid rules and a valid
    /// Harbor cron, if any.
    pub fn validate(spec: &PolicySpec) -> Result<()> {
        spec.validate()?;
        if let Some(cron) = &spec.schedule {
            harbor_cron(cron)?;
        }
        Ok(())
    }

    /// Stores the policy of `spec.project_id` and names it in the
    /// project's `retention_id`.
    pub async fn create_policy(&self, spec: &PolicySpec) -> Result<RetentionPolicy> {
        Self::validate(spec)?;
        let policy = self.store.create_retention_policy(spec).await?;
        self.set_retention_id(spec.project_id, Some(policy.id))
            .await?;
        self.wake.notify_one();
        Ok(policy)
    }

    /// Replaces policy `id`'s rules and schedule; `false` without it.
    pub async fn update_policy(&self, id: i64, spec: &PolicySpec) -> Result<bool> {
        Self::validate(spec)?;
        let updated = self.store.update_retention_policy(id, spec).await?;
        self.wake.notify_one();
        Ok(updated)
    }

    /// Deletes policy `id` and its history; the project's `retention_id`
    /// goes too.
    pub async fn delete_policy(&self, policy: &RetentionPolicy) -> Result<bool> {
        let deleted = self.store.delete_retention_policy(policy.id).await?;
        if deleted {
            self.set_retention_id(policy.spec.project_id, None).await?;
        }
        Ok(deleted)
    }

    async fn set_retention_id(&self, project_id: i64, id: Option<i64>) -> Result<()> {
        let Some(project) = self.identity.project_by_id(project_id).await? else {
            return Ok(());
        };
        let mut metadata: BTreeMap<String, String> = project.metadata.clone();
        match id {
            Some(id) => metadata.insert(RETENTION_ID.into(), id.to_string()),
            None => metadata.remove(RETENTION_ID),
        };
        self.identity
            .set_project_metadata(project_id, &metadata)
            .await?;
        Ok(())
    }

    /// Records an execution of policy `policy_id` to run now; an instance
    /// takes it within moments.
    pub async fn trigger(
        &self,
        policy_id: i64,
        dry_run: bool,
        trigger: JobTrigger,
    ) -> Result<RetentionExecution> {
        let execution = self
            .store
            .create_retention_execution(&NewRetentionExecution {
                policy_id,
                trigger,
                dry_run,
            })
            .await?;
        self.wake.notify_one();
        Ok(execution)
    }

    /// Asks execution `id` to stop, wherever it runs; `false` if it had
    /// ended.
    pub async fn stop(&self, id: i64) -> Result<bool> {
        self.store.request_retention_stop(id).await
    }

    /// The next time a schedule fires after now.
    pub fn next_time(cron: &str) -> Option<DateTime<Utc>> {
        harbor_cron(cron).ok()?.upcoming(Utc).next()
    }

    /// Runs the loop until the returned handle is aborted: every few
    /// seconds, or when woken, fire due schedules and take executions
    /// nobody runs.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        tokio::spawn(async move {
            let mut since = Utc::now();
            loop {
                let now = Utc::now();
                if let Err(e) = svc.fire_schedules(since, now).await {
                    tracing::warn!(error = %e, "retention schedules");
                }
                since = now;
                if !svc.registry.is_read_only() {
                    if let Err(e) = svc.take_unfinished().await {
                        tracing::warn!(error = %e, "retention executions");
                    }
                }
                let _ = tokio::time::timeout(LOOK_INTERVAL, svc.wake.notified()).await;
            }
        })
    }

    /// Triggers each policy whose schedule fired in `(since, now]`; once
    /// per firing across a cluster.
    async fn fire_schedules(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        for policy in self.store.scheduled_retention_policies().await? {
            let Some(Ok(cron)) = policy.spec.schedule.as_deref().map(harbor_cron) else {
                continue;
            };
            let Some(due) = cron.after(&since).next().filter(|t| *t <= now) else {
                continue;
            };
            let firing = format!("retention/cron/{}/{}", policy.id, due.timestamp());
            if self
                .leases
                .acquire_lease(&firing, &self.holder, Duration::from_secs(3600))
                .await?
            {
                self.trigger(policy.id, false, JobTrigger::Schedule).await?;
            }
        }
        Ok(())
    }

    /// Takes every unfinished execution whose lease is free: runs it if it
    /// never began, marks it failed if its instance died midway.
    async fn take_unfinished(self: &Arc<Self>) -> Result<()> {
        for execution in self.store.unfinished_retention_executions().await? {
            if self.is_running(execution.id) {
                continue;
            }
            let lease = lease_name(execution.id);
            if !self
                .leases
                .acquire_lease(&lease, &self.holder, LEASE_TTL)
                .await?
            {
                continue;
            }
            let (_, begun) = self
                .store
                .list_retention_tasks(
                    execution.id,
                    Page {
                        page: 1,
                        page_size: 1,
                    },
                )
                .await?;
            if begun > 0 || execution.stop_requested {
                let status = if execution.stop_requested {
                    RetentionStatus::Stopped
                } else {
                    RetentionStatus::Failed
                };
                self.store
                    .finish_retention_execution(execution.id, status)
                    .await?;
                let _ = self.leases.release_lease(&lease, &self.holder).await;
                continue;
            }
            if let Ok(mut running) = self.running.lock() {
                running.insert(execution.id);
            }
            let svc = self.clone();
            tokio::spawn(async move {
                let id = execution.id;
                if let Err(e) = svc.run(execution).await {
                    tracing::warn!(error = %e, execution = id, "retention execution failed");
                    let _ = svc
                        .store
                        .finish_retention_execution(id, RetentionStatus::Failed)
                        .await;
                }
                let _ = svc.leases.release_lease(&lease_name(id), &svc.holder).await;
                if let Ok(mut running) = svc.running.lock() {
                    running.remove(&id);
                }
            });
        }
        Ok(())
    }

    fn is_running(&self, id: i64) -> bool {
        self.running
            .lock()
            .map(|r| r.contains(&id))
            .unwrap_or(false)
    }
}

fn lease_name(execution: i64) -> String {
    format!("retention/execution/{execution}")
}

/// `NOT_FOUND` for policy `id`.
pub fn policy_not_found(id: i64) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("retention policy {id} not found"),
    )
}
