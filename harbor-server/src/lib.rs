//! The HTTP face of harbor-rs: the OCI distribution API under `/v2/` and
//! Harbor's `/api/v2.0` endpoints, as an axum [`Router`](axum::Router) that
//! other programs can mount, plus [`Server`], which runs it on the embedded
//! default storage (SQLite metadata and blobs on the file system under a data
//! directory).
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
pub mod auth;
pub mod config;
pub mod copy_cmd;
mod error;
pub mod events;
pub mod health;
pub mod oci;
mod router;
pub mod sendfile;
pub mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use harbor_core::Registry;
use harbor_replicate::{FsCheckpoints, ReplicationService, Replicator, SecretBox};
use harbor_storage::{FsBlobStore, SqliteMetaStore};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use app::{AppState, Duties, Harbor, HarborBuilder, RunningDuties};
pub use auth::{AuthState, Realm};
pub use config::Config;
pub use error::ServerError;

/// Runs blocking start-up work (opening files and databases) off the async
/// worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Startup(Box::new(e)))?
}

/// Opens the embedded default storage under `data_dir`: blobs in
/// `data_dir/blobs` and `data_dir/uploads`, metadata (and users, projects and
/// replication) in `data_dir/registry.db`.
pub async fn open_storage(
    data_dir: &std::path::Path,
) -> Result<(Arc<FsBlobStore>, Arc<SqliteMetaStore>), ServerError> {
    let dir = data_dir.to_owned();
    blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::Io {
            path: dir.clone(),
            source,
        })?;
        let blobs = Arc::new(FsBlobStore::open(&dir)?);
        let meta = Arc::new(SqliteMetaStore::open(dir.join("registry.db"))?);
        Ok((blobs, meta))
    })
    .await
}

/// What the embedded default composes: the builder over the data directory's
/// stores, with `admin` and `library` created on first start, and the
/// administrator password when it was generated here (to be shown once).
async fn embedded(config: &Config) -> Result<(Harbor, Option<String>), ServerError> {
    let (blobs, meta) = open_storage(&config.data_dir).await?;
    let builder =
        Harbor::builder(blobs, meta.clone()).upload_purging(config.upload_purging.clone());
    let (builder, generated) = match config.auth.mode {
        config::AuthMode::None => (builder, None),
        config::AuthMode::Token => {
            let dir = config.data_dir.clone();
            let (key, secrets) = blocking(move || {
                Ok((
                    harbor_auth::SigningKey::load_or_create(&dir)?,
                    SecretBox::load_or_create(&dir)?,
                ))
            })
            .await?;
            let boot = harbor_auth::bootstrap(meta.as_ref(), config.auth.admin_password.as_deref())
                .await?;
            let builder = builder
                .identity(meta.clone(), key)
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
                .replication(meta, secrets)
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
/// embedded default (SQLite and the file system under `data_dir`) composed
/// with [`Harbor::builder`], as any other stores would be.
pub struct Server {
    config: Config,
    harbor: Harbor,
    connections: sendfile::Connections,
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
        let tls = match &config.tls {
            Some(t) => Some(serve::tls_acceptor(&t.cert, &t.key)?),
            None => None,
        };
        let (harbor, generated_admin_password) = embedded(&config).await?;
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
    }
}
