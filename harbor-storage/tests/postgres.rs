//! `PgStore` against a real PostgreSQL (a throwaway server from Debian's
//! binaries, see `TempCluster`): every conformance suite, reopening, and
//! two instances over one database racing the same writes.

#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use harbor_core::{
    Digest, ErrorCode, IdentityStore, LeaseStore, ManifestRecord, MetaStore, NewUser,
    RepositoryName, Tag,
};
use harbor_storage::conformance::{
    gc, identity, immutable, jobs, label, lease, meta_store, oidc_user, quota, replication,
    retention, sessions, settings, webhook,
};
use harbor_storage::postgres::testing::TempCluster;
use harbor_storage::{PgStore, StorageError};

async fn fresh_store() -> (PgStore, String) {
    let url = TempCluster::shared().database();
    let store = PgStore::connect(&url, 4)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    (store, url)
}

fn manifest(payload: &str) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256(payload.as_bytes()),
        media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
        payload: Bytes::from(payload.to_owned()),
        subject: None,
        artifact_type: None,
        annotations: Default::default(),
        references: vec![Digest::sha256(b"layer")],
        pushed_at: SystemTime::now(),
    }
}

#[tokio::test]
async fn postgres_passes_the_meta_store_suite() {
    let (store, _) = fresh_store().await;
    meta_store::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_garbage_collection_suite_beside_the_meta_store_suite() {
    let (store, _) = fresh_store().await;
    meta_store::run_all(&store).await;
    gc::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_quota_suite_beside_the_other_suites() {
    let (store, _) = fresh_store().await;
    meta_store::run_all(&store).await;
    gc::run_all(&store).await;
    quota::run_all(&store, &store).await;
}

#[tokio::test]
async fn two_instances_racing_pushes_into_one_project_never_pass_its_limit() {
    let (a, url) = fresh_store().await;
    let b = PgStore::connect(&url, 4)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    for _ in 0..3 {
        quota::concurrent_pushes_never_pass_the_limit(&a, &a, &b, &b).await;
    }
}

#[tokio::test]
async fn postgres_passes_the_retention_suite() {
    let (store, _) = fresh_store().await;
    retention::run_all(&store, &store, &store).await;
}

#[tokio::test]
async fn postgres_passes_the_immutable_rule_suite() {
    let (store, _) = fresh_store().await;
    immutable::run_all(&store, &store).await;
}

#[tokio::test]
async fn postgres_passes_the_settings_suite() {
    let (store, _) = fresh_store().await;
    settings::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_label_suite() {
    let (store, _) = fresh_store().await;
    label::run_all(&store, &store, &store).await;
}

#[tokio::test]
async fn postgres_passes_the_webhook_suite() {
    let (store, _) = fresh_store().await;
    webhook::run_all(&store, &store).await;
}

#[tokio::test]
async fn postgres_passes_the_job_store_suite() {
    let (store, _) = fresh_store().await;
    jobs::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_identity_store_suite() {
    let (store, _) = fresh_store().await;
    identity::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_sessions_suite() {
    let (store, _) = fresh_store().await;
    sessions::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_oidc_user_suite() {
    let (store, _) = fresh_store().await;
    oidc_user::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_replication_store_suite() {
    let (store, _) = fresh_store().await;
    replication::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_lease_suite() {
    let (store, _) = fresh_store().await;
    lease::run_all(&store).await;
}

#[tokio::test]
async fn a_second_connect_sees_the_data_and_migrating_again_changes_nothing() {
    let (store, url) = fresh_store().await;
    meta_store::run_all(&store).await;
    let again = PgStore::connect(&url, 2).await.unwrap();
    let repo = RepositoryName::parse("conf/tags").unwrap();
    assert_eq!(
        again.list_tags(&repo, None, 100).await.unwrap(),
        ["C", "a", "c10", "c2"],
        "tags written before the reopen are still there"
    );
    drop(store);
    drop(again);
    let third = PgStore::connect(&url, 1).await.unwrap();
    assert!(third.repository_exists(&repo).await.unwrap());
    assert_eq!(PgStore::schema_version(), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_on_a_new_database_migrate_it_once() {
    let url = TempCluster::shared().database();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, 1).await })
        })
        .collect();
    for s in starts {
        s.await
            .unwrap()
            .unwrap_or_else(|e| panic!("a concurrent start failed: {e}"));
    }
    let version = TempCluster::shared().psql(&url, "SELECT version FROM harbor_schema");
    assert_eq!(version.trim(), PgStore::schema_version().to_string());
}

#[tokio::test]
async fn a_unix_socket_url_connects() {
    let cluster = TempCluster::shared();
    let url = cluster.database();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let store = PgStore::connect(&cluster.socket_url(&name), 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store
        .acquire_lease("socket", "a", Duration::from_secs(5))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let (store, url) = fresh_store().await;
    drop(store);
    TempCluster::shared().psql(
        &url,
        &format!(
            "UPDATE harbor_schema SET version = {}",
            PgStore::schema_version() + 1
        ),
    );
    let err = PgStore::connect(&url, 1).await.err();
    assert!(
        matches!(err, Some(StorageError::SchemaTooNew { .. })),
        "got {err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_naming_the_database() {
    // A port nobody listens on: bound, and closed again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://harbor@127.0.0.1:{port}/registry_meta");
    let err = PgStore::connect(&url, 1).await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.contains("registry_meta") && err.contains(&port.to_string()),
        "{err}"
    );
    let bad = PgStore::connect("postgres://harbor@127.0.0.1:notaport/x", 1)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(bad.contains("not a valid"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_creating_the_same_project_at_once_make_exactly_one() {
    let url = TempCluster::shared().database();
    let a = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let owner = a
        .create_user(&NewUser {
            username: "racer".into(),
            email: String::new(),
            realname: String::new(),
            comment: String::new(),
            password_hash: "x".into(),
            sysadmin: false,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.create_project("contested", false, owner.id).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                won += 1;
                assert_eq!(p.name, "contested");
            }
            Err(e) => assert_eq!(e.code(), ErrorCode::Conflict, "{e}"),
        }
    }
    assert_eq!(won, 1, "exactly one creation wins");
    let project = b.project_by_name("contested").await.unwrap().unwrap();
    let members = a.list_members(project.id).await.unwrap();
    assert_eq!(members.len(), 1, "the winner's admin membership, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_moving_tags_and_linking_at_once_stay_consistent() {
    let url = TempCluster::shared().database();
    let a = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let repo = RepositoryName::parse("race/app").unwrap();
    let tag = Tag::parse("latest").unwrap();
    let manifests: Vec<ManifestRecord> = (0..20).map(|i| manifest(&format!("m{i}"))).collect();
    let mut tasks = Vec::new();
    for (i, m) in manifests.iter().cloned().enumerate() {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (repo, tag) = (repo.clone(), tag.clone());
        tasks.push(tokio::spawn(async move {
            // Every writer creates the repository on first touch, links a
            // blob, puts its manifest, and moves the one tag.
            store.link_blob(&repo, &Digest::sha256(b"layer"), 5).await?;
            store.put_manifest(&repo, &m, Some(&tag), &[]).await?;
            // And half of them delete a manifest another is tagging.
            if i % 4 == 1 {
                store.delete_manifest(&repo, &m.digest).await?;
            }
            Ok::<_, harbor_core::Error>(())
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .unwrap_or_else(|e| panic!("a racing write failed: {e}"));
    }
    assert_eq!(
        a.list_repositories(Some("race/"), 10).await.unwrap(),
        ["race/app"]
    );
    let tags = b.list_tags(&repo, None, 10).await.unwrap();
    match a.resolve_tag(&repo, &tag).await.unwrap() {
        Some(d) => {
            assert_eq!(tags, ["latest"]);
            assert!(
                a.get_manifest(&repo, &d).await.unwrap().is_some(),
                "the tag points at a stored manifest"
            );
        }
        None => assert!(tags.is_empty(), "{tags:?}"),
    }
    for (i, m) in manifests.iter().enumerate() {
        let present = b.get_manifest(&repo, &m.digest).await.unwrap().is_some();
        assert_eq!(present, i % 4 != 1, "manifest {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_racing_for_a_lease_give_it_to_exactly_one() {
    let url = TempCluster::shared().database();
    let a = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("gc", &format!("holder-{i}"), Duration::from_secs(60))
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
