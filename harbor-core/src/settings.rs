//! The `SettingsStore` trait: system settings changed at run time (Harbor's
//! `/configurations`), kept where every instance of a cluster reads them.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;

/// Settings by Harbor's key, each value as JSON (`true`, `10`, `"adminonly"`).
/// A key never set is absent: the server's configuration file gives its
/// value.
pub type SettingValues = BTreeMap<String, serde_json::Value>;

/// System settings, persisted. Every instance reads them from here, so a
/// change made through one is seen by all.
#[async_trait]
pub trait SettingsStore: Debug + Send + Sync + 'static {
    /// Every setting that was set.
    async fn settings(&self) -> Result<SettingValues>;

    /// Sets `changes` together, in one transaction: all or none.
    async fn update_settings(&self, changes: &SettingValues) -> Result<()>;
}

/// Settings in this process's memory: enough for one process (an embedding
/// program, tests). A cluster needs the database's [`SettingsStore`].
#[derive(Debug, Default)]
pub struct LocalSettings {
    values: std::sync::Mutex<SettingValues>,
}

#[async_trait]
impl SettingsStore for LocalSettings {
    async fn settings(&self) -> Result<SettingValues> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    async fn update_settings(&self, changes: &SettingValues) -> Result<()> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        values.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}
