//! Signed-in sessions (`sessions`), for the `IdentityStore` of
//! `SqliteMetaStore`.

use std::time::SystemTime;

use harbor_core::Result;
use rusqlite::{params, OptionalExtension};

use super::{now_ms, to_ms, SqliteMetaStore};

impl SqliteMetaStore {
    pub(super) async fn session_create(
        &self,
        id: &str,
        user_id: i64,
        expires_at: SystemTime,
    ) -> Result<()> {
        let id = id.to_owned();
        let expires = to_ms(expires_at);
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute(params![now_ms()])?;
            tx.prepare_cached(
                "INSERT INTO sessions (id, user_id, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, user_id, expires])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn session_is_alive(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND expires_at > ?2")?
                    .query_row(params![id, now_ms()], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }

    pub(super) async fn session_delete(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute(params![id])?
                > 0)
        })
        .await
    }

    pub(super) async fn sessions_delete_of_user(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<u64> {
        let keep = keep.unwrap_or_default().to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2")?
                .execute(params![user_id, keep])?;
            Ok(n as u64)
        })
        .await
    }
}
