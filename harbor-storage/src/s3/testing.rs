//! A throwaway S3 server for tests: moto's server mode (`moto[server]` from
//! PyPI, which `scripts/test` installs in a virtualenv). It keeps objects in
//! its memory, enforces S3's multipart rules, and dies with the test
//! process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::S3Config;

/// A running moto server on a loopback port.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

/// Where `moto_server` is: `HARBOR_MOTO_SERVER`, else the virtualenv that
/// `scripts/test` creates, else `PATH`.
fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HARBOR_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = PathBuf::from(home).join(".cache/harbor-rs/venv/bin/moto_server");
        if venv.exists() {
            return venv;
        }
    }
    PathBuf::from("moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

static BUCKETS: AtomicU64 = AtomicU64::new(0);

impl Moto {
    /// Starts moto and waits until it answers. Panics (it is for tests)
    /// with what to do when moto is missing.
    pub async fn start() -> Moto {
        let binary = moto_binary();
        // Retried on another port only when moto exists (a port taken
        // between choosing and binding it is the one expected failure).
        let retries = if binary.is_absolute() && !binary.exists() {
            1
        } else {
            5
        };
        for _ in 0..retries {
            let port = free_port();
            // The shell becomes moto (`exec`), with a watchdog beside it
            // that ends it when the test process goes, even when a test
            // binary exits without dropping its statics.
            let script = format!(
                "(while kill -0 {parent} 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done; \
                  kill $$ 2>/dev/null) </dev/null >/dev/null 2>&1 & \
                 exec \"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1",
                parent = std::process::id()
            );
            let child = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg(&binary)
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run sh for moto: {e}"));
            let mut moto = Moto { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if matches!(moto.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if moto.request("GET", "/").await.is_ok() {
                    return moto;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!(
            "moto_server ({}) did not start: run `bash scripts/test`, which installs moto[server] in a virtualenv",
            binary.display()
        );
    }

    /// The server's URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a new, empty bucket and returns a configuration for it (with
    /// moto's dummy credentials).
    pub async fn bucket(&self) -> S3Config {
        let n = BUCKETS.fetch_add(1, Ordering::Relaxed);
        let name = format!("harbor-test-{}-{n}", std::process::id());
        let status = self
            .request("PUT", &format!("/{name}"))
            .await
            .unwrap_or_else(|e| panic!("create bucket {name}: {e}"));
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "create bucket {name}: {status}"
        );
        let mut config = S3Config::new(name);
        config.endpoint = Some(self.endpoint());
        config.allow_http = true;
        config.credentials = Some(("testing".into(), "testing".into()));
        config
    }

    /// Sends a bodiless request and returns the status line.
    async fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        conn.write_all(req.as_bytes()).await?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await?;
        let text = String::from_utf8_lossy(&answer);
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
