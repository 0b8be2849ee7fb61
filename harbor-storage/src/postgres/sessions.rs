//! Signed-in sessions (`sessions`), for the `IdentityStore` of `PgStore`.

use std::time::SystemTime;

use harbor_core::Result;

use super::{pg, to_ms, PgStore};

impl PgStore {
    pub(super) async fn session_create(
        &self,
        id: &str,
        user_id: i64,
        expires_at: SystemTime,
    ) -> Result<()> {
        let expires = to_ms(expires_at);
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= harbor_now_ms()")
                .await?;
            tx.execute(&st, &[]).await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)",
                )
                .await?;
            tx.execute(&st, &[&id, &user_id, &expires]).await?;
        })
    }

    pub(super) async fn session_is_alive(&self, id: &str) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "SELECT 1 FROM sessions WHERE id = $1 AND expires_at > harbor_now_ms()",
                )
                .await?;
            c.query_opt(&st, &[&id]).await?.is_some()
        })
    }

    pub(super) async fn session_delete(&self, id: &str) -> Result<bool> {
        self.touched("DELETE FROM sessions WHERE id = $1", &[&id])
            .await
    }

    pub(super) async fn sessions_delete_of_user(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<u64> {
        let keep = keep.unwrap_or_default();
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                .await?;
            c.execute(&st, &[&user_id, &keep]).await?
        })
    }
}
