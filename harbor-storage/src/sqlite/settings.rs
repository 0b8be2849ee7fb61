//! `SettingsStore` for `SqliteMetaStore`.

use async_trait::async_trait;
use harbor_core::{Result, SettingValues, SettingsStore};
use rusqlite::params;

use super::SqliteMetaStore;
use crate::error::StorageError;

#[async_trait]
impl SettingsStore for SqliteMetaStore {
    async fn settings(&self) -> Result<SettingValues> {
        self.call(|c| {
            let mut stmt = c.prepare_cached("SELECT key, value FROM settings")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = SettingValues::new();
            for row in rows {
                let (key, value) = row?;
                let value = serde_json::from_str(&value)
                    .map_err(|e| StorageError::encoding(format!("setting {key}"), e))?;
                out.insert(key, value);
            }
            Ok(out)
        })
        .await
    }

    async fn update_settings(&self, changes: &SettingValues) -> Result<()> {
        let changes: Vec<(String, String)> = changes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            for (key, value) in &changes {
                stmt.execute(params![key, value])?;
            }
            Ok(())
        })
        .await
    }
}
