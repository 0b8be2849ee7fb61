//! Composing a server from traits: [`Harbor::builder`] takes any
//! `BlobStore` and `MetaStore` (an open registry), and optionally any
//! `IdentityStore`, `Authenticator`, `Authorizer` and `ReplicationStore`
//! (Harbor's users, tokens, management API and replication), and yields the
//! axum [`Router`] and the [`Duties`] that run beside it.
//!
//! ```no_run
//! # async fn demo(
//! #     blobs: std::sync::Arc<dyn harbor_core::BlobStore>,
//! #     meta: std::sync::Arc<dyn harbor_core::MetaStore>,
//! #     identity: std::sync::Arc<dyn harbor_core::IdentityStore>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use harbor_server::Harbor;
//! let harbor = Harbor::builder(blobs, meta)
//!     .identity(identity, harbor_auth::SigningKey::ephemeral()?)
//!     .external_url("https://registry.example.com")
//!     .build()?;
//! let (router, duties) = harbor.into_parts();
//! let running = duties.start().await;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! axum::serve(
//!     listener,
//!     router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! running.stop().await;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::Router;
use harbor_auth::ldap::{LdapAuthenticator, LdapConfig};
use harbor_auth::{
    Authenticator, Authorizer, DbAuthenticator, LoginLimiter, RateLimit, RbacAuthorizer,
    SigningKey, TokenConfig, TokenService,
};
use harbor_core::{
    BlobStore, IdentityStore, ImmutableRuleStore, ImmutableRules, JobStore, LabelStore, LeaseStore,
    LocalLeases, LocalSettings, MetaStore, QuotaStore, Registry, ReplicationStore, RetentionStore,
    SettingsStore, WebhookStore,
};
use harbor_replicate::{ReplicationService, Replicator, SecretBox};

use crate::audit::AuditSink;
use crate::auth::{AuthState, ModeAuthenticator, Realm};
use crate::config::UploadPurging;
pub use crate::duties::{Duties, RunningDuties};
use crate::error::ServerError;
use crate::gc::GcService;
use crate::metrics::Metrics;
use crate::purge_audit::PurgeService;
use crate::quota::{QuotaSettings, Quotas};
use crate::retention::{DeleteHooks, RetentionService};
use crate::settings::{Settings, SystemSettings};
use crate::webhook::{WebhookConfig, WebhookService};

/// The state of a server with Harbor's identity on: what its handlers
/// extract, each part by itself ([`FromRef`]).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine.
    pub registry: Registry,
    /// Who callers are and what they may do.
    pub auth: Arc<AuthState>,
    /// The audit log.
    pub audit: AuditSink,
    /// Replication, when a `ReplicationStore` was given.
    pub replication: Option<Arc<ReplicationService>>,
    /// Garbage collection, when a `JobStore` was given.
    pub gc: Option<Arc<GcService>>,
    /// Audit log purging, when a `JobStore` was given.
    pub purge_audit: Option<Arc<PurgeService>>,
    /// Project storage quotas, when a `QuotaStore` was given.
    pub quotas: Option<Arc<Quotas>>,
    /// System settings (`/configurations`) in force.
    pub settings: Settings,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Webhooks, when a `WebhookStore` was given.
    pub webhooks: Option<Arc<WebhookService>>,
    /// Labels, when a `LabelStore` was given.
    pub labels: Option<Arc<dyn LabelStore>>,
    /// Tag retention, when a `RetentionStore` was given.
    pub retention: Option<Arc<RetentionService>>,
    /// The LDAP directory of the settings in force (`/ldap/*`, and the
    /// logins of `ldap_auth`).
    pub ldap: LdapAuthenticator,
}

impl FromRef<AppState> for Registry {
    fn from_ref(s: &AppState) -> Registry {
        s.registry.clone()
    }
}

impl FromRef<AppState> for Arc<AuthState> {
    fn from_ref(s: &AppState) -> Arc<AuthState> {
        s.auth.clone()
    }
}

impl FromRef<AppState> for AuditSink {
    fn from_ref(s: &AppState) -> AuditSink {
        s.audit.clone()
    }
}

impl FromRef<AppState> for Option<Arc<ReplicationService>> {
    fn from_ref(s: &AppState) -> Option<Arc<ReplicationService>> {
        s.replication.clone()
    }
}

/// Builds a [`Harbor`]; see the module documentation.
#[must_use]
pub struct HarborBuilder {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    identity: Option<(Arc<dyn IdentityStore>, SigningKey)>,
    authenticator: Option<Arc<dyn Authenticator>>,
    oidc_authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    token_config: TokenConfig,
    anonymous_access: bool,
    realm: Realm,
    replication: Option<(Arc<dyn ReplicationStore>, SecretBox)>,
    replicator: Replicator,
    upload_purging: UploadPurging,
    leases: Arc<dyn LeaseStore>,
    jobs: Option<Arc<dyn JobStore>>,
    gc_time_window: Duration,
    quotas: Option<Quotas>,
    settings: Option<(Arc<dyn SettingsStore>, SystemSettings)>,
    webhooks: Option<(Arc<dyn WebhookStore>, SecretBox, WebhookConfig)>,
    labels: Option<Arc<dyn LabelStore>>,
    immutable: Option<Arc<dyn ImmutableRuleStore>>,
    retention: Option<Arc<dyn RetentionStore>>,
    oidc: Option<crate::oidc::OidcSetup>,
    sessions: Option<crate::oidc::SessionSetup>,
}

impl std::fmt::Debug for HarborBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarborBuilder")
            .field("identity", &self.identity.is_some())
            .field("replication", &self.replication.is_some())
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl HarborBuilder {
    /// Turns on Harbor's model: users, projects and roles from `identity`,
    /// tokens signed with `key`, `/v2/` guarded by tokens (or Basic
    /// credentials), the management API and the audit log. Without it the
    /// registry is open, as CNCF distribution without `auth`.
    pub fn identity(mut self, identity: Arc<dyn IdentityStore>, key: SigningKey) -> Self {
        self.identity = Some((identity, key));
        self
    }

    /// Checks credentials with `authenticator` instead of the default
    /// [`ModeAuthenticator`], which follows `auth_mode`: the database users
    /// of the identity store (rate-limited [`DbAuthenticator`]), or the
    /// LDAP directory of the settings (`admin` and robots from the database
    /// in every mode).
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Checks the logins of `oidc_auth` (OIDC users' CLI secrets) with
    /// `oidc`, in the default [`ModeAuthenticator`]; without it such logins
    /// are refused.
    pub fn oidc_authenticator(mut self, oidc: Arc<dyn Authenticator>) -> Self {
        self.oidc_authenticator = Some(oidc);
        self
    }

    /// Decides permissions with `authorizer` instead of Harbor's roles
    /// ([`RbacAuthorizer`]).
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Token issuer, service and lifetimes (Harbor's defaults otherwise).
    pub fn token_config(mut self, config: TokenConfig) -> Self {
        self.token_config = config;
        self
    }

    /// Whether anonymous callers may read public projects (default: yes).
    pub fn anonymous_access(mut self, allowed: bool) -> Self {
        self.anonymous_access = allowed;
        self
    }

    /// The URL clients reach this server at, for the token realm; without
    /// it the realm follows each request's `Host` over plain HTTP.
    pub fn external_url(mut self, url: &str) -> Self {
        self.realm = Realm::from_config(Some(url), false);
        self
    }

    /// Where clients are sent for tokens.
    pub fn realm(mut self, realm: Realm) -> Self {
        self.realm = realm;
        self
    }

    /// Turns on replication: registries, policies and executions in `store`,
    /// credentials sealed with `secrets`. Needs [`HarborBuilder::identity`]
    /// (policies are managed through the API and pull mode creates projects).
    pub fn replication(mut self, store: Arc<dyn ReplicationStore>, secrets: SecretBox) -> Self {
        self.replication = Some((store, secrets));
        self
    }

    /// How replication copies (workers, retries, chunk checkpoints).
    pub fn replicator(mut self, replicator: Replicator) -> Self {
        self.replicator = replicator;
        self
    }

    /// Where the duties take their cluster-wide leases (each replication
    /// execution, each cron tick, each upload purge runs on one instance).
    /// In-process leases by default, right for a single instance; instances
    /// sharing a database must share its lease store.
    pub fn leases(mut self, leases: Arc<dyn LeaseStore>) -> Self {
        self.leases = leases;
        self
    }

    /// Turns on garbage collection (`/api/v2.0/system/gc`): runs, logs and
    /// the schedule kept in `jobs`, one run at a time across the instances
    /// sharing the lease store. Needs [`HarborBuilder::identity`].
    pub fn jobs(mut self, jobs: Arc<dyn JobStore>) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// Turns on project storage quotas (`/api/v2.0/quotas`, `storage_limit`
    /// on project creation, usage in the project summary): limits kept in
    /// `store`, which must be the store given as `MetaStore` (it enforces
    /// them as it stores). Needs [`HarborBuilder::identity`].
    pub fn quotas(mut self, store: Arc<dyn QuotaStore>, settings: QuotaSettings) -> Self {
        self.quotas = Some(Quotas { store, settings });
        self
    }

    /// Turns on tag immutability: the projects' immutable tag rules
    /// (`/api/v2.0/projects/{project}/immutabletagrules`) kept in `store`
    /// and enforced by the engine on every push and delete, each project's
    /// read again at most every
    /// [`DEFAULT_REFRESH`](harbor_core::immutable::DEFAULT_REFRESH) (so an
    /// instance enforces a rule changed through another within that time).
    /// Needs [`HarborBuilder::identity`].
    pub fn immutable_rules(mut self, store: Arc<dyn ImmutableRuleStore>) -> Self {
        self.immutable = Some(store);
        self
    }

    /// Turns on tag retention (`/api/v2.0/retentions`): each project's
    /// policy, executions, tasks and logs kept in `store`; executions run
    /// by whichever instance sharing the lease store takes them, schedules
    /// fired once across them. Needs [`HarborBuilder::identity`].
    pub fn retention(mut self, store: Arc<dyn RetentionStore>) -> Self {
        self.retention = Some(store);
        self
    }

    /// Offers OpenID Connect logins (`/c/oidc/login`, sessions, CLI
    /// secrets) while `auth_mode` is `oidc_auth`, with the `oidc_*`
    /// settings of `/api/v2.0/configurations`. Needs
    /// [`HarborBuilder::identity`]; the authenticator (given or the
    /// database's) still checks `admin` and robot accounts.
    pub fn oidc(mut self, setup: crate::oidc::OidcSetup) -> Self {
        self.oidc = Some(setup);
        self
    }

    /// Signs users in with session cookies (the portal's `/c/login` and
    /// pages, and OIDC's callback), sealed with a key derived from
    /// `setup.master_key`. Without it, sessions use the OIDC setup's key
    /// when there is one, and only Basic credentials work otherwise.
    pub fn sessions(mut self, setup: crate::oidc::SessionSetup) -> Self {
        self.sessions = Some(setup);
        self
    }

    /// Keeps the system settings (`/api/v2.0/configurations`: read-only
    /// mode, the default project limit, who may create projects) in
    /// `store`, starting from `defaults` for what was never changed. Every
    /// instance sharing `store` reads it again each second. Without it they
    /// live in this process's memory.
    pub fn settings(mut self, store: Arc<dyn SettingsStore>, defaults: SystemSettings) -> Self {
        self.settings = Some((store, defaults));
        self
    }

    /// Webhooks (Harbor's project webhook policies): policies and the
    /// queue of deliveries in `store`, targets' secrets sealed with
    /// `secrets`, deliveries made as `config` says. Every instance sharing
    /// `store` takes deliveries from its queue, each delivery by one.
    pub fn webhooks(
        mut self,
        store: Arc<dyn WebhookStore>,
        secrets: SecretBox,
        config: WebhookConfig,
    ) -> Self {
        self.webhooks = Some((store, secrets, config));
        self
    }

    /// Labels (global and project labels, and the artifacts they are on)
    /// in `store`, the same database as the `MetaStore`.
    pub fn labels(mut self, store: Arc<dyn LabelStore>) -> Self {
        self.labels = Some(store);
        self
    }

    /// Garbage collection keeps blobs linked and manifests pushed more
    /// recently than this (Harbor's `time_window`, 2 hours by default): the
    /// longest a client may take between pushing a blob and the manifest
    /// that uses it.
    pub fn gc_time_window(mut self, window: Duration) -> Self {
        self.gc_time_window = window;
        self
    }

    /// Removal of abandoned upload sessions (Harbor's `upload_purging`).
    pub fn upload_purging(mut self, purging: UploadPurging) -> Self {
        self.upload_purging = purging;
        self
    }

    /// The router and its duties. Spawns nothing: the background work begins
    /// with [`Duties::start`].
    pub fn build(self) -> Result<Harbor, ServerError> {
        let warning_percent = self
            .quotas
            .as_ref()
            .map_or(harbor_core::DEFAULT_WARNING_PERCENT, |q| {
                q.settings.warning_percent
            });
        let mut registry =
            Registry::new(self.blobs, self.meta).with_quota_warning_percent(warning_percent);
        if let Some(store) = self.immutable.clone() {
            registry = registry.with_immutable_rules(Arc::new(ImmutableRules::new(store)));
        }
        let Some((identity, key)) = self.identity else {
            if self.replication.is_some() {
                return Err(ServerError::Config(
                    "replication needs an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.jobs.is_some() {
                return Err(ServerError::Config(
                    "garbage collection needs an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.quotas.is_some() {
                return Err(ServerError::Config(
                    "quotas need an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.webhooks.is_some() {
                return Err(ServerError::Config(
                    "webhooks need an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.immutable.is_some() {
                return Err(ServerError::Config(
                    "tag immutability needs an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.retention.is_some() {
                return Err(ServerError::Config(
                    "tag retention needs an identity store (HarborBuilder::identity)".into(),
                ));
            }
            if self.oidc.is_some() {
                return Err(ServerError::Config(
                    "OIDC needs an identity store (HarborBuilder::identity)".into(),
                ));
            }
            return Ok(Harbor {
                router: crate::router::open(registry.clone()),
                state: None,
                duties: Duties {
                    registry,
                    upload_purging: self.upload_purging,
                    leases: self.leases,
                    audit: None,
                    replication: None,
                    gc: None,
                    purge_audit: None,
                    settings: None,
                    webhooks: None,
                    retention: None,
                    metrics: None,
                },
            });
        };
        let authorizer = self.authorizer.unwrap_or_else(|| {
            Arc::new(RbacAuthorizer::new(identity.clone(), self.anonymous_access))
        });
        // OIDC logins, when set up: the flow and its sessions here, CLI
        // secrets through the mode authenticator below.
        let oidc_key = self
            .oidc
            .as_ref()
            .map(|s| (s.master_key.clone(), s.secure_cookies));
        let oidc = match self.oidc {
            Some(setup) => {
                let oidc = harbor_auth::oidc::Oidc::new(identity.clone(), &setup.master_key)
                    .map_err(|e| ServerError::Config(format!("OIDC: {e}")))?;
                Some((
                    crate::oidc::OidcState {
                        oidc,
                        secure_cookies: setup.secure_cookies,
                    },
                    setup.check_ttl,
                ))
            }
            None => None,
        };
        let session_setup = self.sessions.or_else(|| {
            oidc_key.map(|(master_key, secure_cookies)| crate::oidc::SessionSetup {
                master_key,
                secure_cookies,
            })
        });
        // Secret settings are sealed with the key sessions use.
        let settings_key = session_setup.as_ref().map(|s| s.master_key.clone());
        let sessions = match session_setup {
            Some(s) => Some(
                crate::auth::Sessions::new(&s.master_key, s.secure_cookies, identity.clone())
                    .map_err(|e| ServerError::Config(format!("sessions: {e}")))?,
            ),
            None => None,
        };
        let token_minutes = crate::settings::minutes(self.token_config.lifetime);
        let tokens = TokenService::new(
            Arc::new(key),
            self.token_config,
            identity.clone(),
            authorizer.clone(),
        );
        let (audit, writer) = crate::audit::channel();
        let replication = self.replication.map(|(store, secrets)| {
            ReplicationService::clustered(
                store,
                identity.clone(),
                secrets,
                registry.clone(),
                self.replicator,
                self.leases.clone(),
            )
        });
        let metrics = Metrics::new();
        let purge_audit = self
            .jobs
            .as_ref()
            .map(|jobs| PurgeService::new(identity.clone(), jobs.clone(), self.leases.clone()));
        let gc = self.jobs.map(|jobs| {
            // Runs end abandoned uploads as the upload purging would.
            let uploads = self
                .upload_purging
                .enabled
                .then_some(self.upload_purging.age);
            GcService::new(
                &registry,
                jobs,
                self.leases.clone(),
                self.gc_time_window,
                uploads,
                Some(metrics.busy_probe()),
            )
        });
        let settings = {
            let (store, defaults) = self.settings.unwrap_or_else(|| {
                let defaults = SystemSettings {
                    token_expiration: token_minutes,
                    storage_per_project: self
                        .quotas
                        .as_ref()
                        .and_then(|q| q.settings.default_limit)
                        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
                    ..SystemSettings::default()
                };
                let store: Arc<dyn SettingsStore> = Arc::new(LocalSettings::default());
                (store, defaults)
            });
            let mut settings = Settings::new(store, defaults.clone(), registry.clone())
                .with_tokens(tokens.clone())
                .with_identity(identity.clone());
            if let Some(key) = &settings_key {
                settings = settings
                    .with_sealing(key)
                    .map_err(|e| ServerError::Config(format!("settings: {e}")))?;
            }
            match &oidc {
                Some((o, _)) => settings.with_oidc(o.oidc.clone()),
                None => settings,
            }
        };
        // One limiter for every way in: guesses through the database and
        // through the directory add up.
        let limiter = Arc::new(LoginLimiter::new(RateLimit::default()));
        let ldap = LdapAuthenticator::new(identity.clone(), LdapConfig::default(), limiter.clone())
            .map_err(|e| ServerError::Config(format!("LDAP settings: {e}")))?;
        let settings = settings.with_ldap(ldap.clone());
        let authenticator = self.authenticator.unwrap_or_else(|| {
            let cli = self.oidc_authenticator.or_else(|| {
                oidc.as_ref()
                    .map(|(o, check_ttl)| -> Arc<dyn Authenticator> {
                        Arc::new(harbor_auth::oidc::OidcCliAuthenticator::new(
                            o.oidc.clone(),
                            limiter.clone(),
                            *check_ttl,
                        ))
                    })
            });
            let mut mode = ModeAuthenticator::new(
                settings.clone(),
                DbAuthenticator::with_limiter(identity.clone(), limiter),
                ldap.clone(),
            );
            if let Some(cli) = cli {
                mode = mode.with_oidc(cli);
            }
            Arc::new(mode)
        });
        let oidc = oidc.map(|(o, _)| o);
        let auth = Arc::new(AuthState {
            identity: identity.clone(),
            authenticator,
            authorizer,
            tokens,
            realm: self.realm,
            anonymous_access: self.anonymous_access,
            oidc: oidc.clone(),
            sessions,
        });
        if let (Some(service), Some(labels)) = (&replication, &self.labels) {
            service.set_labels(labels.clone());
        }
        let webhooks = self.webhooks.map(|(store, secrets, config)| {
            WebhookService::new(
                store,
                identity.clone(),
                registry.clone(),
                Arc::new(secrets),
                config,
                crate::webhook::WebhookLinks {
                    settings: Some(settings.clone()),
                    replication: replication.clone(),
                    metrics: Some(metrics.clone()),
                },
            )
        });
        let retention = self.retention.map(|store| {
            RetentionService::new(
                &registry,
                store,
                identity.clone(),
                self.leases.clone(),
                DeleteHooks {
                    audit: audit.clone(),
                    replication: replication.clone(),
                    webhooks: webhooks.clone(),
                },
                self.labels.clone(),
            )
        });
        let audit_for_duties = audit.clone();
        let metrics_for_duties = metrics.clone();
        let state = AppState {
            registry: registry.clone(),
            auth,
            audit,
            replication: replication.clone(),
            gc: gc.clone(),
            purge_audit: purge_audit.clone(),
            quotas: self.quotas.map(Arc::new),
            settings: settings.clone(),
            metrics,
            webhooks: webhooks.clone(),
            labels: self.labels,
            retention: retention.clone(),
            ldap,
        };
        Ok(Harbor {
            router: crate::router::harbor(state.clone()),
            state: Some(state),
            duties: Duties {
                registry,
                upload_purging: self.upload_purging,
                leases: self.leases,
                audit: Some((audit_for_duties, writer, identity)),
                replication,
                gc,
                purge_audit,
                settings: Some(settings),
                webhooks,
                retention,
                metrics: Some(metrics_for_duties),
            },
        })
    }
}

/// A composed server: the router to serve and the duties to run beside it.
#[derive(Debug)]
pub struct Harbor {
    router: Router,
    state: Option<AppState>,
    duties: Duties,
}

impl Harbor {
    /// A builder over `blobs` and `meta`.
    pub fn builder(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>) -> HarborBuilder {
        HarborBuilder {
            blobs,
            meta,
            identity: None,
            authenticator: None,
            oidc_authenticator: None,
            authorizer: None,
            token_config: TokenConfig::default(),
            anonymous_access: true,
            realm: Realm::FromHost { tls: false },
            replication: None,
            replicator: Replicator::default(),
            upload_purging: UploadPurging::default(),
            leases: Arc::new(LocalLeases::new()),
            jobs: None,
            gc_time_window: harbor_core::gc::DEFAULT_TIME_WINDOW,
            quotas: None,
            settings: None,
            webhooks: None,
            labels: None,
            immutable: None,
            retention: None,
            oidc: None,
            sessions: None,
        }
    }

    /// The whole HTTP face (`/v2/`, and with identity `/service/token` and
    /// `/api/v2.0`), to serve or to merge into another router. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`: login failures
    /// are limited per client address too.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The engine.
    pub fn registry(&self) -> &Registry {
        &self.duties.registry
    }

    /// The handlers' state, when identity is on.
    pub fn state(&self) -> Option<&AppState> {
        self.state.as_ref()
    }

    /// The router and the duties, apart.
    pub fn into_parts(self) -> (Router, Duties) {
        (self.router, self.duties)
    }
}
