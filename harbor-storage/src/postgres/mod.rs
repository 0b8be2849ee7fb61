//! `PgStore`: registry metadata, identities, replication state and leases in
//! PostgreSQL, for several instances of the registry over one database.
//!
//! - One type implements every store trait `SqliteMetaStore` does:
//!   `MetaStore`, `IdentityStore`, `ReplicationStore` and `LeaseStore`.
//! - Each trait method that writes is one transaction (a tag move, a
//!   manifest with its tag, a manifest delete with its tags), retried whole on
//!   a serialization failure or a deadlock. Where SQLite could rely on its one
//!   writer (create-if-absent, read-then-insert), the statements here are
//!   `INSERT ... ON CONFLICT` or lock the row they build on, so that two
//!   instances writing at once stay correct. A read of several statements
//!   (a listing and its total) runs in one `REPEATABLE READ` snapshot.
//! - There is **no per-process cache**: every read goes to the database, so
//!   several instances over one database agree by construction.
//! - Timestamps are epoch milliseconds in `BIGINT` columns, as with SQLite.
//!   Those the store sets itself (`created_at`, `updated_at`, lease expiry)
//!   come from the database server's clock, so instances with skewed clocks
//!   agree; those a caller passes (`pushed_at`, `started_at`, `op_time`) are
//!   kept as given.
//! - Names and digests are `COLLATE "C"`, so listings come in byte order
//!   whatever the database's locale.
//! - Connections are plain TCP or a Unix socket, **without TLS** (`NoTls`)
//!   for now: keep the database on a trusted network or a local socket.

mod gc;
mod groups;
mod identity;
mod immutable;
mod jobs;
mod label;
mod lease;
mod listing;
mod meta;
mod oidc;
mod quota;
mod replication;
mod retention;
mod schema;
mod sessions;
mod settings;
#[cfg(feature = "conformance")]
pub mod testing;
mod webhook;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use harbor_core::Digest;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::error::StorageError;

/// Attempts at a transaction that PostgreSQL aborts as a serialization
/// failure or a deadlock before the error is returned.
const MAX_ATTEMPTS: u32 = 8;

/// Registry metadata in a PostgreSQL database, shared by any number of
/// instances. Cloning is cheap (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The database as shown in messages: no password.
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` with a pool of at most `pool_size`
    /// connections, checks that it answers, and brings its schema up to
    /// date (refusing one written by a newer version).
    ///
    /// `url` is `postgres://user:password@host:port/database`; a Unix socket
    /// is `postgres://user@/database?host=/path/to/socket/dir` (the
    /// key/value form `host=... dbname=...` works too). Connections do not
    /// use TLS.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgStore, StorageError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StorageError::PostgresConnect {
                database: "(unparsed URL)".into(),
                reason: "the URL is not a valid PostgreSQL connection string".into(),
                source: Some(Box::new(e)),
            })?;
        let target = describe_target(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StorageError::PostgresConnect {
                database: target.clone(),
                reason: "the connection pool cannot be built".into(),
                source: Some(Box::new(e)),
            })?;
        let store = PgStore { pool, target };
        let mut client = store.pool.get().await.map_err(|e| {
            let reason = match &e {
                deadpool_postgres::PoolError::Backend(pg) => describe(pg),
                other => other.to_string(),
            };
            StorageError::PostgresConnect {
                database: store.target.clone(),
                reason,
                source: Some(Box::new(e)),
            }
        })?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i64 {
        schema::CURRENT_VERSION
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(pg) => StorageError::Postgres(pg),
            other => StorageError::PostgresPool(other),
        })
    }
}

/// `database "x" on host:port` (or on a socket directory), for messages.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let db = config.get_dbname().or(config.get_user()).unwrap_or("?");
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(dir) => {
                    format!("{}/.s.PGSQL.{port}", dir.display())
                }
            }
        })
        .collect();
    if hosts.is_empty() {
        format!("{db:?}")
    } else {
        format!("{db:?} on {}", hosts.join(", "))
    }
}

/// A PostgreSQL error in words: `tokio_postgres::Error`'s own `Display`
/// says only "db error", the server's message is its source.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!(
            "{} {}: {}{}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

/// Whether a failed transaction should simply be run again: PostgreSQL
/// aborted it as a serialization failure or to break a deadlock.
pub(crate) fn retryable(e: &StorageError) -> bool {
    use tokio_postgres::error::SqlState;
    match e {
        StorageError::Postgres(pg) => matches!(
            pg.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        ),
        _ => false,
    }
}

/// The pause before attempt `attempt` (from 1) of a retried transaction.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(5u64 << attempt.min(6))
}

/// Runs `$body` (an expression using `$tx`, which may use `?` and `.await`)
/// in a transaction that is committed if the body returns, and run again
/// whole if PostgreSQL aborts it as a serialization failure or a deadlock.
/// `write` is a read-write `READ COMMITTED` transaction; `read` a read-only
/// `REPEATABLE READ` one (one snapshot for all its statements); `single`
/// no transaction, for a body of one statement. Evaluates to
/// `harbor_core::Result<T>`.
macro_rules! pg {
    (@start write, $client:ident) => {
        $client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
            .start()
            .await?
    };
    (@start read, $client:ident) => {
        $client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?
    };
    ($store:expr, single, |$tx:ident| $body:expr) => {{
        let outcome: ::std::result::Result<_, $crate::error::StorageError> = async {
            let $tx = $store.client().await?;
            Ok($body)
        }
        .await;
        outcome.map_err(::harbor_core::Error::from)
    }};
    ($store:expr, $mode:ident, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let outcome: ::std::result::Result<_, $crate::error::StorageError> = async {
                let mut client = $store.client().await?;
                let $tx = pg!(@start $mode, client);
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match outcome {
                Err(e)
                    if $crate::postgres::retryable(&e)
                        && attempt + 1 < $crate::postgres::MAX_ATTEMPTS =>
                {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "retrying a PostgreSQL transaction");
                    tokio::time::sleep($crate::postgres::backoff(attempt)).await;
                }
                other => break other.map_err(::harbor_core::Error::from),
            }
        }
    }};
}
pub(crate) use pg;

fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A page's `LIMIT`, saturated to PostgreSQL's `BIGINT`.
fn sql_limit(page: harbor_core::Page) -> i64 {
    i64::try_from(page.page_size).unwrap_or(i64::MAX)
}

/// A page's `OFFSET`, saturated: a page far past the end is empty.
fn sql_offset(page: harbor_core::Page) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}

/// A count or size column read back as `u64`.
fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn parse_digest(s: &str) -> Result<Digest, StorageError> {
    Digest::parse(s).map_err(|_| StorageError::Corrupt(format!("bad digest {s:?} in the database")))
}

/// A stored name read back with `parse`; a value this version never writes
/// is corrupt data, not a silent default.
fn parsed<T>(what: &str, parse: fn(&str) -> Option<T>, value: &str) -> Result<T, StorageError> {
    parse(value).ok_or_else(|| StorageError::Corrupt(format!("unknown {what} {value:?}")))
}

impl PgStore {
    /// One row of a one-statement read, by `sql`.
    pub(super) async fn read_one<T: Send>(
        &self,
        sql: String,
        args: &[&(dyn ToSql + Sync)],
        map: fn(&Row) -> Result<T, StorageError>,
    ) -> harbor_core::Result<Option<T>> {
        pg!(self, single, |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, args)
                .await?
                .as_ref()
                .map(map)
                .transpose()?
        })
    }
}

impl PgStore {
    /// Runs a one-statement `UPDATE`/`DELETE`; whether it touched a row.
    pub(super) async fn touched(
        &self,
        sql: &'static str,
        args: &[&(dyn ToSql + Sync)],
    ) -> harbor_core::Result<bool> {
        pg!(self, single, |c| {
            let st = c.prepare_cached(sql).await?;
            c.execute(&st, args).await? > 0
        })
    }
}
