//! The HTTP face of harbor-rs: the OCI distribution API under `/v2/` and
//! Harbor's `/api/v2.0` endpoints, as an axum [`Router`] that other programs
//! can mount, plus [`Server`], which runs it on the embedded default storage
//! (SQLite metadata and blobs on the file system under a data directory).
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
pub mod audit;
pub mod auth;
pub mod config;
pub mod copy_cmd;
mod error;
pub mod health;
pub mod oci;
pub mod replication;
pub mod sendfile;
pub mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;
use harbor_core::Registry;
use harbor_storage::{FsBlobStore, SqliteMetaStore};

pub use auth::AuthState;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use config::Config;
pub use error::ServerError;

/// The whole HTTP API over `registry`: mount it in your own axum program or
/// serve it with [`serve::serve`]. With `auth`, `/v2/` demands tokens (or Basic
/// credentials) and `/service/token` issues them; without, the registry is open.
pub fn router(registry: Registry, auth: Option<Arc<AuthState>>) -> Router {
    let mut oci = Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*path}", any(oci::dispatch))
        .with_state(oci::OciState {
            registry: registry.clone(),
        });
    if let Some(auth) = &auth {
        // Layers run outside in: the guard first, then the audit record.
        oci = oci
            .layer(axum::middleware::from_fn_with_state(
                audit::V2Hooks {
                    audit: auth.audit.clone(),
                    replication: auth.replication.get().cloned(),
                },
                audit::record_v2,
            ))
            .layer(axum::middleware::from_fn_with_state(
                auth::GuardState {
                    auth: auth.clone(),
                    registry: registry.clone(),
                },
                auth::guard,
            ));
    }
    let oci = oci.layer(axum::middleware::from_fn(oci::api_version_header));
    let mut api = Router::new()
        .route("/api/v2.0/health", get(health::health))
        .with_state(registry.clone());
    if let Some(auth) = auth {
        api = api
            .merge(
                Router::new()
                    .route(
                        "/service/token",
                        get(auth::token_get).post(auth::token_post),
                    )
                    .with_state(auth.clone()),
            )
            .merge(api::routes(api::ApiState {
                replication: auth.replication.get().cloned(),
                auth,
                registry: registry.clone(),
            }));
    }
    oci.merge(api)
}

/// Opens the embedded default storage under `data_dir`: blobs in
/// `data_dir/blobs` and `data_dir/uploads`, metadata (and users and projects)
/// in `data_dir/registry.db`.
pub async fn open_storage(
    data_dir: &std::path::Path,
) -> Result<(Registry, Arc<SqliteMetaStore>), ServerError> {
    let dir = data_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
            path: dir.clone(),
            source,
        })?;
        let blobs = FsBlobStore::open(&dir)?;
        let meta = Arc::new(SqliteMetaStore::open(dir.join("registry.db"))?);
        Ok((Registry::new(Arc::new(blobs), meta.clone()), meta))
    })
    .await
    .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))?
}

/// Sets up users and tokens on `store`: the signing key and certificate in
/// `data_dir` (`token.key`, `token.crt`), the `admin` user and the `library`
/// project on first start. Returns the auth state and, when the admin password
/// was generated here, that password (to be shown once).
pub async fn open_auth(
    config: &Config,
    store: Arc<SqliteMetaStore>,
    admin_password: Option<String>,
) -> Result<(Arc<AuthState>, Option<String>), ServerError> {
    let dir = config.data_dir.clone();
    let key = tokio::task::spawn_blocking(move || harbor_auth::SigningKey::load_or_create(&dir))
        .await
        .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))?
        .map_err(|e| ServerError::Auth(e.to_string()))?;
    let boot = harbor_auth::bootstrap(store.as_ref(), admin_password.as_deref())
        .await
        .map_err(|e| ServerError::Auth(e.to_string()))?;
    let token_config = harbor_auth::TokenConfig {
        issuer: config.auth.issuer.clone(),
        service: config.auth.service.clone(),
        lifetime: config.auth.token_lifetime,
        ..Default::default()
    };
    let state = AuthState::new(
        store,
        key,
        token_config,
        config.auth.anonymous_access,
        config.auth.external_url.clone(),
        config.tls.is_some(),
    );
    Ok((Arc::new(state), boot.generated_admin_password))
}

/// A server bound to its address with its storage open, ready to run.
pub struct Server {
    config: Config,
    registry: Registry,
    auth: Option<Arc<AuthState>>,
    generated_admin_password: Option<String>,
    listener: TcpListener,
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
    /// Opens the storage under `config.data_dir`, loads TLS if configured and
    /// binds `config.listen` (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let (registry, meta) = open_storage(&config.data_dir).await?;
        let (auth, generated_admin_password) = match config.auth.mode {
            config::AuthMode::Token => {
                let admin_password = config.auth.admin_password.clone();
                let (auth, generated) = open_auth(&config, meta.clone(), admin_password).await?;
                let dir = config.data_dir.clone();
                let secrets = tokio::task::spawn_blocking(move || {
                    replication::SecretBox::load_or_create(&dir)
                })
                .await
                .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))??;
                let service = replication::ReplicationService::new(
                    meta.clone(),
                    meta,
                    secrets,
                    registry.clone(),
                    harbor_replicate::Replicator {
                        // Chunked uploads in flight survive a restart.
                        checkpoints: Some(Arc::new(harbor_replicate::FsCheckpoints::new(
                            config.data_dir.join("replication").join("uploads"),
                        ))),
                        ..harbor_replicate::Replicator::default()
                    },
                );
                match service.runner() {
                    Ok(runner) => match runner.recover().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(executions = n, "resuming replication executions"),
                        Err(e) => {
                            tracing::error!(error = %e, "resuming replication executions failed")
                        }
                    },
                    Err(e) => tracing::error!(error = %e, "replication runner"),
                }
                let _ = auth.replication.set(service);
                (Some(auth), generated)
            }
            config::AuthMode::None => (None, None),
        };
        let tls = match &config.tls {
            Some(t) => Some(serve::tls_acceptor(&t.cert, &t.key)?),
            None => None,
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
            registry,
            auth,
            generated_admin_password,
            listener,
            tls,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
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
        self.auth.as_ref()
    }

    /// The engine, for embedding programs that also want direct calls.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    /// Abandoned uploads are purged in the background as configured.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let purge = self.config.upload_purging.clone();
        let purger = purge.enabled.then(|| {
            let registry = self.registry.clone();
            tokio::spawn(async move {
                let mut tick =
                    tokio::time::interval(purge.interval.max(std::time::Duration::from_secs(1)));
                loop {
                    tick.tick().await;
                    if let Err(e) = registry.purge_uploads(purge.age).await {
                        tracing::warn!(error = %e, "purging upload sessions failed");
                    }
                }
            })
        });
        let scheduler = self
            .auth
            .as_ref()
            .and_then(|a| a.replication.get())
            .map(|r| r.spawn_scheduler());
        let router = router(self.registry.clone(), self.auth.clone());
        serve::serve(
            self.listener,
            router,
            self.tls,
            shutdown,
            self.config.shutdown_timeout,
        )
        .await;
        // What the finished requests recorded reaches the database before
        // the process goes.
        if let Some(auth) = &self.auth {
            auth.audit.flush().await;
        }
        if let Some(p) = purger {
            p.abort();
        }
        if let Some(s) = scheduler {
            s.abort();
        }
    }
}
