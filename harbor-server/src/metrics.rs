//! Prometheus metrics with Harbor's names (`harbor_core_http_request_total`,
//! `harbor_project_quota_usage_byte`, ...), served on their own port when
//! `[metric] enabled` (Harbor's `metric` settings).
//!
//! Requests are counted as they pass (a few atomic operations each); the
//! figures about projects are read from the stores only when a scrape asks
//! for them, so scraping costs the request path nothing. The same layer
//! keeps the count of `/v2/` requests in flight that garbage collection
//! gives way to ([`Metrics::busy_probe`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use harbor_core::{BusyProbe, Page, ProjectQuery};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::oci::{parse_route, Route};

/// `method`, `code` and `operation` of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    code: String,
    operation: &'static str,
}

/// `method` and `operation` of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    method: String,
    operation: &'static str,
}

/// `operation` alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InflightLabels {
    operation: &'static str,
}

/// A project's name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project_name: String,
}

/// A project's name and visibility.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabels {
    project_name: String,
    public: String,
}

/// Whether projects are public.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PublicLabels {
    public: String,
}

/// How a webhook delivery attempt or a replication task ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A kind of background job, as Harbor names its job types.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    r#type: &'static str,
}

/// What `harbor_system_info` says.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    auth_mode: String,
    harbor_version: String,
    self_registration: String,
}

fn info_labels(mode: crate::settings::AuthMode) -> InfoLabels {
    InfoLabels {
        auth_mode: mode.as_str().into(),
        harbor_version: concat!("v", env!("CARGO_PKG_VERSION"), "-harbor-rs").into(),
        self_registration: "false".into(),
    }
}

/// The metrics of one server. Cheap to clone; clones share them.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    inflight: Family<InflightLabels, Gauge>,
    projects: Family<PublicLabels, Gauge>,
    repos: Family<RepoLabels, Gauge>,
    members: Family<ProjectLabels, Gauge>,
    quota_used: Family<ProjectLabels, Gauge>,
    quota_hard: Family<ProjectLabels, Gauge>,
    health: Gauge,
    info: Family<InfoLabels, Gauge>,
    pulled: Family<ProjectLabels, Gauge>,
    bytes_in: Counter,
    bytes_out: Counter,
    tokens: Counter,
    deliveries: Family<OutcomeLabels, Counter>,
    replication_tasks: Family<OutcomeLabels, Counter>,
    queues: Family<QueueLabels, Gauge>,
    latency: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    uploads: Gauge,
    /// `/v2/` requests being handled, for [`Metrics::busy_probe`].
    registry_inflight: AtomicUsize,
    /// One scrape at a time reads the stores and fills the gauges.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "harbor_core_http_request",
            "The total number of requests",
            requests.clone(),
        );
        let durations = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_5, 4.0, 10))
        });
        registry.register(
            "harbor_core_http_request_duration_seconds",
            "The time requests take until their answer starts",
            durations.clone(),
        );
        let inflight = Family::<InflightLabels, Gauge>::default();
        registry.register(
            "harbor_core_http_inflight_requests",
            "The requests being handled",
            inflight.clone(),
        );
        let projects = Family::<PublicLabels, Gauge>::default();
        registry.register("harbor_project_total", "The projects", projects.clone());
        let repos = Family::<RepoLabels, Gauge>::default();
        registry.register(
            "harbor_project_repo_total",
            "The repositories of each project",
            repos.clone(),
        );
        let members = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "harbor_project_member_total",
            "The members of each project",
            members.clone(),
        );
        let quota_used = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "harbor_project_quota_usage_byte",
            "The storage each project uses",
            quota_used.clone(),
        );
        let quota_hard = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "harbor_project_quota_byte",
            "The storage limit of each project (-1: none)",
            quota_hard.clone(),
        );
        let health = Gauge::default();
        registry.register(
            "harbor_health",
            "1 when the metadata store answered the last scrape",
            health.clone(),
        );
        let info = Family::<InfoLabels, Gauge>::default();
        registry.register(
            "harbor_system_info",
            "Information about this server",
            info.clone(),
        );
        info.get_or_create(&info_labels(crate::settings::AuthMode::Db))
            .set(1);
        // A gauge, as Harbor exports it (so without a `_total` suffix).
        let pulled = Family::<ProjectLabels, Gauge>::default();
        registry.register(
            "harbor_artifact_pulled",
            "Manifests pulled from each project",
            pulled.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "harbor_registry_received_bytes",
            "Bytes of blobs and manifests pushed (as the requests announced them)",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "harbor_registry_sent_bytes",
            "Bytes of blobs and manifests pulled (as the answers announced them)",
            bytes_out.clone(),
        );
        let tokens = Counter::default();
        registry.register(
            "harbor_token_issued",
            "Registry tokens issued by /service/token",
            tokens.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "harbor_webhook_delivery_attempts",
            "Webhook delivery attempts by outcome (delivered, retried, failed)",
            deliveries.clone(),
        );
        let queues = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "harbor_task_queue_size",
            "Jobs waiting or running, by type (webhook deliveries, replication tasks, garbage collections, audit log purges)",
            queues.clone(),
        );
        let replication_tasks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "harbor_replication_tasks",
            "Replication tasks ended, by outcome (succeed, failed, stopped), counted by the instance that drove their execution",
            replication_tasks.clone(),
        );
        let latency = Family::<QueueLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "harbor_task_queue_latency",
            "Seconds the job waiting longest has waited to be taken, by type (0: none waits)",
            latency.clone(),
        );
        let uploads = Gauge::default();
        registry.register(
            "harbor_registry_upload_sessions",
            "Blob upload sessions open (begun and not yet completed, cancelled or purged)",
            uploads.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            requests,
            durations,
            inflight,
            projects,
            repos,
            members,
            quota_used,
            quota_hard,
            health,
            info,
            pulled,
            bytes_in,
            bytes_out,
            tokens,
            deliveries,
            replication_tasks,
            queues,
            latency,
            uploads,
            registry_inflight: AtomicUsize::new(0),
            scrape: tokio::sync::Mutex::new(()),
        }))
    }

    /// Whether `/v2/` requests are being handled: what garbage collection
    /// gives way to.
    pub fn busy_probe(&self) -> BusyProbe {
        let metrics = self.clone();
        BusyProbe::new(move || metrics.0.registry_inflight.load(Ordering::Relaxed) > 0)
    }

    /// Counts a webhook delivery attempt: `delivered`, `retried` or
    /// `failed` (for good).
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.0
            .deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts the tasks of each replication execution `service`'s runner
    /// drives to its end, by outcome, until `service` is dropped. Each
    /// execution ends on one instance, so a cluster's sum counts each task
    /// once.
    pub fn count_replication_tasks(
        &self,
        service: &Arc<harbor_replicate::ReplicationService>,
    ) -> tokio::task::JoinHandle<()> {
        let mut ended = service.runner().subscribe_ended();
        let weak = Arc::downgrade(service);
        let metrics = self.clone();
        tokio::spawn(async move {
            loop {
                let id = match ended.recv().await {
                    Ok(id) => id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "replication ends came faster than metrics took them"
                        );
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(service) = weak.upgrade() else {
                    return;
                };
                match service.store.execution(id).await {
                    Ok(Some(e)) => {
                        for (outcome, n) in [
                            ("succeed", e.succeeded),
                            ("failed", e.failed),
                            ("stopped", e.stopped),
                        ] {
                            metrics
                                .0
                                .replication_tasks
                                .get_or_create(&OutcomeLabels { outcome })
                                .inc_by(n);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(execution = id, error = %e, "reading an ended execution for metrics")
                    }
                }
            }
        })
    }

    /// The text exposition of every metric, with the project figures read
    /// from the stores of `state` now.
    pub async fn render(&self, state: &AppState) -> String {
        let _one = self.0.scrape.lock().await;
        let healthy =
            self.refresh_projects(state).await.is_ok() && self.refresh_queues(state).await.is_ok();
        self.0.health.set(i64::from(healthy));
        // The mode in force, which an administrator may have changed.
        let labels = info_labels(state.settings.get().auth_mode);
        if self.0.info.get(&labels).is_none() {
            self.0.info.clear();
            self.0.info.get_or_create(&labels).set(1);
        }
        let mut out = String::new();
        if encode(&mut out, &self.0.registry).is_err() {
            out.clear();
        }
        out
    }

    /// `harbor_task_queue_size`: what each kind of background work has
    /// waiting or running, read from the stores every instance shares.
    async fn refresh_queues(&self, state: &AppState) -> harbor_core::Result<()> {
        let now = std::time::SystemTime::now();
        let set = |kind: &'static str, n: u64, oldest: Option<std::time::SystemTime>| {
            let labels = QueueLabels { r#type: kind };
            self.0
                .queues
                .get_or_create(&labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
            let waited = oldest
                .and_then(|t| now.duration_since(t).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            self.0.latency.get_or_create(&labels).set(waited);
        };
        if let Some(webhooks) = &state.webhooks {
            let store = webhooks.store();
            set(
                "WEBHOOK",
                store.pending_deliveries().await?,
                store.oldest_due_delivery().await?,
            );
        }
        // Sessions begun up to now: every open one.
        let open = state
            .registry
            .meta_store()
            .uploads_started_before(
                std::time::SystemTime::now() + std::time::Duration::from_secs(1),
            )
            .await?
            .len();
        self.0.uploads.set(i64::try_from(open).unwrap_or(i64::MAX));
        if let Some(replication) = &state.replication {
            let unfinished = replication.store.unfinished_executions().await?;
            let waiting = unfinished.iter().filter(|e| e.in_progress > 0);
            set(
                "REPLICATION",
                unfinished.iter().map(|e| e.in_progress).sum(),
                waiting.map(|e| e.start_time).min(),
            );
        }
        let page = Page {
            page: 1,
            page_size: 100,
        };
        let waiting = |runs: &[harbor_core::JobRecord]| {
            runs.iter().filter(|r| !r.status.is_final()).count() as u64
        };
        let oldest_pending = |runs: &[harbor_core::JobRecord]| {
            runs.iter()
                .filter(|r| r.status == harbor_core::JobStatus::Pending)
                .map(|r| r.creation_time)
                .min()
        };
        if let Some(gc) = &state.gc {
            let (runs, _) = gc
                .jobs
                .list_jobs(harbor_core::JobKind::GarbageCollection, page)
                .await?;
            set("GARBAGE_COLLECTION", waiting(&runs), oldest_pending(&runs));
        }
        if let Some(purge) = &state.purge_audit {
            let (runs, _) = purge
                .jobs
                .list_jobs(harbor_core::JobKind::PurgeAudit, page)
                .await?;
            set("PURGE_AUDIT_LOG", waiting(&runs), oldest_pending(&runs));
        }
        Ok(())
    }

    async fn refresh_projects(&self, state: &AppState) -> harbor_core::Result<()> {
        let inner = &self.0;
        let identity = &state.auth.identity;
        let mut all = Vec::new();
        let mut page = Page {
            page: 1,
            page_size: 500,
        };
        loop {
            let (list, total) = identity
                .list_projects(&ProjectQuery::default(), page)
                .await?;
            let n = list.len() as u64;
            all.extend(list);
            if n == 0 || all.len() as u64 >= total {
                break;
            }
            page.page += 1;
        }
        inner.projects.clear();
        inner.repos.clear();
        inner.members.clear();
        inner.quota_used.clear();
        inner.quota_hard.clear();
        let one = Page {
            page: 1,
            page_size: 1,
        };
        for p in &all {
            let public = p.public.to_string();
            inner
                .projects
                .get_or_create(&PublicLabels {
                    public: public.clone(),
                })
                .inc();
            let (_, repos) = state
                .registry
                .meta_store()
                .repositories_with_prefix(&format!("{}/", p.name), None, one)
                .await?;
            inner
                .repos
                .get_or_create(&RepoLabels {
                    project_name: p.name.clone(),
                    public,
                })
                .set(i64::try_from(repos).unwrap_or(i64::MAX));
            let members = identity.list_members(p.id).await?.len();
            let name = ProjectLabels {
                project_name: p.name.clone(),
            };
            inner
                .members
                .get_or_create(&name)
                .set(i64::try_from(members).unwrap_or(i64::MAX));
            if let Some(quotas) = &state.quotas {
                let q = quotas.store.quota(&p.name).await?;
                let used = q.as_ref().map_or(0, |q| q.used);
                let hard = q.and_then(|q| q.limit);
                inner
                    .quota_used
                    .get_or_create(&name)
                    .set(i64::try_from(used).unwrap_or(i64::MAX));
                inner
                    .quota_hard
                    .get_or_create(&name)
                    .set(hard.map_or(-1, |h| i64::try_from(h).unwrap_or(i64::MAX)));
            }
        }
        Ok(())
    }
}

/// What a request is, for the `operation` label: the `/v2/` route, or the
/// kind of API resource.
fn operation(path: &str) -> &'static str {
    if let Some(route) = parse_route(path) {
        return match route {
            Route::Base => "v2_base",
            Route::Catalog => "catalog",
            Route::Tags(_) => "tags",
            Route::Manifest(..) => "manifest",
            Route::Blob(..) => "blob",
            Route::UploadStart(_) | Route::Upload(..) => "blob_upload",
            Route::Referrers(..) => "referrers",
        };
    }
    if path.starts_with("/service/token") {
        return "token";
    }
    let Some(api) = path.strip_prefix("/api/v2.0/") else {
        return "other";
    };
    if api.contains("/artifacts") {
        "api_artifact"
    } else if api.contains("/repositories") {
        "api_repository"
    } else if api.starts_with("projects") {
        "api_project"
    } else if api.starts_with("users") {
        "api_user"
    } else if api.starts_with("replication") || api.starts_with("registries") {
        "api_replication"
    } else if api.starts_with("system/gc") {
        "api_gc"
    } else if api.starts_with("quotas") {
        "api_quota"
    } else {
        "api_other"
    }
}

/// A request in flight, uncounted when it ends however it ends (a client
/// that hangs up drops the handler, and this with it).
struct InflightGuard {
    gauge: Gauge,
    /// Also counted among the `/v2/` requests in flight.
    registry: Option<Metrics>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.gauge.dec();
        if let Some(m) = &self.registry {
            m.0.registry_inflight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Counts each request, its duration until its answer starts, and those in
/// flight (an upload's body is read before the answer; a download's body
/// streams after, uncounted).
pub async fn record(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = parse_route(req.uri().path());
    let registry = route.is_some();
    // What the registry receives and sends, and pulls by project, from the
    // lengths the messages announce: no count on the bodies' path.
    let pulled_project = match &route {
        Some(Route::Manifest(name, _)) if req.method() == Method::GET => {
            Some(name.split('/').next().unwrap_or_default().to_owned())
        }
        _ => None,
    };
    let transfer = matches!(
        route,
        Some(Route::Blob(..) | Route::Manifest(..) | Route::Upload(..))
    );
    let sends_body = req.method() == Method::GET;
    if transfer && matches!(*req.method(), Method::PUT | Method::PATCH) {
        if let Some(n) = content_length(req.headers()) {
            metrics.0.bytes_in.inc_by(n);
        }
    }
    let operation = operation(req.uri().path());
    let method = req.method().as_str().to_owned();
    let gauge = metrics
        .0
        .inflight
        .get_or_create(&InflightLabels { operation })
        .clone();
    gauge.inc();
    if registry {
        metrics.0.registry_inflight.fetch_add(1, Ordering::Relaxed);
    }
    let _inflight = InflightGuard {
        gauge,
        registry: registry.then(|| metrics.clone()),
    };
    let started = Instant::now();
    let token = operation == "token";
    let resp = next.run(req).await;
    if resp.status().is_success() {
        if transfer && sends_body {
            if let Some(n) = content_length(resp.headers()) {
                metrics.0.bytes_out.inc_by(n);
            }
        }
        if let Some(project) = pulled_project {
            metrics
                .0
                .pulled
                .get_or_create(&ProjectLabels {
                    project_name: project,
                })
                .inc();
        }
        if token {
            metrics.0.tokens.inc();
        }
    }
    metrics
        .0
        .durations
        .get_or_create(&OperationLabels {
            method: method.clone(),
            operation,
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .0
        .requests
        .get_or_create(&RequestLabels {
            method,
            code: resp.status().as_u16().to_string(),
            operation,
        })
        .inc();
    resp
}

fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get("content-length")?.to_str().ok()?.parse().ok()
}

/// The exposition, for the metrics listener.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state).await;
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_labelled_by_what_they_do() {
        assert_eq!(operation("/v2/library/app/manifests/v1"), "manifest");
        assert_eq!(operation("/v2/library/app/blobs/uploads/"), "blob_upload");
        assert_eq!(operation("/v2/"), "v2_base");
        assert_eq!(operation("/service/token"), "token");
        assert_eq!(
            operation("/api/v2.0/projects/p/repositories/r/artifacts/v1"),
            "api_artifact"
        );
        assert_eq!(operation("/api/v2.0/projects"), "api_project");
        assert_eq!(operation("/api/v2.0/quotas/1"), "api_quota");
        assert_eq!(operation("/metrics"), "other");
    }

    #[test]
    fn the_busy_probe_follows_registry_requests_in_flight() {
        let metrics = Metrics::new();
        let probe = metrics.busy_probe();
        assert!(!probe.busy());
        let guard = |registry: bool| {
            if registry {
                metrics.0.registry_inflight.fetch_add(1, Ordering::Relaxed);
            }
            InflightGuard {
                gauge: Gauge::default(),
                registry: registry.then(|| metrics.clone()),
            }
        };
        let api = guard(false);
        assert!(!probe.busy(), "API requests do not count");
        let one = guard(true);
        let two = guard(true);
        drop(one);
        assert!(probe.busy(), "one still in flight");
        drop(two);
        drop(api);
        assert!(!probe.busy());
    }
}
