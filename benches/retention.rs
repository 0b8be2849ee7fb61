//! Tag retention on a big project: `RET_TAGS` tags (100,000 by default)
//! over `RET_REPOS` repositories (100), one manifest each, written straight
//! through the metadata store; then a policy (`latestPushedK` 10 per
//! repository, plus `always` for the `release-*` tags, one tag in ten) run
//! by the server's `RetentionService` as a dry run and as a real run, with
//! its tasks and per-artifact logs written to the store. Reports wall time,
//! artifacts per second and peak resident memory of each run (the peak is
//! reset before each), and checks that the real run deleted exactly what
//! the dry run listed.
//!
//! SQLite on a file (WAL, `synchronous=FULL`), as the server runs it.
//!
//! `cargo bench -p harbor-benches --bench retention`

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use harbor_core::retention::{RetentionRule, RuleTemplate, TagSelector};
use harbor_core::selector::{Decoration, Selector};
use harbor_core::{
    IdentityStore, JobTrigger, ManifestRecord, MetaStore, Page, PolicySpec, RepositoryName,
    RetentionStatus, RetentionStore, Tag,
};
use harbor_server::Harbor;
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resets the peak resident memory, so that it measures what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn rule(template: RuleTemplate, pattern: &str) -> Result<RetentionRule, harbor_core::Error> {
    Ok(RetentionRule {
        priority: 0,
        disabled: false,
        template,
        tag_selectors: vec![TagSelector::Doublestar {
            selector: Selector::new(Decoration::Matches, pattern)?,
            untagged: false,
        }],
        repositories: vec![Selector::new(Decoration::RepoMatches, "**")?],
    })
}

/// Runs the policy once; returns the wall time, the peak RSS in KiB, and
/// the tasks' totals (artifacts, retained) and deleted count from the logs.
async fn run(
    svc: &harbor_server::retention::RetentionService,
    store: &dyn RetentionStore,
    policy: i64,
    dry_run: bool,
) -> Result<(f64, u64, u64, u64, usize), Box<dyn std::error::Error>> {
    reset_peak();
    let started = Instant::now();
    let execution = svc.trigger(policy, dry_run, JobTrigger::Manual).await?;
    let status = loop {
        let e = store
            .retention_execution(execution.id)
            .await?
            .ok_or("the execution vanished")?;
        if e.status.is_final() {
            break e.status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let peak = harbor_benches::peak_rss_kib().unwrap_or(0);
    if status != RetentionStatus::Succeed {
        return Err(format!("the run ended {}", status.as_str()).into());
    }
    let (mut total, mut retained, mut deleted) = (0, 0, 0);
    let mut page = Page {
        page: 1,
        page_size: 100,
    };
    loop {
        let (tasks, count) = store.list_retention_tasks(execution.id, page).await?;
        for t in &tasks {
            total += t.total;
            retained += t.retained;
            let log = store.retention_task_log(t.id).await?.unwrap_or_default();
            deleted += log.lines().filter(|l| l.contains("| DELETED")).count();
        }
        if page.page * page.page_size >= count {
            break;
        }
        page.page += 1;
    }
    Ok((elapsed, peak, total, retained, deleted))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let tags = env_usize("RET_TAGS", 100_000);
    let repos = env_usize("RET_REPOS", 100).max(1);
    let dir = tempfile::tempdir()?;
    let db = Arc::new(SqliteMetaStore::open(dir.path().join("registry.db"))?);
    harbor_auth::bootstrap(db.as_ref(), Some("Harbor12345")).await?;
    let project = db.create_project("bench", false, 1).await?;

    let started = Instant::now();
    let per_repo = tags.div_ceil(repos);
    for i in 0..tags {
        let repo = RepositoryName::parse(&format!("bench/app{}", i % repos))?;
        let n = i / repos;
        let payload = Bytes::from(format!("manifest {i}"));
        let record = ManifestRecord {
            digest: harbor_core::Digest::sha256(&payload),
            media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
            payload,
            subject: None,
            artifact_type: None,
            annotations: Default::default(),
            references: Vec::new(),
            pushed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n as u64),
        };
        let name = if n.is_multiple_of(10) {
            format!("release-{n}")
        } else {
            format!("v{n}")
        };
        db.put_manifest(&repo, &record, Some(&Tag::parse(&name)?), &[])
            .await?;
    }
    println!(
        "set-up: {tags} tags over {repos} repositories ({per_repo} each) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let meta: Arc<dyn MetaStore> = db.clone();
    let harbor = Harbor::builder(Arc::new(MemoryBlobStore::new()), meta)
        .identity(db.clone(), harbor_auth::SigningKey::ephemeral()?)
        .retention(db.clone())
        .build()?;
    let svc = harbor
        .state()
        .and_then(|s| s.retention.clone())
        .ok_or("retention is not on")?;
    let (_router, duties) = harbor.into_parts();
    let running = duties.start().await;
    let policy = svc
        .create_policy(&PolicySpec {
            project_id: project.id,
            rules: vec![
                rule(RuleTemplate::LatestPushedK(10), "**")?,
                rule(RuleTemplate::Always, "release-*")?,
            ],
            schedule: None,
        })
        .await?;

    let store: &dyn RetentionStore = db.as_ref();
    let mut listed = 0;
    for dry_run in [true, false] {
        let (elapsed, peak, total, retained, deleted) =
            run(&svc, store, policy.id, dry_run).await?;
        println!(
            "{}: {total} artifacts, {retained} retained, {deleted} {} in {elapsed:.1} s ({:.0} artifacts/s); peak RSS {:.1} MiB",
            if dry_run { "dry run" } else { "real run" },
            if dry_run { "listed for deletion" } else { "deleted" },
            total as f64 / elapsed,
            peak as f64 / 1024.0
        );
        if dry_run {
            listed = deleted;
        } else if deleted != listed {
            return Err(
                format!("the real run deleted {deleted}, the dry run listed {listed}").into(),
            );
        }
    }
    running.stop().await;
    Ok(())
}
