//! Harbor's real architecture: CNCF distribution (Debian's `docker-registry`,
//! version 2.8) stores the images and trusts OUR token service. Its `auth.token`
//! section points its realm at our `/service/token` and its `rootcertbundle` at
//! the `token.crt` our server writes; skopeo follows distribution's challenge to
//! us, and distribution must accept the ES256 tokens we sign (`kid`
//! in the header, `aud` a single string) and honour the access they grant.
//!
//! `/usr/bin/docker-registry` and skopeo must be installed (`scripts/test`
//! installs both); these tests fail without them.

mod common;

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::distribution::Distribution;
use common::layout::{self, Image};
use common::skopeo::{creds, docker, Skopeo};
use common::{TestServer, ADMIN_PASSWORD};
use harbor_core::Role;

const PASSWORD: &str = "Passw0rdPassw0rd";

/// What skopeo says when distribution refuses it for lack of rights.
const DENIED: &[&str] = &["requested access to the resource is denied"];

/// Our server with a private project `team` (Developer `dev`, Guest `guest`),
/// a user `outsider` in no project, and distribution trusting its tokens.
async fn start() -> (TestServer, Distribution) {
    let server = TestServer::start_with_auth().await;
    let project = server.create_project("team", false).await;
    let dev = server.create_user("dev", PASSWORD).await;
    let guest = server.create_user("guest", PASSWORD).await;
    server.create_user("outsider", PASSWORD).await;
    server.add_member(project, dev, Role::Developer).await;
    server.add_member(project, guest, Role::Guest).await;
    let peer = Distribution::with_token(&server).await;
    (server, peer)
}

/// Asserts that the layout at `dir` holds `image` under `v1`, digest and blobs.
fn assert_pulled(dir: &Path, src: &Path, image: &Image) {
    let entry = layout::tagged(dir, "v1");
    assert_eq!(
        entry["digest"],
        image.digest.as_str(),
        "digest of v1 in {}: {entry}",
        dir.display()
    );
    assert_eq!(layout::read_blob(dir, &image.digest), image.manifest);
    layout::assert_blobs_copied(src, dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_pushes_through_distribution_with_our_tokens_and_pulls_the_same_digest_back() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(21);
    let target = docker(&peer.host(), "team/app:v1");
    let dev = creds("dev", PASSWORD);

    let (src, push) = skopeo.push(&image, &target, Some(&dev)).await;
    peer.assert_success(&push);
    let (out, pull) = skopeo.pull(&target, Some(&dev)).await;
    peer.assert_success(&pull);

    assert_pulled(&out, &src, &image);
    // Distribution took the user from our token's `sub`.
    let log = peer.log_text();
    assert!(
        log.contains("auth.user.name=dev"),
        "distribution did not log requests authorized as dev:\n{log}"
    );
    let served = common::request(
        "GET",
        &format!("{}/v2/team/app/manifests/v1", peer.base()),
        &[("accept", layout::OCI_MANIFEST)],
        Vec::new(),
    )
    .await;
    assert_eq!(
        served.status, 401,
        "distribution serves a private manifest without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_refused_the_push_to_distribution() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(22);
    let target = docker(&peer.host(), "team/app:v1");

    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("guest", PASSWORD)))
        .await;
    peer.assert_refused(&push, DENIED);
    let (_, pull) = skopeo.pull(&target, Some(&creds("dev", PASSWORD))).await;
    assert!(
        !pull.success,
        "the refused push left {target} behind: {}",
        pull.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_is_refused_the_pull_of_a_private_project_from_distribution() {
    let (_server, peer) = start().await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(23);
    let target = docker(&peer.host(), "team/app:v1");
    let (_, push) = skopeo
        .push(&image, &target, Some(&creds("dev", PASSWORD)))
        .await;
    peer.assert_success(&push);

    let (_, pull) = skopeo
        .pull(&target, Some(&creds("outsider", PASSWORD)))
        .await;
    peer.assert_refused(&pull, DENIED);
    let (_, pull) = skopeo.pull(&target, None).await;
    peer.assert_refused(&pull, DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_pull_from_a_public_project_through_distribution() {
    let (server, peer) = start().await;
    server.create_project("open", true).await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(24);
    let target = docker(&peer.host(), "open/app:v1");
    let (src, push) = skopeo
        .push(&image, &target, Some(&creds("admin", ADMIN_PASSWORD)))
        .await;
    peer.assert_success(&push);

    let (out, pull) = skopeo.pull(&target, None).await;
    peer.assert_success(&pull);
    assert_pulled(&out, &src, &image);

    // Reading is all an anonymous caller gets there.
    let other = layout::three_layer_image(25);
    let (_, push) = skopeo
        .push(&other, &docker(&peer.host(), "open/anon:v1"), None)
        .await;
    peer.assert_refused(&push, DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_accepts_a_token_we_issued_and_refuses_one_with_a_tampered_payload() {
    let (server, peer) = start().await;
    let issued = server
        .get_with(
            "/service/token?service=harbor-registry",
            &common::basic("admin", ADMIN_PASSWORD),
        )
        .await;
    assert_eq!(
        issued.status,
        200,
        "token request: {}",
        String::from_utf8_lossy(&issued.body)
    );
    let token = issued.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {}", issued.json()))
        .to_owned();
    let url = format!("{}/v2/", peer.base());

    let ok = common::request(
        "GET",
        &url,
        &[("authorization", &format!("Bearer {token}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(
        ok.status,
        200,
        "distribution refused our token: {:?} {}\n--- token header\n{}\n--- distribution log\n{}",
        ok.header("www-authenticate"),
        String::from_utf8_lossy(&ok.body),
        decode_part(&token, 0),
        peer.log_text()
    );

    // Same header and signature, but the payload now names another subject.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    let mut claims: serde_json::Value = serde_json::from_str(&decode_part(&token, 1))
        .unwrap_or_else(|e| panic!("claims are not JSON: {e}"));
    assert_eq!(claims["sub"], "admin", "{claims}");
    assert!(claims["aud"].is_string(), "aud must be a string: {claims}");
    claims["sub"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let refused = common::request(
        "GET",
        &url,
        &[("authorization", &format!("Bearer {forged}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(
        refused.status,
        401,
        "distribution accepted a tampered token: {}",
        String::from_utf8_lossy(&refused.body)
    );
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("invalid_token"),
        "challenge for a tampered token: {challenge:?}"
    );
    assert!(
        challenge.contains(&format!("realm=\"http://{}/service/token\"", server.addr)),
        "distribution sends clients to our token service: {challenge:?}"
    );
}

/// Part `n` of a compact JWS, base64url-decoded, as text.
fn decode_part(token: &str, n: usize) -> String {
    let part = token.split('.').nth(n).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("part {n} of the token is not base64url: {e}"));
    String::from_utf8_lossy(&bytes).into_owned()
}
