//! Running a policy between embedded registries: filters and flattening pick
//! and name what is copied; transient failures are retried until they pass.

mod common;

use common::{registry, repo, tag, tagged};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use harbor_core::media_type::{OCI_CONFIG, OCI_MANIFEST};
use harbor_core::{
    bytes_stream, ByteStream, Descriptor, Digest, ImageManifestBuilder, Reference, Registry,
    RepositoryName, Tag,
};
use harbor_replicate::adapters::Local;
use harbor_replicate::{
    AdapterInfo, CopyEvent, Policy, PulledManifest, RegistryAdapter, ReplicateError, Replicator,
    RetryPolicy,
};

async fn tagged_image(r: &Registry, name: &str, tags: &[&str]) {
    let config = format!(r#"{{"os":"linux","repo":"{name}"}}"#);
    let d = Digest::sha256(config.as_bytes());
    r.put_blob(
        &repo(name),
        &d,
        bytes_stream(config.clone().into_bytes()),
        None,
    )
    .await
    .expect("the blob goes in");
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config.as_bytes()))
        .build()
        .expect("a valid manifest")
        .into_bytes();
    for t in tags {
        let tag = tagged(t);
        r.put_manifest(&repo(name), &tag, Some(OCI_MANIFEST), manifest.clone())
            .await
            .expect("the manifest goes in");
    }
}

fn policy(json: &str) -> Policy {
    serde_json::from_str(json).expect("a valid policy")
}

#[tokio::test]
async fn filters_and_flattening_decide_what_is_copied_and_where() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/app", &["v1", "v2", "v3-rc1"]).await;
    tagged_image(&src, "library/team/tool", &["v1"]).await;
    tagged_image(&src, "other/app", &["v1"]).await;
    let p = policy(
        r#"{"name":"mirror","dest_registry":{"id":1},"dest_namespace":"mirror","dest_namespace_replace_count":-1,
            "filters":[{"type":"name","value":"library/**"},{"type":"tag","value":"*-rc*","decoration":"excludes"}]}"#,
    );
    let r = Replicator::default();
    let report = r
        .run_policy(
            &p,
            Arc::new(Local::new(src)),
            Arc::new(Local::new(dst.clone())),
            None,
        )
        .await
        .unwrap();
    assert_eq!((report.succeeded(), report.failed()), (3, 0));
    let copied: Vec<(String, String)> = report
        .tasks
        .iter()
        .map(|t| (t.task.dst_repo.to_string(), t.task.tag.to_string()))
        .collect();
    assert_eq!(
        copied,
        [
            ("mirror/app".into(), "v1".into()),
            ("mirror/app".into(), "v2".into()),
            ("mirror/tool".into(), "v1".into())
        ]
    );
    let (tags, _) = dst
        .list_tags(&repo("mirror/app"), None, None)
        .await
        .unwrap();
    assert_eq!(tags, ["v1", "v2"]);
    let (repos, _) = dst.catalog(None, None).await.unwrap();
    assert_eq!(repos, ["mirror/app", "mirror/tool"]);
}

/// A destination whose manifest pushes fail with 503 a few times first.
#[derive(Debug)]
struct Flaky {
    inner: Local,
    failures_left: AtomicU32,
}

#[async_trait]
impl RegistryAdapter for Flaky {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }
    async fn health(&self) -> harbor_replicate::Result<()> {
        self.inner.health().await
    }
    async fn list_repositories(&self) -> harbor_replicate::Result<Vec<RepositoryName>> {
        self.inner.list_repositories().await
    }
    async fn list_tags(&self, r: &RepositoryName) -> harbor_replicate::Result<Vec<Tag>> {
        self.inner.list_tags(r).await
    }
    async fn manifest_digest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<Option<Digest>> {
        self.inner.manifest_digest(r, x).await
    }
    async fn pull_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<PulledManifest> {
        self.inner.pull_manifest(r, x).await
    }
    async fn push_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
        mt: &str,
        p: Bytes,
    ) -> harbor_replicate::Result<Digest> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ReplicateError::Remote {
                registry: "flaky".into(),
                method: "PUT".into(),
                path: format!("/v2/{r}/manifests/{x}"),
                status: 503,
                message: "try again".into(),
                retry_after: None,
            });
        }
        self.inner.push_manifest(r, x, mt, p).await
    }
    async fn delete_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<()> {
        self.inner.delete_manifest(r, x).await
    }
    async fn blob_size(
        &self,
        r: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<Option<u64>> {
        self.inner.blob_size(r, d).await
    }
    async fn pull_blob(
        &self,
        r: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<(u64, ByteStream)> {
        self.inner.pull_blob(r, d).await
    }
    async fn push_blob(
        &self,
        r: &RepositoryName,
        d: &Digest,
        s: u64,
        b: ByteStream,
    ) -> harbor_replicate::Result<()> {
        self.inner.push_blob(r, d, s, b).await
    }
    async fn mount_blob(
        &self,
        r: &RepositoryName,
        d: &Digest,
        f: &RepositoryName,
    ) -> harbor_replicate::Result<bool> {
        self.inner.mount_blob(r, d, f).await
    }
    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> harbor_replicate::Result<()> {
        self.inner.prepare_for_push(repos).await
    }
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_copy_succeeds() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/app", &["v1"]).await;
    let p = policy(r#"{"name":"retry","dest_registry":{"id":1}}"#);
    let flaky = Arc::new(Flaky {
        inner: Local::new(dst.clone()),
        failures_left: AtomicU32::new(2),
    });
    let r = Replicator {
        workers: 2,
        retry: RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..Replicator::default()
    };
    let report = r
        .run_policy(&p, Arc::new(Local::new(src.clone())), flaky, None)
        .await
        .unwrap();
    assert_eq!(report.succeeded(), 1);
    assert_eq!(report.tasks[0].attempts, 3);

    // Too many failures: the task fails with the reason, and says how often it tried.
    let hopeless = Arc::new(Flaky {
        inner: Local::new(registry()),
        failures_left: AtomicU32::new(100),
    });
    let report = r
        .run_policy(&p, Arc::new(Local::new(src)), hopeless, None)
        .await
        .unwrap();
    assert_eq!(report.failed(), 1);
    assert_eq!(report.tasks[0].attempts, 4);
    assert!(report.tasks[0]
        .result
        .as_ref()
        .err()
        .is_some_and(|e| matches!(**e, ReplicateError::Remote { status: 503, .. })));
}

#[tokio::test]
async fn sync_repository_copies_every_tag_and_a_second_sync_moves_nothing() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/app", &["v1", "v2", "latest"]).await;
    tagged_image(&src, "library/other", &["v9"]).await;
    let copier = |progress| {
        harbor_replicate::Copier::new(
            Arc::new(Local::new(src.clone())),
            Arc::new(Local::new(dst.clone())),
            harbor_replicate::CopyOptions {
                progress,
                ..harbor_replicate::CopyOptions::default()
            },
        )
    };
    // One at a time, so which copy finds the shared config in place is fixed.
    let r = Replicator {
        workers: 1,
        ..Replicator::default()
    };
    let (progress, events) = harbor_replicate::event_stream();
    let report = r
        .sync_repository(
            copier(Some(progress)),
            &repo("library/app"),
            &repo("mirror/app"),
        )
        .await
        .unwrap();
    assert_eq!((report.succeeded(), report.failed()), (3, 0));
    // The copier is gone, so the stream ends: one config blob copied once,
    // then found in place twice; one manifest pushed under each tag.
    let events: Vec<CopyEvent> = events.collect().await;
    let count = |f: fn(&CopyEvent) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, CopyEvent::BlobDone { .. })), 1);
    assert_eq!(count(|e| matches!(e, CopyEvent::BlobSkipped { .. })), 2);
    let mut pushed: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            CopyEvent::ManifestPushed { reference, .. } => Some(reference.to_string()),
            _ => None,
        })
        .collect();
    pushed.sort_unstable();
    assert_eq!(pushed, ["latest", "v1", "v2"]);
    let dst_adapter = Local::new(dst.clone());
    let mut tags = dst_adapter.list_tags(&repo("mirror/app")).await.unwrap();
    tags.sort();
    assert_eq!(tags, [tag("latest"), tag("v1"), tag("v2")]);
    assert!(dst_adapter
        .list_tags(&repo("mirror/other"))
        .await
        .is_err_and(|e| e.is_not_found()));

    let again = r
        .sync_repository(copier(None), &repo("library/app"), &repo("mirror/app"))
        .await
        .unwrap();
    let copied: usize = again
        .tasks
        .iter()
        .filter_map(|t| t.result.as_ref().ok())
        .map(|c| c.blobs_copied)
        .sum();
    assert_eq!((again.succeeded(), copied), (3, 0));

    let missing = r
        .sync_repository(copier(None), &repo("library/none"), &repo("mirror/none"))
        .await;
    assert!(missing.is_err_and(|e| e.is_not_found()));
}

#[tokio::test]
async fn label_filters_copy_only_the_artifacts_carrying_the_labels() {
    use harbor_core::{Label, LabelScope, LabelStore};
    use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

    // The source's metadata store keeps its labels too, as the server's does.
    let store = Arc::new(SqliteMetaStore::in_memory().unwrap());
    let src = Registry::new(Arc::new(MemoryBlobStore::new()), store.clone());
    let dst = registry();
    tagged_image(&src, "library/app", &["v1"]).await;
    tagged_image(&src, "library/web", &["v1"]).await;
    tagged_image(&src, "library/db", &["v1"]).await;
    let label = |name: &str| Label {
        id: 0,
        name: name.into(),
        description: String::new(),
        color: String::new(),
        scope: LabelScope::Global,
        project_id: None,
        creation_time: std::time::SystemTime::UNIX_EPOCH,
        update_time: std::time::SystemTime::UNIX_EPOCH,
    };
    let prod = store.create_label(&label("prod")).await.unwrap();
    let qa = store.create_label(&label("qa")).await.unwrap();
    for (name, labels) in [
        ("library/app", vec![prod.id, qa.id]),
        ("library/web", vec![prod.id]),
    ] {
        let digest = src
            .meta_store()
            .resolve_tag(&repo(name), &tag("v1"))
            .await
            .unwrap()
            .unwrap();
        for id in labels {
            store
                .add_artifact_label(&repo(name), &digest, id)
                .await
                .unwrap();
        }
    }
    let p = policy(
        r#"{"name":"prod-only","dest_registry":{"id":1},
            "filters":[{"type":"label","value":["prod"]},{"type":"label","value":"qa","decoration":"excludes"}]}"#,
    );
    let report = Replicator::default()
        .run_policy(
            &p,
            Arc::new(Local::new(src).with_labels(store)),
            Arc::new(Local::new(dst.clone())),
            None,
        )
        .await
        .unwrap();
    assert_eq!((report.succeeded(), report.failed()), (1, 0));
    let (repos, _) = dst.catalog(None, None).await.unwrap();
    assert_eq!(repos, ["library/web"], "labelled prod and not qa");
}
