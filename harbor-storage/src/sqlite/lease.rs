//! `LeaseStore` for `SqliteMetaStore`: one row per lease. With SQLite there
//! is one instance per database, but the same duties take the same leases
//! whatever the backend, so the code above does not care which it has.

use std::time::Duration;

use async_trait::async_trait;
use harbor_core::{LeaseStore, Result};
use rusqlite::params;

use super::{now_ms, SqliteMetaStore};

#[async_trait]
impl LeaseStore for SqliteMetaStore {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.write(move |tx| {
            let now = now_ms();
            // Expired leases are dead weight (each cron tick leaves one).
            tx.execute(
                "DELETE FROM leases WHERE expires_at <= ?1 AND name <> ?2",
                params![now, name],
            )?;
            let changed = tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                params![name, holder, now.saturating_add(ttl_ms), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )?;
            Ok(n == 1)
        })
        .await
    }
}
