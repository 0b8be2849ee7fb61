//! `SqliteMetaStore`: registry metadata in SQLite (WAL mode, versioned schema).
//!
//! Every call runs on tokio's blocking pool, never on an async worker. Each
//! trait method is one transaction, so a tag move or a manifest delete with
//! its tags is atomic. `synchronous=FULL`: what was acknowledged survives a
//! crash or a power cut.

mod audit;
mod cache;
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
mod robots;
mod schema;
mod sessions;
mod settings;
mod webhook;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harbor_core::{Digest, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::error::StorageError;

/// Registry metadata in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteMetaStore {
    conn: Arc<Mutex<Connection>>,
    cache: Arc<cache::ReadCache>,
    identity: Arc<cache::IdentityCache>,
}

impl SqliteMetaStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    /// Call at start-up, not on an async worker.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let conn = Connection::open(path.as_ref())?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests and embedding.
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        schema::migrate(&mut conn)?;
        Ok(SqliteMetaStore {
            conn: Arc::new(Mutex::new(conn)),
            cache: Arc::default(),
            identity: Arc::default(),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version() -> i64 {
        schema::CURRENT_VERSION
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(StorageError::from)??;
        Ok(out)
    }

    /// A write to tags or manifests: the read cache is emptied once it is
    /// done (committed or not).
    async fn write_content<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T> {
        let out = self.write(f).await;
        self.cache.invalidate();
        out
    }

    /// Runs `f` in a write transaction, committed if it returns `Ok`.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A page's `LIMIT`: what a caller asks for can be any `u64`, SQLite takes
/// an `i64` (and reads a negative limit as "no limit").
fn sql_limit(page: harbor_core::Page) -> i64 {
    i64::try_from(page.page_size).unwrap_or(i64::MAX)
}

/// A page's `OFFSET`, saturated: `page=18446744073709551615` must serve an
/// empty page, not wrap to a negative offset, which SQLite reads as 0.
fn sql_offset(page: harbor_core::Page) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}

/// A stored name read back with `parse`; a value this version never writes
/// is a column error, not a silent default.
fn parsed<T>(parse: fn(&str) -> Option<T>, value: String) -> rusqlite::Result<T> {
    parse(&value).ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(
            0,
            format!("unknown name {value:?}"),
            rusqlite::types::Type::Text,
        )
    })
}

fn parse_digest(s: &str) -> Result<Digest, StorageError> {
    Digest::parse(s).map_err(|_| StorageError::Corrupt(format!("bad digest {s:?} in the database")))
}

fn repo_id(conn: &Connection, repo: &str) -> Result<Option<i64>, StorageError> {
    Ok(conn
        .prepare_cached("SELECT id FROM repositories WHERE name = ?1")?
        .query_row([repo], |r| r.get(0))
        .optional()?)
}

fn ensure_repo(tx: &Transaction<'_>, repo: &str) -> Result<i64, StorageError> {
    tx.prepare_cached("INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?1, ?2)")?
        .execute(params![repo, now_ms()])?;
    repo_id(tx, repo)?.ok_or_else(|| StorageError::Corrupt(format!("repository {repo} vanished")))
}
