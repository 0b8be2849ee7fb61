//! Measurements that need no registry, or only its command line: the
//! loopback TCP limit, the raw ES256 signing rate, and start-up time.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::client::Res;
use crate::gen::Blob;
use crate::stats::result;
use crate::Opts;

const BUF: usize = 1 << 20;
const SOCKET_BUF: u32 = 4 << 20;

async fn stream_pair(listener: &TcpListener) -> Res<(TcpStream, TcpStream)> {
    let addr = listener.local_addr()?;
    let socket = TcpSocket::new_v4()?;
    socket.set_send_buffer_size(SOCKET_BUF)?;
    socket.set_recv_buffer_size(SOCKET_BUF)?;
    let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
    Ok((client?, accepted?.0))
}

/// Streams `--size` bytes over `--concurrency` loopback TCP connections (1 MiB
/// writes and reads, 4 MiB socket buffers): raw, then with the reader hashing
/// what it reads with sha256 as a pulling client does.
pub(crate) async fn tcp(o: &Opts) -> Res<()> {
    let c = o.concurrency.max(1);
    let per = o.size / c as u64;
    let data = Blob {
        seed: 1,
        size: BUF as u64,
    }
    .frame(0);
    for (metric, hashed) in [("mbps", false), ("mbps_sha256", true)] {
        let listener = {
            let socket = TcpSocket::new_v4()?;
            socket.set_recv_buffer_size(SOCKET_BUF)?;
            socket.set_send_buffer_size(SOCKET_BUF)?;
            socket.bind("127.0.0.1:0".parse()?)?;
            socket.listen(128)?
        };
        let mut pairs = Vec::new();
        for _ in 0..c {
            pairs.push(stream_pair(&listener).await?);
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (mut w, mut r) in pairs {
            let data = data.clone();
            tasks.push(tokio::spawn(async move {
                let mut left = per;
                while left > 0 {
                    let n = left.min(BUF as u64) as usize;
                    w.write_all(&data[..n]).await?;
                    left -= n as u64;
                }
                w.shutdown().await?;
                Ok::<u64, std::io::Error>(0)
            }));
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                let mut ctx = hashed.then(|| ring::digest::Context::new(&ring::digest::SHA256));
                let mut got = 0u64;
                loop {
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    if let Some(c) = ctx.as_mut() {
                        c.update(&buf[..n]);
                    }
                    got += n as u64;
                }
                Ok(got)
            }));
        }
        let mut moved = 0;
        for t in tasks {
            moved += t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        result("tcp", metric, moved as f64 / 1e6 / secs, "MB/s");
        println!(
            "tcp: {:.2} GiB over {c} loopback connection(s){} in {secs:.2} s: {:.0} MB/s",
            moved as f64 / f64::from(1u32 << 30),
            if hashed { ", reader hashing" } else { "" },
            moved as f64 / 1e6 / secs
        );
    }
    Ok(())
}

/// ES256 (ECDSA P-256, SHA-256) signatures and verifications per second with
/// ring on one thread and on `--concurrency` threads, over a message the size
/// of a registry token's signing input: the ceiling of a token service.
pub(crate) fn sign(o: &Opts) -> Res<()> {
    use ring::rand::SystemRandom;
    use ring::signature::{
        EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
        ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "key generation failed")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| "bad key")?;
    // A token's header (with an x5c certificate) and claims, base64url: ~1 KiB.
    let message = vec![b'e'; 1100];
    let sig = pair.sign(&rng, &message).map_err(|_| "signing failed")?;
    let public = pair.public_key().as_ref().to_vec();
    let dur = o.duration();

    let rate = |threads: usize, verify: bool| -> Res<f64> {
        let count = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let failed = AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public);
                    let rng = SystemRandom::new();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let ok = if verify {
                            key.verify(&message, sig.as_ref()).is_ok()
                        } else {
                            pair.sign(&rng, &message).is_ok()
                        };
                        if !ok {
                            failed.store(true, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    count.fetch_add(n, Ordering::Relaxed);
                });
            }
            std::thread::sleep(dur);
            stop.store(true, Ordering::Relaxed);
        });
        if failed.load(Ordering::Relaxed) {
            return Err("ES256 signing or verification failed".into());
        }
        Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    };
    let threads = o.concurrency.max(1);
    let one = rate(1, false)?;
    let all = rate(threads, false)?;
    let verify = rate(threads, true)?;
    result("sign", "signs_per_s_1thread", one, "sig/s");
    result("sign", "signs_per_s", all, "sig/s");
    result("sign", "verifies_per_s", verify, "verif/s");
    println!(
        "sign: ES256 {one:.0}/s on one thread, {all:.0}/s on {threads}; verify {verify:.0}/s on {threads}"
    );
    Ok(())
}

/// Whether something at `addr` answers `GET /v2/` with any HTTP status.
async fn answers(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 9 {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/1.")
}

fn stop(child: &mut std::process::Child) -> Res<()> {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// Starts the command after `--` `--runs` times and measures the time from
/// spawning it to the first answer to `GET /v2/` at `--url`; stops it each time.
pub(crate) async fn startup(o: &Opts) -> Res<()> {
    let (program, args) = o
        .command
        .split_first()
        .ok_or("startup needs the server's command line after --")?;
    let url = url::Url::parse(&o.url)?;
    let addr = format!(
        "{}:{}",
        url.host_str().ok_or("--url has no host")?,
        url.port_or_known_default().ok_or("--url has no port")?
    );
    if answers(&addr).await {
        return Err(format!("something already answers at {addr}").into());
    }
    let mut times = Vec::new();
    for _ in 0..o.runs.max(1) {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        let ok = loop {
            if answers(&addr).await {
                break true;
            }
            if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(30) {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        stop(&mut child)?;
        if !ok {
            return Err(format!("{program} did not answer at {addr}").into());
        }
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    result("startup", "first_answer_ms", median, "ms");
    result("startup", "first_answer_min_ms", times[0], "ms");
    println!(
        "startup: first answer to /v2/ after {median:.1} ms (median of {}, min {:.1} ms)",
        times.len(),
        times[0]
    );
    Ok(())
}
