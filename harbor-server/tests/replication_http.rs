//! Replication over real HTTP: harbor-replicate's `Copier` with
//! `DockerRegistry` adapters moves images (and multi-platform indexes) between
//! two of our servers, within one server by cross-repository mounts, and to
//! and from CNCF distribution with htpasswd Basic auth or trusting our token
//! service (and to an open one, without credentials). What skopeo pushed on
//! one side, skopeo pulls on the other with the same digests and bytes.
//!
//! skopeo, `/usr/bin/docker-registry` and `htpasswd` (apache2-utils) must be
//! installed (`scripts/test` installs them); these tests fail without them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::distribution::Distribution;
use common::layout::{self, Image, MultiPlatform};
use common::skopeo::{creds, docker, oci, Output, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};
use harbor_core::RegistryType;
use harbor_core::Role;
use harbor_replicate::{
    AdapterRegistry, Copier, CopyOptions, CopyReport, Credential, Endpoint, RegistryAdapter,
    ReplicateError,
};

const PASSWORD: &str = "Passw0rdPassw0rd";

fn basic(user: &str, password: &str) -> Option<Credential> {
    Some(Credential::Basic {
        username: user.into(),
        password: password.into(),
    })
}

fn admin() -> Option<Credential> {
    basic("admin", ADMIN_PASSWORD)
}

/// An adapter of `kind` (`harbor` or `docker-registry`) for `url`.
fn adapter(
    url: &str,
    credential: Option<Credential>,
    kind: &'static str,
) -> Arc<dyn RegistryAdapter> {
    let endpoint = Endpoint {
        url: url.to_owned(),
        credential,
        insecure: false,
    };
    AdapterRegistry::with_defaults()
        .create(&RegistryType::parse(kind), &endpoint)
        .unwrap_or_else(|e| panic!("{kind} adapter for {url}: {e}"))
}

/// Copies `src_repo:reference` to `dst_repo:tag`, failing the test on error.
async fn copy(
    copier: &Copier,
    src_repo: &str,
    reference: &str,
    dst_repo: &str,
    tag: &str,
) -> CopyReport {
    copier
        .copy_image(
            &common::repo(src_repo),
            &common::reference(reference),
            &common::repo(dst_repo),
            Some(&common::tag(tag)),
        )
        .await
        .unwrap_or_else(|e| panic!("copy {src_repo}:{reference} to {dst_repo}:{tag}: {e}"))
}

/// The digest a report names, as text.
fn digest_of(report: &CopyReport) -> String {
    report
        .digest
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("the report names no digest: {report:?}"))
}

/// Bytes of every blob of `image`.
fn size_of(image: &Image) -> u64 {
    image.blobs().iter().map(|b| b.len() as u64).sum()
}

/// Writes `multi` as a layout tagged `v1` and pushes every platform of it to
/// `target` (`docker://...`) as `creds`. Returns the layout and what skopeo did.
async fn push_index(
    skopeo: &Skopeo,
    multi: &MultiPlatform,
    target: &str,
    creds: &str,
    name: &str,
) -> (PathBuf, Output) {
    let src = skopeo.scratch(name);
    layout::write_multi_platform(&src, "v1", multi);
    let creds = format!("--dest-creds={creds}");
    let out = skopeo
        .run(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &creds,
            &oci(&src, "v1"),
            target,
        ])
        .await;
    (src, out)
}

/// Pulls every platform of `source` (`docker://...`) as `creds` into a fresh
/// layout tagged `v1`. Returns the layout and what skopeo did.
async fn pull_index(skopeo: &Skopeo, source: &str, creds: &str, name: &str) -> (PathBuf, Output) {
    let dest = skopeo.scratch(name);
    let creds = format!("--src-creds={creds}");
    let out = skopeo
        .run(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &creds,
            source,
            &oci(&dest, "v1"),
        ])
        .await;
    (dest, out)
}

/// The layout at `dir` holds `image` under `v1`: digest, manifest bytes and
/// every blob of the layout `src` it was pushed from.
fn assert_image(dir: &Path, src: &Path, image: &Image) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        image.digest.as_str(),
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(entry["mediaType"], layout::OCI_MANIFEST, "{entry}");
    assert!(
        layout::read_blob(dir, &image.digest) == image.manifest,
        "the manifest bytes changed on the way"
    );
    layout::assert_blobs_copied(src, dir);
}

/// The layout at `dir` holds the index `multi` under `v1`: its digest, its
/// bytes, every child manifest and every blob of the layout `src`.
fn assert_index(dir: &Path, src: &Path, multi: &MultiPlatform) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        multi.digest.as_str(),
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(entry["mediaType"], layout::OCI_INDEX, "{entry}");
    assert!(
        layout::read_blob(dir, &multi.digest) == multi.index,
        "the index bytes changed on the way"
    );
    for image in &multi.images {
        assert!(
            layout::read_blob(dir, &image.digest) == image.manifest,
            "child manifest for {:?} changed on the way",
            image.platform
        );
    }
    layout::assert_blobs_copied(src, dir);
}

/// What a project looks like through `/api/v2.0` to the admin.
async fn project(server: &TestServer, name: &str) -> common::Resp {
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("admin:{ADMIN_PASSWORD}")
        )
    );
    server
        .get_with(&format!("/api/v2.0/projects/{name}"), &auth)
        .await
}

/// An image and an index pushed by skopeo (as admin) to `library/app:v1`
/// and `library/multi:v1` of `server`, with the layouts they came from.
struct Pushed {
    image: Image,
    image_src: PathBuf,
    multi: MultiPlatform,
    multi_src: PathBuf,
}

async fn push_both(skopeo: &Skopeo, server: &TestServer, seed: u64) -> Pushed {
    let admin = creds("admin", ADMIN_PASSWORD);
    let image = layout::three_layer_image(seed);
    let (image_src, out) = skopeo
        .push(
            &image,
            &docker(&server.host(), "library/app:v1"),
            Some(&admin),
        )
        .await;
    out.assert_success();
    let multi = MultiPlatform::new(seed + 1);
    let (multi_src, out) = push_index(
        skopeo,
        &multi,
        &docker(&server.host(), "library/multi:v1"),
        &admin,
        &format!("multi-in-{seed}"),
    )
    .await;
    out.assert_success();
    Pushed {
        image,
        image_src,
        multi,
        multi_src,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_and_an_index_copied_between_two_of_our_servers_pull_back_identical_and_a_second_copy_moves_no_bytes(
) {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let pushed = push_both(&skopeo, &a, 31).await;
    assert_eq!(
        project(&b, "mirror").await.status,
        404,
        "the destination project must not exist before the copy"
    );
    let copier = Copier::new(
        adapter(&a.base, admin(), "harbor"),
        adapter(&b.base, admin(), "harbor"),
        CopyOptions::default(),
    );

    let report = copy(&copier, "library/app", "v1", "mirror/app", "v1").await;
    assert_eq!(digest_of(&report), pushed.image.digest);
    assert_eq!(
        (
            report.blobs_copied,
            report.blobs_skipped,
            report.blobs_mounted,
            report.manifests
        ),
        (4, 0, 0, 1),
        "{report:?}"
    );
    assert_eq!(report.bytes, size_of(&pushed.image), "{report:?}");
    let report = copy(&copier, "library/multi", "v1", "mirror/multi", "v1").await;
    assert_eq!(digest_of(&report), pushed.multi.digest);
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped, report.manifests),
        (6, 0, 3),
        "{report:?}"
    );

    // The copy created the missing project, private, through /api/v2.0.
    let created = project(&b, "mirror").await;
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        created.json()["metadata"]["public"],
        "false",
        "{}",
        created.json()
    );

    let admin_creds = creds("admin", ADMIN_PASSWORD);
    let (out, pull) = skopeo
        .pull(&docker(&b.host(), "mirror/app:v1"), Some(&admin_creds))
        .await;
    pull.assert_success();
    assert_image(&out, &pushed.image_src, &pushed.image);
    let (out, pull) = pull_index(
        &skopeo,
        &docker(&b.host(), "mirror/multi:v1"),
        &admin_creds,
        "multi-out",
    )
    .await;
    pull.assert_success();
    assert_index(&out, &pushed.multi_src, &pushed.multi);

    let again = copy(&copier, "library/app", "v1", "mirror/app", "v1").await;
    assert_eq!(
        (again.blobs_copied, again.blobs_skipped, again.bytes),
        (0, 4, 0),
        "{again:?}"
    );
    assert_eq!(digest_of(&again), pushed.image.digest);
    let again = copy(&copier, "library/multi", "v1", "mirror/multi", "v1").await;
    assert_eq!(
        (again.blobs_copied, again.blobs_skipped, again.bytes),
        (0, 6, 0),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_override_a_differing_destination_tag_is_kept_and_with_it_the_tag_is_replaced() {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    b.create_project("mirror", false).await;
    let skopeo = Skopeo::new();
    let admin_creds = creds("admin", ADMIN_PASSWORD);
    let ours = layout::three_layer_image(41);
    let (ours_src, out) = skopeo
        .push(
            &ours,
            &docker(&a.host(), "library/app:v1"),
            Some(&admin_creds),
        )
        .await;
    out.assert_success();
    let theirs = layout::three_layer_image(42);
    let (_, out) = skopeo
        .push(
            &theirs,
            &docker(&b.host(), "mirror/app:v1"),
            Some(&admin_creds),
        )
        .await;
    out.assert_success();
    let (src, dst) = (
        adapter(&a.base, admin(), "harbor"),
        adapter(&b.base, admin(), "harbor"),
    );

    let keep = Copier::new(
        src.clone(),
        dst.clone(),
        CopyOptions {
            override_tags: false,
            ..CopyOptions::default()
        },
    );
    let report = copy(&keep, "library/app", "v1", "mirror/app", "v1").await;
    assert!(report.tag_kept, "{report:?}");
    assert_eq!(digest_of(&report), theirs.digest, "{report:?}");
    assert_eq!(
        (report.blobs_copied, report.manifests, report.bytes),
        (0, 0, 0),
        "{report:?}"
    );
    let now = dst
        .manifest_digest(&common::repo("mirror/app"), &common::reference("v1"))
        .await
        .unwrap_or_else(|e| panic!("HEAD mirror/app:v1: {e}"))
        .map(|d| d.to_string());
    assert_eq!(now, Some(theirs.digest.clone()), "the kept tag moved");

    let replace = Copier::new(src.clone(), dst.clone(), CopyOptions::default());
    let report = copy(&replace, "library/app", "v1", "mirror/app", "v1").await;
    assert!(!report.tag_kept, "{report:?}");
    assert_eq!(digest_of(&report), ours.digest, "{report:?}");
    let (out, pull) = skopeo
        .pull(&docker(&b.host(), "mirror/app:v1"), Some(&admin_creds))
        .await;
    pull.assert_success();
    assert_image(&out, &ours_src, &ours);

    // Now that the tag names the same content, `override: false` copies on.
    let report = copy(&keep, "library/app", "v1", "mirror/app", "v1").await;
    assert!(!report.tag_kept, "{report:?}");
    assert_eq!(
        (report.blobs_copied, report.blobs_skipped),
        (0, 4),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_between_projects_of_one_server_mounts_every_blob_and_moves_no_bytes() {
    let server = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let pushed = push_both(&skopeo, &server, 51).await;
    let registry = adapter(&server.base, admin(), "harbor");
    let copier = Copier::new(
        registry.clone(),
        registry,
        CopyOptions {
            same_registry: true,
            ..CopyOptions::default()
        },
    );

    let report = copy(&copier, "library/app", "v1", "mirror/app", "v1").await;
    assert_eq!(digest_of(&report), pushed.image.digest);
    assert_eq!(
        (
            report.blobs_mounted,
            report.blobs_copied,
            report.blobs_skipped,
            report.bytes
        ),
        (4, 0, 0, 0),
        "{report:?}"
    );
    let report = copy(&copier, "library/multi", "v1", "mirror/multi", "v1").await;
    assert_eq!(digest_of(&report), pushed.multi.digest);
    assert_eq!(
        (
            report.blobs_mounted,
            report.blobs_copied,
            report.bytes,
            report.manifests
        ),
        (6, 0, 0, 3),
        "{report:?}"
    );

    let admin_creds = creds("admin", ADMIN_PASSWORD);
    let (out, pull) = skopeo
        .pull(&docker(&server.host(), "mirror/app:v1"), Some(&admin_creds))
        .await;
    pull.assert_success();
    assert_image(&out, &pushed.image_src, &pushed.image);
    let (out, pull) = pull_index(
        &skopeo,
        &docker(&server.host(), "mirror/multi:v1"),
        &admin_creds,
        "multi-out",
    )
    .await;
    pull.assert_success();
    assert_index(&out, &pushed.multi_src, &pushed.multi);
}

/// Copies `library/app:v1` and `library/multi:v1` of `server` to `<ns>/app`
/// and `<ns>/multi` on `peer` (reached through `remote`), pulls them from
/// `peer` with skopeo as `peer_creds`, then copies them back into the new
/// project `back` of `server`, and pulls them from there. With `chunk`,
/// blobs larger than it are pushed by chunks of that size both ways.
async fn round_trip_through(
    server: &TestServer,
    peer: &Distribution,
    remote: Arc<dyn RegistryAdapter>,
    ns: &str,
    peer_creds: &str,
    seed: u64,
    chunk: Option<u64>,
) {
    let options = || CopyOptions {
        chunk_size: chunk,
        ..CopyOptions::default()
    };
    let skopeo = Skopeo::new();
    let pushed = push_both(&skopeo, server, seed).await;
    let ours = adapter(&server.base, admin(), "harbor");
    let (app, multi) = (format!("{ns}/app"), format!("{ns}/multi"));

    let out = Copier::new(ours.clone(), remote.clone(), options());
    let report = copy(&out, "library/app", "v1", &app, "v1").await;
    assert_eq!(digest_of(&report), pushed.image.digest);
    assert_eq!(
        (report.blobs_copied, report.bytes),
        (4, size_of(&pushed.image)),
        "{report:?}"
    );
    let report = copy(&out, "library/multi", "v1", &multi, "v1").await;
    assert_eq!(digest_of(&report), pushed.multi.digest);
    assert_eq!(
        (report.blobs_copied, report.manifests),
        (6, 3),
        "{report:?}"
    );

    let (dir, pull) = skopeo
        .pull(
            &docker(&peer.host(), &format!("{app}:v1")),
            Some(peer_creds),
        )
        .await;
    peer.assert_success(&pull);
    assert_image(&dir, &pushed.image_src, &pushed.image);
    let (dir, pull) = pull_index(
        &skopeo,
        &docker(&peer.host(), &format!("{multi}:v1")),
        peer_creds,
        "multi-from-peer",
    )
    .await;
    peer.assert_success(&pull);
    assert_index(&dir, &pushed.multi_src, &pushed.multi);

    let back = Copier::new(remote, ours, options());
    let report = copy(&back, &app, "v1", "back/app", "v1").await;
    assert_eq!(digest_of(&report), pushed.image.digest);
    assert_eq!(report.blobs_copied, 4, "{report:?}");
    let report = copy(&back, &multi, "v1", "back/multi", "v1").await;
    assert_eq!(digest_of(&report), pushed.multi.digest);
    assert_eq!(report.blobs_copied, 6, "{report:?}");

    let admin_creds = creds("admin", ADMIN_PASSWORD);
    let (dir, pull) = skopeo
        .pull(&docker(&server.host(), "back/app:v1"), Some(&admin_creds))
        .await;
    pull.assert_success();
    assert_image(&dir, &pushed.image_src, &pushed.image);
    let (dir, pull) = pull_index(
        &skopeo,
        &docker(&server.host(), "back/multi:v1"),
        &admin_creds,
        "multi-back",
    )
    .await;
    pull.assert_success();
    assert_index(&dir, &pushed.multi_src, &pushed.multi);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_replicate_to_distribution_with_htpasswd_basic_auth_and_back_with_the_same_digests()
{
    let server = TestServer::start_with_auth().await;
    let peer = Distribution::with_htpasswd("mirror-user", PASSWORD).await;
    let remote = adapter(
        &peer.base(),
        basic("mirror-user", PASSWORD),
        "docker-registry",
    );
    remote
        .health()
        .await
        .unwrap_or_else(|e| panic!("distribution with htpasswd: {e}\n{}", peer.log_text()));
    round_trip_through(
        &server,
        &peer,
        remote,
        "mirror",
        &creds("mirror-user", PASSWORD),
        61,
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_replicate_to_distribution_trusting_our_tokens_and_back_with_the_same_digests() {
    let server = TestServer::start_with_auth().await;
    let team = server.create_project("team", false).await;
    let dev = server.create_user("dev", PASSWORD).await;
    server.add_member(team, dev, Role::Developer).await;
    let peer = Distribution::with_token(&server).await;
    let remote = adapter(&peer.base(), basic("dev", PASSWORD), "docker-registry");
    // By 1 MiB chunks, with distribution checking our tokens on every PATCH.
    round_trip_through(
        &server,
        &peer,
        remote,
        "team",
        &creds("dev", PASSWORD),
        71,
        Some(1 << 20),
    )
    .await;
    let log = peer.log_text();
    assert!(
        log.contains("auth.user.name=dev"),
        "distribution did not log requests authorized as dev by our tokens:\n{log}"
    );
    assert!(
        log.contains("http.request.method=PATCH"),
        "the 5 MiB layers did not go by chunks:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_replicates_to_an_open_distribution_without_credentials() {
    let server = TestServer::start_with_auth().await;
    let peer = Distribution::open().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(75);
    let (src, out) = skopeo
        .push(
            &image,
            &docker(&server.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await;
    out.assert_success();
    let copier = Copier::new(
        adapter(&server.base, admin(), "harbor"),
        adapter(&peer.base(), None, "docker-registry"),
        CopyOptions::default(),
    );

    let report = copy(&copier, "library/app", "v1", "open/app", "v1").await;
    assert_eq!(digest_of(&report), image.digest);
    assert_eq!(report.blobs_copied, 4, "{report:?}");
    let (dir, pull) = skopeo
        .pull(&docker(&peer.host(), "open/app:v1"), None)
        .await;
    peer.assert_success(&pull);
    assert_image(&dir, &src, &image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_as_unauthorized_on_either_side_without_a_panic() {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(81);
    let (_, out) = skopeo
        .push(
            &image,
            &docker(&a.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await;
    out.assert_success();
    let wrong = || basic("admin", "not-the-password");
    let peer = Distribution::with_htpasswd("mirror-user", PASSWORD).await;

    let cases = [
        (
            "a wrong source password (our token service)",
            adapter(&a.base, wrong(), "harbor"),
            adapter(&b.base, admin(), "harbor"),
        ),
        (
            "a wrong destination password (our /api/v2.0)",
            adapter(&a.base, admin(), "harbor"),
            adapter(&b.base, wrong(), "harbor"),
        ),
        (
            "a wrong destination password (distribution's htpasswd)",
            adapter(&a.base, admin(), "harbor"),
            adapter(
                &peer.base(),
                basic("mirror-user", "not-the-password"),
                "docker-registry",
            ),
        ),
    ];
    for (what, src, dst) in cases {
        let copier = Copier::new(src, dst, CopyOptions::default());
        match copier
            .copy_image(
                &common::repo("library/app"),
                &common::reference("v1"),
                &common::repo("mirror/app"),
                Some(&common::tag("v1")),
            )
            .await
        {
            Err(e @ ReplicateError::Unauthorized { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains("refused the credentials"),
                    "{what}: unclear message {message:?}"
                );
            }
            Err(e) => panic!("{what}: expected Unauthorized, got {e:?} ({e})"),
            Ok(r) => panic!("{what}: the copy succeeded: {r:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_tag_or_repository_is_an_error_that_says_not_found() {
    let (a, b) = (
        TestServer::start_with_auth().await,
        TestServer::start_with_auth().await,
    );
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(91);
    let (_, out) = skopeo
        .push(
            &image,
            &docker(&a.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await;
    out.assert_success();
    let copier = Copier::new(
        adapter(&a.base, admin(), "harbor"),
        adapter(&b.base, admin(), "harbor"),
        CopyOptions::default(),
    );

    for (repo, reference) in [
        ("library/app", "no-such-tag"),
        ("library/none", "v1"),
        (
            "library/app",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ] {
        match copier
            .copy_image(
                &common::repo(repo),
                &common::reference(reference),
                &common::repo("mirror/app"),
                Some(&common::tag("v1")),
            )
            .await
        {
            Err(e) => assert!(
                e.is_not_found(),
                "{repo}:{reference}: is_not_found() is false for {e:?} ({e})"
            ),
            Ok(r) => panic!("{repo}:{reference}: the copy succeeded: {r:?}"),
        }
    }
    assert_eq!(
        project(&b, "mirror").await.status,
        404,
        "a failed copy created the destination project"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harbor_adapter_lists_repositories_through_the_projects_api_as_its_user_sees_them() {
    let server = TestServer::start_with_auth().await;
    let team = server.create_project("team", false).await;
    server.create_project("other", false).await;
    let dev = server.create_user("dev", PASSWORD).await;
    server.add_member(team, dev, Role::Developer).await;
    let skopeo = Skopeo::new();
    let (_, out) = skopeo
        .push(
            &layout::three_layer_image(81),
            &docker(&server.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await;
    out.assert_success();
    let ours = adapter(&server.base, admin(), "harbor");
    let within = Copier::new(
        ours.clone(),
        ours.clone(),
        CopyOptions {
            same_registry: true,
            ..CopyOptions::default()
        },
    );
    for dst in ["team/app", "team/tools/cli", "other/secret"] {
        copy(&within, "library/app", "v1", dst, "v1").await;
    }

    let as_dev = adapter(&server.base, basic("dev", PASSWORD), "harbor");
    let repos = as_dev
        .list_repositories()
        .await
        .unwrap_or_else(|e| panic!("listing as dev: {e}"));
    let repos: Vec<&str> = repos.iter().map(|r| r.as_str()).collect();
    assert_eq!(repos, ["library/app", "team/app", "team/tools/cli"]);
    let all = ours
        .list_repositories()
        .await
        .unwrap_or_else(|e| panic!("listing as admin: {e}"));
    let all: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        all,
        ["library/app", "other/secret", "team/app", "team/tools/cli"]
    );
}
