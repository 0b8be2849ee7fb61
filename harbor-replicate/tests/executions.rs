//! Durable executions: recorded with their tasks and logs, stopped at once
//! with nothing left InProgress, and resumed after a crash without losing or
//! duplicating anything.

mod common;

use common::{registry, repo};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use harbor_core::media_type::{OCI_CONFIG, OCI_MANIFEST};
use harbor_core::{
    bytes_stream, ByteStream, Descriptor, Digest, ImageManifestBuilder, NewTask, Reference,
    Registry, ReplicationStore, RepositoryName, RunStatus, Tag,
};
use harbor_replicate::adapters::Local;
use harbor_replicate::{
    AdapterInfo, JobRunner, Policy, PolicyResolver, PulledManifest, RegistryAdapter, Replicator,
    RetryPolicy,
};
use harbor_storage::SqliteMetaStore;

async fn tagged_image(r: &Registry, name: &str, tags: &[&str]) {
    let layer = format!("layer of {name}").repeat(100).into_bytes();
    let d = Digest::sha256(&layer);
    r.put_blob(&repo(name), &d, bytes_stream(layer.clone()), None)
        .await
        .expect("the blob goes in");
    let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, &layer))
        .build()
        .expect("a valid manifest")
        .into_bytes();
    for t in tags {
        let tag = Reference::Tag(Tag::parse(t).expect("a valid tag"));
        r.put_manifest(&repo(name), &tag, Some(OCI_MANIFEST), manifest.clone())
            .await
            .expect("the manifest goes in");
    }
}

struct Fixed {
    policy: Policy,
    src: Arc<dyn RegistryAdapter>,
    dst: Arc<dyn RegistryAdapter>,
}

#[async_trait]
impl PolicyResolver for Fixed {
    async fn resolve(
        &self,
        _: i64,
    ) -> harbor_replicate::Result<(Policy, Arc<dyn RegistryAdapter>, Arc<dyn RegistryAdapter>)>
    {
        Ok((self.policy.clone(), self.src.clone(), self.dst.clone()))
    }
}

fn policy(json: &str) -> Policy {
    serde_json::from_str(json).expect("a valid policy")
}

fn replicator() -> Replicator {
    Replicator {
        workers: 2,
        retry: RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
        ..Replicator::default()
    }
}

async fn store_with_policy(p: &Policy) -> (Arc<SqliteMetaStore>, i64) {
    let store = Arc::new(SqliteMetaStore::in_memory().expect("an in-memory store"));
    let json = serde_json::to_string(p).unwrap_or_default();
    let id = store
        .create_policy(&p.name, &json)
        .await
        .expect("the policy is stored")
        .id;
    (store, id)
}

#[tokio::test]
async fn an_execution_is_recorded_with_its_tasks_and_their_logs() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/a", &["v1", "v2"]).await;
    tagged_image(&src, "library/b", &["latest"]).await;
    let p = policy(
        r#"{"name":"all","dest_registry":{"id":1},"dest_namespace":"mirror","dest_namespace_replace_count":1}"#,
    );
    let (store, policy_id) = store_with_policy(&p).await;
    let resolver = Arc::new(Fixed {
        policy: p,
        src: Arc::new(Local::new(src)),
        dst: Arc::new(Local::new(dst.clone())),
    });
    let runner = JobRunner::new(store.clone(), resolver, replicator());
    let started = runner
        .start(policy_id, harbor_core::TriggerKind::Manual)
        .await
        .unwrap();
    assert_eq!(started.total, 3);
    let done = runner
        .wait(started.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.succeeded, done.failed),
        (RunStatus::Succeeded, 3, 0)
    );
    assert!(done.end_time.is_some());
    let tasks = store.tasks(done.id).await.unwrap_or_default();
    let dsts: Vec<&str> = tasks.iter().map(|t| t.dst_resource.as_str()).collect();
    assert_eq!(dsts, ["mirror/a:v1", "mirror/a:v2", "mirror/b:latest"]);
    let log = store
        .task_log(tasks[0].id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(
        log.contains("attempt 1: copying library/a:v1 to mirror/a:v1") && log.contains("done: "),
        "{log}"
    );
    let (tags, _) = dst.list_tags(&repo("mirror/a"), None, None).await.unwrap();
    assert_eq!(tags, ["v1", "v2"]);
}

/// A destination whose blob uploads hang, so an execution can be caught mid-flight.
#[derive(Debug)]
struct Hanging(Local);

#[async_trait]
impl RegistryAdapter for Hanging {
    fn info(&self) -> AdapterInfo {
        self.0.info()
    }
    async fn health(&self) -> harbor_replicate::Result<()> {
        self.0.health().await
    }
    async fn list_repositories(&self) -> harbor_replicate::Result<Vec<RepositoryName>> {
        self.0.list_repositories().await
    }
    async fn list_tags(&self, r: &RepositoryName) -> harbor_replicate::Result<Vec<Tag>> {
        self.0.list_tags(r).await
    }
    async fn manifest_digest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<Option<Digest>> {
        self.0.manifest_digest(r, x).await
    }
    async fn pull_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<PulledManifest> {
        self.0.pull_manifest(r, x).await
    }
    async fn push_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
        mt: &str,
        p: Bytes,
    ) -> harbor_replicate::Result<Digest> {
        self.0.push_manifest(r, x, mt, p).await
    }
    async fn delete_manifest(
        &self,
        r: &RepositoryName,
        x: &Reference,
    ) -> harbor_replicate::Result<()> {
        self.0.delete_manifest(r, x).await
    }
    async fn blob_size(
        &self,
        r: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<Option<u64>> {
        self.0.blob_size(r, d).await
    }
    async fn pull_blob(
        &self,
        r: &RepositoryName,
        d: &Digest,
    ) -> harbor_replicate::Result<(u64, ByteStream)> {
        self.0.pull_blob(r, d).await
    }
    async fn push_blob(
        &self,
        _: &RepositoryName,
        _: &Digest,
        _: u64,
        _: ByteStream,
    ) -> harbor_replicate::Result<()> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    async fn mount_blob(
        &self,
        r: &RepositoryName,
        d: &Digest,
        f: &RepositoryName,
    ) -> harbor_replicate::Result<bool> {
        self.0.mount_blob(r, d, f).await
    }
    async fn prepare_for_push(&self, repos: &[RepositoryName]) -> harbor_replicate::Result<()> {
        self.0.prepare_for_push(repos).await
    }
}

#[tokio::test]
async fn a_stop_aborts_in_flight_copies_at_once_and_leaves_nothing_in_progress() {
    let src = registry();
    for n in 0..5 {
        tagged_image(&src, &format!("library/img{n}"), &["v1"]).await;
    }
    let p = policy(r#"{"name":"slow","dest_registry":{"id":1},"single_active_replication":true}"#);
    let (store, policy_id) = store_with_policy(&p).await;
    let resolver = Arc::new(Fixed {
        policy: p,
        src: Arc::new(Local::new(src)),
        dst: Arc::new(Hanging(Local::new(registry()))),
    });
    let runner = JobRunner::new(store.clone(), resolver, replicator());
    let e = runner
        .start(policy_id, harbor_core::TriggerKind::Manual)
        .await
        .unwrap();
    // Wait until copies are under way.
    let until = Instant::now() + Duration::from_secs(10);
    while store
        .tasks(e.id)
        .await
        .unwrap_or_default()
        .iter()
        .all(|t| t.status != RunStatus::InProgress)
    {
        assert!(Instant::now() < until, "no task started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        runner
            .start(policy_id, harbor_core::TriggerKind::Manual)
            .await
            .is_err(),
        "single_active_replication refuses a second run"
    );
    let t0 = Instant::now();
    let stopped = runner.stop(e.id).await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(stopped.status, RunStatus::Stopped);
    assert_eq!((stopped.in_progress, stopped.stopped), (0, 5));
    let tasks = store.tasks(e.id).await.unwrap_or_default();
    assert!(tasks
        .iter()
        .all(|t| t.status == RunStatus::Stopped && t.end_time.is_some()));
}

#[tokio::test]
async fn an_execution_cut_off_by_a_crash_is_finished_at_the_next_start() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/a", &["v1"]).await;
    tagged_image(&src, "library/b", &["v1"]).await;
    let p = policy(r#"{"name":"crash","dest_registry":{"id":1}}"#);
    let (store, policy_id) = store_with_policy(&p).await;
    // What a crash leaves: an execution InProgress, one task done, one running.
    let e = store
        .create_execution(policy_id, harbor_core::TriggerKind::Manual)
        .await
        .unwrap();
    let tasks = store
        .create_tasks(
            e.id,
            &[
                NewTask {
                    operation: harbor_core::TaskOperation::Copy,
                    src_resource: "library/a:v1".into(),
                    dst_resource: "library/a:v1".into(),
                },
                NewTask {
                    operation: harbor_core::TaskOperation::Copy,
                    src_resource: "library/b:v1".into(),
                    dst_resource: "library/b:v1".into(),
                },
            ],
        )
        .await
        .unwrap();
    store
        .set_task_status(tasks[0].id, RunStatus::InProgress, 1)
        .await
        .unwrap();
    // The process comes back.
    let resolver = Arc::new(Fixed {
        policy: p,
        src: Arc::new(Local::new(src)),
        dst: Arc::new(Local::new(dst.clone())),
    });
    let runner = JobRunner::new(store.clone(), resolver, replicator());
    assert_eq!(runner.recover().await.unwrap_or(0), 1);
    let done = runner.wait(e.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (done.status, done.total, done.succeeded),
        (RunStatus::Succeeded, 2, 2)
    );
    let tasks = store.tasks(e.id).await.unwrap_or_default();
    assert_eq!(tasks[0].attempts, 2, "the cut-off task ran again");
    for name in ["library/a", "library/b"] {
        let (tags, _) = dst.list_tags(&repo(name), None, None).await.unwrap();
        assert_eq!(tags, ["v1"], "{name} copied once, completely");
    }
}

#[tokio::test]
async fn a_young_execution_without_tasks_is_left_to_the_instance_planning_it() {
    let (src, dst) = (registry(), registry());
    tagged_image(&src, "library/a", &["v1"]).await;
    let p = policy(r#"{"name":"planning","dest_registry":{"id":1}}"#);
    let (store, policy_id) = store_with_policy(&p).await;
    // What another instance has just recorded and is planning (its lease
    // is taken in the same moment): no tasks yet.
    let e = store
        .create_execution(policy_id, harbor_core::TriggerKind::Manual)
        .await
        .unwrap();
    let resolver = Arc::new(Fixed {
        policy: p,
        src: Arc::new(Local::new(src)),
        dst: Arc::new(Local::new(dst)),
    });
    let runner = JobRunner::new(store.clone(), resolver, replicator());
    assert_eq!(
        runner.recover().await.unwrap_or(99),
        0,
        "recovery must not run an execution its starter is planning"
    );
    let still = store.execution(e.id).await.unwrap().unwrap();
    assert_eq!((still.status, still.total), (RunStatus::InProgress, 0));
}

#[tokio::test]
async fn deletion_tasks_remove_by_digest_or_tag_and_a_task_that_does_not_parse_fails_alone() {
    let dst = registry();
    tagged_image(&dst, "mirror/app", &["v1"]).await;
    let v1 = Reference::Tag(Tag::parse("v1").unwrap());
    let digest = dst
        .get_manifest(&repo("mirror/app"), &v1, None)
        .await
        .unwrap()
        .digest;
    let p = policy(r#"{"name":"deletions","dest_registry":{"id":1},"deletion":true}"#);
    let (store, policy_id) = store_with_policy(&p).await;
    let resolver = Arc::new(Fixed {
        policy: p,
        src: Arc::new(Local::new(registry())),
        dst: Arc::new(Local::new(dst.clone())),
    });
    let runner = JobRunner::new(store.clone(), resolver, replicator());
    let deletion = |src: String, dst: String| NewTask {
        operation: harbor_core::TaskOperation::Deletion,
        src_resource: src,
        dst_resource: dst,
    };
    let e = runner
        .start_tasks(
            policy_id,
            harbor_core::TriggerKind::EventBased,
            vec![
                deletion(
                    format!("library/app@{digest}"),
                    format!("mirror/app@{digest}"),
                ),
                deletion("library/gone:v9".into(), "mirror/gone:v9".into()),
                deletion("library/app:v1".into(), "Not A Repository:v1".into()),
            ],
        )
        .await
        .unwrap();
    let done = runner.wait(e.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (done.status, done.succeeded, done.failed),
        (RunStatus::Failed, 2, 1)
    );
    assert!(
        dst.get_manifest(&repo("mirror/app"), &Reference::Digest(digest), None)
            .await
            .is_err_and(|e| e.code() == harbor_core::ErrorCode::ManifestUnknown),
        "the manifest named by digest is deleted"
    );
    let tasks = store.tasks(e.id).await.unwrap_or_default();
    let log = |i: usize| {
        let store = store.clone();
        let id = tasks[i].id;
        async move { store.task_log(id).await.ok().flatten().unwrap_or_default() }
    };
    assert!(log(1).await.contains("was already gone"));
    assert_eq!(tasks[2].status, RunStatus::Failed);
    assert!(log(2).await.contains("cannot run"), "{}", log(2).await);
}
