//! The storage-quota suite: a `MetaStore` counts the manifests each
//! project holds and the blobs they reference, each digest once, refuses
//! what would pass the limit without changing anything, and stops counting
//! what deletes and garbage collection remove; its `QuotaStore` reads and
//! sets limits (the model is in `harbor_core::quota`). Each test uses
//! projects of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::join_all;
use harbor_core::{
    Digest, ErrorCode, ManifestRecord, MetaStore, Page, QuotaExceeded, QuotaSort, QuotaStore,
    RepositoryName, Tag,
};

use super::ok;

fn repo(s: &str) -> RepositoryName {
    ok("repository name", RepositoryName::parse(s))
}

fn manifest(payload: &str, references: &[&Digest]) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256(payload.as_bytes()),
        media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
        payload: Bytes::from(payload.to_owned()),
        subject: None,
        artifact_type: None,
        annotations: BTreeMap::new(),
        references: references.iter().map(|d| (*d).clone()).collect(),
        pushed_at: SystemTime::now(),
    }
}

fn len(m: &ManifestRecord) -> u64 {
    m.payload.len() as u64
}

async fn used(quotas: &dyn QuotaStore, project: &str) -> u64 {
    ok("read quota", quotas.quota(project).await)
        .unwrap_or_else(|| panic!("project {project} has no quota"))
        .used
}

async fn link(meta: &dyn MetaStore, r: &RepositoryName, d: &Digest, size: u64) {
    assert!(
        ok("link", meta.link_blob(r, d, size).await),
        "link {d} into {r}"
    );
}

/// Runs every test of the suite; `meta` and `quotas` are one store.
pub async fn run_all(meta: &dyn MetaStore, quotas: &dyn QuotaStore) {
    each_digest_counts_once_per_project(meta, quotas).await;
    a_change_past_the_limit_is_refused_whole(meta, quotas).await;
    deletes_stop_counting_what_nothing_else_references(meta, quotas).await;
    limits_are_set_listed_sorted_and_dropped(meta, quotas).await;
    concurrent_pushes_never_pass_the_limit(meta, quotas, meta, quotas).await;
}

/// Blobs count once a manifest references them, and then once per project
/// however many of its repositories and manifests share them; other
/// projects count their own.
pub async fn each_digest_counts_once_per_project(meta: &dyn MetaStore, quotas: &dyn QuotaStore) {
    let (one, two, other) = (repo("qa/one"), repo("qa/two"), repo("qb/x"));
    let (l1, l2) = (Digest::sha256(b"qa layer 1"), Digest::sha256(b"qa layer 2"));
    link(meta, &one, &l1, 100).await;
    link(meta, &two, &l1, 100).await;
    link(meta, &two, &l2, 50).await;
    link(meta, &other, &l1, 100).await;
    assert_eq!(
        ok("quota", quotas.quota("qa").await).map_or(0, |q| q.used),
        0,
        "blobs no manifest references do not count"
    );

    let m1 = manifest(r#"{"qa":"m1"}"#, &[&l1]);
    let charge = ok(
        "put m1",
        meta.put_manifest(&one, &m1, None, std::slice::from_ref(&l1))
            .await,
    );
    assert_eq!(charge.added, 100 + len(&m1), "the manifest and its layer");
    assert_eq!(charge.used, 100 + len(&m1));
    assert_eq!(charge.limit, None, "a new project is unlimited");
    let m2 = manifest(r#"{"qa":"m2"}"#, &[&l1, &l2]);
    let charge = ok(
        "put m2",
        meta.put_manifest(&two, &m2, None, &[l1.clone(), l2.clone()])
            .await,
    );
    assert_eq!(charge.added, 50 + len(&m2), "the shared layer counts once");
    let again = ok(
        "put m1 again",
        meta.put_manifest(&one, &m1, None, std::slice::from_ref(&l1))
            .await,
    );
    assert_eq!(again.added, 0, "a manifest pushed again adds nothing");
    // The same manifest in another repository of the project: nothing new.
    link(meta, &two, &l1, 100).await;
    let copy = ok(
        "put m1 in two",
        meta.put_manifest(&two, &m1, None, std::slice::from_ref(&l1))
            .await,
    );
    assert_eq!(copy.added, 0);
    assert_eq!(used(quotas, "qa").await, 150 + len(&m1) + len(&m2));

    let m3 = manifest(r#"{"qb":"m3"}"#, &[&l1]);
    ok(
        "put m3",
        meta.put_manifest(&other, &m3, None, std::slice::from_ref(&l1))
            .await,
    );
    assert_eq!(
        used(quotas, "qb").await,
        100 + len(&m3),
        "another project counts its own"
    );
}

/// A blob that would not fit once counted, or a manifest that would take
/// usage past the limit, is refused with `DENIED` naming the figures, and
/// nothing of it is stored or counted.
pub async fn a_change_past_the_limit_is_refused_whole(
    meta: &dyn MetaStore,
    quotas: &dyn QuotaStore,
) {
    let r = repo("qc/app");
    let (big, more) = (Digest::sha256(b"qc big"), Digest::sha256(b"qc more"));
    ok("limit", quotas.set_storage_limit("qc", Some(1000)).await);
    link(meta, &r, &big, 600).await;
    let m = manifest(r#"{"qc":"m"}"#, &[&big]);
    ok(
        "put m",
        meta.put_manifest(&r, &m, None, std::slice::from_ref(&big))
            .await,
    );
    let used_now = 600 + len(&m);
    assert_eq!(used(quotas, "qc").await, used_now);

    let refused = meta.link_blob(&r, &more, 500).await;
    let Err(e) = refused else {
        panic!("a blob that does not fit is refused")
    };
    assert_eq!(e.code(), ErrorCode::Denied);
    assert_eq!(
        QuotaExceeded::from_error(&e),
        Some(QuotaExceeded {
            project: "qc".into(),
            adding: 500,
            used: used_now,
            limit: 1000
        }),
        "the refusal names what was added, the usage and the limit"
    );
    assert_eq!(
        ok("linked?", meta.linked_blob(&r, &more).await),
        None,
        "a refused blob is not linked"
    );
    // What is counted already costs nothing, even at the limit.
    ok(
        "limit",
        quotas.set_storage_limit("qc", Some(used_now)).await,
    );
    link(meta, &r, &big, 600).await;

    ok("unlimited", quotas.set_storage_limit("qc", None).await);
    link(meta, &r, &more, 500).await;
    assert_eq!(used(quotas, "qc").await, used_now, "linked, not counted");
    let m2 = manifest(r#"{"qc":"m2"}"#, &[&big, &more]);
    let tag = ok("tag", Tag::parse("v2"));
    ok(
        "limit",
        quotas.set_storage_limit("qc", Some(used_now + 400)).await,
    );
    let refused = meta
        .put_manifest(&r, &m2, Some(&tag), &[big.clone(), more.clone()])
        .await;
    let Err(e) = refused else {
        panic!("a manifest past the limit is refused")
    };
    assert_eq!(
        QuotaExceeded::from_error(&e).map(|q| (q.adding, q.used, q.limit)),
        Some((500 + len(&m2), used_now, used_now + 400))
    );
    assert_eq!(
        ok("get", meta.get_manifest(&r, &m2.digest).await),
        None,
        "the refused manifest is not stored"
    );
    assert_eq!(ok("tag", meta.resolve_tag(&r, &tag).await), None);
    assert_eq!(used(quotas, "qc").await, used_now, "nothing counted");

    let limit = used_now + 500 + len(&m2);
    ok("limit", quotas.set_storage_limit("qc", Some(limit)).await);
    let charge = ok(
        "put at the limit",
        meta.put_manifest(&r, &m2, Some(&tag), &[big.clone(), more.clone()])
            .await,
    );
    assert_eq!(
        (charge.added, charge.used, charge.limit),
        (500 + len(&m2), limit, Some(limit)),
        "usage may reach the limit exactly"
    );
    assert_eq!(charge.percent(), Some(100));
}

/// Deleting a manifest stops counting it and whatever no remaining
/// manifest of the project references; unlinking a blob changes nothing
/// counted.
pub async fn deletes_stop_counting_what_nothing_else_references(
    meta: &dyn MetaStore,
    quotas: &dyn QuotaStore,
) {
    let (a, b) = (repo("qd/a"), repo("qd/b"));
    let (l1, l2) = (Digest::sha256(b"qd l1"), Digest::sha256(b"qd l2"));
    link(meta, &a, &l1, 1000).await;
    link(meta, &b, &l1, 1000).await;
    link(meta, &b, &l2, 200).await;
    let m1 = manifest(r#"{"qd":"m1"}"#, &[&l1]);
    let m2 = manifest(r#"{"qd":"m2"}"#, &[&l1, &l2]);
    ok(
        "put m1",
        meta.put_manifest(&a, &m1, None, std::slice::from_ref(&l1))
            .await,
    );
    ok(
        "put m2",
        meta.put_manifest(&b, &m2, None, &[l1.clone(), l2.clone()])
            .await,
    );
    assert_eq!(used(quotas, "qd").await, 1200 + len(&m1) + len(&m2));

    assert!(ok("delete m2", meta.delete_manifest(&b, &m2.digest).await));
    assert_eq!(
        used(quotas, "qd").await,
        1000 + len(&m1),
        "m2 and the layer only it used are no longer counted; the shared one is"
    );
    assert!(ok("delete m1", meta.delete_manifest(&a, &m1.digest).await));
    assert_eq!(used(quotas, "qd").await, 0, "nothing left to count");

    // Pushed again, the same content counts again.
    ok(
        "put m1",
        meta.put_manifest(&a, &m1, None, std::slice::from_ref(&l1))
            .await,
    );
    assert_eq!(used(quotas, "qd").await, 1000 + len(&m1));
    assert!(ok("unlink", meta.unlink_blob(&b, &l1).await));
    assert_eq!(used(quotas, "qd").await, 1000 + len(&m1));
    // Garbage collection's delete of an untagged manifest counts the same.
    let future = SystemTime::now() + Duration::from_secs(3600);
    assert!(ok(
        "delete untagged",
        meta.delete_untagged_manifest(&a, &m1.digest, future).await
    ));
    assert_eq!(used(quotas, "qd").await, 0);
}

/// Limits are set (creating the quota), read by project and by id, listed
/// in Harbor's sort orders with paging, and dropped with the project.
pub async fn limits_are_set_listed_sorted_and_dropped(
    meta: &dyn MetaStore,
    quotas: &dyn QuotaStore,
) {
    let small = ok(
        "limit",
        quotas.set_storage_limit("qg-small", Some(10)).await,
    );
    let none = ok("limit", quotas.set_storage_limit("qg-none", None).await);
    let big = ok(
        "limit",
        quotas.set_storage_limit("qg-big", Some(5000)).await,
    );
    assert_eq!((small.limit, small.used), (Some(10), 0));
    assert_eq!((none.limit, big.limit), (None, Some(5000)));
    let (r, d) = (repo("qg-none/r"), Digest::sha256(b"qg"));
    link(meta, &r, &d, 300).await;
    let m = manifest(r#"{"qg":"m"}"#, &[&d]);
    ok(
        "put",
        meta.put_manifest(&r, &m, None, std::slice::from_ref(&d))
            .await,
    );
    assert_eq!(
        ok("by id", quotas.quota_by_id(small.id).await).map(|q| q.project),
        Some("qg-small".to_owned())
    );
    assert_eq!(ok("by id", quotas.quota_by_id(-5).await), None);
    assert_eq!(ok("unknown", quotas.quota("qg-unknown").await), None);

    let ours = |list: Vec<harbor_core::Quota>| -> Vec<String> {
        list.into_iter()
            .map(|q| q.project)
            .filter(|p| p.starts_with("qg-"))
            .collect()
    };
    let all = Page {
        page: 1,
        page_size: 10_000,
    };
    let (list, total) = ok("list", quotas.list_quotas(QuotaSort::Id, all).await);
    assert_eq!(total as usize, list.len(), "one page holds them all");
    assert_eq!(ours(list), ["qg-small", "qg-none", "qg-big"]);
    let order = |sort| async move { ours(ok("list", quotas.list_quotas(sort, all).await).0) };
    assert_eq!(
        order(QuotaSort::LimitAscending).await,
        ["qg-small", "qg-big", "qg-none"],
        "unlimited sorts as the largest limit"
    );
    assert_eq!(
        order(QuotaSort::LimitDescending).await,
        ["qg-none", "qg-big", "qg-small"]
    );
    assert_eq!(
        order(QuotaSort::UsedDescending).await[0],
        "qg-none",
        "the only one of ours that uses anything"
    );
    let first = Page {
        page: 1,
        page_size: 1,
    };
    let (page, total_again) = ok("page", quotas.list_quotas(QuotaSort::Id, first).await);
    assert_eq!((page.len() as u64, total_again), (1, total));

    assert!(ok("drop", quotas.delete_quota("qg-none").await));
    assert!(!ok("drop again", quotas.delete_quota("qg-none").await));
    assert_eq!(ok("gone", quotas.quota("qg-none").await), None);
    // A project made again under the name starts from nothing counted.
    let fresh = ok("again", quotas.set_storage_limit("qg-none", Some(1)).await);
    assert_eq!((fresh.used, fresh.limit), (0, Some(1)));
    assert_ne!(fresh.id, none.id);
}

/// Manifest pushes racing into one project, through `a` and `b` (two
/// instances over one database, or one store twice), never take it past
/// its limit, and usage is exactly what was accepted.
pub async fn concurrent_pushes_never_pass_the_limit(
    a: &dyn MetaStore,
    a_quotas: &dyn QuotaStore,
    b: &dyn MetaStore,
    b_quotas: &dyn QuotaStore,
) {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let project = format!(
        "qrace{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let pushes: Vec<(RepositoryName, Digest, ManifestRecord)> = (0..40)
        .map(|i| {
            let r = repo(&format!("{project}/r{}", i % 3));
            let d = Digest::sha256(format!("{project} blob {i}").as_bytes());
            // Same length for all: exactly so many fit.
            let m = manifest(&format!(r#"{{"{project}":{i:04}}}"#), &[&d]);
            (r, d, m)
        })
        .collect();
    for (r, d, _) in &pushes {
        link(a, r, d, 100).await;
    }
    let each = 100 + len(&pushes[0].2);
    ok(
        "limit",
        a_quotas.set_storage_limit(&project, Some(10 * each)).await,
    );
    let racing = pushes.iter().enumerate().map(|(i, (r, d, m))| {
        let store = if i % 2 == 0 { a } else { b };
        async move {
            store
                .put_manifest(r, m, None, std::slice::from_ref(d))
                .await
        }
    });
    let mut accepted = 0u64;
    for r in join_all(racing).await {
        match r {
            Ok(_) => accepted += 1,
            Err(e) => assert_eq!(e.code(), ErrorCode::Denied, "{e}"),
        }
    }
    assert_eq!(accepted, 10, "exactly as many as fit");
    assert_eq!(used(b_quotas, &project).await, 10 * each);
}
