//! The registry driven by a real client: skopeo pushes OCI layouts built here
//! into the server, pulls them back, inspects, lists, deletes and copies
//! between repositories, and every digest and byte must survive.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.
//! Copies use `--preserve-digests` so that skopeo never rewrites a manifest
//! (it would otherwise compress the uncompressed layers on the way), which
//! makes any digest change the registry's doing.

mod common;

use std::path::Path;

use common::layout::{self, Image, MultiPlatform};
use common::skopeo::{docker, oci, Skopeo};
use common::TestServer;

/// Writes `image` as a layout tagged `v1` under a fresh scratch directory and
/// pushes it to `name_tag` on `server`. Returns the layout's directory.
async fn push_image(
    skopeo: &Skopeo,
    server: &TestServer,
    image: &Image,
    name_tag: &str,
) -> std::path::PathBuf {
    let src = skopeo.scratch(&format!("push-{}", name_tag.replace(['/', ':'], "_")));
    layout::write_image(&src, "v1", image);
    skopeo
        .ok(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&src, "v1"),
            &docker(&server.host(), name_tag),
        ])
        .await;
    src
}

/// Pulls `name_tag` from `server` into a fresh layout tagged `v1`.
async fn pull_image(
    skopeo: &Skopeo,
    server: &TestServer,
    name_tag: &str,
    all: bool,
) -> std::path::PathBuf {
    let dest = skopeo.scratch(&format!("pull-{}", name_tag.replace(['/', ':'], "_")));
    let src = docker(&server.host(), name_tag);
    let dest_ref = oci(&dest, "v1");
    let mut args = vec!["copy", "--preserve-digests", "--src-tls-verify=false"];
    if all {
        args.push("--all");
    }
    args.extend([src.as_str(), dest_ref.as_str()]);
    skopeo.ok(&args).await;
    dest
}

fn assert_tagged_digest(dir: &Path, expected: &str, media_type: &str) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        expected,
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(
        entry["mediaType"],
        media_type,
        "media type of v1 in {}",
        dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_pushed_with_skopeo_pulls_back_with_the_same_digest_and_bytes() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(1);
    assert!(image.layers.iter().any(|l| l.len() > 5 * 1024 * 1024));

    let src = push_image(&skopeo, &server, &image, "library/app:v1").await;
    let out = pull_image(&skopeo, &server, "library/app:v1", false).await;

    assert_tagged_digest(&out, &image.digest, layout::OCI_MANIFEST);
    assert_eq!(layout::read_blob(&out, &image.digest), image.manifest);
    layout::assert_blobs_copied(&src, &out);
    for layer in &image.layers {
        let path = format!("/v2/library/app/blobs/{}", common::digest(layer));
        let resp = server.get(&path).await;
        assert_eq!(resp.status, 200, "GET {path}");
        assert!(
            resp.body == layer.as_slice(),
            "the registry serves layer {path} as pushed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_platform_index_round_trips_with_every_child_manifest_and_blob() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let multi = MultiPlatform::new(7);
    let src = skopeo.scratch("multi-in");
    layout::write_multi_platform(&src, "v1", &multi);
    let target = docker(&server.host(), "library/multi:v1");
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&src, "v1"),
            &target,
        ])
        .await;

    let resp = server
        .send(
            "GET",
            "/v2/library/multi/manifests/v1",
            &[("accept", layout::OCI_INDEX)],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("docker-content-digest"),
        Some(multi.digest.as_str())
    );
    assert!(
        resp.body == multi.index,
        "the registry serves the index bytes that were pushed"
    );

    let out = pull_image(&skopeo, &server, "library/multi:v1", true).await;
    assert_tagged_digest(&out, &multi.digest, layout::OCI_INDEX);
    assert_eq!(layout::read_blob(&out, &multi.digest), multi.index);
    for image in &multi.images {
        assert_eq!(
            layout::read_blob(&out, &image.digest),
            image.manifest,
            "child manifest for {:?}",
            image.platform
        );
        for blob in image.blobs() {
            assert_eq!(layout::read_blob(&out, &common::digest(blob)), blob);
        }
    }
    layout::assert_blobs_copied(&src, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_inspect_shows_the_pushed_manifest_and_its_digest() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(2);
    push_image(&skopeo, &server, &image, "library/app:v1").await;
    let target = docker(&server.host(), "library/app:v1");

    let raw = skopeo
        .ok(&["inspect", "--raw", "--tls-verify=false", &target])
        .await;
    assert!(
        raw.stdout.as_bytes() == image.manifest.as_slice(),
        "inspect --raw printed\n{}\nbut the pushed manifest is\n{}",
        raw.stdout,
        String::from_utf8_lossy(&image.manifest)
    );

    let info = skopeo
        .ok(&["inspect", "--tls-verify=false", &target])
        .await
        .json();
    assert_eq!(info["Digest"], image.digest.as_str(), "{info}");
    assert_eq!(info["Architecture"], "amd64", "{info}");
    assert_eq!(info["Os"], "linux", "{info}");
    let layers: Vec<String> = image.layers.iter().map(|l| common::digest(l)).collect();
    assert_eq!(info["Layers"], serde_json::json!(layers), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_lists_every_tag_that_was_pushed() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(3);
    push_image(&skopeo, &server, &image, "library/app:v1").await;
    push_image(&skopeo, &server, &image, "library/app:v2").await;

    let repo = docker(&server.host(), "library/app");
    let listed = skopeo
        .ok(&["list-tags", "--tls-verify=false", &repo])
        .await
        .json();
    let mut tags: Vec<&str> = listed["Tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no Tags in {listed}"))
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["v1", "v2"], "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_deleted_with_skopeo_is_gone_with_all_its_tags() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(4);
    push_image(&skopeo, &server, &image, "library/app:v1").await;
    push_image(&skopeo, &server, &image, "library/app:v2").await;
    let v1 = docker(&server.host(), "library/app:v1");
    let v2 = docker(&server.host(), "library/app:v2");

    // skopeo resolves the tag and deletes the manifest by its digest.
    skopeo.ok(&["delete", "--tls-verify=false", &v1]).await;

    for target in [&v1, &v2] {
        let out = skopeo.run(&["inspect", "--tls-verify=false", target]).await;
        assert!(
            !out.success,
            "inspect {target} still succeeds after the delete: {}",
            out.stdout
        );
    }
    let path = format!("/v2/library/app/manifests/{}", image.digest);
    let resp = server.get(&path).await;
    assert_eq!(resp.status, 404, "GET {path}: {:?}", resp.body);
    assert_eq!(resp.error_code(), "MANIFEST_UNKNOWN");
    let listed = skopeo
        .ok(&[
            "list-tags",
            "--tls-verify=false",
            &docker(&server.host(), "library/app"),
        ])
        .await
        .json();
    assert_eq!(listed["Tags"], serde_json::json!([]), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_between_repositories_of_one_server_preserves_the_digest() {
    let server = TestServer::start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(5);
    let src = push_image(&skopeo, &server, &image, "library/app:v1").await;

    let from = docker(&server.host(), "library/app:v1");
    let to = docker(&server.host(), "other/app:v1");
    let copy = skopeo
        .ok(&[
            "--debug",
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &from,
            &to,
        ])
        .await;
    // skopeo offers the layers it just read from library/app as mounts (its
    // debug log shows each request) and the server must accept every one.
    for layer in &image.layers {
        let hex = common::digest(layer).replace("sha256:", "");
        assert!(
            copy.stderr
                .contains(&format!("from=library%2Fapp&mount=sha256%3A{hex}")),
            "skopeo did not try to mount layer {hex}:\n{}",
            copy.stderr
        );
    }
    assert_eq!(
        copy.stderr.matches("mount OK").count(),
        image.layers.len(),
        "not every mount succeeded:\n{}",
        copy.stderr
    );

    let info = skopeo
        .ok(&["inspect", "--tls-verify=false", &to])
        .await
        .json();
    assert_eq!(info["Digest"], image.digest.as_str(), "{info}");
    for blob in image.blobs() {
        let path = format!("/v2/other/app/blobs/{}", common::digest(blob));
        let resp = server.get(&path).await;
        assert_eq!(resp.status, 200, "GET {path}");
        assert!(resp.body == blob, "other/app serves {path} as pushed");
    }
    let out = pull_image(&skopeo, &server, "other/app:v1", false).await;
    assert_tagged_digest(&out, &image.digest, layout::OCI_MANIFEST);
    layout::assert_blobs_copied(&src, &out);
}
