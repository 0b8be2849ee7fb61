//! The OCI distribution API over HTTP: every endpoint, and every error path
//! answered in the spec's form.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{digest, TestServer};
use harbor_core::media_type::{
    DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST,
};
use harbor_core::{
    BuiltManifest, Descriptor, Digest, ImageIndexBuilder, ImageManifestBuilder, Platform,
    EMPTY_JSON,
};

/// An OCI image manifest over the config blob `config` and `layers`.
fn image_manifest(config: &[u8], layers: &[Descriptor]) -> BuiltManifest {
    ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
        .layers(layers.iter().cloned())
        .build()
        .expect("a valid manifest")
}

/// Pushes a config and one layer, then a manifest under `tag`; returns the
/// manifest and its digest.
async fn push_image(s: &TestServer, repo: &str, tag: &str, seed: &str) -> (BuiltManifest, String) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
    let layer = format!("layer bytes for {seed}").into_bytes();
    s.push_blob(repo, config.as_bytes()).await;
    s.push_blob(repo, &layer).await;
    let manifest = image_manifest(
        config.as_bytes(),
        &[Descriptor::for_blob(OCI_LAYER_TAR, &layer)],
    );
    let r = s
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("content-type", OCI_MANIFEST)],
            manifest.bytes().clone(),
        )
        .await;
    assert_eq!(
        r.status,
        201,
        "manifest push: {}",
        String::from_utf8_lossy(&r.body)
    );
    let md = digest(manifest.bytes());
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/{repo}/manifests/{md}").as_str())
    );
    (manifest, md)
}

#[tokio::test]
async fn the_base_endpoint_answers_with_the_api_version_header() {
    let s = TestServer::start().await;
    let r = s.get("/v2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let r = s.get("/v2").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn health_reports_every_component_healthy() {
    let s = TestServer::start().await;
    let r = s.get("/api/v2.0/health").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["status"], "healthy");
    assert!(j["components"]
        .as_array()
        .is_some_and(|c| c.iter().all(|c| c["status"] == "healthy")));
}

#[tokio::test]
async fn a_monolithic_blob_push_is_served_whole_by_head_and_get_and_in_ranges() {
    let s = TestServer::start().await;
    let data: Vec<u8> = (0..100u8).collect();
    let d = s.push_blob("library/blobs", &data).await;

    let r = s
        .send("HEAD", &format!("/v2/library/blobs/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert!(r.body.is_empty());

    let r = s.get(&format!("/v2/library/blobs/blobs/{d}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &data[..]);

    let r = s
        .send(
            "GET",
            &format!("/v2/library/blobs/blobs/{d}"),
            &[("range", "bytes=10-19")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100"));
    assert_eq!(&r.body[..], &data[10..20]);

    let r = s
        .send(
            "GET",
            &format!("/v2/library/blobs/blobs/{d}"),
            &[("range", "bytes=-5")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &data[95..]);

    let r = s
        .send(
            "GET",
            &format!("/v2/library/blobs/blobs/{d}"),
            &[("range", "bytes=100-")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100"));
    assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID");
}

#[tokio::test]
async fn blobs_are_visible_only_in_the_repositories_that_hold_them() {
    let s = TestServer::start().await;
    let d = s.push_blob("library/a", b"private to a").await;
    let r = s.get(&format!("/v2/library/b/blobs/{d}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "BLOB_UNKNOWN");
    let r = s
        .send("HEAD", &format!("/v2/library/b/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn post_then_put_uploads_a_blob() {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/up/blobs/uploads/", &[], vec![])
        .await;
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap_or_default().to_owned();
    let uuid = r
        .header("docker-upload-uuid")
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.ends_with(&uuid) && !uuid.is_empty(),
        "{location} {uuid}"
    );
    assert_eq!(r.header("range"), Some("0-0"));
    let data = b"put in one go";
    let r = s
        .send(
            "PUT",
            &format!("{location}?digest={}", digest(data)),
            &[("content-type", "application/octet-stream")],
            data.to_vec(),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/library/up/blobs/{}", digest(data)).as_str())
    );
    let r = s
        .get(&format!("/v2/library/up/blobs/{}", digest(data)))
        .await;
    assert_eq!(&r.body[..], data);
    // The session is over.
    let r = s.get(&location).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn chunked_uploads_resume_and_an_out_of_order_chunk_gets_416_with_the_current_range() {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/chunks/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();

    let r = s
        .send(
            "PATCH",
            &location,
            &[
                ("content-range", "0-999"),
                ("content-type", "application/octet-stream"),
            ],
            data[..1000].to_vec(),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-999"));
    let location = r.header("location").unwrap_or_default().to_owned();

    // A chunk that skips ahead is refused and changes nothing.
    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "2000-2999")],
            data[2000..].to_vec(),
        )
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("range"), Some("0-999"));
    assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID");

    // A chunk whose length contradicts its range is refused too.
    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "1000-1999")],
            data[1000..1500].to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "SIZE_INVALID");

    let r = s.get(&location).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-999"));

    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "1000-1999")],
            data[1000..2000].to_vec(),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-1999"));

    // The last chunk rides on the closing PUT.
    let r = s
        .send(
            "PUT",
            &format!("{location}?digest={}", digest(&data)),
            &[],
            data[2000..].to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .get(&format!("/v2/library/chunks/blobs/{}", digest(&data)))
        .await;
    assert_eq!(&r.body[..], &data[..]);
}

#[tokio::test]
async fn a_streamed_patch_without_content_range_then_an_empty_put_completes_the_upload() {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/stream/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    let data = vec![7u8; 200_000];
    let r = s.send("PATCH", &location, &[], data.clone()).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range"), Some("0-199999"));
    let r = s
        .send(
            "PUT",
            &format!("{location}?digest={}", digest(&data)),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    let r = s
        .send(
            "HEAD",
            &format!("/v2/library/stream/blobs/{}", digest(&data)),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.header("content-length"), Some("200000"));
}

#[tokio::test]
async fn a_cancelled_upload_is_gone() {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/cancel/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    s.send("PATCH", &location, &[], b"abc".to_vec()).await;
    let r = s.send("DELETE", &location, &[], vec![]).await;
    assert_eq!(r.status, 204);
    for method in ["GET", "PATCH", "DELETE"] {
        let r = s.send(method, &location, &[], vec![]).await;
        assert_eq!(r.status, 404, "{method} after cancel");
        assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    }
}

#[tokio::test]
async fn unknown_or_foreign_upload_sessions_are_blob_upload_unknown() {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/one/blobs/uploads/", &[], vec![])
        .await;
    let uuid = r
        .header("docker-upload-uuid")
        .unwrap_or_default()
        .to_owned();
    // The session belongs to library/one, not library/two.
    let r = s
        .get(&format!("/v2/library/two/blobs/uploads/{uuid}"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    for id in ["not-a-uuid", "..", "00000000-0000-4000-8000-000000000000"] {
        let r = s
            .send(
                "PATCH",
                &format!("/v2/library/one/blobs/uploads/{id}"),
                &[],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.status, 404, "{id}");
        assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    }
}

#[tokio::test]
async fn a_wrong_digest_is_refused_and_no_blob_becomes_visible() {
    let s = TestServer::start().await;
    let claimed = digest(b"what the client claims");
    let r = s
        .send(
            "POST",
            &format!("/v2/library/bad/blobs/uploads/?digest={claimed}"),
            &[],
            b"actual".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = s
        .send(
            "HEAD",
            &format!("/v2/library/bad/blobs/{claimed}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);

    let r = s
        .send("POST", "/v2/library/bad/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    let r = s
        .send(
            "PUT",
            &format!("{location}?digest={claimed}"),
            &[],
            b"actual".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    let r = s
        .send(
            "HEAD",
            &format!("/v2/library/bad/blobs/{}", digest(b"actual")),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);

    for bad in ["sha256:xyz", "md5:abc", "nonsense"] {
        let r = s
            .send(
                "POST",
                &format!("/v2/library/bad/blobs/uploads/?digest={bad}"),
                &[],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error_code(), "DIGEST_INVALID");
    }
    let r = s
        .send("POST", "/v2/library/bad/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    let r = s.send("PUT", &location, &[], vec![]).await;
    assert_eq!(r.status, 400, "PUT without a digest");
    assert_eq!(r.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn a_blob_is_mounted_across_repositories_or_the_client_gets_a_session() {
    let s = TestServer::start().await;
    let d = s.push_blob("library/src", b"mount me").await;
    let r = s
        .send(
            "POST",
            &format!("/v2/library/dst/blobs/uploads/?mount={d}&from=library/src"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/library/dst/blobs/{d}").as_str())
    );
    assert_eq!(
        s.get(&format!("/v2/library/dst/blobs/{d}"))
            .await
            .body
            .as_ref(),
        b"mount me"
    );

    // The source does not hold it: fall back to an upload session.
    let r = s
        .send(
            "POST",
            &format!("/v2/library/dst2/blobs/uploads/?mount={d}&from=library/nothing"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r
        .header("location")
        .is_some_and(|l| l.starts_with("/v2/library/dst2/blobs/uploads/")));

    // Without `from`, a blob this registry holds is mounted.
    let r = s
        .send(
            "POST",
            &format!("/v2/library/dst3/blobs/uploads/?mount={d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    let unknown = digest(b"never pushed");
    let r = s
        .send(
            "POST",
            &format!("/v2/library/dst3/blobs/uploads/?mount={unknown}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
}

#[tokio::test]
async fn manifests_are_pulled_by_tag_and_digest_with_their_headers() {
    let s = TestServer::start().await;
    let (manifest, md) = push_image(&s, "library/img", "v1", "one").await;
    for reference in ["v1", md.as_str()] {
        let r = s
            .get(&format!("/v2/library/img/manifests/{reference}"))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.as_ref(), manifest.bytes().as_ref());
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        let r = s
            .send(
                "HEAD",
                &format!("/v2/library/img/manifests/{reference}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-length"),
            Some(manifest.size().to_string().as_str())
        );
        assert!(r.body.is_empty());
    }
    // Content negotiation: a client that accepts only Docker manifests does
    // not get an OCI manifest by tag, but one that accepts it (or */*) does.
    let r = s
        .send(
            "GET",
            "/v2/library/img/manifests/v1",
            &[("accept", DOCKER_MANIFEST)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    let r = s
        .send(
            "GET",
            "/v2/library/img/manifests/v1",
            &[("accept", DOCKER_MANIFEST), ("accept", OCI_MANIFEST)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .send(
            "GET",
            "/v2/library/img/manifests/v1",
            &[("accept", "*/*")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);

    let r = s.get("/v2/library/img/manifests/v2").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    let r = s.get("/v2/library/never/manifests/v1").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
}

#[tokio::test]
async fn bad_manifests_are_refused_with_their_codes_and_change_nothing() {
    let s = TestServer::start().await;
    let repo = "library/badm";
    let config = br#"{"os":"linux"}"#;
    s.push_blob(repo, config).await;
    let missing = Digest::sha256(b"layer never uploaded");
    let put = |body: Bytes, ct: &'static str, reference: String| {
        let s = &s;
        async move {
            s.send(
                "PUT",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("content-type", ct)],
                body,
            )
            .await
        }
    };
    let r = put(
        image_manifest(config, &[Descriptor::new(OCI_LAYER_TAR, missing, 5)]).into_bytes(),
        OCI_MANIFEST,
        "t".into(),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );

    let schema1 =
        r#"{"schemaVersion":1,"name":"library/badm","tag":"t","fsLayers":[],"history":[]}"#;
    let r = put(
        schema1.into(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "t".into(),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID")
    );

    let r = put("{not json".into(), OCI_MANIFEST, "t".into()).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID")
    );

    let good = image_manifest(config, &[]).into_bytes();
    let r = put(good.clone(), OCI_INDEX, "t".into()).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_INVALID"),
        "Content-Type contradicts mediaType"
    );

    let r = put(good.clone(), OCI_MANIFEST, digest(b"other")).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));

    let big = [good.as_ref(), " ".repeat(4 * 1024 * 1024).as_bytes()].concat();
    let r = put(big.into(), OCI_MANIFEST, "t".into()).await;
    assert_eq!(r.status, 413);

    let r = put(good.clone(), OCI_MANIFEST, "bad:tag!".into()).await;
    assert_eq!(r.status, 400);
    let r = put(good.clone(), OCI_MANIFEST, "-leadingdash".into()).await;
    assert_eq!(r.status, 400);

    // Nothing of the above was stored.
    let r = s.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));

    // The good one goes in, by digest too.
    let r = put(good.clone(), OCI_MANIFEST, digest(&good)).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn an_index_needs_its_children_first() {
    let s = TestServer::start().await;
    let repo = "library/multi";
    let (amd, _) = push_image(&s, repo, "amd64", "amd").await;
    let arm_config = br#"{"architecture":"arm64","os":"linux"}"#;
    s.push_blob(repo, arm_config).await;
    let arm = image_manifest(arm_config, &[]);
    let arm_d = digest(arm.bytes());
    let index = ImageIndexBuilder::oci()
        .manifest(
            amd.descriptor()
                .with_platform(Platform::new("linux", "amd64")),
        )
        .manifest(
            arm.descriptor()
                .with_platform(Platform::new("linux", "arm64")),
        )
        .build()
        .unwrap()
        .into_bytes();
    let r = s
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/latest"),
            &[("content-type", OCI_INDEX)],
            index.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    let r = s
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/{arm_d}"),
            &[("content-type", OCI_MANIFEST)],
            arm.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = s
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/latest"),
            &[("content-type", OCI_INDEX)],
            index.clone(),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = s.get(&format!("/v2/{repo}/manifests/latest")).await;
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(r.body.as_ref(), index.as_ref());
}

#[tokio::test]
async fn tags_and_catalog_page_in_order_with_link_headers() {
    let s = TestServer::start().await;
    let (_, md) = push_image(&s, "library/paged", "seed", "paged").await;
    let manifest = s
        .get(&format!("/v2/library/paged/manifests/{md}"))
        .await
        .body;
    for tag in ["b", "a", "d", "c"] {
        let r = s
            .send(
                "PUT",
                &format!("/v2/library/paged/manifests/{tag}"),
                &[("content-type", OCI_MANIFEST)],
                manifest.clone(),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = s.get("/v2/library/paged/tags/list").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "library/paged", "tags": ["a", "b", "c", "d", "seed"]})
    );
    assert!(r.header("link").is_none());

    let r = s.get("/v2/library/paged/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some(r#"</v2/library/paged/tags/list?n=2&last=b>; rel="next""#)
    );
    let r = s.get("/v2/library/paged/tags/list?n=2&last=b").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    let r = s.get("/v2/library/paged/tags/list?n=2&last=d").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["seed"]));
    assert!(r.header("link").is_none());
    let r = s.get("/v2/library/paged/tags/list?n=0").await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    let r = s.get("/v2/library/paged/tags/list?n=many").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PAGINATION_NUMBER_INVALID")
    );
    let r = s.get("/v2/library/unknown/tags/list").await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "NAME_UNKNOWN"));

    for repo in ["zeta/x", "alpha/x"] {
        s.push_blob(repo, b"catalog").await;
    }
    let r = s.get("/v2/_catalog").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha/x", "library/paged", "zeta/x"])
    );
    let r = s.get("/v2/_catalog?n=1").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["alpha/x"]));
    assert_eq!(
        r.header("link"),
        Some(r#"</v2/_catalog?n=1&last=alpha%2Fx>; rel="next""#)
    );
    let r = s.get("/v2/_catalog?n=5&last=alpha/x").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["library/paged", "zeta/x"])
    );
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_manifest_and_deleting_a_manifest_removes_its_tags() {
    let s = TestServer::start().await;
    let (manifest, md) = push_image(&s, "library/del", "v1", "del").await;
    s.send(
        "PUT",
        "/v2/library/del/manifests/v2",
        &[("content-type", OCI_MANIFEST)],
        manifest.into_bytes(),
    )
    .await;
    let r = s
        .send("DELETE", "/v2/library/del/manifests/v1", &[], vec![])
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(s.get("/v2/library/del/manifests/v1").await.status, 404);
    assert_eq!(
        s.get(&format!("/v2/library/del/manifests/{md}"))
            .await
            .status,
        200
    );
    assert_eq!(
        s.get("/v2/library/del/tags/list").await.json()["tags"],
        serde_json::json!(["v2"])
    );

    let r = s
        .send(
            "DELETE",
            &format!("/v2/library/del/manifests/{md}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    let r = s.get(&format!("/v2/library/del/manifests/{md}")).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    assert_eq!(
        s.get("/v2/library/del/tags/list").await.json()["tags"],
        serde_json::json!([])
    );
    let r = s
        .send(
            "DELETE",
            &format!("/v2/library/del/manifests/{md}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    let r = s
        .send("DELETE", "/v2/library/del/manifests/v9", &[], vec![])
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
}

#[tokio::test]
async fn deleting_a_blob_unlinks_it_from_the_repository() {
    let s = TestServer::start().await;
    let d = s.push_blob("library/delblob", b"delete me").await;
    let r = s
        .send(
            "DELETE",
            &format!("/v2/library/delblob/blobs/{d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    let r = s
        .send(
            "HEAD",
            &format!("/v2/library/delblob/blobs/{d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .send(
            "DELETE",
            &format!("/v2/library/delblob/blobs/{d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "BLOB_UNKNOWN"));
}

#[tokio::test]
async fn referrers_list_the_manifests_that_name_a_subject() {
    let s = TestServer::start().await;
    let repo = "library/refs";
    let (subject, subject_d) = push_image(&s, repo, "v1", "subject").await;
    s.push_blob(repo, EMPTY_JSON).await;
    let artifact = |kind: &str| {
        ImageManifestBuilder::oci(Descriptor::empty())
            .artifact_type(kind)
            .subject(subject.descriptor())
            .annotation("org.example", kind)
            .build()
            .unwrap()
            .into_bytes()
    };
    let mut pushed = Vec::new();
    for kind in [
        "application/vnd.example.sig",
        "application/vnd.example.sbom",
    ] {
        let body = artifact(kind);
        let d = digest(&body);
        let r = s
            .send(
                "PUT",
                &format!("/v2/{repo}/manifests/{d}"),
                &[("content-type", OCI_MANIFEST)],
                body.clone(),
            )
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("oci-subject"), Some(subject_d.as_str()));
        pushed.push((kind, d, body.len()));
    }
    let r = s.get(&format!("/v2/{repo}/referrers/{subject_d}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let j = r.json();
    let list = j["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2);
    for (kind, d, len) in &pushed {
        let entry = list.iter().find(|e| e["digest"] == d.as_str());
        let entry = entry.unwrap_or_else(|| panic!("{d} missing from {j}"));
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["size"], *len);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["annotations"]["org.example"], *kind);
    }
    let r = s
        .get(&format!(
            "/v2/{repo}/referrers/{subject_d}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"].as_array().map(Vec::len), Some(1));

    let r = s
        .get(&format!(
            "/v2/{repo}/referrers/{}",
            digest(b"no such subject")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    let r = s.get(&format!("/v2/{repo}/referrers/sha256:bad")).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "DIGEST_INVALID"));
}

#[tokio::test]
async fn bad_names_unknown_paths_and_unsupported_methods_are_refused_in_the_spec_form() {
    let s = TestServer::start().await;
    for name in ["UPPER/case", "a//b", "-x", "a..b"] {
        let r = s
            .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], vec![])
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "NAME_INVALID"),
            "{name}"
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
    let long = format!("library/{}", "a".repeat(250));
    let r = s.get(&format!("/v2/{long}/tags/list")).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "NAME_INVALID"));

    let r = s
        .send("PATCH", "/v2/library/x/manifests/latest", &[], vec![])
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (405, "UNSUPPORTED"));
    let r = s.send("POST", "/v2/_catalog", &[], vec![]).await;
    assert_eq!(r.status, 405);
    let r = s.get("/v2/library/x/nothing/here").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn abandoned_upload_sessions_are_purged_after_their_age() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(dir, |c| {
        c.upload_purging.age = Duration::from_millis(500);
        c.upload_purging.interval = Duration::from_secs(1);
    })
    .await;
    let r = s
        .send("POST", "/v2/library/purge/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    s.send("PATCH", &location, &[], b"partial".to_vec()).await;
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = s.get(&location).await.status;
        if status == 404 {
            break;
        }
    }
    assert_eq!(status, 404, "the session should have been purged");
    let uploads = std::fs::read_dir(s.dir.path().join("data/uploads"))
        .map(|d| d.count())
        .ok();
    assert_eq!(uploads, Some(0), "its bytes are gone too");
}

#[tokio::test]
async fn a_manifest_under_a_name_that_is_neither_tag_nor_digest_is_unknown_but_cannot_be_pushed() {
    let s = TestServer::start().await;
    let repo = "library/probe";
    let (manifest, _) = push_image(&s, repo, "v1", "probe").await;
    for reference in [
        "bad:tag!",
        "-leadingdash",
        "sha256:short",
        "a%20b",
        &"t".repeat(200),
    ] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        for method in ["GET", "HEAD", "DELETE"] {
            let r = s.send(method, &path, &[], vec![]).await;
            assert_eq!(r.status, 404, "{method} {reference}");
            if method != "HEAD" {
                assert_eq!(r.error_code(), "MANIFEST_UNKNOWN", "{method} {reference}");
            }
        }
        let r = s
            .send(
                "PUT",
                &path,
                &[("content-type", OCI_MANIFEST)],
                manifest.bytes().clone(),
            )
            .await;
        assert_eq!(r.status, 400, "PUT {reference}");
        assert!(
            ["TAG_INVALID", "DIGEST_INVALID"].contains(&r.error_code().as_str()),
            "PUT {reference}: {}",
            r.error_code()
        );
    }
    let r = s.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
}

#[tokio::test]
async fn a_patch_with_a_malformed_content_range_is_refused_with_the_current_range_and_appends_nothing(
) {
    let s = TestServer::start().await;
    let r = s
        .send("POST", "/v2/library/ranges/blobs/uploads/", &[], vec![])
        .await;
    let location = r.header("location").unwrap_or_default().to_owned();
    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "0-9")],
            vec![7u8; 10],
        )
        .await;
    assert_eq!(r.status, 202);
    for bad in [
        "10-",
        "-19",
        "x-y",
        "10 - 19",
        "+10-19",
        "bytes=10-19",
        "10-19/20",
        "19-10",
        "10-18446744073709551616",
    ] {
        let r = s
            .send("PATCH", &location, &[("content-range", bad)], vec![1u8; 10])
            .await;
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(r.header("range"), Some("0-9"), "{bad}");
        assert_eq!(r.error_code(), "BLOB_UPLOAD_INVALID", "{bad}");
    }
    // A range as long as u64 allows, with an empty body, must not wrap
    // around to an empty chunk that is accepted.
    let r = s
        .send("POST", "/v2/library/ranges/blobs/uploads/", &[], vec![])
        .await;
    let fresh = r.header("location").unwrap_or_default().to_owned();
    let r = s
        .send(
            "PATCH",
            &fresh,
            &[("content-range", "0-18446744073709551615")],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.header("range")), (416, Some("0-0")));
    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "10-18446744073709551615")],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "SIZE_INVALID"));
    let r = s.get(&location).await;
    assert_eq!((r.status, r.header("range")), (204, Some("0-9")));
    let r = s
        .send(
            "PATCH",
            &location,
            &[("content-range", "10-19")],
            vec![8u8; 10],
        )
        .await;
    assert_eq!((r.status, r.header("range")), (202, Some("0-19")));
}

#[tokio::test]
async fn an_oversized_manifest_gets_413_in_the_spec_form_not_a_closed_connection() {
    let s = TestServer::start().await;
    let big = vec![b' '; 6 * 1024 * 1024];
    // With a Content-Length over the limit.
    let head = format!(
        "PUT /v2/library/big/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}",
        big.len()
    );
    let (status, headers, body) = common::raw_request(s.addr, head.as_bytes(), big.clone()).await;
    assert_eq!(status, 413, "{headers}");
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["errors"][0]["code"], "SIZE_INVALID");
    // Chunked, so the size shows only while reading.
    let mut chunked = Vec::new();
    for piece in big.chunks(256 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "PUT /v2/library/big/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nTransfer-Encoding: chunked"
    );
    let (status, headers, body) = common::raw_request(s.addr, head.as_bytes(), chunked).await;
    assert_eq!(status, 413, "{headers}");
    assert!(String::from_utf8_lossy(&body).contains("SIZE_INVALID"));
    let r = s.get("/v2/library/big/tags/list").await;
    assert_eq!(r.status, 404);
}
