//! HTTPS with a self-signed certificate made here: skopeo pushes and pulls
//! with certificate verification on (the certificate is its only trusted CA
//! through `--dest-cert-dir`/`--src-cert-dir`), and plain HTTP to the TLS port
//! is never answered as a success.
//!
//! skopeo must be installed (CI installs it); these tests fail without it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::layout;
use common::skopeo::{docker, oci, Skopeo};
use common::TestServer;
use harbor_server::config::TlsConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// PEM files for a self-signed certificate for 127.0.0.1 and localhost.
struct Certs {
    cert: PathBuf,
    key: PathBuf,
    /// A directory holding the certificate as `ca.crt`, for skopeo's cert-dir options.
    ca_dir: PathBuf,
}

fn self_signed(dir: &Path) -> Certs {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap_or_else(|e| panic!("generate a certificate: {e}"));
    let write = |path: &Path, text: &str| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    };
    let certs = Certs {
        cert: dir.join("tls").join("cert.pem"),
        key: dir.join("tls").join("key.pem"),
        ca_dir: dir.join("ca"),
    };
    write(&certs.cert, &cert.pem());
    write(&certs.key, &signing_key.serialize_pem());
    write(&certs.ca_dir.join("ca.crt"), &cert.pem());
    certs
}

async fn tls_server() -> (TestServer, Certs) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let certs = self_signed(dir.path());
    let tls = TlsConfig {
        cert: certs.cert.clone(),
        key: certs.key.clone(),
    };
    let server = TestServer::start_in(dir, move |c| c.tls = Some(tls)).await;
    assert!(server.base.starts_with("https://"), "{}", server.base);
    (server, certs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_and_pulls_over_verified_https() {
    let (server, certs) = tls_server().await;
    let ca_dir = certs.ca_dir.to_string_lossy().into_owned();
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(31);
    let src = skopeo.scratch("in");
    layout::write_image(&src, "v1", &image);
    let target = docker(&server.host(), "library/secure:v1");

    skopeo
        .ok(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=true",
            "--dest-cert-dir",
            &ca_dir,
            &oci(&src, "v1"),
            &target,
        ])
        .await;

    let info = skopeo
        .ok(&[
            "inspect",
            "--tls-verify=true",
            "--cert-dir",
            &ca_dir,
            &target,
        ])
        .await
        .json();
    assert_eq!(info["Digest"], image.digest.as_str(), "{info}");

    let out = skopeo.scratch("out");
    skopeo
        .ok(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=true",
            "--src-cert-dir",
            &ca_dir,
            &target,
            &oci(&out, "v1"),
        ])
        .await;
    let entry = layout::tagged(&out, "v1");
    assert_eq!(entry["digest"], image.digest.as_str(), "{entry}");
    assert_eq!(layout::read_blob(&out, &image.digest), image.manifest);
    layout::assert_blobs_copied(&src, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_refuses_the_certificate_when_it_is_not_trusted() {
    let (server, _certs) = tls_server().await;
    let skopeo = Skopeo::new();
    // An empty cert dir: only the system's CAs, which never signed this certificate.
    let empty = skopeo.scratch("no-ca").to_string_lossy().into_owned();
    let target = docker(&server.host(), "library/secure");
    let out = skopeo
        .run(&[
            "list-tags",
            "--tls-verify=true",
            "--cert-dir",
            &empty,
            &target,
        ])
        .await;
    assert!(
        !out.success,
        "an untrusted certificate was accepted: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("x509") && out.stderr.contains("certificate"),
        "skopeo failed for another reason than the certificate:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_is_not_answered_with_success() {
    let (server, _certs) = tls_server().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", server.addr));
    let request = format!(
        "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.host()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut answer = Vec::new();
    // The server may answer with a TLS alert, close, or reset: anything but an HTTP success.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server kept a plain-HTTP connection open for 10 s"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/"),
        "the TLS port answered plain HTTP with an HTTP response: {text:?}"
    );
    assert!(
        !text.contains(" 200 "),
        "the TLS port answered plain HTTP with 200: {text:?}"
    );
}

/// A CA of a company's own, and a certificate for 127.0.0.1 it signed: the
/// CA's PEM, and the certificate and key files.
fn company_ca(dir: &Path) -> (PathBuf, Certs) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("CA parameters: {e}"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Example Corp Root CA");
    let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)
        .unwrap_or_else(|e| panic!("CA certificate: {e}"));
    let leaf_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .and_then(|p| p.signed_by(&leaf_key, &ca))
        .unwrap_or_else(|e| panic!("certificate: {e}"));
    let certs = Certs {
        cert: dir.join("leaf.pem"),
        key: dir.join("leaf-key.pem"),
        ca_dir: dir.join("ca"),
    };
    let ca_file = dir.join("company-ca.pem");
    for (path, text) in [
        (&certs.cert, leaf.pem()),
        (&certs.key, leaf_key.serialize_pem()),
        (&ca_file, ca.pem()),
    ] {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    (ca_file, certs)
}

/// An OIDC provider and a registry whose certificates a company's own CA
/// signed: the server trusts them once the CA is in the system's store
/// (here named by `SSL_CERT_FILE`, which the system's store honours), with
/// verification on; a server without the CA refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_ca_in_the_system_store_is_trusted_for_oidc_and_registries() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (ca_file, certs) = company_ca(dir.path());
    // The registry (and a would-be provider) over HTTPS: a server of ours.
    let tls = TlsConfig {
        cert: certs.cert.clone(),
        key: certs.key.clone(),
    };
    let inner = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let remote = TestServer::start_in(inner, move |c| c.tls = Some(tls)).await;
    assert!(remote.base.starts_with("https://"), "{}", remote.base);
    // Another CA altogether stands for a store without the company's.
    let other = self_signed(&dir.path().join("other"));
    let start = |name: &'static str, store: PathBuf| {
        let dir = dir.path().to_owned();
        async move {
            let store = store.to_string_lossy().into_owned();
            common::process::ServerProcess::start(
                &dir.join(name),
                &dir.join(format!("{name}.log")),
                &[
                    ("HARBOR_ADMIN_PASSWORD", common::ADMIN_PASSWORD),
                    ("SSL_CERT_FILE", store.as_str()),
                ],
            )
            .await
        }
    };
    let trusting = start("trusting", ca_file).await;
    let stranger = start("stranger", other.cert.clone()).await;
    let ping = |server: &common::process::ServerProcess, path: &str, body: serde_json::Value| {
        let url = server.url(path);
        async move { common::json_call(&url, &common::admin_auth(), "POST", Some(body)).await }
    };
    let registry = serde_json::json!({
        "type": "docker-registry",
        "url": remote.base,
        "insecure": false,
    });
    let oidc = serde_json::json!({"url": remote.base, "verify_cert": true});

    let r = ping(&trusting, "/api/v2.0/registries/ping", registry.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Our server is no OIDC provider: the ping reaches it over verified
    // TLS and is told 404 for the discovery document.
    let r = ping(&trusting, "/api/v2.0/system/oidc/ping", oidc.clone()).await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("answered 404"), "{text}");

    let r = ping(&stranger, "/api/v2.0/registries/ping", registry).await;
    let text = String::from_utf8_lossy(&r.body).to_lowercase();
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("certificate"), "{text}");
    let r = ping(&stranger, "/api/v2.0/system/oidc/ping", oidc).await;
    let text = String::from_utf8_lossy(&r.body).to_lowercase();
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("certificate"), "{text}");
}
