//! The work a server does beside its router: the audit writer, upload
//! purging, replication's triggers and recovery, garbage collection, the
//! audit log purge, the settings refresher and the webhooks, started
//! together and stopped together.

use std::sync::Arc;
use std::time::Duration;

use harbor_core::{IdentityStore, LeaseStore, Registry};
use harbor_replicate::{ReplicationService, Triggers};

use crate::audit::{AuditSink, AuditWriter};
use crate::config::UploadPurging;
use crate::gc::GcService;
use crate::metrics::Metrics;
use crate::purge_audit::PurgeService;
use crate::retention::RetentionService;
use crate::settings::Settings;
use crate::webhook::WebhookService;

/// How often each instance looks for replication executions that nobody
/// drives (their instance died or shut down).
const RECOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// The work a server does besides answering requests: writing the audit
/// log, purging abandoned uploads, the replication triggers (events and
/// cron) and job runner.
#[derive(Debug)]
pub struct Duties {
    pub(crate) registry: Registry,
    pub(crate) upload_purging: UploadPurging,
    pub(crate) leases: Arc<dyn LeaseStore>,
    pub(crate) audit: Option<(AuditSink, AuditWriter, Arc<dyn IdentityStore>)>,
    pub(crate) replication: Option<Arc<ReplicationService>>,
    pub(crate) gc: Option<Arc<GcService>>,
    pub(crate) purge_audit: Option<Arc<PurgeService>>,
    pub(crate) settings: Option<Settings>,
    pub(crate) webhooks: Option<Arc<WebhookService>>,
    pub(crate) retention: Option<Arc<RetentionService>>,
    pub(crate) metrics: Option<Metrics>,
}

/// How often the pulls noted in memory are written to the metadata store.
const PULL_FLUSH: Duration = Duration::from_secs(1);

impl Duties {
    /// Starts every duty: the audit writer, upload purging, the replication
    /// triggers, and the executions a crash left unfinished. Call inside a
    /// tokio runtime, before or as the router starts serving.
    pub async fn start(self) -> RunningDuties {
        let audit = self
            .audit
            .map(|(sink, writer, store)| (sink, writer.spawn(store, self.settings.clone())));
        let purge = self.upload_purging.clone();
        let registry = self.registry.clone();
        let leases = self.leases.clone();
        let holder = format!("purger-{}", uuid::Uuid::new_v4());
        let purger = purge.enabled.then(|| {
            tokio::spawn(async move {
                let interval = purge.interval.max(Duration::from_secs(1));
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    // One purge per interval across a cluster: the lease is
                    // kept (not released) for the interval.
                    match leases
                        .acquire_lease("upload-purge", &holder, interval)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot take the upload purge lease");
                            continue;
                        }
                    }
                    if let Err(e) = registry.purge_uploads(purge.age).await {
                        tracing::warn!(error = %e, "purging upload sessions failed");
                    }
                }
            })
        });
        let (triggers, recovery) = match &self.replication {
            Some(service) => {
                match service.runner().recover().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(executions = n, "resuming replication executions"),
                    Err(e) => tracing::error!(error = %e, "resuming replication executions failed"),
                }
                // Executions whose instance died (its lease expired) or
                // stopped are resumed by whichever live instance looks first.
                let weak = Arc::downgrade(service);
                let recovery = tokio::spawn(async move {
                    let mut tick = tokio::time::interval(RECOVERY_INTERVAL);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        let Some(service) = weak.upgrade() else {
                            return;
                        };
                        match service.runner().recover().await {
                            Ok(0) => {}
                            Ok(n) => {
                                tracing::info!(executions = n, "took over replication executions")
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "looking for orphaned executions failed")
                            }
                        }
                    }
                });
                (Some(service.spawn_triggers()), Some(recovery))
            }
            None => (None, None),
        };
        // Pull times: written in one batch a second, off the request path.
        let pulls = {
            let registry = self.registry.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PULL_FLUSH);
                loop {
                    tick.tick().await;
                    if let Err(e) = registry.flush_pulls().await {
                        tracing::warn!(error = %e, "recording pull times");
                    }
                }
            })
        };
        let replication_metrics = match (&self.metrics, &self.replication) {
            (Some(metrics), Some(service)) => Some(metrics.count_replication_tasks(service)),
            _ => None,
        };
        RunningDuties {
            pulls: Some((self.registry.clone(), pulls)),
            replication_metrics,
            retention: self.retention.as_ref().map(RetentionService::spawn),
            audit,
            purger,
            triggers,
            recovery,
            replication: self.replication,
            gc: self.gc.as_ref().map(GcService::spawn),
            purge_audit: self.purge_audit.as_ref().map(PurgeService::spawn),
            settings: self.settings.as_ref().map(Settings::spawn_refresher),
            webhooks: self
                .webhooks
                .as_ref()
                .map(WebhookService::spawn)
                .unwrap_or_default(),
        }
    }
}

/// Duties running; [`RunningDuties::stop`] ends them.
#[derive(Debug)]
#[must_use = "dropping this leaves the duties running; call stop()"]
pub struct RunningDuties {
    pulls: Option<(Registry, tokio::task::JoinHandle<()>)>,
    replication_metrics: Option<tokio::task::JoinHandle<()>>,
    retention: Option<tokio::task::JoinHandle<()>>,
    audit: Option<(AuditSink, tokio::task::JoinHandle<()>)>,
    purger: Option<tokio::task::JoinHandle<()>>,
    triggers: Option<Triggers>,
    recovery: Option<tokio::task::JoinHandle<()>>,
    replication: Option<Arc<ReplicationService>>,
    gc: Option<tokio::task::JoinHandle<()>>,
    purge_audit: Option<tokio::task::JoinHandle<()>>,
    settings: Option<tokio::task::JoinHandle<()>>,
    webhooks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningDuties {
    /// Stops the duties, after the server has stopped taking requests: the
    /// triggers and purging stop, replication runs in flight are cut (their
    /// executions resume at the next start), and every audit entry recorded
    /// so far is written before this returns.
    pub async fn stop(self) {
        if let Some(t) = self.triggers {
            t.stop().await;
        }
        if let Some(r) = self.recovery {
            r.abort();
            let _ = r.await;
        }
        if let Some(r) = &self.replication {
            r.runner().shutdown().await;
        }
        if let Some(p) = self.purger {
            p.abort();
            let _ = p.await;
        }
        if let Some(m) = self.replication_metrics {
            m.abort();
            let _ = m.await;
        }
        // A collection cut here stays `Running` until an instance holding
        // the lease marks it failed; the next run finishes its work.
        if let Some(g) = self.gc {
            g.abort();
            let _ = g.await;
        }
        if let Some(p) = self.purge_audit {
            p.abort();
            let _ = p.await;
        }
        if let Some(r) = self.settings {
            r.abort();
            let _ = r.await;
        }
        // An execution cut here is marked failed by the next instance to
        // take its lease.
        if let Some(r) = self.retention {
            r.abort();
            let _ = r.await;
        }
        if let Some((registry, flusher)) = self.pulls {
            flusher.abort();
            let _ = flusher.await;
            if let Err(e) = registry.flush_pulls().await {
                tracing::warn!(error = %e, "recording the last pull times");
            }
        }
        // Deliveries cut here were claimed: their lease runs out and an
        // instance sends them again.
        for w in self.webhooks {
            w.abort();
            let _ = w.await;
        }
        if let Some((sink, writer)) = self.audit {
            sink.flush().await;
            writer.abort();
            let _ = writer.await;
        }
    }
}
