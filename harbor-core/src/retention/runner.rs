//! A retention run over one repository: read its artifacts page by page,
//! decide with [`evaluate`](super::evaluate()), then delete (or, in a dry
//! run, only name) what no rule retains, through the engine's own delete.
//!
//! A dry run and a real run decide the same way and both ask the immutable
//! tag rules, so a dry run names exactly what a real run at that moment
//! deletes. Memory is one repository's artifacts at a time, never the
//! project's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use super::evaluate::{evaluate, Candidate, Verdict};
use super::RetentionRule;
use crate::error::{ErrorCode, Result};
use crate::identity::Page;
use crate::immutable::TagImmutable;
use crate::name::{Reference, RepositoryName};
use crate::registry::Registry;

/// Artifacts read per page.
const PAGE: u64 = 1000;

/// What became of one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactOutcome {
    /// A rule retains it (the index into the rules given, and its template).
    Retained {
        /// The rule's index among the rules given.
        rule: usize,
        /// The rule's template id and parameter, for the log.
        why: String,
    },
    /// Deleted (or, in a dry run, to delete): no rule retains it.
    Deleted,
    /// No rule retains it, but a tag of it is immutable: kept.
    Immutable {
        /// The immutable tag.
        tag: String,
        /// The immutable tag rule.
        rule_id: i64,
    },
    /// Already gone when the run came to delete it.
    Gone,
    /// Its delete failed.
    Failed(String),
    /// Left alone: the run was stopped before its turn.
    Stopped,
}

impl ArtifactOutcome {
    /// Whether the artifact is still there after the run.
    pub fn kept(&self) -> bool {
        matches!(
            self,
            ArtifactOutcome::Retained { .. }
                | ArtifactOutcome::Immutable { .. }
                | ArtifactOutcome::Failed(_)
                | ArtifactOutcome::Stopped
        )
    }
}

/// The result of one repository's run.
#[derive(Debug, Clone, Default)]
pub struct RepositoryRun {
    /// Each artifact with what became of it, newest first.
    pub outcomes: Vec<(Candidate, ArtifactOutcome)>,
    /// Whether a stop cut the run short (the rest was left untouched).
    pub stopped: bool,
}

impl RepositoryRun {
    /// Artifacts looked at.
    pub fn total(&self) -> u64 {
        self.outcomes.len() as u64
    }

    /// Artifacts kept.
    pub fn retained(&self) -> u64 {
        self.outcomes.iter().filter(|(_, o)| o.kept()).count() as u64
    }

    /// Whether a delete failed.
    pub fn failed(&self) -> bool {
        self.outcomes
            .iter()
            .any(|(_, o)| matches!(o, ArtifactOutcome::Failed(_)))
    }
}

/// One log line per artifact: digest, tags, push and pull times, and the
/// verdict with its reason.
pub fn log_line(c: &Candidate, outcome: &ArtifactOutcome, dry_run: bool) -> String {
    let time = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default()
    };
    let tags = if c.tags.is_empty() {
        "<untagged>".to_owned()
    } else {
        c.tags.join(",")
    };
    let pulled = c.pulled_at.map_or_else(|| "-".to_owned(), time);
    let verdict = match outcome {
        ArtifactOutcome::Retained { rule, why } => format!("RETAINED by rule {} ({why})", rule + 1),
        ArtifactOutcome::Deleted if dry_run => {
            "DELETED (dry run: retained by no rule, would be deleted)".to_owned()
        }
        ArtifactOutcome::Deleted => "DELETED (retained by no rule)".to_owned(),
        ArtifactOutcome::Immutable { tag, rule_id } => {
            format!("RETAINED (tag {tag} is immutable by rule {rule_id})")
        }
        ArtifactOutcome::Gone => "DELETED (already gone)".to_owned(),
        ArtifactOutcome::Failed(e) => format!("RETAINED (delete failed: {e})"),
        ArtifactOutcome::Stopped => "RETAINED (the run was stopped before its turn)".to_owned(),
    };
    format!(
        "{} | {} | pushed {} | pulled {} | {}",
        c.digest,
        tags,
        time(c.pushed_at),
        pulled,
        verdict
    )
}

/// Runs policies' rules over repositories of one registry.
#[derive(Debug, Clone)]
pub struct RetentionRunner {
    registry: Registry,
    labels: Option<std::sync::Arc<dyn crate::label::LabelStore>>,
}

impl RetentionRunner {
    /// A runner deleting through `registry`.
    pub fn new(registry: &Registry) -> RetentionRunner {
        RetentionRunner {
            registry: registry.clone(),
            labels: None,
        }
    }

    /// Reads artifacts' labels from `labels`, for label selectors.
    #[must_use]
    pub fn with_labels(mut self, labels: std::sync::Arc<dyn crate::label::LabelStore>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// The top-level artifacts of `repo`, newest first, read a page at a
    /// time.
    pub async fn candidates(&self, repo: &RepositoryName) -> Result<Vec<Candidate>> {
        let meta = self.registry.meta_store();
        let mut out = Vec::new();
        let mut page = Page {
            page: 1,
            page_size: PAGE,
        };
        loop {
            let (list, total) = meta.list_artifacts(repo, page).await?;
            let n = list.len() as u64;
            let mut labels: std::collections::HashMap<crate::digest::Digest, Vec<String>> =
                std::collections::HashMap::new();
            if let Some(store) = &self.labels {
                let digests: Vec<_> = list.iter().map(|a| a.digest.clone()).collect();
                for (digest, label) in store.artifact_labels(repo, &digests).await? {
                    labels.entry(digest).or_default().push(label.name);
                }
            }
            out.extend(list.into_iter().map(|a| Candidate {
                labels: labels.remove(&a.digest).unwrap_or_default(),
                digest: a.digest,
                tags: a.tags.into_iter().map(|t| t.name).collect(),
                pushed_at: a.pushed_at,
                pulled_at: a.pulled_at,
            }));
            if n < PAGE || page.page * PAGE >= total {
                return Ok(out);
            }
            page.page += 1;
        }
    }

    /// Applies `rules` (those that apply to `repo`) at time `now`: every
    /// artifact no rule retains is deleted through
    /// [`Registry::delete_manifest`] (with `dry_run`, only named), unless a
    /// tag of it is immutable. `deleted` is called after each delete.
    /// Stops between artifacts once `stop` is set.
    pub async fn run_repository(
        &self,
        repo: &RepositoryName,
        rules: &[&RetentionRule],
        dry_run: bool,
        now: SystemTime,
        stop: &AtomicBool,
        deleted: &(dyn Fn(&Candidate) + Send + Sync),
    ) -> Result<RepositoryRun> {
        let candidates = self.candidates(repo).await?;
        let verdicts = evaluate(rules, &candidates, now);
        let mut run = RepositoryRun {
            outcomes: Vec::with_capacity(candidates.len()),
            stopped: false,
        };
        for (c, verdict) in candidates.into_iter().zip(verdicts) {
            let outcome = match verdict {
                Verdict::Retained(i) => ArtifactOutcome::Retained {
                    rule: i,
                    why: match rules[i].template.param() {
                        Some(n) => format!("{} {n}", rules[i].template.id()),
                        None => rules[i].template.id().to_owned(),
                    },
                },
                Verdict::Deleted if run.stopped || stop.load(Ordering::Relaxed) => {
                    run.stopped = true;
                    ArtifactOutcome::Stopped
                }
                Verdict::Deleted => self.delete(repo, &c, dry_run, deleted).await?,
            };
            run.outcomes.push((c, outcome));
        }
        Ok(run)
    }

    async fn delete(
        &self,
        repo: &RepositoryName,
        c: &Candidate,
        dry_run: bool,
        deleted: &(dyn Fn(&Candidate) + Send + Sync),
    ) -> Result<ArtifactOutcome> {
        for tag in &c.tags {
            if let Some(rule) = self.registry.immutable_rule_for(repo, tag).await? {
                return Ok(ArtifactOutcome::Immutable {
                    tag: tag.clone(),
                    rule_id: rule.id,
                });
            }
        }
        if dry_run {
            return Ok(ArtifactOutcome::Deleted);
        }
        match self
            .registry
            .delete_manifest(repo, &Reference::Digest(c.digest.clone()))
            .await
        {
            Ok(()) => {
                deleted(c);
                Ok(ArtifactOutcome::Deleted)
            }
            Err(e) => {
                if let Some(refusal) = TagImmutable::from_error(&e) {
                    return Ok(ArtifactOutcome::Immutable {
                        tag: refusal.tag,
                        rule_id: refusal.rule_id,
                    });
                }
                match e.code() {
                    ErrorCode::ManifestUnknown | ErrorCode::NameUnknown => {
                        Ok(ArtifactOutcome::Gone)
                    }
                    // Read-only mode and the like: the artifact stays, the
                    // task fails.
                    _ => Ok(ArtifactOutcome::Failed(e.to_string())),
                }
            }
        }
    }
}
