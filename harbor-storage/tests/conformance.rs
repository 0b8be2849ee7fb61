//! Every backend in this crate passes the shared conformance suites.

use harbor_storage::conformance::blob_store;
use harbor_storage::conformance::lease;
#[cfg(feature = "sqlite")]
use harbor_storage::conformance::{
    gc, identity, immutable, jobs, label, meta_store, oidc_user, quota, replication, retention,
    sessions, settings, webhook,
};
#[cfg(feature = "sqlite")]
use harbor_storage::SqliteMetaStore;
use harbor_storage::{FsBlobStore, MemoryBlobStore};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

#[tokio::test]
async fn filesystem_blob_store_passes_the_blob_store_suite() {
    let dir = tempdir();
    let store = FsBlobStore::open(dir.path()).unwrap();
    blob_store::run_all(&store).await;
}

#[tokio::test]
async fn two_filesystem_stores_over_one_directory_share_uploads_and_blobs() {
    let dir = tempdir();
    let a = FsBlobStore::open(dir.path()).unwrap();
    let b = FsBlobStore::open(dir.path()).unwrap();
    blob_store::run_shared(&a, &b).await;
}

#[tokio::test]
async fn memory_blob_store_passes_the_blob_store_suite() {
    blob_store::run_all(&MemoryBlobStore::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn in_memory_sqlite_passes_the_meta_store_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    meta_store::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_garbage_collection_suite_beside_the_meta_store_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    meta_store::run_all(&store).await;
    gc::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_quota_suite_beside_the_other_suites() {
    let store = SqliteMetaStore::in_memory().unwrap();
    meta_store::run_all(&store).await;
    gc::run_all(&store).await;
    quota::run_all(&store, &store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_retention_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    retention::run_all(&store, &store, &store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_immutable_rule_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    immutable::run_all(&store, &store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_settings_suite() {
    settings::run_all(&SqliteMetaStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_passes_the_label_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    label::run_all(&store, &store, &store).await;
}

#[tokio::test]
async fn sqlite_passes_the_webhook_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    webhook::run_all(&store, &store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_job_store_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    jobs::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn file_sqlite_passes_the_meta_store_suite_and_keeps_data_across_reopen() {
    let dir = tempdir();
    let path = dir.path().join("meta.db");
    {
        let store = SqliteMetaStore::open(&path).unwrap();
        meta_store::run_all(&store).await;
    }
    let reopened = SqliteMetaStore::open(&path).unwrap();
    let repo = harbor_core::RepositoryName::parse("conf/tags").unwrap();
    let tags = harbor_core::MetaStore::list_tags(&reopened, &repo, None, 100)
        .await
        .unwrap();
    assert_eq!(
        tags,
        ["C", "a", "c10", "c2"],
        "tags written before the reopen are still there"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("meta.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SqliteMetaStore::schema_version() + 1)
        .unwrap();
    drop(conn);
    let err = SqliteMetaStore::open(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("newer"), "got {err:?}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_identity_store_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    identity::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_sessions_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    sessions::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_oidc_user_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    oidc_user::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_replication_store_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    replication::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_passes_the_lease_suite() {
    let store = SqliteMetaStore::in_memory().unwrap();
    lease::run_all(&store).await;
}

#[tokio::test]
async fn local_leases_pass_the_lease_suite() {
    lease::run_all(&harbor_core::LocalLeases::new()).await;
}
