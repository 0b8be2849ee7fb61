//! The HTTP adapters against an in-process registry: images travel there and
//! back whole with Bearer tokens fetched once per scope, listings follow
//! `Link` pages and skip names that do not parse, a chunked push cut in the
//! middle of a chunk resumes from the acknowledged range, and the Harbor
//! adapter lists through projects and creates the missing ones.

mod common;

mod fake_registry;

use common::{registry, repo, tag, tagged};
use std::sync::Arc;

use bytes::Bytes;
use fake_registry::{Fake, PASSWORD, USER};
use harbor_core::{bytes_stream, Digest, Reference, Registry};
use harbor_replicate::adapters::{collect, DockerRegistry, Harbor, Local};
use harbor_replicate::{
    Copier, CopyOptions, Credential, Endpoint, MemoryCheckpoints, RegistryAdapter, ReplicateError,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn endpoint(fake: &Fake, password: &str) -> Endpoint {
    Endpoint {
        url: fake.url.clone(),
        credential: Some(Credential::Basic {
            username: USER.into(),
            password: password.into(),
        }),
        insecure: false,
    }
}

fn remote(fake: &Fake) -> Arc<dyn RegistryAdapter> {
    Arc::new(DockerRegistry::new(endpoint(fake, PASSWORD)).expect("an adapter"))
}

fn harbor(fake: &Fake) -> Arc<dyn RegistryAdapter> {
    Arc::new(Harbor::new(endpoint(fake, PASSWORD)).expect("an adapter"))
}

/// Pushes an image whose first layer is `layer_size` bytes; returns its
/// manifest and the digests of its blobs.
async fn image(r: &Registry, name: &str, tag: &str, layer_size: usize) -> (String, Vec<Digest>) {
    let blobs: Vec<Vec<u8>> = vec![
        br#"{"os":"linux"}"#.to_vec(),
        (0..layer_size).map(|i| (i % 251) as u8).collect(),
        b"second layer".to_vec(),
    ];
    let mut digests = Vec::new();
    for b in &blobs {
        let d = Digest::sha256(b);
        r.put_blob(&repo(name), &d, bytes_stream(b.clone()), None)
            .await
            .expect("the blob goes in");
        digests.push(d);
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        digests[0],
        blobs[0].len(),
        digests[1],
        blobs[1].len(),
        digests[2],
        blobs[2].len()
    );
    let tag = tagged(tag);
    r.put_manifest(
        &repo(name),
        &tag,
        Some(OCI_MANIFEST),
        Bytes::from(manifest.clone()),
    )
    .await
    .expect("the manifest goes in");
    (manifest, digests)
}

async fn manifest_at(r: &Registry, name: &str, tag: &str) -> Option<Bytes> {
    let reference = Reference::parse(tag).ok()?;
    r.get_manifest(&repo(name), &reference, None)
        .await
        .ok()
        .map(|m| m.payload)
}

#[tokio::test]
async fn an_image_travels_to_a_remote_and_back_whole_with_one_token_per_scope() {
    let fake = Fake::start().await;
    let (src, back) = (registry(), registry());
    let (manifest, digests) = image(&src, "library/app", "v1", 20_000).await;
    // One adapter both ways: its tokens are cached across copies.
    let there = remote(&fake);
    let up = Copier::new(
        Arc::new(Local::new(src.clone())),
        there.clone(),
        CopyOptions::default(),
    );
    let report = up
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!((report.blobs_copied, report.manifests), (3, 1));
    let down = Copier::new(
        there,
        Arc::new(Local::new(back.clone())),
        CopyOptions::default(),
    );
    down.copy_image(
        &repo("mirror/app"),
        &tagged("v1"),
        &repo("back/app"),
        Some(&tag("v1")),
    )
    .await
    .unwrap();
    assert_eq!(
        manifest_at(&back, "back/app", "v1").await.as_deref(),
        Some(manifest.as_bytes())
    );
    for d in &digests {
        let blob = back.get_blob(&repo("back/app"), d, None).await.unwrap();
        let bytes = collect(blob.body).await.unwrap_or_default();
        assert_eq!(&Digest::sha256(&bytes), d);
    }

    let again = up
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!((again.blobs_copied, again.blobs_skipped), (0, 3));

    let scopes = fake.state().token_scopes.clone();
    let mut unique = scopes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        scopes.len(),
        unique.len(),
        "a scope fetched twice: {scopes:?}"
    );
    assert!(
        scopes.contains(&"repository:mirror/app:pull,push".to_owned()),
        "{scopes:?}"
    );
}

#[tokio::test]
async fn within_one_remote_blobs_are_mounted_not_uploaded() {
    let fake = Fake::start().await;
    let src = registry();
    image(&src, "library/app", "v1", 5_000).await;
    Copier::new(
        Arc::new(Local::new(src)),
        remote(&fake),
        CopyOptions::default(),
    )
    .copy_image(
        &repo("library/app"),
        &tagged("v1"),
        &repo("mirror/app"),
        Some(&tag("v1")),
    )
    .await
    .unwrap();
    let options = CopyOptions {
        same_registry: true,
        ..CopyOptions::default()
    };
    let report = Copier::new(remote(&fake), remote(&fake), options)
        .copy_image(
            &repo("mirror/app"),
            &tagged("v1"),
            &repo("team/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!(
        (report.blobs_mounted, report.blobs_copied, report.bytes),
        (3, 0, 0)
    );
}

#[tokio::test]
async fn listings_follow_every_page_and_skip_names_that_do_not_parse() {
    let fake = Fake::start().await;
    for (r, t) in [
        ("a/x", "t1"),
        ("a/x", "t2"),
        ("a/x", "t3"),
        ("a/y", "v1"),
        ("b/z", "v1"),
    ] {
        fake.put_manifest(r, t, OCI_MANIFEST, format!("{r}:{t}").as_bytes());
    }
    let adapter = remote(&fake);
    let repos = adapter.list_repositories().await.unwrap();
    assert_eq!(repos, [repo("a/x"), repo("a/y"), repo("b/z")]);
    let tags = adapter.list_tags(&repo("a/x")).await.unwrap();
    assert_eq!(tags, [tag("t1"), tag("t2"), tag("t3")]);
    let missing = adapter.list_tags(&repo("a/none")).await;
    assert!(missing.is_err_and(|e| e.is_not_found()));
}

#[tokio::test]
async fn a_listing_that_does_not_parse_is_a_protocol_error_that_keeps_the_parsers() {
    let fake = Fake::start().await;
    fake.state().garbage_catalog = true;
    let e = remote(&fake).list_repositories().await;
    match e {
        Err(ReplicateError::Protocol {
            source: Some(source),
            ..
        }) => assert!(source.is::<serde_json::Error>(), "{source:?}"),
        other => panic!("expected a protocol error with its source, got {other:?}"),
    }
}

#[tokio::test]
async fn a_chunked_push_cut_mid_chunk_resumes_from_the_acknowledged_range() {
    let fake = Fake::start().await;
    let src = registry();
    let (_, digests) = image(&src, "library/app", "v1", 10_000).await;
    fake.state().cut_next_patch = true;
    let options = CopyOptions {
        chunk_size: Some(1024),
        checkpoints: Some(Arc::new(MemoryCheckpoints::new())),
        ..CopyOptions::default()
    };
    let report = Copier::new(Arc::new(Local::new(src)), remote(&fake), options)
        .copy_image(
            &repo("library/app"),
            &tagged("v1"),
            &repo("mirror/app"),
            Some(&tag("v1")),
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_copied, 3);
    let s = fake.state();
    assert!(!s.cut_next_patch, "the cut happened");
    assert_eq!(
        s.patched_bytes, 10_000,
        "the half chunk the registry kept is not sent again"
    );
    assert_eq!(s.patches, 10, "ten chunks acknowledged, none of them twice");
    let layer = s
        .blobs
        .get(&digests[1].to_string())
        .cloned()
        .unwrap_or_default();
    assert_eq!(Digest::sha256(&layer), digests[1]);
}

#[tokio::test]
async fn a_wrong_password_is_reported_as_unauthorized() {
    let fake = Fake::start().await;
    let adapter = DockerRegistry::new(endpoint(&fake, "wrong")).unwrap();
    let e = adapter.health().await;
    assert!(
        matches!(e, Err(ReplicateError::Unauthorized { .. })),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_harbor_lists_repositories_through_its_projects_and_creates_missing_ones_before_pushes() {
    let fake = Fake::start().await;
    {
        let mut s = fake.state();
        for p in ["lib", "p2", "p3"] {
            s.projects.insert(p.into());
        }
    }
    for r in ["lib/app", "lib/tool", "p3/x", "notaproject/y"] {
        fake.put_manifest(r, "v1", OCI_MANIFEST, r.as_bytes());
    }
    let adapter = harbor(&fake);
    let repos = adapter.list_repositories().await.unwrap();
    assert_eq!(repos, [repo("lib/app"), repo("lib/tool"), repo("p3/x")]);
    adapter
        .prepare_for_push(&[repo("new/app"), repo("lib/app"), repo("new/other")])
        .await
        .unwrap();
    assert_eq!(fake.state().created_projects, ["new"]);

    // A plain distribution registry has no projects to create.
    remote(&fake)
        .prepare_for_push(&[repo("fresh/app")])
        .await
        .unwrap();
    assert_eq!(fake.state().created_projects, ["new"]);
}
