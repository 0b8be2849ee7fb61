//! Webhooks as the server runs them: events from `/v2/`, the management API
//! and the quotas are matched against the projects' policies and queued in
//! the [`WebhookStore`] off the request path; a dispatcher on every
//! instance claims due deliveries from the shared queue and sends them,
//! retrying with exponential backoff. A push never waits on a receiver,
//! and a delivery queued survives a restart.

mod deliver;
pub mod payload;
mod replication;
pub mod sign;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use harbor_core::{
    IdentityStore, NewDelivery, NewWebhookExecution, Page, Registry, WebhookPolicy, WebhookStore,
};
use harbor_replicate::SecretBox;
use serde::Deserialize;
use tokio::sync::{mpsc, Notify};

pub use payload::{ArtifactAction, RetentionOutcome, WebhookEvent};

/// How deliveries are made (the `[webhook]` section).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Attempts per delivery before it is marked failed
    /// (`HARBOR_WEBHOOK_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The wait before the second attempt, doubled before each next one up
    /// to `max_backoff` (`HARBOR_WEBHOOK_BACKOFF`).
    #[serde(deserialize_with = "crate::config::duration")]
    pub backoff: Duration,
    /// The longest wait between attempts.
    #[serde(deserialize_with = "crate::config::duration")]
    pub max_backoff: Duration,
    /// How long one attempt may take (`HARBOR_WEBHOOK_TIMEOUT`).
    #[serde(deserialize_with = "crate::config::duration")]
    pub timeout: Duration,
    /// Deliveries each instance sends at once.
    pub workers: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            max_attempts: 10,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            workers: 8,
        }
    }
}

impl WebhookConfig {
    /// The wait after failed attempt `n` (from 1).
    fn backoff_after(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// How often each instance re-reads the policies (a change made on another
/// instance applies within this), and looks for due deliveries.
const REFRESH: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_secs(1);

/// What else of the server the webhooks use, each optional for an
/// embedding program.
#[derive(Debug, Clone, Default)]
pub struct WebhookLinks {
    /// `notification_enable` turns every policy off.
    pub settings: Option<crate::settings::Settings>,
    /// Executions that end are `REPLICATION` events.
    pub replication: Option<Arc<harbor_replicate::ReplicationService>>,
    /// Delivery attempts are counted here.
    pub metrics: Option<crate::metrics::Metrics>,
}

/// A project with policies, as the notifier checks it on the request path.
#[derive(Debug, Clone)]
struct ProjectHooks {
    id: i64,
    public: bool,
    policies: Vec<WebhookPolicy>,
}

/// The webhook service of one instance.
#[derive(Debug)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    identity: Arc<dyn IdentityStore>,
    registry: Registry,
    secrets: Arc<SecretBox>,
    config: WebhookConfig,
    /// Enabled policies by project name.
    hooks: RwLock<HashMap<String, ProjectHooks>>,
    /// Held through a refresh, from reading the store to replacing `hooks`,
    /// so that a refresh which read the policies before a change cannot
    /// replace what a later one (after the change) put in.
    refreshing: tokio::sync::Mutex<()>,
    /// The host clients use, learnt from requests, for `resource_url`.
    host: RwLock<String>,
    events: mpsc::UnboundedSender<WebhookEvent>,
    queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<WebhookEvent>>>,
    queued: Notify,
    /// `notification_enable`, when the server has settings.
    settings: Option<crate::settings::Settings>,
    /// Replication, whose ended executions are `REPLICATION` events.
    replication: Option<Arc<harbor_replicate::ReplicationService>>,
    /// Where delivery attempts are counted.
    metrics: Option<crate::metrics::Metrics>,
}

impl WebhookService {
    /// A service over `store`; nothing runs until [`WebhookService::spawn`].
    pub fn new(
        store: Arc<dyn WebhookStore>,
        identity: Arc<dyn IdentityStore>,
        registry: Registry,
        secrets: Arc<SecretBox>,
        config: WebhookConfig,
        links: WebhookLinks,
    ) -> Arc<WebhookService> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(WebhookService {
            store,
            identity,
            registry,
            secrets,
            config,
            hooks: RwLock::default(),
            refreshing: tokio::sync::Mutex::new(()),
            host: RwLock::new(String::new()),
            events: tx,
            queue: std::sync::Mutex::new(Some(rx)),
            queued: Notify::new(),
            settings: links.settings,
            replication: links.replication,
            metrics: links.metrics,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    /// Seals a target's secret for the store.
    pub fn seal(&self, secret: &str) -> Result<String, harbor_replicate::ReplicateError> {
        self.secrets.seal(secret)
    }

    /// Notes the host clients address this registry by.
    pub fn saw_host(&self, host: &str) {
        let known = self.host.read().map(|h| h.as_str() == host).unwrap_or(true);
        if !known {
            if let Ok(mut h) = self.host.write() {
                host.clone_into(&mut h);
            }
        }
    }

    /// Whether an enabled policy of `project` subscribes to events of this
    /// type: what the request path asks before building an event.
    pub fn wants(&self, project: &str, event_type: harbor_core::WebhookEventType) -> bool {
        if self
            .settings
            .as_ref()
            .is_some_and(|s| !s.get().notification_enable)
        {
            return false;
        }
        self.hooks
            .read()
            .map(|h| {
                h.get(project).is_some_and(|p| {
                    p.policies
                        .iter()
                        .any(|policy| policy.event_types.contains(&event_type))
                })
            })
            .unwrap_or(false)
    }

    /// Whether any enabled policy subscribes to events of this type.
    fn wants_any(&self, event_type: harbor_core::WebhookEventType) -> bool {
        self.hooks
            .read()
            .map(|h| {
                h.values().any(|p| {
                    p.policies
                        .iter()
                        .any(|policy| policy.event_types.contains(&event_type))
                })
            })
            .unwrap_or(false)
    }

    /// Hands an event over to be queued; returns at once.
    pub fn notify(&self, event: WebhookEvent) {
        if self.wants(event.project(), event.event_type()) {
            let _ = self.events.send(event);
        }
    }

    /// Re-reads the enabled policies (after a change through this instance,
    /// and every few seconds for changes through others).
    pub async fn refresh(&self) -> harbor_core::Result<()> {
        let _refreshing = self.refreshing.lock().await;
        let mut by_id: HashMap<i64, Vec<WebhookPolicy>> = HashMap::new();
        let mut page = Page {
            page: 1,
            page_size: 500,
        };
        loop {
            let (list, total) = self.store.webhook_policies(None, page).await?;
            let n = list.len() as u64;
            for p in list.into_iter().filter(|p| p.enabled) {
                by_id.entry(p.project_id).or_default().push(p);
            }
            if n == 0 || page.page * page.page_size >= total {
                break;
            }
            page.page += 1;
        }
        let mut hooks = HashMap::with_capacity(by_id.len());
        for (id, policies) in by_id {
            if let Some(project) = self.identity.project_by_id(id).await? {
                hooks.insert(
                    project.name,
                    ProjectHooks {
                        id,
                        public: project.public,
                        policies,
                    },
                );
            }
        }
        if let Ok(mut h) = self.hooks.write() {
            *h = hooks;
        }
        Ok(())
    }

    /// Builds the executions an event makes: one per subscribed policy.
    async fn executions(&self, event: &WebhookEvent) -> Vec<NewWebhookExecution> {
        let event_type = event.event_type();
        let Some(project) = self
            .hooks
            .read()
            .ok()
            .and_then(|h| h.get(event.project()).cloned())
        else {
            return Vec::new();
        };
        let repo_created = match event.repository() {
            Some(repo) => match self.registry.meta_store().repository_info(repo).await {
                Ok(info) => info.map(|i| i.created_at),
                Err(_) => None,
            },
            None => None,
        };
        let ctx = payload::EventContext {
            host: self.host.read().map(|h| h.clone()).unwrap_or_default(),
            project_id: project.id,
            public: project.public,
            repo_created,
        };
        let default = payload::default_payload(event, &ctx);
        project
            .policies
            .iter()
            .filter(|p| p.event_types.contains(&event_type))
            .map(|policy| NewWebhookExecution {
                policy_id: policy.id,
                event_type,
                payload: default.to_string(),
                deliveries: policy
                    .targets
                    .iter()
                    .map(|target| {
                        let (body, content_type) =
                            payload::render(event, &ctx, policy, target, &default);
                        NewDelivery {
                            target: target.clone(),
                            body,
                            content_type: content_type.to_owned(),
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// Starts the policy refresher, the queue writer and the dispatcher.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let weak = Arc::downgrade(self);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            loop {
                tick.tick().await;
                let Some(service) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = service.refresh().await {
                    tracing::warn!(error = %e, "reading the webhook policies failed");
                }
            }
        }));
        let rx = self.queue.lock().ok().and_then(|mut q| q.take());
        if let Some(rx) = rx {
            tasks.push(tokio::spawn(Arc::clone(self).write_queue(rx)));
        }
        let mut quota_events = self.registry.subscribe_quota_events();
        let weak = Arc::downgrade(self);
        tasks.push(tokio::spawn(async move {
            loop {
                let event = match quota_events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "quota events came faster than webhooks took them"
                        );
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(service) = weak.upgrade() else {
                    return;
                };
                service.notify(WebhookEvent::Quota {
                    event,
                    at: SystemTime::now(),
                });
            }
        }));
        if let Some(replication) = &self.replication {
            let mut ended = replication.runner().subscribe_ended();
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(async move {
                loop {
                    let id = match ended.recv().await {
                        Ok(id) => id,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(
                                missed = n,
                                "replication ends came faster than webhooks took them"
                            );
                            continue;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    let Some(replication) = service.replication.clone() else {
                        return;
                    };
                    if !service.wants_any(harbor_core::WebhookEventType::Replication) {
                        continue;
                    }
                    for event in replication::events(&replication, id).await {
                        service.notify(event);
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(deliver::dispatch(Arc::clone(self))));
        tasks
    }

    /// Writes events to the store as they come, those waiting together in
    /// one transaction, and wakes the dispatcher.
    async fn write_queue(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<WebhookEvent>) {
        while let Some(first) = rx.recv().await {
            let mut executions = self.executions(&first).await;
            while executions.len() < 256 {
                let Ok(next) = rx.try_recv() else { break };
                executions.extend(self.executions(&next).await);
            }
            if executions.is_empty() {
                continue;
            }
            // A database that is briefly away must not lose the events.
            let mut wait = Duration::from_millis(100);
            loop {
                match self.store.enqueue_webhooks(&executions).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, events = executions.len(), "queueing webhook deliveries failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                }
            }
            self.queued.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let c = WebhookConfig {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            ..WebhookConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| c.backoff_after(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        assert_eq!(c.backoff_after(200), Duration::from_secs(30));
    }
}
