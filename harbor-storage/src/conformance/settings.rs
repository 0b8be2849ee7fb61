//! The settings suite: what is set reads back, changes of several keys
//! land together, and a change overwrites only the keys it names.

use harbor_core::{SettingValues, SettingsStore};
use serde_json::json;

use super::ok;

/// Runs every test of the suite.
pub async fn run_all(store: &dyn SettingsStore) {
    settings_read_back_and_update_by_key(store).await;
}

/// Settings start empty, read back as set (JSON values of every kind), and
/// a later change leaves the keys it does not name alone.
pub async fn settings_read_back_and_update_by_key(store: &dyn SettingsStore) {
    assert!(
        ok("read", store.settings().await).is_empty(),
        "nothing set yet"
    );
    let first: SettingValues = [
        ("read_only".to_owned(), json!(true)),
        ("storage_per_project".to_owned(), json!(1024)),
        (
            "project_creation_restriction".to_owned(),
            json!("adminonly"),
        ),
    ]
    .into_iter()
    .collect();
    ok("set", store.update_settings(&first).await);
    assert_eq!(ok("read", store.settings().await), first);
    let change: SettingValues = [("read_only".to_owned(), json!(false))]
        .into_iter()
        .collect();
    ok("change", store.update_settings(&change).await);
    let now = ok("read", store.settings().await);
    assert_eq!(now["read_only"], json!(false));
    assert_eq!(now["storage_per_project"], json!(1024), "untouched");
    ok(
        "nothing",
        store.update_settings(&SettingValues::new()).await,
    );
    assert_eq!(ok("read", store.settings().await), now);
}
