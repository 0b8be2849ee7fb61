//! One execution: a task per repository the policy's rules apply to, each
//! with its log (one line per artifact), under a lease renewed every
//! second by a heartbeat that also passes on stop requests; then the
//! execution's status and, after a real run, the `TAG_RETENTION` event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use harbor_core::retention::{log_line, ArtifactOutcome, Candidate, RepositoryRun};
use harbor_core::{
    AuditOperation, AuditResource, Digest, Page, RepositoryName, Result, RetentionExecution,
    RetentionPolicy, RetentionRule, RetentionStatus, Tag,
};
use harbor_replicate::ArtifactEvent;

use super::{lease_name, shape, RetentionService, HEARTBEAT, LEASE_TTL};
use crate::webhook::{ArtifactAction, RetentionOutcome, WebhookEvent};

/// Log lines written to the store at once.
const LOG_CHUNK: usize = 2000;
/// Deleted artifacts named in the `TAG_RETENTION` payload; past this,
/// only counted.
const MAX_NAMED: usize = 10_000;
/// Repository names read per page.
const REPO_PAGE: u64 = 500;

/// What the tasks of one execution added up to.
#[derive(Default)]
struct Totals {
    total: u64,
    retained: u64,
    failed: bool,
    deleted: Vec<(RepositoryName, Digest, Vec<String>)>,
}

impl RetentionService {
    /// Runs `execution` to its end, holding its lease.
    pub(super) async fn run(&self, execution: RetentionExecution) -> Result<()> {
        let stop = AtomicBool::new(false);
        let lost = tokio::select! {
            r = self.execute(&execution, &stop) => Some(r),
            () = self.heartbeat(execution.id, &stop) => None,
        };
        let (status, outcome) = match lost {
            None => (RetentionStatus::Failed, None),
            Some(Err(e)) => {
                tracing::warn!(error = %e, execution = execution.id, "retention execution");
                (RetentionStatus::Failed, None)
            }
            Some(Ok(None)) => (RetentionStatus::Failed, None),
            Some(Ok(Some((policy, project, totals)))) => {
                let status = if stop.load(Ordering::Relaxed) {
                    RetentionStatus::Stopped
                } else if totals.failed {
                    RetentionStatus::Failed
                } else {
                    RetentionStatus::Succeed
                };
                (status, Some((policy, project, totals)))
            }
        };
        self.store
            .finish_retention_execution(execution.id, status)
            .await?;
        if let (Some((policy, project, totals)), false) = (outcome, execution.dry_run) {
            if let Some(webhooks) = &self.hooks.webhooks {
                webhooks.notify(WebhookEvent::TagRetention(RetentionOutcome {
                    project,
                    policy_id: policy.id,
                    rules: policy.spec.rules.iter().map(shape::rule_json).collect(),
                    total: totals.total,
                    retained: totals.retained,
                    success: status == RetentionStatus::Succeed,
                    deleted: totals.deleted,
                    operator: execution.trigger.as_str().to_owned(),
                    at: SystemTime::now(),
                }));
            }
        }
        Ok(())
    }

    /// Until the run ends: renews the lease and passes on a stop asked
    /// through the store. Returns only if the lease is lost.
    async fn heartbeat(&self, id: i64, stop: &AtomicBool) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            match self
                .leases
                .acquire_lease(&lease_name(id), &self.holder, LEASE_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "renewing a retention lease"),
            }
            if let Ok(Some(e)) = self.store.retention_execution(id).await {
                if e.stop_requested {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// The tasks of `execution`; `None` if its policy or project is gone.
    async fn execute(
        &self,
        execution: &RetentionExecution,
        stop: &AtomicBool,
    ) -> Result<Option<(RetentionPolicy, String, Totals)>> {
        let Some(policy) = self.store.retention_policy(execution.policy_id).await? else {
            return Ok(None);
        };
        let Some(project) = self.identity.project_by_id(policy.spec.project_id).await? else {
            return Ok(None);
        };
        let repositories = self.repositories(&project.name).await?;
        let mut totals = Totals::default();
        for name in repositories {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Some(in_project) = name.strip_prefix(&format!("{}/", project.name)) else {
                continue;
            };
            let rules: Vec<&RetentionRule> = policy
                .spec
                .rules
                .iter()
                .filter(|r| r.applies_to(in_project))
                .collect();
            if rules.is_empty() {
                continue;
            }
            let Ok(repo) = RepositoryName::parse(&name) else {
                continue;
            };
            self.task(execution, &repo, &rules, stop, &mut totals)
                .await?;
        }
        Ok(Some((policy, project.name, totals)))
    }

    /// Every repository of the project, by name, read before any delete
    /// (a repository emptied by the run must not shift the pages).
    async fn repositories(&self, project: &str) -> Result<Vec<String>> {
        let meta = self.registry.meta_store();
        let prefix = format!("{project}/");
        let mut names = Vec::new();
        let mut page = Page {
            page: 1,
            page_size: REPO_PAGE,
        };
        loop {
            let (list, total) = meta.repositories_with_prefix(&prefix, None, page).await?;
            let n = list.len() as u64;
            names.extend(list.into_iter().map(|r| r.name));
            if n < REPO_PAGE || page.page * REPO_PAGE >= total {
                return Ok(names);
            }
            page.page += 1;
        }
    }

    /// One repository's task: the run, its log, its counts, and the
    /// hooks of each delete.
    async fn task(
        &self,
        execution: &RetentionExecution,
        repo: &RepositoryName,
        rules: &[&RetentionRule],
        stop: &AtomicBool,
        totals: &mut Totals,
    ) -> Result<()> {
        let task = self
            .store
            .create_retention_task(execution.id, repo.as_str())
            .await?;
        let deleted: Mutex<Vec<Candidate>> = Mutex::default();
        let outcome = self
            .runner
            .run_repository(
                repo,
                rules,
                execution.dry_run,
                SystemTime::now(),
                stop,
                &|c| {
                    if let Ok(mut d) = deleted.lock() {
                        d.push(c.clone());
                    }
                },
            )
            .await;
        let run = match outcome {
            Ok(run) => run,
            Err(e) => {
                let _ = self
                    .store
                    .append_retention_task_log(task.id, &format!("failed: {e}\n"))
                    .await;
                self.store
                    .finish_retention_task(task.id, RetentionStatus::Failed, 0, 0)
                    .await?;
                totals.failed = true;
                return Ok(());
            }
        };
        self.write_log(task.id, repo, rules, execution.dry_run, &run)
            .await?;
        let status = if run.stopped {
            RetentionStatus::Stopped
        } else if run.failed() {
            RetentionStatus::Failed
        } else {
            RetentionStatus::Succeed
        };
        self.store
            .finish_retention_task(task.id, status, run.total(), run.retained())
            .await?;
        totals.total += run.total();
        totals.retained += run.retained();
        totals.failed |= status == RetentionStatus::Failed;
        let deleted = deleted.into_inner().unwrap_or_else(|p| p.into_inner());
        for c in deleted {
            self.report_delete(repo, &c).await;
            if totals.deleted.len() < MAX_NAMED {
                totals.deleted.push((repo.clone(), c.digest, c.tags));
            }
        }
        Ok(())
    }

    async fn write_log(
        &self,
        task: i64,
        repo: &RepositoryName,
        rules: &[&RetentionRule],
        dry_run: bool,
        run: &RepositoryRun,
    ) -> Result<()> {
        let mut text = format!(
            "{} retention of {repo}{}: {} rules apply; digest | tags | pushed | pulled | result\n",
            humantime::format_rfc3339_seconds(SystemTime::now()),
            if dry_run { " (dry run)" } else { "" },
            rules.len()
        );
        for (i, (c, outcome)) in run.outcomes.iter().enumerate() {
            text.push_str(&log_line(c, outcome, dry_run));
            text.push('\n');
            if (i + 1) % LOG_CHUNK == 0 {
                self.store
                    .append_retention_task_log(task, &std::mem::take(&mut text))
                    .await?;
            }
        }
        let deleted = run
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, ArtifactOutcome::Deleted))
            .count();
        text.push_str(&format!(
            "{} artifacts, {} retained, {deleted} {}{}\n",
            run.total(),
            run.retained(),
            if dry_run { "to delete" } else { "deleted" },
            if run.stopped { " (stopped)" } else { "" }
        ));
        self.store.append_retention_task_log(task, &text).await
    }

    /// What any API delete reports: the audit entry, replication's event,
    /// the `DELETE_ARTIFACT` webhook.
    async fn report_delete(&self, repo: &RepositoryName, c: &Candidate) {
        let operator = harbor_auth::Principal::User {
            id: 0,
            name: "harbor-retention".into(),
            sysadmin: false,
        };
        self.hooks
            .audit
            .record(
                Some(repo.first_component()),
                &operator,
                format!("{repo}@{}", c.digest),
                AuditResource::Artifact,
                AuditOperation::Delete,
            )
            .await;
        if let Some(replication) = &self.hooks.replication {
            let tags = c.tags.iter().filter_map(|t| Tag::parse(t).ok()).collect();
            replication.notify(ArtifactEvent::manifest_deleted(
                repo.clone(),
                c.digest.clone(),
                tags,
            ));
        }
        if let Some(webhooks) = &self.hooks.webhooks {
            webhooks.notify(WebhookEvent::Artifact {
                kind: ArtifactAction::Delete,
                repository: repo.clone(),
                digest: c.digest.clone(),
                tags: c.tags.clone(),
                operator: operator.name().to_owned(),
                at: SystemTime::now(),
            });
        }
    }
}
