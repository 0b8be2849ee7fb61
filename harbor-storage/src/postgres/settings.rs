//! `SettingsStore` for `PgStore`.

use async_trait::async_trait;
use harbor_core::{Result, SettingValues, SettingsStore};

use super::{pg, PgStore};
use crate::error::StorageError;

#[async_trait]
impl SettingsStore for PgStore {
    async fn settings(&self) -> Result<SettingValues> {
        pg!(self, single, |c| {
            let st = c.prepare_cached("SELECT key, value FROM settings").await?;
            let mut out = SettingValues::new();
            for row in c.query(&st, &[]).await? {
                let key: String = row.try_get(0)?;
                let value: &str = row.try_get(1)?;
                let value = serde_json::from_str(value)
                    .map_err(|e| StorageError::encoding(format!("setting {key}"), e))?;
                out.insert(key, value);
            }
            out
        })
    }

    async fn update_settings(&self, changes: &SettingValues) -> Result<()> {
        let (keys, values): (Vec<String>, Vec<String>) = changes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .unzip();
        pg!(self, write, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO settings (key, value)
                     SELECT k, v FROM unnest($1::text[], $2::text[]) AS u(k, v)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .await?;
            tx.execute(&st, &[&keys, &values]).await?;
        })
    }
}
