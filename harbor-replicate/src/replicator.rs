//! `Replicator`: turns a policy into copy tasks (filters and flattening applied
//! to what the source holds) and runs them with a bounded number of workers,
//! retrying transient failures with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use harbor_core::{Reference, RepositoryName, Tag};

use crate::adapter::RegistryAdapter;
use crate::checkpoint::UploadCheckpoints;
use crate::copy::{Copier, CopyOptions, CopyReport, Progress};
use crate::error::{ReplicateError, Result};
use crate::policy::{destination, Filters, Policy};

/// One image to copy: `src_repo:tag` to `dst_repo:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTask {
    /// Source repository.
    pub src_repo: RepositoryName,
    /// The tag, at the source and at the destination.
    pub tag: Tag,
    /// Destination repository.
    pub dst_repo: RepositoryName,
}

/// How one task ended.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The task.
    pub task: CopyTask,
    /// The copy's report, or why it failed (shared, so a report can be
    /// cloned with its errors whole).
    pub result: std::result::Result<CopyReport, std::sync::Arc<ReplicateError>>,
    /// Attempts made.
    pub attempts: u32,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Every task, in plan order.
    pub tasks: Vec<TaskOutcome>,
}

impl RunReport {
    /// Tasks that succeeded.
    pub fn succeeded(&self) -> usize {
        self.tasks.iter().filter(|t| t.result.is_ok()).count()
    }

    /// Tasks that failed.
    pub fn failed(&self) -> usize {
        self.tasks.len() - self.succeeded()
    }
}

/// Retries of transient failures (connection errors, 5xx, 429).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The first backoff; doubled each time.
    pub base: Duration,
    /// The longest backoff (and the most `Retry-After` honoured).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n` (from 1) after `error`.
    pub fn backoff(&self, n: u32, error: &ReplicateError) -> Duration {
        if let ReplicateError::Remote {
            retry_after: Some(secs),
            ..
        } = error
        {
            return Duration::from_secs(*secs).min(self.max);
        }
        self.base
            .saturating_mul(1 << n.saturating_sub(1).min(16))
            .min(self.max)
    }
}

/// Runs replication work.
#[derive(Debug, Clone)]
pub struct Replicator {
    /// Copies running at once.
    pub workers: usize,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Where chunked uploads (`copy_by_chunk` policies) are remembered, so
    /// a run resumed after a crash continues each blob where it stopped.
    pub checkpoints: Option<Arc<dyn UploadCheckpoints>>,
}

impl Default for Replicator {
    fn default() -> Self {
        Replicator {
            workers: 4,
            retry: RetryPolicy::default(),
            checkpoints: None,
        }
    }
}

impl Replicator {
    /// The tasks `policy` makes of what `src` holds: selected repositories
    /// and tags, with destination names flattened.
    pub async fn plan(&self, policy: &Policy, src: &dyn RegistryAdapter) -> Result<Vec<CopyTask>> {
        policy.validate()?;
        let filters = Filters::compile(&policy.filters)?;
        let mut tasks = Vec::new();
        for repo in src.list_repositories().await? {
            if !filters.repository(repo.as_str()) {
                continue;
            }
            let dst_repo = destination(
                &repo,
                policy.dest_namespace.as_deref(),
                policy.dest_namespace_replace_count,
            )?;
            let tags = match src.list_tags(&repo).await {
                Ok(t) => t,
                // A repository without tags (or gone meanwhile) has nothing to copy.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            for tag in tags.into_iter().filter(|t| filters.tag(t.as_str())) {
                if filters.has_label_filters() {
                    let labels = src.artifact_labels(&repo, &tag).await?.unwrap_or_default();
                    if !filters.labels(&labels) {
                        continue;
                    }
                }
                tasks.push(CopyTask {
                    src_repo: repo.clone(),
                    tag,
                    dst_repo: dst_repo.clone(),
                });
            }
        }
        Ok(tasks)
    }

    /// Plans and runs `policy` from `src` to `dst`.
    pub async fn run_policy(
        &self,
        policy: &Policy,
        src: Arc<dyn RegistryAdapter>,
        dst: Arc<dyn RegistryAdapter>,
        progress: Option<Progress>,
    ) -> Result<RunReport> {
        let tasks = self.plan(policy, src.as_ref()).await?;
        let mut repos: Vec<RepositoryName> = tasks.iter().map(|t| t.dst_repo.clone()).collect();
        repos.sort();
        repos.dedup();
        dst.prepare_for_push(&repos).await?;
        let options = self.options_for(policy, progress);
        Ok(self.run_tasks(tasks, Copier::new(src, dst, options)).await)
    }

    /// How the copies of `policy` are made: its `override`, `speed` and
    /// `copy_by_chunk`, with this replicator's checkpoints.
    pub fn options_for(&self, policy: &Policy, progress: Option<Progress>) -> CopyOptions {
        CopyOptions {
            override_tags: policy.override_tags,
            same_registry: false,
            progress,
            speed_kbps: policy.speed.filter(|s| *s > 0).map(|s| s as u64),
            chunk_size: policy.copy_by_chunk.then_some(crate::copy::DEFAULT_CHUNK),
            checkpoints: self.checkpoints.clone(),
        }
    }

    /// Copies every tag of `src_repo` to `dst_repo` through `copier` (the
    /// copier's source and destination), tags in the source's order.
    pub async fn sync_repository(
        &self,
        copier: Copier,
        src_repo: &RepositoryName,
        dst_repo: &RepositoryName,
    ) -> Result<RunReport> {
        let tags = copier.source().list_tags(src_repo).await?;
        copier
            .destination()
            .prepare_for_push(std::slice::from_ref(dst_repo))
            .await?;
        let tasks = tags
            .into_iter()
            .map(|tag| CopyTask {
                src_repo: src_repo.clone(),
                tag,
                dst_repo: dst_repo.clone(),
            })
            .collect();
        Ok(self.run_tasks(tasks, copier).await)
    }

    /// Runs `tasks` with at most `workers` at once; the report keeps plan order.
    pub async fn run_tasks(&self, tasks: Vec<CopyTask>, copier: Copier) -> RunReport {
        let copier = &copier;
        let mut outcomes: Vec<(usize, TaskOutcome)> = stream::iter(tasks.into_iter().enumerate())
            .map(|(i, task)| async move { (i, self.copy_with_retries(copier, task).await) })
            .buffer_unordered(self.workers.max(1))
            .collect()
            .await;
        outcomes.sort_by_key(|(i, _)| *i);
        RunReport {
            tasks: outcomes.into_iter().map(|(_, o)| o).collect(),
        }
    }

    /// One task, retried while its failures are transient.
    pub async fn copy_with_retries(&self, copier: &Copier, task: CopyTask) -> TaskOutcome {
        let reference = Reference::Tag(task.tag.clone());
        let mut attempt = 0;
        loop {
            attempt += 1;
            match copier
                .copy_image(&task.src_repo, &reference, &task.dst_repo, Some(&task.tag))
                .await
            {
                Ok(report) => {
                    return TaskOutcome {
                        task,
                        result: Ok(report),
                        attempts: attempt,
                    }
                }
                Err(e) if e.is_transient() && attempt < self.retry.attempts.max(1) => {
                    let wait = self.retry.backoff(attempt, &e);
                    tracing::warn!(src = %task.src_repo, tag = %task.tag, attempt, ?wait, error = %e, "copy failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::warn!(src = %task.src_repo, tag = %task.tag, attempt, error = %e, "copy failed");
                    return TaskOutcome {
                        task,
                        result: Err(std::sync::Arc::new(e)),
                        attempts: attempt,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let r = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let transport = ReplicateError::Transport {
            registry: "r".into(),
            context: "GET /v2/".into(),
            source: "reset".into(),
        };
        assert_eq!(r.backoff(1, &transport), Duration::from_millis(100));
        assert_eq!(r.backoff(3, &transport), Duration::from_millis(400));
        assert_eq!(r.backoff(10, &transport), Duration::from_secs(1));
        let busy = ReplicateError::Remote {
            registry: "r".into(),
            method: "PUT".into(),
            path: "/".into(),
            status: 429,
            message: "slow down".into(),
            retry_after: Some(7),
        };
        assert!(busy.is_transient());
        assert_eq!(r.backoff(1, &busy), Duration::from_secs(1), "capped");
    }
}
