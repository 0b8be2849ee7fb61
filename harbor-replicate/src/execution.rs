//! Durable executions: a policy run is recorded as an execution with one task
//! per image, every state change is persisted through a `ReplicationStore`,
//! a stop aborts in-flight transfers at once and leaves no task InProgress,
//! and after a crash the unfinished executions are picked up again (copies
//! are idempotent, so redoing a task that was cut off is safe).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use harbor_core::{
    Execution, LeaseStore, LocalLeases, NewTask, Reference, ReplicationStore, RepositoryName,
    RunStatus, TaskOperation, TaskRecord, TriggerKind,
};

use crate::adapter::RegistryAdapter;
use crate::copy::Copier;
use crate::error::{ReplicateError, Result};
use crate::policy::Policy;
use crate::replicator::Replicator;

/// Turns a stored policy into what a run needs: the policy and its two ends.
#[async_trait]
pub trait PolicyResolver: Send + Sync + 'static {
    /// The policy `policy_id` with its source and destination adapters.
    async fn resolve(
        &self,
        policy_id: i64,
    ) -> Result<(Policy, Arc<dyn RegistryAdapter>, Arc<dyn RegistryAdapter>)>;
}

/// Runs executions in the background and records them.
pub struct JobRunner {
    store: Arc<dyn ReplicationStore>,
    resolver: Arc<dyn PolicyResolver>,
    replicator: Replicator,
    running: Mutex<HashMap<i64, tokio::task::JoinHandle<()>>>,
    leases: Arc<dyn LeaseStore>,
    holder: String,
    ended: tokio::sync::broadcast::Sender<i64>,
}

/// How long an execution's lease lasts without renewal: an instance that
/// dies mid-execution gives it up to another after this.
pub const EXECUTION_LEASE: Duration = Duration::from_secs(15);
/// How often a driving instance renews its lease and looks whether the
/// execution was stopped elsewhere.
const LEASE_RENEWAL: Duration = Duration::from_secs(2);

fn execution_lease(execution_id: i64) -> String {
    format!("replication/execution/{execution_id}")
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running: Vec<i64> = self
            .running
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        f.debug_struct("JobRunner")
            .field("running", &running)
            .finish_non_exhaustive()
    }
}

/// A task's resource, `repo:tag` or `repo@digest` (a deletion may name a
/// digest), parsed back into its parts.
fn split_resource(r: &str) -> Result<(RepositoryName, Reference)> {
    let (repo, reference) = match r.split_once('@') {
        Some(parts) => parts,
        None => r.rsplit_once(':').ok_or_else(|| {
            ReplicateError::invalid(format!(
                "the task resource {r:?} is neither repo:tag nor repo@digest"
            ))
        })?,
    };
    let repo = RepositoryName::parse(repo).map_err(|e| {
        ReplicateError::invalid_because(format!("the task resource {r:?} names no repository"), e)
    })?;
    let reference = Reference::parse(reference).map_err(|e| {
        ReplicateError::invalid_because(
            format!("the task resource {r:?} names no tag or digest"),
            e,
        )
    })?;
    Ok((repo, reference))
}

impl JobRunner {
    /// A runner recording into `store`, resolving policies with `resolver`.
    pub fn new(
        store: Arc<dyn ReplicationStore>,
        resolver: Arc<dyn PolicyResolver>,
        replicator: Replicator,
    ) -> Arc<Self> {
        Self::with_leases(store, resolver, replicator, Arc::new(LocalLeases::new()))
    }

    /// A runner that takes a lease on each execution it drives, from a
    /// store every instance of a cluster shares, so that each execution is
    /// driven by exactly one instance, and one that dies mid-way hands it
    /// to another (through [`JobRunner::recover`]) once its lease expires.
    pub fn with_leases(
        store: Arc<dyn ReplicationStore>,
        resolver: Arc<dyn PolicyResolver>,
        replicator: Replicator,
        leases: Arc<dyn LeaseStore>,
    ) -> Arc<Self> {
        Arc::new(JobRunner {
            store,
            resolver,
            replicator,
            running: Mutex::new(HashMap::new()),
            leases,
            holder: format!("runner-{}", uuid::Uuid::new_v4()),
            ended: tokio::sync::broadcast::channel(256).0,
        })
    }

    /// The ids of the executions this runner drives to their end, as they
    /// end (each execution ends on one instance of a cluster: its driver).
    pub fn subscribe_ended(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.ended.subscribe()
    }

    /// The lease store and this runner's holder name, for other duties that
    /// must run once across a cluster (the cron trigger).
    pub fn leases(&self) -> (&Arc<dyn LeaseStore>, &str) {
        (&self.leases, &self.holder)
    }

    fn is_running(&self, execution_id: i64) -> bool {
        self.running
            .lock()
            .map(|m| m.contains_key(&execution_id))
            .unwrap_or(false)
    }

    /// Renews the lease on `execution_id` until it is lost or the execution
    /// ends elsewhere (stopped through another instance); returns why.
    async fn keep_lease(&self, execution_id: i64) -> &'static str {
        let name = execution_lease(execution_id);
        // When the lease was last renewed (at the latest; taken just
        // before this was called).
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(LEASE_RENEWAL).await;
            let asked = tokio::time::Instant::now();
            match self
                .leases
                .acquire_lease(&name, &self.holder, EXECUTION_LEASE)
                .await
            {
                Ok(true) => renewed = asked,
                Ok(false) => return "its lease passed to another instance",
                // A database hiccup: keep going while the lease may still
                // be ours; another instance takes over only after expiry.
                Err(e) => {
                    tracing::warn!(execution_id, error = %e, "renewing an execution lease failed")
                }
            }
            // Stop before the lease may lapse: past it another instance
            // may take the execution up, and two must never copy at once.
            if renewed.elapsed() >= EXECUTION_LEASE - 2 * LEASE_RENEWAL {
                return "its lease could not be renewed in time";
            }
            if let Ok(Some(e)) = self.store.execution(execution_id).await {
                if e.status.is_final() {
                    return "it ended elsewhere";
                }
            }
        }
    }

    /// Starts a run of `policy_id`: records the execution and its tasks, then
    /// copies in the background. Returns the execution as recorded.
    pub async fn start(
        self: &Arc<Self>,
        policy_id: i64,
        trigger: TriggerKind,
    ) -> Result<Execution> {
        let (policy, src, dst) = self.resolver.resolve(policy_id).await?;
        if policy.single_active_replication {
            let (recent, _) = self
                .store
                .list_executions(
                    Some(policy_id),
                    harbor_core::Page {
                        page: 1,
                        page_size: 20,
                    },
                )
                .await?;
            if recent.iter().any(|e| !e.status.is_final()) {
                return Err(ReplicateError::Busy(format!(
                    "policy {} already has an execution running (single_active_replication)",
                    policy.name
                )));
            }
        }
        let execution = self.store.create_execution(policy_id, trigger).await?;
        // The lease from the start, kept while planning (which may take a
        // while on a large source), so no other instance's recovery takes
        // the execution up before its tasks exist.
        self.take_lease(execution.id).await?;
        let planning = tokio::select! {
            planned = self.replicator.plan(&policy, src.as_ref()) => planned,
            why = self.keep_lease(execution.id) => Err(ReplicateError::Busy(format!(
                "execution {} was given up while planning: {why}",
                execution.id
            ))),
        };
        let planned = match planning {
            Ok(p) => p,
            Err(e) => {
                self.store
                    .set_execution_status(
                        execution.id,
                        RunStatus::Failed,
                        &format!("planning failed: {}", e.chain()),
                    )
                    .await?;
                return Err(e);
            }
        };
        let new: Vec<NewTask> = planned
            .iter()
            .map(|t| NewTask {
                operation: TaskOperation::Copy,
                src_resource: format!("{}:{}", t.src_repo, t.tag),
                dst_resource: format!("{}:{}", t.dst_repo, t.tag),
            })
            .collect();
        let tasks = self.store.create_tasks(execution.id, &new).await?;
        self.spawn(execution.id, policy, src, dst, tasks);
        Ok(self
            .store
            .execution(execution.id)
            .await?
            .unwrap_or(execution))
    }

    /// Starts an execution of `policy_id` made of exactly `tasks` (what an
    /// event trigger asks for: one pushed or deleted artifact).
    pub async fn start_tasks(
        self: &Arc<Self>,
        policy_id: i64,
        trigger: TriggerKind,
        tasks: Vec<NewTask>,
    ) -> Result<Execution> {
        let (policy, src, dst) = self.resolver.resolve(policy_id).await?;
        let execution = self.store.create_execution(policy_id, trigger).await?;
        // The lease before the tasks: recovery elsewhere takes up only
        // executions with tasks (or old ones), and then needs the lease.
        self.take_lease(execution.id).await?;
        let tasks = self.store.create_tasks(execution.id, &tasks).await?;
        self.spawn(execution.id, policy, src, dst, tasks);
        Ok(self
            .store
            .execution(execution.id)
            .await?
            .unwrap_or(execution))
    }

    /// The lease of a new execution, taken before its tasks are recorded.
    /// Recovery leaves young executions without tasks alone, so nobody
    /// else should hold it; if someone does, this instance must not run
    /// the execution too.
    async fn take_lease(&self, execution_id: i64) -> Result<()> {
        let taken = self
            .leases
            .acquire_lease(
                &execution_lease(execution_id),
                &self.holder,
                EXECUTION_LEASE,
            )
            .await?;
        if taken {
            Ok(())
        } else {
            Err(ReplicateError::Busy(format!(
                "execution {execution_id} is driven by another instance"
            )))
        }
    }

    fn spawn(
        self: &Arc<Self>,
        execution_id: i64,
        policy: Policy,
        src: Arc<dyn RegistryAdapter>,
        dst: Arc<dyn RegistryAdapter>,
        tasks: Vec<TaskRecord>,
    ) {
        let runner = self.clone();
        let handle = tokio::spawn(async move {
            let outcome = tokio::select! {
                outcome = runner.drive(execution_id, &policy, src, dst, tasks) => outcome,
                why = runner.keep_lease(execution_id) => {
                    tracing::info!(execution_id, "no longer driving an execution: {why}");
                    if let Ok(mut m) = runner.running.lock() {
                        m.remove(&execution_id);
                    }
                    return;
                }
            };
            let (status, text) = match outcome {
                Ok(0) => (RunStatus::Succeeded, String::new()),
                Ok(failed) => (RunStatus::Failed, format!("{failed} task(s) failed")),
                Err(e) => (RunStatus::Failed, e.chain()),
            };
            if let Err(e) = runner
                .store
                .set_execution_status(execution_id, status, &text)
                .await
            {
                tracing::error!(execution_id, error = %e, "recording the end of an execution failed");
            }
            let _ = runner.ended.send(execution_id);
            let _ = runner
                .leases
                .release_lease(&execution_lease(execution_id), &runner.holder)
                .await;
            if let Ok(mut m) = runner.running.lock() {
                m.remove(&execution_id);
            }
        });
        if let Ok(mut m) = self.running.lock() {
            m.insert(execution_id, handle);
        }
    }

    /// Runs the not-yet-final tasks; returns how many failed.
    async fn drive(
        &self,
        execution_id: i64,
        policy: &Policy,
        src: Arc<dyn RegistryAdapter>,
        dst: Arc<dyn RegistryAdapter>,
        tasks: Vec<TaskRecord>,
    ) -> Result<usize> {
        let todo: Vec<TaskRecord> = tasks.into_iter().filter(|t| !t.status.is_final()).collect();
        // A resource that does not parse fails its own task, in run_task.
        let mut repos: Vec<RepositoryName> = todo
            .iter()
            .filter_map(|t| split_resource(&t.dst_resource).ok().map(|(r, _)| r))
            .collect();
        repos.sort();
        repos.dedup();
        dst.prepare_for_push(&repos).await?;
        let copier = Copier::new(src, dst, self.replicator.options_for(policy, None));
        let copier = &copier;
        let failed = stream::iter(todo)
            .map(|task| async move { self.run_task(execution_id, copier, task).await })
            .buffer_unordered(self.replicator.workers.max(1))
            .filter(|ok| std::future::ready(!*ok))
            .count()
            .await;
        Ok(failed)
    }

    /// One task with retries, every attempt logged; `true` on success.
    async fn run_task(&self, execution_id: i64, copier: &Copier, task: TaskRecord) -> bool {
        let parsed = split_resource(&task.src_resource)
            .and_then(|src| Ok((src, split_resource(&task.dst_resource)?)));
        let ((src_repo, src_ref), (dst_repo, dst_ref)) = match parsed {
            Ok(parts) => parts,
            Err(e) => {
                // Best effort, as everywhere in this runner: a task must end
                // even when its log cannot be written.
                let _ = self
                    .store
                    .append_task_log(task.id, &format!("cannot run: {}", e.chain()))
                    .await;
                let _ = self
                    .store
                    .set_task_status(task.id, RunStatus::Failed, task.attempts)
                    .await;
                return false;
            }
        };
        if task.operation == TaskOperation::Deletion {
            return self.run_deletion(copier, &task, &dst_repo, &dst_ref).await;
        }
        // Pushed under the destination's tag, or by digest.
        let dst_tag = match &dst_ref {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        let retry = self.replicator.retry;
        let mut attempt = task.attempts;
        loop {
            attempt += 1;
            let _ = self
                .store
                .set_task_status(task.id, RunStatus::InProgress, attempt)
                .await;
            let _ = self
                .store
                .append_task_log(
                    task.id,
                    &format!(
                        "attempt {attempt}: copying {} to {}",
                        task.src_resource, task.dst_resource
                    ),
                )
                .await;
            match copier
                .copy_image(&src_repo, &src_ref, &dst_repo, dst_tag)
                .await
            {
                Ok(report) => {
                    let note = if report.tag_kept {
                        "destination tag points at other content; kept (override is off)".to_owned()
                    } else {
                        format!(
                            "done: {} blob(s) copied ({} bytes), {} already present, digest {}",
                            report.blobs_copied,
                            report.bytes,
                            report.blobs_skipped,
                            report.digest.map(|d| d.to_string()).unwrap_or_default()
                        )
                    };
                    let _ = self.store.append_task_log(task.id, &note).await;
                    let _ = self
                        .store
                        .set_task_status(task.id, RunStatus::Succeeded, attempt)
                        .await;
                    return true;
                }
                Err(e) => {
                    let _ = self
                        .store
                        .append_task_log(
                            task.id,
                            &format!("attempt {attempt} failed: {}", e.chain()),
                        )
                        .await;
                    if e.is_transient() && attempt < retry.attempts.max(1) {
                        let wait = retry.backoff(attempt, &e);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let _ = self
                        .store
                        .set_task_status(task.id, RunStatus::Failed, attempt)
                        .await;
                    tracing::warn!(execution_id, task = task.id, error = %e, "replication task failed");
                    return false;
                }
            }
        }
    }

    /// Deletes the destination's copy of a deleted artifact; absent is fine.
    async fn run_deletion(
        &self,
        copier: &Copier,
        task: &TaskRecord,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> bool {
        let attempt = task.attempts + 1;
        let _ = self
            .store
            .set_task_status(task.id, RunStatus::InProgress, attempt)
            .await;
        let result = copier.destination().delete_manifest(repo, reference).await;
        let (status, note) = match result {
            Ok(()) => (
                RunStatus::Succeeded,
                format!("deleted {}", task.dst_resource),
            ),
            Err(e) if e.is_not_found() => (
                RunStatus::Succeeded,
                format!("{} was already gone", task.dst_resource),
            ),
            Err(e) => (
                RunStatus::Failed,
                format!("deleting {} failed: {}", task.dst_resource, e.chain()),
            ),
        };
        let _ = self.store.append_task_log(task.id, &note).await;
        let _ = self.store.set_task_status(task.id, status, attempt).await;
        status == RunStatus::Succeeded
    }

    /// Stops an execution: in-flight transfers are aborted at once, the
    /// remaining tasks and the execution are marked Stopped.
    pub async fn stop(&self, execution_id: i64) -> Result<Execution> {
        let handle = self
            .running
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&execution_id));
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
        let execution =
            self.store
                .execution(execution_id)
                .await?
                .ok_or(ReplicateError::NotFound {
                    kind: "execution",
                    id: execution_id,
                })?;
        if !execution.status.is_final() {
            for t in self.store.tasks(execution_id).await? {
                if !t.status.is_final() {
                    self.store
                        .set_task_status(t.id, RunStatus::Stopped, t.attempts)
                        .await?;
                    let _ = self.store.append_task_log(t.id, "stopped").await;
                }
            }
            self.store
                .set_execution_status(execution_id, RunStatus::Stopped, "stopped on request")
                .await?;
        }
        Ok(self
            .store
            .execution(execution_id)
            .await?
            .unwrap_or(execution))
    }

    /// Aborts every run in flight without recording anything, as a crash
    /// would: their executions stay unfinished and the next
    /// [`JobRunner::recover`] (at the next start) picks them up. For a
    /// graceful stop of the process that embeds the runner. Their leases
    /// are given up, so that another instance of a cluster resumes them at
    /// its next [`JobRunner::recover`] rather than after the lease expires.
    pub async fn shutdown(&self) {
        let running: Vec<(i64, tokio::task::JoinHandle<()>)> = self
            .running
            .lock()
            .map(|mut m| m.drain().collect())
            .unwrap_or_default();
        for (execution_id, h) in running {
            h.abort();
            let _ = h.await;
            let _ = self
                .leases
                .release_lease(&execution_lease(execution_id), &self.holder)
                .await;
        }
    }

    /// Picks up executions left unfinished by a crash, a shutdown, or an
    /// instance of the cluster that stopped renewing its lease: their tasks
    /// that were running are run again. Executions driven here or by a live
    /// instance are left alone. Call at start and then every few seconds.
    pub async fn recover(self: &Arc<Self>) -> Result<usize> {
        let unfinished = self.store.unfinished_executions().await?;
        let mut count = 0;
        for e in unfinished {
            // Without tasks and young: its starter is taking the lease
            // (then planning under it); if it died first, waiting a lease
            // long covers that too.
            let age = SystemTime::now()
                .duration_since(e.start_time)
                .unwrap_or_default();
            if e.total == 0 && age < EXECUTION_LEASE {
                continue;
            }
            // Driven here already, or by a live instance of the cluster.
            if self.is_running(e.id)
                || !self
                    .leases
                    .acquire_lease(&execution_lease(e.id), &self.holder, EXECUTION_LEASE)
                    .await?
            {
                continue;
            }
            count += 1;
            match self.resolver.resolve(e.policy_id).await {
                Ok((policy, src, dst)) => {
                    let tasks = self.store.tasks(e.id).await?;
                    tracing::info!(execution = e.id, "resuming an execution left unfinished");
                    self.spawn(e.id, policy, src, dst, tasks);
                }
                Err(err) => {
                    self.store
                        .set_execution_status(
                            e.id,
                            RunStatus::Failed,
                            &format!("cannot resume: {}", err.chain()),
                        )
                        .await?;
                }
            }
        }
        Ok(count)
    }

    /// Waits until an execution is final (or `timeout` passes) and returns it.
    pub async fn wait(&self, execution_id: i64, timeout: Duration) -> Result<Execution> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let e = self
                .store
                .execution(execution_id)
                .await?
                .ok_or(ReplicateError::NotFound {
                    kind: "execution",
                    id: execution_id,
                })?;
            if e.status.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(e);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_resources_parse_back_as_tags_or_digests() {
        let tag = split_resource("mirror/library/app:v1").ok();
        assert_eq!(
            tag.map(|(r, x)| (r.to_string(), x.to_string())),
            Some(("mirror/library/app".into(), "v1".into()))
        );
        let d = harbor_core::Digest::sha256(b"m");
        let by_digest = split_resource(&format!("mirror/app@{d}")).ok();
        assert_eq!(
            by_digest,
            Some((
                RepositoryName::parse("mirror/app").unwrap(),
                Reference::Digest(d)
            ))
        );
        for bad in ["no-reference", "Upper/app:v1", "app:-v1", "app@sha256:zz"] {
            assert!(
                matches!(split_resource(bad), Err(ReplicateError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }
}
