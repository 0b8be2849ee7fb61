//! Pushes one large blob (default 1 GiB, `BLOB_MIB` to change) through a real
//! server on loopback, pulls it back, and reports throughput and the peak
//! resident memory of the process (server and client together), which stays
//! flat however large the blob: nothing holds a whole blob in memory.
//!
//! `cargo bench -p harbor-benches --bench blob_streaming`

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const CHUNK: usize = 256 * 1024;

fn chunk_bytes(i: u64) -> Bytes {
    let mut v = vec![0u8; CHUNK];
    for (j, b) in v.iter_mut().enumerate().step_by(4096) {
        *b = (i as usize + j) as u8;
    }
    Bytes::from(v)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let mib: u64 = std::env::var("BLOB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let chunks = mib * 1024 * 1024 / CHUNK as u64;
    let size = chunks * CHUNK as u64;

    let dir = tempfile::tempdir()?;
    let mut config = harbor_server::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    // The data path is measured, not access control.
    config.auth.mode = harbor_server::config::AuthMode::None;
    let server = harbor_server::Server::bind(config).await?;
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let baseline = harbor_benches::peak_rss_kib();

    let mut hasher = harbor_core::Hasher::new(harbor_core::Algorithm::Sha256);
    for i in 0..chunks {
        hasher.update(&chunk_bytes(i));
    }
    let digest = hasher.finish();

    type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let body = StreamBody::new(
        futures::stream::iter(0..chunks)
            .map(|i| Ok::<_, std::io::Error>(Frame::data(chunk_bytes(i)))),
    );
    let req = hyper::Request::post(format!(
        "{base}/v2/bench/big/blobs/uploads/?digest={digest}"
    ))
    .header("content-length", size)
    .body(BodyExt::boxed(body))?;
    let start = Instant::now();
    let resp = client.request(req).await?;
    let push = start.elapsed();
    if resp.status() != 201 {
        return Err(format!("push answered {}", resp.status()).into());
    }

    let req = hyper::Request::get(format!("{base}/v2/bench/big/blobs/{digest}")).body(
        BodyExt::boxed(http_body_util::Empty::new().map_err(|never| match never {})),
    )?;
    let start = Instant::now();
    let mut body = client.request(req).await?.into_body();
    let mut check = harbor_core::Hasher::new(harbor_core::Algorithm::Sha256);
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            received += data.len() as u64;
            check.update(&data);
        }
    }
    let pull = start.elapsed();
    if received != size || check.finish() != digest {
        return Err("pulled blob differs".into());
    }
    let _ = stop.send(());
    let _ = handle.await;

    let mb = size as f64 / 1e6;
    println!("blob size:        {mib} MiB");
    println!(
        "push:             {:.1} MB/s ({:.2} s)",
        mb / push.as_secs_f64(),
        push.as_secs_f64()
    );
    println!(
        "pull:             {:.1} MB/s ({:.2} s)",
        mb / pull.as_secs_f64(),
        pull.as_secs_f64()
    );
    println!(
        "peak RSS:         {} KiB (after start-up: {} KiB)",
        harbor_benches::peak_rss_kib().unwrap_or(0),
        baseline.unwrap_or(0)
    );
    Ok(())
}
