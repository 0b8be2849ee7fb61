//! `LeaseStore` for `PgStore`: one row per lease, judged by the database
//! server's clock (`clock_timestamp()`), so instances with skewed clocks
//! agree on who holds what. Taking a lease is one `INSERT ... ON CONFLICT DO
//! UPDATE ... WHERE`, which PostgreSQL runs atomically against a concurrent
//! one: of two instances racing for a free lease, exactly one gets it.

use std::time::Duration;

use async_trait::async_trait;
use harbor_core::{LeaseStore, Result};

use super::{pg, PgStore};

#[async_trait]
impl LeaseStore for PgStore {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        pg!(self, single, |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO leases (name, holder, expires_at)
                     VALUES ($1, $2, LEAST(harbor_clock_ms()::numeric + $3::bigint, 9223372036854775807)::bigint)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= harbor_clock_ms()",
                )
                .await?;
            c.execute(&st, &[&name, &holder, &ttl_ms]).await? == 1
        })
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        pg!(self, single, |c| {
            let st = c
                .prepare_cached("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .await?;
            c.execute(&st, &[&name, &holder]).await? == 1
        })
    }
}
