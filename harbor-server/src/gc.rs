//! Garbage collection as a server runs it: runs recorded in the
//! [`JobStore`] (Harbor's GC history), taken by whichever instance holds
//! the cluster-wide `gc` lease, one at a time; a cron schedule; stop
//! requests that reach the running instance through the store; a readable
//! log per run. The collection itself is [`GarbageCollector`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use harbor_core::gc::MAX_WORKERS;
use harbor_core::{
    BusyProbe, Error, ErrorCode, GarbageCollector, GcEvent, GcOptions, GcReport, JobKind,
    JobRecord, JobSchedule, JobStatus, JobStore, JobTrigger, LeaseStore, Registry, Result,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The lease whose holder runs collections.
const LEASE: &str = "gc";
/// How long the lease lasts unless renewed; a dead instance's runs are
/// taken over after this.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often a running collection renews the lease and looks for a stop.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often each instance looks for pending runs and due schedules.
const LOOK_INTERVAL: Duration = Duration::from_secs(2);
/// How often the log is written while a run goes on.
const LOG_FLUSH: Duration = Duration::from_secs(1);
/// Deletions named one by one in a run's log; past this, only counts.
const LOGGED_DELETIONS: u64 = 10_000;

/// Harbor's GC `job_parameters` as a caller gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcParameters {
    /// Delete manifests no tag reaches.
    #[serde(default)]
    pub delete_untagged: bool,
    /// Only report.
    #[serde(default)]
    pub dry_run: bool,
    /// Blob deletions at once, 1 to 5.
    #[serde(default = "one")]
    pub workers: usize,
}

impl Default for GcParameters {
    fn default() -> Self {
        GcParameters {
            delete_untagged: false,
            dry_run: false,
            workers: 1,
        }
    }
}

fn one() -> usize {
    1
}

/// What a run deleted (or would have, in a dry run): added to its recorded
/// parameters when it ends (beyond Harbor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcResults {
    /// Untagged manifests deleted.
    pub deleted_manifests: u64,
    /// Blobs deleted.
    pub deleted_blobs: u64,
    /// Their bytes.
    pub freed_bytes: u64,
    /// Blobs looked at.
    pub examined_blobs: u64,
    /// Empty repositories removed.
    pub deleted_repositories: u64,
    /// Abandoned upload sessions ended.
    pub purged_uploads: u64,
}

impl From<&GcReport> for GcResults {
    fn from(r: &GcReport) -> Self {
        GcResults {
            deleted_manifests: r.manifests_deleted,
            deleted_blobs: r.blobs_deleted,
            freed_bytes: r.bytes_freed,
            examined_blobs: r.blobs_examined,
            deleted_repositories: r.repositories_deleted,
            purged_uploads: r.uploads_purged,
        }
    }
}

impl GcParameters {
    /// `BAD_REQUEST` unless `workers` is 1 to 5.
    pub fn validate(&self) -> Result<()> {
        GcOptions {
            workers: self.workers,
            ..GcOptions::default()
        }
        .validate()
    }

    /// Parameters read back from a record or a schedule (other fields,
    /// such as results, are ignored).
    pub fn from_json(text: &str) -> GcParameters {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The JSON object a run records: these parameters, the time window as
    /// Harbor records it (whole hours) and in seconds, and the results once
    /// there are some.
    fn recorded(&self, window: Duration, results: Option<&GcResults>) -> String {
        let mut out = serde_json::Map::new();
        for value in [
            serde_json::to_value(self),
            results.map_or(Ok(serde_json::Value::Null), serde_json::to_value),
        ] {
            if let Ok(serde_json::Value::Object(map)) = value {
                out.extend(map);
            }
        }
        out.insert("time_window".into(), (window.as_secs() / 3600).into());
        out.insert("time_window_seconds".into(), window.as_secs().into());
        serde_json::Value::Object(out).to_string()
    }
}

/// Garbage collection for one server: start, stop, schedule, and the loop
/// that runs what is pending. Cheap to share.
#[derive(Debug)]
pub struct GcService {
    collector: GarbageCollector,
    registry: Registry,
    /// Runs, logs and the schedule.
    pub jobs: Arc<dyn JobStore>,
    leases: Arc<dyn LeaseStore>,
    time_window: Duration,
    upload_max_age: Option<Duration>,
    holder: String,
    wake: Notify,
}

impl GcService {
    /// Collection over `registry`'s stores, runs kept in `jobs`, one at a
    /// time across the instances sharing `leases`; blobs younger than
    /// `time_window` kept, upload sessions older than `upload_max_age`
    /// ended (none when `None`), giving way while `busy` says the server
    /// is serving requests.
    pub fn new(
        registry: &Registry,
        jobs: Arc<dyn JobStore>,
        leases: Arc<dyn LeaseStore>,
        time_window: Duration,
        upload_max_age: Option<Duration>,
        busy: Option<BusyProbe>,
    ) -> Arc<GcService> {
        let collector = GarbageCollector::new(registry);
        Arc::new(GcService {
            registry: registry.clone(),
            collector: match busy {
                Some(probe) => collector.yield_to(probe),
                None => collector,
            },
            jobs,
            leases,
            time_window,
            upload_max_age,
            holder: format!("gc-{}", uuid::Uuid::new_v4()),
            wake: Notify::new(),
        })
    }

    /// The time window this server collects with.
    pub fn time_window(&self) -> Duration {
        self.time_window
    }

    /// Records a run to do now; an instance takes it within moments.
    pub async fn start(&self, params: &GcParameters, trigger: JobTrigger) -> Result<JobRecord> {
        params.validate()?;
        let run = self
            .jobs
            .create_job(
                JobKind::GarbageCollection,
                trigger,
                &params.recorded(self.time_window, None),
            )
            .await?;
        self.wake.notify_one();
        Ok(run)
    }

    /// Asks run `id` to stop, wherever it runs; `false` if it had ended.
    pub async fn stop(&self, id: i64) -> Result<bool> {
        let Some(run) = self.jobs.job(id).await? else {
            return Ok(false);
        };
        if run.status == JobStatus::Pending {
            // Nobody has it yet: it ends here.
            return self.jobs.update_job(id, JobStatus::Stopped, None).await;
        }
        self.jobs.request_job_stop(id).await
    }

    /// Sets or removes the schedule.
    pub async fn set_schedule(&self, schedule: Option<&JobSchedule>) -> Result<()> {
        if let Some(s) = schedule {
            harbor_cron(&s.cron)?;
        }
        self.jobs
            .set_job_schedule(JobKind::GarbageCollection, schedule)
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The next time the schedule fires after now.
    pub fn next_time(schedule: &JobSchedule) -> Option<DateTime<Utc>> {
        harbor_cron(&schedule.cron).ok()?.upcoming(Utc).next()
    }

    /// Runs the loop until the returned handle is aborted (the server's
    /// duties do at shutdown): every few
    /// seconds, or when woken, fire a due schedule and, holding the lease,
    /// run what is pending.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        tokio::spawn(async move {
            let mut since = Utc::now();
            loop {
                let now = Utc::now();
                if let Err(e) = svc.fire_schedule(since, now).await {
                    tracing::warn!(error = %e, "garbage collection schedule");
                }
                since = now;
                // In read-only mode nothing is deleted: runs wait.
                if svc.registry.is_read_only() {
                    let _ = tokio::time::timeout(LOOK_INTERVAL, svc.wake.notified()).await;
                    continue;
                }
                if let Err(e) = svc.run_pending().await {
                    tracing::warn!(error = %e, "garbage collection");
                }
                let _ = tokio::time::timeout(LOOK_INTERVAL, svc.wake.notified()).await;
            }
        })
    }

    /// Records a scheduled run when the schedule fired in `(since, now]`;
    /// once per firing across a cluster (a lease per firing).
    async fn fire_schedule(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        let Some(schedule) = self.jobs.job_schedule(JobKind::GarbageCollection).await? else {
            return Ok(());
        };
        let Ok(cron) = harbor_cron(&schedule.cron) else {
            return Ok(());
        };
        let Some(due) = cron.after(&since).next().filter(|t| *t <= now) else {
            return Ok(());
        };
        let firing = format!("gc/cron/{}", due.timestamp());
        if !self
            .leases
            .acquire_lease(&firing, &self.holder, Duration::from_secs(3600))
            .await?
        {
            return Ok(());
        }
        let params = GcParameters::from_json(&schedule.parameters);
        self.start(&params, JobTrigger::Schedule).await?;
        Ok(())
    }

    /// Holding the lease: ends runs left `Running` by a dead instance, then
    /// runs every pending one, oldest first.
    async fn run_pending(&self) -> Result<()> {
        if self
            .jobs
            .next_pending_job(JobKind::GarbageCollection)
            .await?
            .is_none()
            && self
                .jobs
                .running_jobs(JobKind::GarbageCollection)
                .await?
                .is_empty()
        {
            return Ok(());
        }
        if !self
            .leases
            .acquire_lease(LEASE, &self.holder, LEASE_TTL)
            .await?
        {
            return Ok(());
        }
        let outcome = self.run_pending_held().await;
        let _ = self.leases.release_lease(LEASE, &self.holder).await;
        outcome
    }

    async fn run_pending_held(&self) -> Result<()> {
        // Whoever ran these lost the lease: its instance is gone. What it
        // left half done (claims) the next run finishes.
        for orphan in self.jobs.running_jobs(JobKind::GarbageCollection).await? {
            let _ = self
                .jobs
                .append_job_log(
                    orphan.id,
                    "the instance running this collection stopped; the next run finishes its work\n",
                )
                .await;
            self.jobs
                .update_job(orphan.id, JobStatus::Error, None)
                .await?;
        }
        while let Some(run) = self
            .jobs
            .next_pending_job(JobKind::GarbageCollection)
            .await?
        {
            if !self
                .jobs
                .update_job(run.id, JobStatus::Running, None)
                .await?
            {
                continue;
            }
            self.run_one(run).await?;
        }
        Ok(())
    }

    /// One run, its log written as it goes, its status and results at the
    /// end.
    async fn run_one(&self, run: JobRecord) -> Result<()> {
        let params = GcParameters::from_json(&run.parameters);
        let options = GcOptions {
            delete_untagged: params.delete_untagged,
            dry_run: params.dry_run,
            workers: params.workers.clamp(1, MAX_WORKERS),
            time_window: self.time_window,
            upload_max_age: self.upload_max_age,
        };
        let log = Arc::new(RunLog::default());
        log.line(format!(
            "{} garbage collection {} started ({}): delete_untagged={} dry_run={} workers={} time_window={}s",
            Utc::now().to_rfc3339(),
            run.id,
            run.trigger.as_str(),
            options.delete_untagged,
            options.dry_run,
            options.workers,
            options.time_window.as_secs()
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat = self.heartbeat(run.id, stop.clone(), log.clone());
        let events = {
            let log = log.clone();
            let verb = if options.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            move |event: GcEvent| log.event(verb, event)
        };
        let outcome = tokio::select! {
            r = self.collector.run(&options, &stop, &events) => r,
            () = heartbeat => Err(Error::new(ErrorCode::Unknown, "the gc lease was lost")),
        };
        let mut results = None;
        let status = match &outcome {
            Ok(report) => {
                log.line(format!(
                    "{} {}: {} manifests and {} blobs ({} bytes) {}, {} blobs examined",
                    Utc::now().to_rfc3339(),
                    if report.stopped { "stopped" } else { "done" },
                    report.manifests_deleted,
                    report.blobs_deleted,
                    report.bytes_freed,
                    if options.dry_run {
                        "to delete"
                    } else {
                        "deleted"
                    },
                    report.blobs_examined
                ));
                results = Some(GcResults::from(report));
                if report.stopped {
                    JobStatus::Stopped
                } else {
                    JobStatus::Success
                }
            }
            Err(e) => {
                log.line(format!("{} failed: {e}", Utc::now().to_rfc3339()));
                JobStatus::Error
            }
        };
        self.flush(run.id, &log).await;
        self.jobs
            .update_job(
                run.id,
                status,
                Some(&params.recorded(self.time_window, results.as_ref())),
            )
            .await?;
        Ok(())
    }

    /// Until the run ends: renews the lease, passes on a stop asked through
    /// the store, writes the log. Returns only if the lease is lost.
    async fn heartbeat(&self, id: i64, stop: Arc<AtomicBool>, log: Arc<RunLog>) {
        let mut tick = tokio::time::interval(HEARTBEAT.min(LOG_FLUSH));
        loop {
            tick.tick().await;
            match self
                .leases
                .acquire_lease(LEASE, &self.holder, LEASE_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "renewing the gc lease"),
            }
            if let Ok(Some(run)) = self.jobs.job(id).await {
                if run.stop_requested && !stop.swap(true, Ordering::Relaxed) {
                    log.line(format!("{} stop requested", Utc::now().to_rfc3339()));
                }
            }
            self.flush(id, &log).await;
        }
    }

    async fn flush(&self, id: i64, log: &RunLog) {
        let text = log.take();
        if !text.is_empty() {
            if let Err(e) = self.jobs.append_job_log(id, &text).await {
                tracing::warn!(error = %e, run = id, "writing a gc log");
            }
        }
    }
}

/// Harbor's cron expression (six fields, seconds first, days of the week
/// 0 to 6 from Sunday, as Harbor's portal writes them) read with the
/// `cron` crate, which counts days of the week 1 to 7 from Sunday.
pub fn harbor_cron(expr: &str) -> Result<cron::Schedule> {
    let invalid = |why: String| {
        Error::new(
            ErrorCode::BadRequest,
            format!("invalid cron {expr:?}: {why}"),
        )
    };
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [sec, min, hour, dom, month, dow] = fields.as_slice() else {
        return Err(invalid(
            "expected six fields: second minute hour day month weekday".into(),
        ));
    };
    let mut weekday = String::new();
    let mut number = String::new();
    let mut after_slash = false;
    for c in dow.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if !number.is_empty() {
            let n: u32 = number
                .parse()
                .map_err(|_| invalid(format!("weekday {number}")))?;
            if after_slash {
                weekday.push_str(&number);
            } else if n <= 6 {
                weekday.push_str(&(n + 1).to_string());
            } else {
                return Err(invalid(format!("weekday {n} is not 0 (Sunday) to 6")));
            }
            number.clear();
        }
        after_slash = c == '/';
        if c != ' ' {
            weekday.push(c);
        }
    }
    format!("{sec} {min} {hour} {dom} {month} {weekday}")
        .parse::<cron::Schedule>()
        .map_err(|e| invalid(e.to_string()))
}

/// A run's log lines not yet written, and how many deletions it named.
#[derive(Debug, Default)]
struct RunLog {
    pending: Mutex<String>,
    named: std::sync::atomic::AtomicU64,
}

impl RunLog {
    fn line(&self, line: String) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.push_str(&line);
        pending.push('\n');
    }

    fn event(&self, verb: &str, event: GcEvent) {
        let line = match event {
            GcEvent::ResumingClaims { count } => {
                format!("finishing {count} blob deletions an interrupted run left")
            }
            GcEvent::ManifestDeleted { repository, digest } => {
                if !self.name_one() {
                    return;
                }
                format!("{verb} untagged manifest {repository}@{digest}")
            }
            GcEvent::BlobDeleted { digest, size } => {
                if !self.name_one() {
                    return;
                }
                format!("{verb} blob {digest} ({size} bytes)")
            }
            GcEvent::Progress { examined, deleted } => {
                format!("{examined} blobs examined, {deleted} {verb}")
            }
            GcEvent::RepositoryDeleted { repository } => {
                if !self.name_one() {
                    return;
                }
                format!("{verb} empty repository {repository}")
            }
            GcEvent::UploadsPurged { count } => {
                format!("{verb} {count} upload sessions begun before the upload purging age")
            }
            _ => return,
        };
        self.line(line);
    }

    /// Whether one more deletion is named; the first past the limit says so.
    fn name_one(&self) -> bool {
        let n = self.named.fetch_add(1, Ordering::Relaxed);
        if n == LOGGED_DELETIONS {
            self.line(format!(
                "(further deletions are counted, not named: the first {LOGGED_DELETIONS} are above)"
            ));
        }
        n < LOGGED_DELETIONS
    }

    fn take(&self) -> String {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_weekdays_count_from_sunday_as_zero() {
        let sunday = harbor_cron("0 0 0 * * 0").unwrap();
        let next = sunday.upcoming(Utc).next().unwrap();
        assert_eq!(next.format("%a %H:%M:%S").to_string(), "Sun 00:00:00");
        let weekdays = harbor_cron("0 30 2 * * 1-5").unwrap();
        for t in weekdays.upcoming(Utc).take(10) {
            assert!(
                !["Sat", "Sun"].contains(&t.format("%a").to_string().as_str()),
                "{t}"
            );
        }
        assert!(harbor_cron("*/2 * * * * *").is_ok());
        assert!(harbor_cron("0 0 0 * * */2").is_ok());
        assert!(harbor_cron("0 0 0 * * Mon").is_ok());
        for bad in ["0 0 0 * * 7", "every day", "0 0 * * *", ""] {
            assert_eq!(
                harbor_cron(bad).err().map(|e| e.code()),
                Some(ErrorCode::BadRequest),
                "{bad}"
            );
        }
    }
}
