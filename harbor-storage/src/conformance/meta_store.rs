//! The `MetaStore` conformance suite.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use harbor_core::{Digest, ManifestRecord, MetaStore, Page, RepositoryName, Tag, UploadSession};

use super::ok;

fn repo(s: &str) -> RepositoryName {
    ok("repository name", RepositoryName::parse(s))
}

fn tag(s: &str) -> Tag {
    ok("tag", Tag::parse(s))
}

fn record(payload: &str, subject: Option<&Digest>, artifact_type: Option<&str>) -> ManifestRecord {
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.payload".to_owned(), payload.to_owned());
    ManifestRecord {
        digest: Digest::sha256(payload.as_bytes()),
        media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
        payload: Bytes::from(payload.to_owned()),
        subject: subject.cloned(),
        artifact_type: artifact_type.map(str::to_owned),
        annotations,
        references: vec![Digest::sha256(b"config"), Digest::sha256(b"layer")],
        pushed_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn MetaStore) {
    blob_links_create_the_repository_and_are_per_repository(store).await;
    manifests_round_trip_with_their_tags(store).await;
    tags_move_atomically_and_list_in_order_with_paging(store).await;
    deleting_a_manifest_removes_its_tags(store).await;
    reads_see_every_write_at_once(store).await;
    referrers_are_found_by_subject(store).await;
    repositories_list_in_order_with_paging(store).await;
    upload_sessions_are_recorded_and_purgeable(store).await;
    repositories_and_artifacts_list_with_their_figures(store).await;
}

/// Linking a blob creates the repository; links are per repository.
pub async fn blob_links_create_the_repository_and_are_per_repository(store: &dyn MetaStore) {
    let (a, b) = (repo("conf/links-a"), repo("conf/links-b"));
    let d = Digest::sha256(b"linked");
    assert!(!ok("exists", store.repository_exists(&a).await));
    assert_eq!(ok("linked", store.linked_blob(&a, &d).await), None);
    ok("link", store.link_blob(&a, &d, 6).await);
    ok("link again", store.link_blob(&a, &d, 6).await);
    assert!(ok("exists", store.repository_exists(&a).await));
    assert_eq!(ok("linked", store.linked_blob(&a, &d).await), Some(6));
    assert_eq!(
        ok("linked elsewhere", store.linked_blob(&b, &d).await),
        None
    );
    assert!(ok("unlink", store.unlink_blob(&a, &d).await));
    assert!(!ok("unlink again", store.unlink_blob(&a, &d).await));
    assert!(!ok("unlink unknown repo", store.unlink_blob(&b, &d).await));
    assert_eq!(
        ok("linked after unlink", store.linked_blob(&a, &d).await),
        None
    );
}

/// A manifest comes back exactly as stored, by digest and through its tag.
pub async fn manifests_round_trip_with_their_tags(store: &dyn MetaStore) {
    let r = repo("conf/manifests");
    let m = record("manifest one", None, Some("application/x-test"));
    assert_eq!(
        ok("get absent", store.get_manifest(&r, &m.digest).await),
        None
    );
    ok(
        "put",
        store.put_manifest(&r, &m, Some(&tag("v1")), &[]).await,
    );
    ok("put again", store.put_manifest(&r, &m, None, &[]).await);
    let back = ok("get", store.get_manifest(&r, &m.digest).await);
    assert_eq!(
        back.as_ref(),
        Some(&m),
        "the record must round-trip unchanged"
    );
    assert_eq!(
        ok("resolve", store.resolve_tag(&r, &tag("v1")).await),
        Some(m.digest.clone())
    );
    assert_eq!(
        ok("resolve missing", store.resolve_tag(&r, &tag("v2")).await),
        None
    );
    assert_eq!(
        ok(
            "other repo",
            store.get_manifest(&repo("conf/other"), &m.digest).await
        ),
        None,
        "manifests are per repository"
    );
    assert!(ok("exists", store.repository_exists(&r).await));
}

/// Tags move from one manifest to another in one step and list in byte order.
pub async fn tags_move_atomically_and_list_in_order_with_paging(store: &dyn MetaStore) {
    let r = repo("conf/tags");
    let m1 = record("tags one", None, None);
    let m2 = record("tags two", None, None);
    for t in ["b", "a", "C", "c10", "c2"] {
        ok("put", store.put_manifest(&r, &m1, Some(&tag(t)), &[]).await);
    }
    ok(
        "move",
        store.put_manifest(&r, &m2, Some(&tag("a")), &[]).await,
    );
    assert_eq!(
        ok("resolve moved", store.resolve_tag(&r, &tag("a")).await),
        Some(m2.digest.clone())
    );
    assert_eq!(
        ok("resolve kept", store.resolve_tag(&r, &tag("b")).await),
        Some(m1.digest.clone())
    );
    let all = ok("list", store.list_tags(&r, None, 100).await);
    assert_eq!(all, ["C", "a", "b", "c10", "c2"]);
    assert_eq!(ok("page 1", store.list_tags(&r, None, 2).await), ["C", "a"]);
    assert_eq!(
        ok("page 2", store.list_tags(&r, Some("a"), 2).await),
        ["b", "c10"]
    );
    assert_eq!(
        ok("page 3", store.list_tags(&r, Some("c10"), 2).await),
        ["c2"]
    );
    assert!(ok("page 4", store.list_tags(&r, Some("c2"), 2).await).is_empty());
    assert!(ok("delete tag", store.delete_tag(&r, &tag("b")).await));
    assert!(!ok(
        "delete tag again",
        store.delete_tag(&r, &tag("b")).await
    ));
    assert_eq!(
        ok("resolve deleted", store.resolve_tag(&r, &tag("b")).await),
        None
    );
    assert!(ok("manifest stays", store.get_manifest(&r, &m1.digest).await).is_some());
}

/// Deleting a manifest deletes every tag on it, and nothing else.
pub async fn deleting_a_manifest_removes_its_tags(store: &dyn MetaStore) {
    let r = repo("conf/delete");
    let m1 = record("delete one", None, None);
    let m2 = record("delete two", None, None);
    ok(
        "put",
        store.put_manifest(&r, &m1, Some(&tag("x")), &[]).await,
    );
    ok(
        "put",
        store.put_manifest(&r, &m1, Some(&tag("y")), &[]).await,
    );
    ok(
        "put",
        store.put_manifest(&r, &m2, Some(&tag("z")), &[]).await,
    );
    assert!(ok("delete", store.delete_manifest(&r, &m1.digest).await));
    assert!(!ok(
        "delete again",
        store.delete_manifest(&r, &m1.digest).await
    ));
    assert!(!ok(
        "delete in unknown repo",
        store.delete_manifest(&repo("conf/nope"), &m2.digest).await
    ));
    assert_eq!(
        ok("get deleted", store.get_manifest(&r, &m1.digest).await),
        None
    );
    assert_eq!(ok("list", store.list_tags(&r, None, 10).await), ["z"]);
}

/// A read right after a write sees it, however the store caches reads:
/// every lookup here is made twice before the write that changes it.
pub async fn reads_see_every_write_at_once(store: &dyn MetaStore) {
    let r = repo("conf/fresh");
    let m1 = record("fresh one", None, None);
    let m2 = record("fresh two", None, None);
    let t = tag("t");
    let resolve = || async { ok("resolve", store.resolve_tag(&r, &t).await) };
    let get = |d: Digest| {
        let r = r.clone();
        async move { ok("get", store.get_manifest(&r, &d).await).map(|m| m.digest) }
    };
    ok("put", store.put_manifest(&r, &m1, Some(&t), &[]).await);
    for _ in 0..2 {
        assert_eq!(resolve().await, Some(m1.digest.clone()));
        assert_eq!(get(m1.digest.clone()).await, Some(m1.digest.clone()));
    }
    ok("move", store.put_manifest(&r, &m2, Some(&t), &[]).await);
    for _ in 0..2 {
        assert_eq!(resolve().await, Some(m2.digest.clone()), "after the move");
    }
    assert!(ok("delete tag", store.delete_tag(&r, &t).await));
    assert_eq!(resolve().await, None, "after the tag's delete");
    ok(
        "put again",
        store.put_manifest(&r, &m1, Some(&t), &[]).await,
    );
    for _ in 0..2 {
        assert_eq!(resolve().await, Some(m1.digest.clone()), "tagged again");
    }
    assert!(ok("delete", store.delete_manifest(&r, &m1.digest).await));
    assert_eq!(
        get(m1.digest.clone()).await,
        None,
        "after the manifest's delete"
    );
    assert_eq!(resolve().await, None, "its tag went with it");
    assert_eq!(get(m2.digest.clone()).await, Some(m2.digest.clone()));
}

/// Referrers are the manifests whose subject is the given digest.
pub async fn referrers_are_found_by_subject(store: &dyn MetaStore) {
    let r = repo("conf/referrers");
    let subject = record("the subject", None, None);
    let sig = record(
        "a signature",
        Some(&subject.digest),
        Some("application/x-signature"),
    );
    let sbom = record("an sbom", Some(&subject.digest), Some("application/x-sbom"));
    let unrelated = record("unrelated", Some(&Digest::sha256(b"other")), None);
    for m in [&subject, &sig, &sbom, &unrelated] {
        ok("put", store.put_manifest(&r, m, None, &[]).await);
    }
    let list = ok("referrers", store.referrers(&r, &subject.digest).await);
    let mut expected = vec![sig.digest.clone(), sbom.digest.clone()];
    expected.sort();
    assert_eq!(
        list.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
        expected
    );
    let sig_desc = list.iter().find(|d| d.digest == sig.digest).cloned();
    let sig_desc = ok("signature listed", sig_desc.ok_or("missing"));
    assert_eq!(sig_desc.size, sig.payload.len() as u64);
    assert_eq!(
        sig_desc.artifact_type.as_deref(),
        Some("application/x-signature")
    );
    assert_eq!(sig_desc.media_type, sig.media_type);
    assert_eq!(sig_desc.annotations.as_ref(), Some(&sig.annotations));
    assert!(ok(
        "none",
        store.referrers(&r, &Digest::sha256(b"nothing")).await
    )
    .is_empty());
    assert!(ok(
        "other repo",
        store
            .referrers(&repo("conf/elsewhere"), &subject.digest)
            .await
    )
    .is_empty());
}

/// Repositories list in byte order with paging.
pub async fn repositories_list_in_order_with_paging(store: &dyn MetaStore) {
    let d = Digest::sha256(b"catalog");
    for name in ["zcat/b", "zcat/a", "zcat/c"] {
        ok("link", store.link_blob(&repo(name), &d, 7).await);
    }
    let all = ok("list", store.list_repositories(Some("zcat/"), 100).await);
    assert_eq!(all, ["zcat/a", "zcat/b", "zcat/c"]);
    assert_eq!(
        ok("page", store.list_repositories(Some("zcat/a"), 1).await),
        ["zcat/b"]
    );
    let everything = ok("list all", store.list_repositories(None, 10_000).await);
    let mut sorted = everything.clone();
    sorted.sort();
    assert_eq!(everything, sorted);
}

/// Upload sessions are stored, found, listed by age and deleted.
pub async fn upload_sessions_are_recorded_and_purgeable(store: &dyn MetaStore) {
    let now = SystemTime::now();
    let old = UploadSession {
        id: "11111111-1111-4111-8111-111111111111".into(),
        repository: repo("conf/uploads"),
        started_at: now - Duration::from_secs(10 * 24 * 3600),
    };
    let fresh = UploadSession {
        id: "22222222-2222-4222-8222-222222222222".into(),
        repository: repo("conf/uploads"),
        started_at: now,
    };
    ok("create", store.create_upload(&old).await);
    ok("create", store.create_upload(&fresh).await);
    let got = ok("get", store.get_upload(&old.id).await);
    assert_eq!(
        got.map(|s| (s.id, s.repository)),
        Some((old.id.clone(), old.repository.clone()))
    );
    let stale = ok(
        "stale",
        store
            .uploads_started_before(now - Duration::from_secs(24 * 3600))
            .await,
    );
    assert_eq!(
        stale.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [old.id.as_str()]
    );
    assert!(ok("delete", store.delete_upload(&old.id).await));
    assert!(!ok("delete again", store.delete_upload(&old.id).await));
    assert_eq!(ok("get deleted", store.get_upload(&old.id).await), None);
    assert!(ok("delete", store.delete_upload(&fresh.id).await));
}

/// Repositories list by prefix with their artifact counts; artifacts list
/// newest first with their tags, leaving out the children of an index.
pub async fn repositories_and_artifacts_list_with_their_figures(store: &dyn MetaStore) {
    let page = Page {
        page: 1,
        page_size: 10,
    };
    let a = repo("figures/a");
    let b = repo("figures/b/nested");
    let child = record("figures child", None, None);
    let mut index = record("figures index", None, None);
    index.media_type = harbor_core::media_type::OCI_INDEX.to_owned();
    index.references = vec![child.digest.clone()];
    index.pushed_at += Duration::from_secs(10);
    ok("put", store.put_manifest(&a, &child, None, &[]).await);
    ok(
        "put",
        store
            .put_manifest(&a, &index, Some(&tag("latest")), &[])
            .await,
    );
    ok(
        "put",
        store.put_manifest(&a, &index, Some(&tag("v1")), &[]).await,
    );
    let lone = record("figures lone", None, None);
    ok("put", store.put_manifest(&b, &lone, None, &[]).await);
    // A repository holding only blobs is not listed.
    ok(
        "link",
        store
            .link_blob(&repo("figures/blobs-only"), &Digest::sha256(b"x"), 1)
            .await,
    );

    let (list, total) = ok(
        "repos",
        store.repositories_with_prefix("figures/", None, page).await,
    );
    assert_eq!(total, 2);
    assert_eq!(
        list.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["figures/a", "figures/b/nested"]
    );
    assert_eq!(
        list[0].artifact_count, 1,
        "the index's child is not a top-level artifact"
    );
    let (_, none) = ok(
        "repos",
        store
            .repositories_with_prefix("figures-nope/", None, page)
            .await,
    );
    assert_eq!(none, 0);
    let (nested, total) = ok(
        "repos",
        store
            .repositories_with_prefix("figures/", Some("nest"), page)
            .await,
    );
    assert_eq!(total, 1);
    assert_eq!(
        nested.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["figures/b/nested"]
    );
    let info = ok("info", store.repository_info(&a).await);
    assert_eq!(info.map(|i| i.artifact_count), Some(1));
    assert_eq!(
        ok("info", store.repository_info(&repo("figures/none")).await),
        None
    );

    let (arts, total) = ok("artifacts", store.list_artifacts(&a, page).await);
    assert_eq!(total, 1);
    assert_eq!(arts[0].digest, index.digest);
    assert_eq!(arts[0].media_type, index.media_type);
    assert_eq!(
        arts[0]
            .tags
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["latest", "v1"]
    );
    let one = ok("artifact", store.artifact(&a, &child.digest).await);
    assert_eq!(
        one.map(|x| (x.digest, x.tags.len())),
        Some((child.digest.clone(), 0))
    );
    assert_eq!(
        ok("artifact", store.artifact(&b, &child.digest).await),
        None
    );
}
