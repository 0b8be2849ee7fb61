//! The HTTP face of harbor-rs: the OCI distribution API under `/v2/` and
//! Harbor's `/api/v2.0` endpoints, as an axum [`Router`](axum::Router) that
//! other programs can mount, plus [`Server`], which runs it on the stores its
//! [`Config`] names: by default SQLite metadata and blobs on the file system
//! under a data directory; PostgreSQL (`database_url`) and S3
//! (`[storage.s3]`) for several instances behind a load balancer.
//!
//! [`Harbor::builder`] composes the router over any stores; here it is
//! called directly, as a tower service:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use axum::{body::Body, http::Request, http::StatusCode};
//! use harbor_server::Harbor;
//! use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
//! use tower::ServiceExt;
//!
//! let meta = Arc::new(SqliteMetaStore::in_memory()?);
//! harbor_auth::bootstrap(meta.as_ref(), Some("Harbor12345")).await?;
//! let harbor = Harbor::builder(Arc::new(MemoryBlobStore::new()), meta.clone())
//!     .identity(meta, harbor_auth::SigningKey::ephemeral()?)
//!     .build()?;
//! let answer = harbor.router().oneshot(Request::get("/v2/").body(Body::empty())?).await?;
//! assert_eq!(answer.status(), StatusCode::UNAUTHORIZED); // a token first
//! assert!(answer.headers()["www-authenticate"].to_str()?.starts_with("Bearer realm="));
//! # Ok(()) }
//! ```
//!
//! To mount it in your own axum program, beside your routes, see
//! `examples/mount_api.rs`. [`Server`] binds and serves it on the embedded
//! default storage:
//!
//! ```no_run
//! # async fn demo() -> Result<(), harbor_server::ServerError> {
//! let mut config = harbor_server::Config::default();
//! config.listen = "127.0.0.1:0".into();
//! let server = harbor_server::Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod app;
pub mod audit;
pub mod audit_forward;
pub mod auth;
pub mod config;
pub mod copy_cmd;
mod duties;
mod error;
pub mod events;
pub mod gc;
pub mod health;
pub mod metrics;
pub mod oci;
pub mod oidc;
mod portal;
pub mod purge_audit;
pub mod quota;
pub mod retention;
mod router;
pub mod sendfile;
pub mod serve;
pub mod settings;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use harbor_core::{
    BlobStore, IdentityStore, ImmutableRuleStore, JobStore, LabelStore, LeaseStore, MetaStore,
    QuotaStore, Registry, ReplicationStore, RetentionStore, SettingsStore, WebhookStore,
};
use harbor_replicate::{FsCheckpoints, ReplicationService, Replicator, SecretBox};
use harbor_storage::{FsBlobStore, SqliteMetaStore};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use app::{AppState, Duties, Harbor, HarborBuilder, RunningDuties};
pub use auth::{AuthState, Realm};
pub use config::Config;
pub use error::ServerError;
pub use quota::{QuotaSettings, Quotas};

/// Runs blocking start-up work (opening files and databases) off the async
/// worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Startup(Box::new(e)))?
}

/// The stores a server runs on, as the traits the builder takes: blobs,
/// and one database for metadata, identity, replication and leases.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Blob bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Repositories, manifests and tags.
    pub meta: Arc<dyn MetaStore>,
    /// Users, projects, robots, the audit log.
    pub identity: Arc<dyn IdentityStore>,
    /// Registries, policies, executions.
    pub replication: Arc<dyn ReplicationStore>,
    /// Cluster-wide leases for the background duties.
    pub leases: Arc<dyn LeaseStore>,
    /// System jobs: garbage collection runs, logs and schedule.
    pub jobs: Arc<dyn JobStore>,
    /// Project storage quotas; the same store as `meta`, which enforces
    /// them.
    pub quotas: Arc<dyn QuotaStore>,
    /// System settings changed through `/configurations`.
    pub settings: Arc<dyn SettingsStore>,
    /// Webhook policies and the queue of their deliveries.
    pub webhooks: Arc<dyn WebhookStore>,
    /// Labels and the artifacts they are on.
    pub labels: Arc<dyn LabelStore>,
    /// Immutable tag rules of the projects.
    pub immutable: Arc<dyn ImmutableRuleStore>,
    /// Tag retention policies, executions, tasks and logs.
    pub retention: Arc<dyn RetentionStore>,
}

impl Stores {
    /// `blobs` beside one database that holds everything else.
    pub fn over<D>(blobs: Arc<dyn BlobStore>, db: Arc<D>) -> Stores
    where
        D: MetaStore
            + IdentityStore
            + ReplicationStore
            + LeaseStore
            + JobStore
            + QuotaStore
            + SettingsStore
            + WebhookStore
            + ImmutableRuleStore
            + LabelStore
            + RetentionStore,
    {
        Stores {
            blobs,
            meta: db.clone(),
            identity: db.clone(),
            replication: db.clone(),
            leases: db.clone(),
            jobs: db.clone(),
            quotas: db.clone(),
            settings: db.clone(),
            webhooks: db.clone(),
            labels: db.clone(),
            immutable: db.clone(),
            retention: db,
        }
    }
}

/// Opens the stores `config` names: blobs in `[storage.s3]` or under the
/// data directory; metadata in `database_url` (PostgreSQL) or in SQLite
/// under the data directory. An unusable setting is one error naming it.
pub async fn open_stores(config: &Config) -> Result<Stores, ServerError> {
    let dir = config.data_dir.clone();
    blocking({
        let dir = dir.clone();
        move || {
            std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io { path: dir, source })
        }
    })
    .await?;
    let blobs: Arc<dyn BlobStore> = match &config.storage.s3 {
        Some(s3) => open_s3(s3).await?,
        None => {
            let dir = dir.clone();
            Arc::new(blocking(move || Ok(FsBlobStore::open(&dir)?)).await?)
        }
    };
    match &config.database_url {
        Some(url) => open_postgres(blobs, url, config.database_pool_size).await,
        None => {
            let db = blocking(move || Ok(SqliteMetaStore::open(dir.join("registry.db"))?)).await?;
            Ok(Stores::over(blobs, Arc::new(db)))
        }
    }
}

#[cfg(feature = "s3")]
async fn open_s3(s3: &config::S3Storage) -> Result<Arc<dyn BlobStore>, ServerError> {
    let mut c = harbor_storage::S3Config::new(&s3.bucket);
    c.endpoint = s3.endpoint.clone();
    c.region = s3.region.clone();
    c.prefix = s3.prefix.clone();
    c.allow_http = s3.allow_http;
    c.part_size = s3.part_size;
    c.redirect = s3.redirect;
    let store = harbor_storage::S3BlobStore::connect(&c)
        .await
        .map_err(|e| {
            ServerError::Config(format!(
                "[storage.s3] bucket {:?} at {}: {}",
                s3.bucket,
                s3.endpoint.as_deref().unwrap_or("AWS"),
                harbor_core::error::chain(&e)
            ))
        })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
async fn open_s3(_: &config::S3Storage) -> Result<Arc<dyn BlobStore>, ServerError> {
    Err(ServerError::Config(
        "[storage.s3] is set but this build has no S3 support (cargo feature `s3`)".into(),
    ))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    blobs: Arc<dyn BlobStore>,
    url: &str,
    pool_size: usize,
) -> Result<Stores, ServerError> {
    let db = harbor_storage::PgStore::connect(url, pool_size)
        .await
        .map_err(|e| {
            ServerError::Config(format!(
                "database_url {}: {}",
                redact_url(url),
                harbor_core::error::chain(&e)
            ))
        })?;
    Ok(Stores::over(blobs, Arc::new(db)))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: Arc<dyn BlobStore>, _: &str, _: usize) -> Result<Stores, ServerError> {
    Err(ServerError::Config(
        "database_url is set but this build has no PostgreSQL support (cargo feature `postgres`)"
            .into(),
    ))
}

/// A database URL with its password replaced, for messages.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(not a URL)".into(),
    }
}

/// What the embedded default composes: the builder over the configured
/// stores, with `admin` and `library` created on first start, and the
/// administrator password when it was generated here (to be shown once).
async fn embedded(config: &Config) -> Result<(Harbor, Option<String>), ServerError> {
    let quota_settings = config.quota_settings()?;
    let stores = open_stores(config).await?;
    let builder = Harbor::builder(stores.blobs, stores.meta)
        .upload_purging(config.upload_purging.clone())
        .leases(stores.leases);
    let (builder, generated) = match config.auth.mode {
        config::AuthMode::None => (builder, None),
        config::AuthMode::Token => {
            let dir = config.secrets_dir().to_owned();
            let (key, secrets, webhook_secrets, master_key) = blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let secrets = SecretBox::load_or_create(&dir)?;
                // The same key, from which OIDC derives its own.
                let path = dir.join("secret.key");
                let master_key =
                    std::fs::read(&path).map_err(|source| ServerError::Io { path, source })?;
                Ok((
                    harbor_auth::SigningKey::load_or_create(&dir)?,
                    secrets,
                    // The same key, for webhook targets' secrets.
                    SecretBox::load_or_create(&dir)?,
                    master_key,
                ))
            })
            .await?;
            let boot = harbor_auth::bootstrap(
                stores.identity.as_ref(),
                config.auth.admin_password.as_deref(),
            )
            .await?;
            // `library`, made by the bootstrap, gets the default limit
            // like any project created through the API.
            let library_quota = async {
                if stores.quotas.quota("library").await?.is_none()
                    && stores.identity.project_by_name("library").await?.is_some()
                {
                    stores
                        .quotas
                        .set_storage_limit("library", quota_settings.default_limit)
                        .await?;
                }
                Ok::<(), harbor_core::Error>(())
            };
            library_quota.await.map_err(|source| ServerError::Store {
                what: "setting the quota of project library",
                source,
            })?;
            let secure_cookies = config.tls.is_some()
                || config
                    .auth
                    .external_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://"));
            let builder = builder
                .identity(stores.identity, key)
                .token_config(harbor_auth::TokenConfig {
                    issuer: config.auth.issuer.clone(),
                    service: config.auth.service.clone(),
                    lifetime: config.auth.token_lifetime,
                    ..Default::default()
                })
                .anonymous_access(config.auth.anonymous_access)
                .realm(Realm::from_config(
                    config.auth.external_url.as_deref(),
                    config.tls.is_some(),
                ))
                .replication(stores.replication, secrets)
                .jobs(stores.jobs)
                .webhooks(stores.webhooks, webhook_secrets, config.webhook.clone())
                .labels(stores.labels)
                .quotas(stores.quotas.clone(), quota_settings)
                .immutable_rules(stores.immutable)
                .retention(stores.retention)
                .sessions(oidc::SessionSetup {
                    master_key: master_key.clone(),
                    secure_cookies,
                })
                .oidc(oidc::OidcSetup {
                    master_key,
                    check_ttl: config.auth.oidc_check_ttl,
                    secure_cookies,
                })
                .settings(stores.settings, config.system_settings()?)
                .gc_time_window(config.gc_time_window)
                .replicator(Replicator {
                    // Chunked uploads in flight survive a restart.
                    checkpoints: Some(Arc::new(FsCheckpoints::new(
                        config.data_dir.join("replication").join("uploads"),
                    ))),
                    ..Replicator::default()
                });
            (builder, boot.generated_admin_password)
        }
    };
    Ok((builder.build()?, generated))
}

/// A server bound to its address with its storage open, ready to run: the
/// stores of [`open_stores`] (by default SQLite and the file system under
/// `data_dir`) composed with [`Harbor::builder`], as any other stores would be.
pub struct Server {
    config: Config,
    harbor: Harbor,
    connections: sendfile::Connections,
    generated_admin_password: Option<String>,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.local_addr())
            .field("tls", &self.tls.is_some())
            .field("data_dir", &self.config.data_dir)
            .finish()
    }
}

impl Server {
    /// Opens the configured stores ([`open_stores`]), loads TLS if configured
    /// and binds `config.listen` (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let tls = match &config.tls {
            Some(t) => Some(serve::tls_acceptor(&t.cert, &t.key)?),
            None => None,
        };
        if config.metric.enabled && !config.metric.path.starts_with('/') {
            return Err(ServerError::Config(format!(
                "metric path {:?} must start with '/'",
                config.metric.path
            )));
        }
        let (harbor, generated_admin_password) = embedded(&config).await?;
        let metrics_listener = match (config.metric.enabled, harbor.state()) {
            (false, _) => None,
            (true, None) => {
                return Err(ServerError::Config(
                    "metrics need Harbor's identity on (auth mode token)".into(),
                ))
            }
            (true, Some(_)) => {
                let host = config
                    .listen
                    .rsplit_once(':')
                    .map_or("127.0.0.1", |(host, _)| host);
                let addr = format!("{host}:{}", config.metric.port);
                Some(
                    TcpListener::bind(&addr)
                        .await
                        .map_err(|source| ServerError::Bind { addr, source })?,
                )
            }
        };
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen.clone(),
                    source,
                })?;
        Ok(Server {
            config,
            harbor,
            connections: sendfile::Connections::default(),
            generated_admin_password,
            listener,
            metrics_listener,
            tls,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where metrics are served, when `[metric] enabled`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Whether connections are served over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The administrator password generated on first start (no
    /// `HARBOR_ADMIN_PASSWORD` given), to be shown once; `None` otherwise.
    pub fn generated_admin_password(&self) -> Option<&str> {
        self.generated_admin_password.as_deref()
    }

    /// Users, projects and tokens, when authentication is on.
    pub fn auth(&self) -> Option<&Arc<AuthState>> {
        self.harbor.state().map(|s| &s.auth)
    }

    /// Replication, when authentication is on.
    pub fn replication(&self) -> Option<&Arc<ReplicationService>> {
        self.harbor.state().and_then(|s| s.replication.as_ref())
    }

    /// The open plain-TCP connections' `sendfile` counts, by client address.
    pub fn connections(&self) -> sendfile::Connections {
        self.connections.clone()
    }

    /// The engine, for embedding programs that also want direct calls.
    pub fn registry(&self) -> &Registry {
        self.harbor.registry()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests
    /// and stops the background duties (the audit log written to the end).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let metrics = match (self.metrics_listener, self.harbor.state()) {
            (Some(listener), Some(state)) => {
                let app = axum::Router::new()
                    .route(
                        &self.config.metric.path,
                        axum::routing::get(metrics::scrape),
                    )
                    .with_state(state.clone());
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "serving metrics failed");
                    }
                }))
            }
            _ => None,
        };
        let (router, duties) = self.harbor.into_parts();
        let running = duties.start().await;
        serve::serve(
            self.listener,
            router,
            self.tls,
            shutdown,
            self.config.shutdown_timeout,
            self.connections,
        )
        .await;
        running.stop().await;
        if let Some(m) = metrics {
            m.abort();
        }
    }
}
