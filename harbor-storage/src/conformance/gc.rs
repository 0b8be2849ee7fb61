//! The garbage-collection part of the `MetaStore` suite: the checks and
//! claims that make a collection safe beside pushes (the protocol is in
//! `harbor_core::gc`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use harbor_core::{
    Digest, ErrorCode, ManifestRecord, MetaStore, RepositoryName, Tag, UploadSession,
};

use super::ok;

fn repo(s: &str) -> RepositoryName {
    ok("repository name", RepositoryName::parse(s))
}

fn tag(s: &str) -> Tag {
    ok("tag", Tag::parse(s))
}

/// A moment after everything the suite writes: every link and manifest is
/// older than this cutoff.
fn future() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// A moment before everything the suite writes.
fn past() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

fn manifest(payload: &str, references: &[&Digest], subject: Option<&Digest>) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256(payload.as_bytes()),
        media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
        payload: Bytes::from(payload.to_owned()),
        subject: subject.cloned(),
        artifact_type: None,
        annotations: BTreeMap::new(),
        references: references.iter().map(|d| (*d).clone()).collect(),
        pushed_at: SystemTime::now(),
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn MetaStore) {
    a_manifest_lands_only_with_what_it_requires(store).await;
    claims_need_no_reference_no_young_link_and_no_pin(store).await;
    a_claim_refuses_links_and_pins_until_released(store).await;
    untagged_manifests_are_listed_and_deleted_only_while_untagged(store).await;
    a_dry_run_ignores_references_from_untagged_manifests(store).await;
    empty_repositories_are_removed_only_while_empty(store).await;
}

/// `required` digests must be held by the repository in the same step:
/// otherwise `MANIFEST_BLOB_UNKNOWN` and nothing stored.
pub async fn a_manifest_lands_only_with_what_it_requires(store: &dyn MetaStore) {
    let r = repo("gc/required");
    let layer = Digest::sha256(b"gc required layer");
    let m = manifest("gc required manifest", &[&layer], None);
    let refused = store
        .put_manifest(&r, &m, Some(&tag("v1")), std::slice::from_ref(&layer))
        .await;
    assert_eq!(
        refused.err().map(|e| e.code()),
        Some(ErrorCode::ManifestBlobUnknown)
    );
    assert!(ok("nothing stored", store.get_manifest(&r, &m.digest).await).is_none());
    assert!(
        !ok("no repository", store.repository_exists(&r).await),
        "a refused manifest creates no repository"
    );
    assert!(ok("link", store.link_blob(&r, &layer, 5).await));
    ok(
        "put",
        store
            .put_manifest(&r, &m, Some(&tag("v1")), std::slice::from_ref(&layer))
            .await,
    );
    // A child manifest counts as held.
    let index = manifest("gc required index", &[&m.digest], None);
    ok(
        "index",
        store
            .put_manifest(&r, &index, None, std::slice::from_ref(&m.digest))
            .await,
    );
    // Held in another repository is not held.
    let other = repo("gc/required-other");
    assert_eq!(
        store
            .put_manifest(&other, &index, None, std::slice::from_ref(&m.digest))
            .await
            .err()
            .map(|e| e.code()),
        Some(ErrorCode::ManifestBlobUnknown)
    );
}

/// A digest is claimable only once no manifest references it, no link is
/// as young as the cutoff and no upload is pinned to it.
pub async fn claims_need_no_reference_no_young_link_and_no_pin(store: &dyn MetaStore) {
    let r = repo("gc/claimable");
    let blob = Digest::sha256(b"gc claimable blob");
    let unknown = Digest::sha256(b"gc never linked");
    assert!(ok("link", store.link_blob(&r, &blob, 4).await));
    let both = [blob.clone(), unknown.clone()];
    assert_eq!(
        ok(
            "young link",
            store.unreferenced_blobs(&both, past(), false).await
        ),
        vec![unknown.clone()],
        "a link younger than the cutoff keeps the blob; an unlinked digest is claimable"
    );
    assert_eq!(
        ok(
            "old link",
            store.unreferenced_blobs(&both, future(), false).await
        ),
        both.to_vec()
    );
    let m = manifest("gc claimable manifest", &[&blob], None);
    ok(
        "put",
        store
            .put_manifest(&r, &m, Some(&tag("v1")), std::slice::from_ref(&blob))
            .await,
    );
    assert_eq!(
        ok(
            "referenced",
            store
                .unreferenced_blobs(std::slice::from_ref(&blob), future(), false)
                .await
        ),
        Vec::<Digest>::new()
    );
    assert_eq!(
        ok(
            "claim referenced",
            store
                .claim_blobs(std::slice::from_ref(&blob), future())
                .await
        ),
        Vec::<Digest>::new()
    );
    assert!(ok("delete", store.delete_manifest(&r, &m.digest).await));

    let session = UploadSession {
        id: "3f1b0b4e-7d59-4c57-9d0b-5d1c8a0f0001".to_owned(),
        repository: r.clone(),
        started_at: SystemTime::now(),
    };
    ok("session", store.create_upload(&session).await);
    assert!(ok("pin", store.pin_upload(&session.id, &blob).await));
    assert_eq!(
        ok(
            "pinned",
            store
                .claim_blobs(std::slice::from_ref(&blob), future())
                .await
        ),
        Vec::<Digest>::new(),
        "a pinned digest is not claimed"
    );
    ok("end session", store.delete_upload(&session.id).await);
    assert_eq!(
        ok(
            "claim",
            store
                .claim_blobs(std::slice::from_ref(&blob), future())
                .await
        ),
        vec![blob.clone()]
    );
    assert_eq!(
        ok(
            "links go with the claim",
            store.linked_blob(&r, &blob).await
        ),
        None
    );
    ok(
        "release",
        store.release_blob_claims(std::slice::from_ref(&blob)).await,
    );
    assert_eq!(
        store
            .pin_upload("3f1b0b4e-7d59-4c57-9d0b-5d1c8a0f0002", &blob)
            .await
            .err()
            .map(|e| e.code()),
        Some(ErrorCode::BlobUploadUnknown),
        "pinning an unknown session is an error"
    );
}

/// While a claim is held the digest can be neither linked nor pinned; it
/// is listed until released, and claimed only once.
pub async fn a_claim_refuses_links_and_pins_until_released(store: &dyn MetaStore) {
    let r = repo("gc/claimed");
    let blob = Digest::sha256(b"gc claimed blob");
    assert!(ok("link", store.link_blob(&r, &blob, 3).await));
    assert_eq!(
        ok(
            "claim",
            store
                .claim_blobs(std::slice::from_ref(&blob), future())
                .await
        ),
        vec![blob.clone()]
    );
    assert!(ok("claims", store.blob_claims(1000).await).contains(&blob));
    assert_eq!(
        ok(
            "claimed once",
            store
                .claim_blobs(std::slice::from_ref(&blob), future())
                .await
        ),
        Vec::<Digest>::new()
    );
    assert_eq!(
        ok(
            "not claimable",
            store
                .unreferenced_blobs(std::slice::from_ref(&blob), future(), false)
                .await
        ),
        Vec::<Digest>::new(),
        "a claimed digest is not offered again"
    );
    assert!(
        !ok("link refused", store.link_blob(&r, &blob, 3).await),
        "a claimed digest cannot be linked"
    );
    assert_eq!(ok("no link", store.linked_blob(&r, &blob).await), None);
    let session = UploadSession {
        id: "3f1b0b4e-7d59-4c57-9d0b-5d1c8a0f0003".to_owned(),
        repository: r.clone(),
        started_at: SystemTime::now(),
    };
    ok("session", store.create_upload(&session).await);
    assert!(!ok(
        "pin refused",
        store.pin_upload(&session.id, &blob).await
    ));
    let m = manifest("gc claimed manifest", &[&blob], None);
    assert_eq!(
        store
            .put_manifest(&r, &m, None, std::slice::from_ref(&blob))
            .await
            .err()
            .map(|e| e.code()),
        Some(ErrorCode::ManifestBlobUnknown),
        "a manifest cannot land on a claimed blob"
    );
    ok(
        "release",
        store.release_blob_claims(std::slice::from_ref(&blob)).await,
    );
    assert!(!ok("claims", store.blob_claims(1000).await).contains(&blob));
    assert!(ok("pin", store.pin_upload(&session.id, &blob).await));
    assert!(ok("link", store.link_blob(&r, &blob, 3).await));
    ok("end session", store.delete_upload(&session.id).await);
}

/// Untagged garbage: no tag, no referencing manifest, no held subject,
/// pushed before the cutoff. Deleting checks again.
pub async fn untagged_manifests_are_listed_and_deleted_only_while_untagged(store: &dyn MetaStore) {
    let r = repo("gc/untagged");
    let tagged = manifest("gc tagged", &[], None);
    let loose = manifest("gc loose", &[], None);
    let child = manifest("gc child", &[], None);
    let index = manifest("gc index", &[&child.digest], None);
    let signature = manifest("gc signature", &[], Some(&tagged.digest));
    let orphan_signature = manifest("gc orphan signature", &[], Some(&Digest::sha256(b"gone")));
    ok(
        "tagged",
        store.put_manifest(&r, &tagged, Some(&tag("v1")), &[]).await,
    );
    for m in [&loose, &child, &signature, &orphan_signature] {
        ok("put", store.put_manifest(&r, m, None, &[]).await);
    }
    ok(
        "index",
        store
            .put_manifest(&r, &index, None, std::slice::from_ref(&child.digest))
            .await,
    );
    let mut expected = vec![
        (r.clone(), loose.digest.clone()),
        (r.clone(), index.digest.clone()),
        (r.clone(), orphan_signature.digest.clone()),
    ];
    expected.sort_by_key(|a| a.1.to_string());
    assert!(
        !ok("young", store.untagged_manifests(past(), None, 1000).await)
            .iter()
            .any(|(repo, _)| *repo == r),
        "manifests pushed after the cutoff are kept"
    );
    let listed: Vec<_> = ok("list", store.untagged_manifests(future(), None, 100).await)
        .into_iter()
        .filter(|(repo, _)| *repo == r)
        .collect();
    assert_eq!(listed, expected);
    // Paging by (repository, digest).
    let first = ok("page 1", store.untagged_manifests(future(), None, 1).await);
    let second = ok(
        "page 2",
        store.untagged_manifests(future(), first.last(), 1).await,
    );
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert!(
        (&second[0].0, second[0].1.to_string()) > (&first[0].0, first[0].1.to_string()),
        "pages follow each other"
    );

    assert!(!ok(
        "tagged stays",
        store
            .delete_untagged_manifest(&r, &tagged.digest, future())
            .await
    ));
    assert!(!ok(
        "child of an index stays",
        store
            .delete_untagged_manifest(&r, &child.digest, future())
            .await
    ));
    assert!(!ok(
        "young stays",
        store
            .delete_untagged_manifest(&r, &loose.digest, past())
            .await
    ));
    // Tagged meanwhile: kept.
    ok(
        "tag it",
        store
            .put_manifest(&r, &loose, Some(&tag("late")), &[])
            .await,
    );
    assert!(!ok(
        "tagged meanwhile stays",
        store
            .delete_untagged_manifest(&r, &loose.digest, future())
            .await
    ));
    assert!(ok(
        "index goes",
        store
            .delete_untagged_manifest(&r, &index.digest, future())
            .await
    ));
    assert!(ok("gone", store.get_manifest(&r, &index.digest).await).is_none());
    assert!(
        ok(
            "child now untagged",
            store.untagged_manifests(future(), None, 100).await
        )
        .contains(&(r.clone(), child.digest.clone())),
        "with its index gone the child is garbage for the next pass"
    );
}

/// What a dry run asks: references from untagged garbage do not count.
pub async fn a_dry_run_ignores_references_from_untagged_manifests(store: &dyn MetaStore) {
    let r = repo("gc/dry");
    let only_untagged = Digest::sha256(b"gc layer of an untagged manifest");
    let shared = Digest::sha256(b"gc layer shared with a tagged one");
    for d in [&only_untagged, &shared] {
        assert!(ok("link", store.link_blob(&r, d, 1).await));
    }
    let untagged = manifest("gc dry untagged", &[&only_untagged, &shared], None);
    let tagged = manifest("gc dry tagged", &[&shared], None);
    ok(
        "untagged",
        store.put_manifest(&r, &untagged, None, &[]).await,
    );
    ok(
        "tagged",
        store.put_manifest(&r, &tagged, Some(&tag("v1")), &[]).await,
    );
    let both = [only_untagged.clone(), shared.clone()];
    assert_eq!(
        ok(
            "as stored",
            store.unreferenced_blobs(&both, future(), false).await
        ),
        Vec::<Digest>::new()
    );
    assert_eq!(
        ok(
            "ignoring untagged",
            store.unreferenced_blobs(&both, future(), true).await
        ),
        vec![only_untagged.clone()]
    );
}

/// A repository holding no manifest and no young link is listed and
/// removed (its old links with it); one holding a manifest or a young link,
/// or made after the cutoff, is not; with `ignoring_untagged` untagged
/// manifests do not count; a push makes a removed one again.
pub async fn empty_repositories_are_removed_only_while_empty(store: &dyn MetaStore) {
    let (emptied, full, untagged) = (repo("gce/emptied"), repo("gce/full"), repo("gce/untagged"));
    let layer = Digest::sha256(b"gce layer");
    assert!(ok("link", store.link_blob(&emptied, &layer, 9).await));
    assert!(ok("link", store.link_blob(&full, &layer, 9).await));
    assert!(ok("link", store.link_blob(&untagged, &layer, 9).await));
    let m = manifest(r#"{"gce":1}"#, &[&layer], None);
    let t = tag("v1");
    ok(
        "put",
        store
            .put_manifest(&full, &m, Some(&t), std::slice::from_ref(&layer))
            .await,
    );
    ok(
        "put",
        store
            .put_manifest(&untagged, &m, None, std::slice::from_ref(&layer))
            .await,
    );

    let ours = |list: Vec<RepositoryName>| -> Vec<RepositoryName> {
        list.into_iter()
            .filter(|r| r.as_str().starts_with("gce/"))
            .collect()
    };
    let listed = ok(
        "list",
        store
            .empty_repositories(future(), None, 10_000, false)
            .await,
    );
    assert_eq!(
        ours(listed),
        vec![emptied.clone()],
        "only the one holding nothing but an old link"
    );
    let dry = ok(
        "list",
        store.empty_repositories(future(), None, 10_000, true).await,
    );
    assert_eq!(
        ours(dry),
        vec![emptied.clone(), untagged.clone()],
        "ignoring untagged manifests"
    );
    let young = ok(
        "list",
        store.empty_repositories(past(), None, 10_000, false).await,
    );
    assert!(
        ours(young).is_empty(),
        "young links and repositories are kept"
    );
    let after = ok(
        "page",
        store
            .empty_repositories(future(), Some(&emptied), 10_000, true)
            .await,
    );
    assert_eq!(
        ours(after),
        vec![untagged.clone()],
        "pages start after `after`"
    );

    assert!(!ok(
        "delete young",
        store.delete_empty_repository(&emptied, past()).await
    ));
    for kept in [&full, &untagged] {
        assert!(!ok(
            "delete one holding a manifest",
            store.delete_empty_repository(kept, future()).await
        ));
    }
    assert!(ok(
        "delete",
        store.delete_empty_repository(&emptied, future()).await
    ));
    assert!(!ok("exists", store.repository_exists(&emptied).await));
    assert_eq!(
        ok("linked", store.linked_blob(&emptied, &layer).await),
        None,
        "its old links went with it"
    );
    assert!(!ok(
        "delete again",
        store.delete_empty_repository(&emptied, future()).await
    ));
    assert!(ok("exists", store.repository_exists(&full).await));
    assert!(ok("link again", store.link_blob(&emptied, &layer, 9).await));
    assert_eq!(
        ok("linked", store.linked_blob(&emptied, &layer).await),
        Some(9)
    );
}
