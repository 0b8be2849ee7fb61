//! Garbage collection through `harbor_core::GarbageCollector` over real
//! backends: the file system with SQLite, and (with the `postgres` and `s3`
//! features) S3 on moto with PostgreSQL. What it deletes and keeps, a dry
//! run against the real run, an interrupted run finished by the next, and
//! pushes racing collections by brute force.

#![cfg(feature = "sqlite")]
// The scenarios below are test code shared by several tests: a failed
// unwrap is the test failing, as clippy.toml allows inside `#[test]`s.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
use harbor_core::{
    bytes_stream, Descriptor, Digest, ErrorCode, GarbageCollector, GcEvent, GcOptions, GcReport,
    ImageIndexBuilder, ImageManifestBuilder, Reference, Registry, RepositoryName,
};
use harbor_storage::{FsBlobStore, SqliteMetaStore};

fn repo(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn fs_sqlite() -> (Registry, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path().join("blobs")).unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    (Registry::new(Arc::new(blobs), Arc::new(meta)), dir)
}

/// Pushes a blob through an upload session, as clients do.
async fn push_blob(
    r: &Registry,
    repo: &RepositoryName,
    data: &[u8],
) -> harbor_core::Result<Descriptor> {
    let digest = Digest::sha256(data);
    let up = r.start_upload(repo).await?;
    r.complete_upload(
        repo,
        &up.id,
        &digest,
        Some((bytes_stream(data.to_vec()), Some(data.len() as u64))),
    )
    .await?;
    Ok(Descriptor::new(OCI_LAYER_TAR, digest, data.len() as u64))
}

/// Pushes an image of `layers` (and a config naming `name`) under `tag`.
async fn push_image(
    r: &Registry,
    repo: &RepositoryName,
    name: &str,
    layers: &[&[u8]],
    tag: Option<&str>,
) -> harbor_core::Result<Digest> {
    push_image_slowly(r, repo, name, layers, tag, Duration::ZERO).await
}

/// Like `push_image`, with a client pausing `pause` between its blobs and
/// its manifest.
async fn push_image_slowly(
    r: &Registry,
    repo: &RepositoryName,
    name: &str,
    layers: &[&[u8]],
    tag: Option<&str>,
    pause: Duration,
) -> harbor_core::Result<Digest> {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","name":"{name}"}}"#);
    let mut config_desc = push_blob(r, repo, config.as_bytes()).await?;
    config_desc.media_type = OCI_CONFIG.to_owned();
    let mut builder = ImageManifestBuilder::oci(config_desc);
    for layer in layers {
        builder = builder.layer(push_blob(r, repo, layer).await?);
    }
    let built = builder.build()?;
    tokio::time::sleep(pause).await;
    let reference = match tag {
        Some(t) => Reference::parse(t)?,
        None => Reference::Digest(built.digest().clone()),
    };
    r.put_manifest(
        repo,
        &reference,
        Some(built.media_type()),
        built.bytes().clone(),
    )
    .await?;
    Ok(built.digest().clone())
}

async fn all_blobs(r: &Registry) -> BTreeSet<Digest> {
    r.blob_store()
        .list()
        .await
        .unwrap()
        .map_ok(|b| b.digest)
        .try_collect()
        .await
        .unwrap()
}

/// Runs a collection, returning its report and the digests it named.
async fn collect(r: &Registry, options: GcOptions) -> (GcReport, BTreeSet<String>) {
    let named = Mutex::new(BTreeSet::new());
    let report = GarbageCollector::new(r)
        .run(&options, &AtomicBool::new(false), &|event| match event {
            GcEvent::ManifestDeleted { repository, digest } => {
                named
                    .lock()
                    .unwrap()
                    .insert(format!("{repository}@{digest}"));
            }
            GcEvent::BlobDeleted { digest, .. } => {
                named.lock().unwrap().insert(digest.to_string());
            }
            _ => {}
        })
        .await
        .unwrap();
    (report, named.into_inner().unwrap())
}

fn now_window(delete_untagged: bool, dry_run: bool) -> GcOptions {
    GcOptions {
        delete_untagged,
        dry_run,
        workers: 3,
        time_window: Duration::ZERO,
        ..GcOptions::default()
    }
}

/// Deletes what nothing needs, keeps what a tag reaches; the dry run names
/// exactly what the real run then deletes.
async fn collects_exactly_what_nothing_needs(r: &Registry) {
    let a = repo("gc/app");
    let kept = push_image(r, &a, "kept", &[b"shared layer", b"kept layer"], Some("v1"))
        .await
        .unwrap();
    let untagged = push_image(
        r,
        &a,
        "untagged",
        &[b"shared layer", b"untagged layer"],
        None,
    )
    .await
    .unwrap();
    let deleted = push_image(r, &a, "deleted", &[b"deleted layer"], Some("old"))
        .await
        .unwrap();
    r.delete_manifest(&a, &Reference::Digest(deleted.clone()))
        .await
        .unwrap();
    // An index whose child has no tag of its own: both kept.
    let child = push_image(r, &a, "child", &[b"child layer"], None)
        .await
        .unwrap();
    let child_desc = Descriptor::new(
        harbor_core::media_type::OCI_MANIFEST,
        child.clone(),
        r.get_manifest(&a, &Reference::Digest(child.clone()), None)
            .await
            .unwrap()
            .payload
            .len() as u64,
    );
    let index = ImageIndexBuilder::oci()
        .manifest(child_desc)
        .build()
        .unwrap();
    r.put_manifest(
        &a,
        &Reference::parse("multi").unwrap(),
        Some(index.media_type()),
        index.bytes().clone(),
    )
    .await
    .unwrap();
    // A blob pushed and never used.
    let stray = push_blob(r, &a, b"stray blob").await.unwrap().digest;
    let before = all_blobs(r).await;

    // A window longer than the test: nothing is old enough.
    let (young, _) = collect(
        r,
        GcOptions {
            time_window: Duration::from_secs(3600),
            ..now_window(true, false)
        },
    )
    .await;
    assert_eq!((young.manifests_deleted, young.blobs_deleted), (0, 0));
    assert_eq!(all_blobs(r).await, before);

    let (dry, dry_named) = collect(r, now_window(true, true)).await;
    assert_eq!(all_blobs(r).await, before, "a dry run deletes nothing");
    let (real, real_named) = collect(r, now_window(true, false)).await;
    assert_eq!(
        dry_named, real_named,
        "the dry run names what the run deletes"
    );
    assert_eq!(
        (dry.manifests_deleted, dry.blobs_deleted, dry.bytes_freed),
        (real.manifests_deleted, real.blobs_deleted, real.bytes_freed)
    );
    assert!(dry.dry_run && !real.dry_run);

    let gone = |d: &[u8]| Digest::sha256(d);
    let after = all_blobs(r).await;
    for d in [
        gone(b"untagged layer"),
        gone(b"deleted layer"),
        stray.clone(),
    ] {
        assert!(!after.contains(&d), "{d} should be collected");
        assert!(real_named.contains(&d.to_string()));
    }
    assert!(real_named.contains(&format!("{a}@{untagged}")));
    assert_eq!(real.manifests_deleted, 1);
    assert_eq!(
        real.bytes_freed,
        before.difference(&after).map(blob_size).sum::<u64>()
    );
    // Everything a tag reaches still reads back whole.
    for (tag, digest) in [("v1", &kept), ("multi", index.digest())] {
        let got = r
            .get_manifest(&a, &Reference::parse(tag).unwrap(), None)
            .await
            .unwrap();
        assert_eq!(&got.digest, digest);
    }
    for layer in [&b"shared layer"[..], b"kept layer", b"child layer"] {
        assert_blob(r, &a, layer).await;
    }
    assert!(r
        .get_manifest(&a, &Reference::Digest(child), None)
        .await
        .is_ok());
    // A second run finds nothing.
    let (again, _) = collect(r, now_window(true, false)).await;
    assert_eq!((again.manifests_deleted, again.blobs_deleted), (0, 0));
}

/// The sizes of the blobs this test pushes, by digest.
fn blob_size(d: &Digest) -> u64 {
    let known: [&[u8]; 3] = [b"untagged layer", b"deleted layer", b"stray blob"];
    known
        .iter()
        .find(|b| Digest::sha256(b) == *d)
        .map(|b| b.len() as u64)
        .unwrap_or_else(|| {
            // Configs: `{"architecture":"amd64","os":"linux","name":"<name>"}`.
            ["untagged", "deleted"]
                .iter()
                .map(|n| format!(r#"{{"architecture":"amd64","os":"linux","name":"{n}"}}"#))
                .find(|c| Digest::sha256(c.as_bytes()) == *d)
                .map(|c| c.len() as u64)
                .unwrap_or_else(|| panic!("unexpected blob {d} collected"))
        })
}

async fn assert_blob(r: &Registry, repo: &RepositoryName, data: &[u8]) {
    let d = Digest::sha256(data);
    let got = r
        .get_blob(repo, &d, None)
        .await
        .unwrap_or_else(|e| panic!("{d}: {e}"));
    let bytes: Vec<u8> = got
        .body
        .try_fold(Vec::new(), |mut acc, b| async move {
            acc.extend_from_slice(&b);
            Ok(acc)
        })
        .await
        .unwrap();
    assert_eq!(Digest::sha256(&bytes), d);
}

/// Claims an interrupted run left are finished by the next run; meanwhile
/// the digest can be neither pushed nor mounted.
async fn an_interrupted_run_is_finished_by_the_next(r: &Registry) {
    let a = repo("gc/interrupted");
    let blob = push_blob(r, &a, b"orphan of a crashed run")
        .await
        .unwrap()
        .digest;
    let meta = r.meta_store();
    let far = std::time::SystemTime::now() + Duration::from_secs(60);
    assert_eq!(
        meta.claim_blobs(std::slice::from_ref(&blob), far)
            .await
            .unwrap(),
        vec![blob.clone()]
    );
    // The "crash": the claim is held, the bytes still there.
    assert!(r.blob_store().stat(&blob).await.unwrap().is_some());
    assert_eq!(
        r.stat_blob(&a, &blob).await.unwrap(),
        None,
        "a claimed blob is not served"
    );
    assert_eq!(
        r.mount_blob(&repo("gc/other"), &blob, None).await.unwrap(),
        None
    );
    let (report, named) = collect(r, GcOptions::default()).await;
    assert!(named.contains(&blob.to_string()));
    assert!(report.blobs_deleted >= 1);
    assert!(r.blob_store().stat(&blob).await.unwrap().is_none());
    assert!(meta.blob_claims(10).await.unwrap().is_empty());
    // And the digest can be pushed again.
    push_blob(r, &a, b"orphan of a crashed run").await.unwrap();
    assert!(r.stat_blob(&a, &blob).await.unwrap().is_some());
}

/// Tags whose push was acknowledged (and not untagged since): what they
/// named.
type Acknowledged = BTreeMap<(String, String), Digest>;

/// Pushes share layers, move and delete tags in a loop while collections
/// with a short window run again and again. Afterwards every manifest a
/// tag still names reads back whole, and a last collection leaves no
/// unreferenced blob behind.
///
/// `window` must exceed how long one push takes on the backend, or every
/// push loses its first blobs to a collection before its manifest lands
/// (refused cleanly, but again and again).
async fn pushes_racing_collections_lose_nothing(r: &Registry, window: Duration) {
    const PUSHERS: usize = 6;
    const ROUNDS: usize = 12;
    let done = Arc::new(AtomicBool::new(false));
    let collections = {
        let r = r.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let gc = GarbageCollector::new(&r);
            let mut runs = 0u32;
            let options = GcOptions {
                delete_untagged: true,
                dry_run: false,
                workers: 5,
                time_window: window,
                ..GcOptions::default()
            };
            while !done.load(Ordering::Relaxed) {
                gc.run(&options, &AtomicBool::new(false), &|_| {})
                    .await
                    .unwrap();
                runs += 1;
            }
            runs
        })
    };
    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let mut pushers = Vec::new();
    for p in 0..PUSHERS {
        let r = r.clone();
        let acknowledged = acknowledged.clone();
        pushers.push(tokio::spawn(async move {
            let mut refused = 0u32;
            for round in 0..ROUNDS {
                let repo = repo(&format!("race/r{}", p % 3));
                let layers: Vec<Vec<u8>> = vec![
                    format!("base layer {}", round % 3).into_bytes(),
                    format!("shared layer {}", (p + round) % 4).into_bytes(),
                    format!("own layer {p} {round}").into_bytes(),
                ];
                let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
                let tag = format!("t{}", round % 4);
                // A push may meet a collection and fail cleanly; the
                // client pushes again, as skopeo's retry does.
                let mut attempt = 0;
                let digest = loop {
                    // Every third push pauses past the window before its
                    // manifest, the race a collection must win cleanly.
                    let pause = if (p + round) % 3 == 0 && attempt == 0 {
                        window * 3 / 2
                    } else {
                        Duration::ZERO
                    };
                    let name = format!("{p}-{round}");
                    match push_image_slowly(&r, &repo, &name, &refs, Some(&tag), pause).await {
                        Ok(d) => break d,
                        Err(e)
                            if matches!(
                                e.code(),
                                ErrorCode::ManifestBlobUnknown | ErrorCode::TooManyRequests
                            ) && attempt < 20 =>
                        {
                            attempt += 1;
                            refused += 1;
                        }
                        Err(e) => panic!("push {p}/{round}: {e}"),
                    }
                };
                acknowledged
                    .lock()
                    .unwrap()
                    .insert((repo.to_string(), tag.clone()), digest.clone());
                if round % 5 == 4 {
                    // Untag now and then: its content becomes garbage.
                    let _ = r
                        .delete_manifest(&repo, &Reference::parse(&tag).unwrap())
                        .await;
                    acknowledged
                        .lock()
                        .unwrap()
                        .remove(&(repo.to_string(), tag));
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for p in pushers {
        refused += p.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let runs = collections.await.unwrap();
    assert!(runs >= 2, "collections ran alongside the pushes ({runs})");
    eprintln!("{runs} collections ran; {refused} pushes were refused and retried");

    // Every tag still names a manifest whose content reads back whole:
    // several pushers share a tag, so whichever acknowledged last may
    // have been replaced by another; the tag's current manifest is checked.
    let tags = acknowledged.lock().unwrap().clone();
    for (repo_name, tag) in tags.keys() {
        let rp = repo(repo_name);
        let Ok(m) = r
            .get_manifest(&rp, &Reference::parse(tag).unwrap(), None)
            .await
        else {
            // Another pusher's untag of the same tag.
            continue;
        };
        let parsed = harbor_core::Manifest::parse(
            Some(&m.media_type),
            &m.payload,
            harbor_core::Algorithm::Sha256,
        )
        .unwrap();
        for blob in parsed.required_blobs() {
            let got = r.get_blob(&rp, &blob.digest, None).await;
            let body = got
                .unwrap_or_else(|e| panic!("{repo_name}:{tag} lost {}: {e}", blob.digest))
                .body;
            let bytes: Vec<u8> = body
                .try_fold(Vec::new(), |mut acc, b| async move {
                    acc.extend_from_slice(&b);
                    Ok(acc)
                })
                .await
                .unwrap();
            assert_eq!(Digest::sha256(&bytes), blob.digest);
        }
    }
    assert!(
        refused > 0,
        "no push met a collection: the race was not exercised"
    );
    // Quiet now: once the window passes, a run leaves only what manifests
    // reference.
    tokio::time::sleep(window).await;
    collect(r, now_window(true, false)).await;
    let meta = r.meta_store();
    let left = all_blobs(r).await;
    let unreferenced = meta
        .unreferenced_blobs(
            &left.iter().cloned().collect::<Vec<_>>(),
            std::time::SystemTime::now(),
            false,
        )
        .await
        .unwrap();
    assert!(unreferenced.is_empty(), "left behind: {unreferenced:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_sqlite_collects_exactly_what_nothing_needs() {
    let (r, _dir) = fs_sqlite();
    collects_exactly_what_nothing_needs(&r).await;
}

/// A collection asks its busy probe after each batch, and giving way
/// changes nothing it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collection_asks_whether_the_registry_is_busy_and_does_the_same_work() {
    let (r, _dir) = fs_sqlite();
    let repo = RepositoryName::parse("library/busy").unwrap();
    for i in 0..3u8 {
        push_blob(&r, &repo, &[i; 10]).await.unwrap();
    }
    // Links are kept while as recent as the cutoff (millisecond times).
    tokio::time::sleep(Duration::from_millis(20)).await;
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let probe = {
        let asked = asked.clone();
        harbor_core::BusyProbe::new(move || {
            asked.fetch_add(1, Ordering::Relaxed);
            true
        })
    };
    let report = GarbageCollector::new(&r)
        .yield_to(probe)
        .run(&now_window(false, false), &AtomicBool::new(false), &|_| {})
        .await
        .unwrap();
    assert!(asked.load(Ordering::Relaxed) >= 1, "the probe was asked");
    assert_eq!(report.blobs_deleted, 3, "every blob nothing references");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_sqlite_finishes_an_interrupted_run() {
    let (r, _dir) = fs_sqlite();
    an_interrupted_run_is_finished_by_the_next(&r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_sqlite_pushes_racing_collections_lose_nothing() {
    let (r, _dir) = fs_sqlite();
    pushes_racing_collections_lose_nothing(&r, Duration::from_millis(500)).await;
}

#[cfg(all(feature = "postgres", feature = "s3"))]
mod s3_postgres {
    use super::*;
    use harbor_storage::postgres::testing::TempCluster;
    use harbor_storage::s3::testing::Moto;
    use harbor_storage::{PgStore, S3BlobStore};
    use tokio::sync::OnceCell;

    async fn moto() -> &'static Moto {
        static MOTO: OnceCell<Moto> = OnceCell::const_new();
        MOTO.get_or_init(Moto::start).await
    }

    async fn registry() -> Registry {
        let moto = moto().await;
        let blobs = S3BlobStore::connect(&moto.bucket().await).await.unwrap();
        let meta = PgStore::connect(&TempCluster::shared().database(), 8)
            .await
            .unwrap();
        Registry::new(Arc::new(blobs), Arc::new(meta))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_postgres_collects_exactly_what_nothing_needs() {
        collects_exactly_what_nothing_needs(&registry().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_postgres_finishes_an_interrupted_run() {
        an_interrupted_run_is_finished_by_the_next(&registry().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_postgres_pushes_racing_collections_lose_nothing() {
        pushes_racing_collections_lose_nothing(&registry().await, Duration::from_secs(2)).await;
    }
}
