//! Criterion micro-benchmarks of the registry's hot paths.
// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR_GZIP};
use harbor_core::{
    bytes_stream, Algorithm, BlobStore, Descriptor, Digest, Hasher, ImageManifestBuilder, Manifest,
};

fn hashing(c: &mut Criterion) {
    let mut group = c.benchmark_group("hashing");
    let data = vec![0x5au8; 1024 * 1024];
    group.throughput(Throughput::Bytes(data.len() as u64));
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        group.bench_with_input(
            BenchmarkId::from_parameter(alg.as_str()),
            &data,
            |b, data| {
                b.iter(|| {
                    let mut h = Hasher::new(alg);
                    for chunk in data.chunks(64 * 1024) {
                        h.update(chunk);
                    }
                    h.finish()
                })
            },
        );
    }
    group.finish();
}

fn manifest_parsing(c: &mut Criterion) {
    // Parsing never looks at the blobs, so the digests and sizes are made up.
    let layers = (0..20u64).map(|i| {
        Descriptor::new(
            OCI_LAYER_TAR_GZIP,
            Digest::sha256(format!("layer{i}").as_bytes()),
            1000 + i,
        )
    });
    let manifest =
        ImageManifestBuilder::oci(Descriptor::new(OCI_CONFIG, Digest::sha256(b"config"), 100))
            .layers(layers)
            .build()
            .unwrap_or_else(|e| panic!("manifest: {e}"));
    c.bench_function("parse a 20-layer manifest", |b| {
        b.iter(|| {
            Manifest::parse(
                Some(manifest.media_type()),
                manifest.bytes(),
                Algorithm::Sha256,
            )
        })
    });
}

fn fs_blob_put(c: &mut Criterion) {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let store = match harbor_storage::FsBlobStore::open(dir.path()) {
        Ok(s) => s,
        Err(e) => panic!("store: {e}"),
    };
    let data = bytes::Bytes::from(vec![7u8; 8 * 1024 * 1024]);
    let mut group = c.benchmark_group("filesystem blob store");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("put 8 MiB (hash, write, fsync, rename)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let d = Digest::sha256(&data);
                let _ = store.delete(&d).await;
                store.put(&d, bytes_stream(data.clone()), None).await
            })
        })
    });
    group.finish();
}

/// The raw cost of a registry token: an ES256 JWT signed (and verified) with
/// the token service's own code, no HTTP, no database. Token issuance over
/// HTTP is measured against this (`oci-bench token` and `oci-bench sign`).
fn token_signing(c: &mut Criterion) {
    use harbor_auth::token::jwt;
    let key = match harbor_auth::SigningKey::ephemeral() {
        Ok(k) => k,
        Err(e) => panic!("signing key: {e}"),
    };
    let access = harbor_auth::Access::parse("repository:library/app:pull,push")
        .map_or_else(Vec::new, |a| vec![a]);
    let claims = harbor_auth::Claims {
        iss: "harbor-token-issuer".into(),
        sub: "admin".into(),
        aud: "harbor-registry".into(),
        exp: 4_000_000_000,
        nbf: 1_700_000_000,
        iat: 1_700_000_000,
        jti: "0123456789abcdef0123456789abcdef".into(),
        access,
    };
    let mut group = c.benchmark_group("token");
    group.bench_function("sign an ES256 registry token", |b| {
        b.iter(|| jwt::sign(&key, &claims))
    });
    let token = match jwt::sign(&key, &claims) {
        Ok(t) => t,
        Err(e) => panic!("sign: {e}"),
    };
    group.bench_function("verify an ES256 registry token", |b| {
        b.iter(|| {
            jwt::verify(
                &key,
                &token,
                "harbor-token-issuer",
                "harbor-registry",
                jwt::Expiry::Enforce,
            )
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    hashing,
    manifest_parsing,
    fs_blob_put,
    token_signing
);
criterion_main!(benches);
