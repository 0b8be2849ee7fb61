//! A webhook receiver: an HTTP server on 127.0.0.1 that records every
//! request it gets, and can be told to fail the first ones or to never
//! answer (a dead receiver). Signatures are verified with the Standard
//! Webhooks reference library (Python, from the test virtualenv), an
//! implementation other than the server's.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use tokio::sync::{mpsc, Mutex};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its path.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("delivery body is not JSON ({e}): {:?}", self.body))
    }
}

#[derive(Clone)]
struct Behaviour {
    fail_first: Arc<AtomicU32>,
    hang: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Delivery>,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Requests answered 500 before it starts answering 200.
    pub fail_first: Arc<AtomicU32>,
    /// Never answer (the request is recorded, then held open).
    pub hang: Arc<AtomicBool>,
    rx: Mutex<mpsc::UnboundedReceiver<Delivery>>,
    handle: tokio::task::JoinHandle<()>,
}

async fn record(State(b): State<Behaviour>, req: Request) -> StatusCode {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let _ = b.tx.send(Delivery {
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    });
    if b.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let failed = b
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    /// Starts on an ephemeral port.
    pub async fn start() -> Receiver {
        Self::start_on(0).await
    }

    /// Starts on `port`.
    pub async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("bind receiver on {port}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("receiver address: {e}"));
        let (tx, rx) = mpsc::unbounded_channel();
        let behaviour = Behaviour {
            fail_first: Arc::default(),
            hang: Arc::default(),
            tx,
        };
        let app = Router::new().fallback(record).with_state(behaviour.clone());
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base: format!("http://{addr}"),
            fail_first: behaviour.fail_first,
            hang: behaviour.hang,
            rx: Mutex::new(rx),
            handle,
        }
    }

    /// The next request, waiting up to `patience`.
    pub async fn next(&self, patience: Duration) -> Delivery {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(patience, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no delivery within {patience:?}"))
            .unwrap_or_else(|| panic!("receiver closed"))
    }

    /// Every request that came within `wait`.
    pub async fn drain(&self, wait: Duration) -> Vec<Delivery> {
        tokio::time::sleep(wait).await;
        let mut rx = self.rx.lock().await;
        let mut out = Vec::new();
        while let Ok(d) = rx.try_recv() {
            out.push(d);
        }
        out
    }

    /// Stops listening.
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// The test virtualenv's Python: `HARBOR_TEST_PYTHON` (set by
/// `scripts/test`), else the virtualenv `scripts/test` creates.
fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("HARBOR_TEST_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    std::path::Path::new(&home).join(".cache/harbor-rs/venv/bin/python")
}

/// Whether the Standard Webhooks reference library accepts `body` with
/// `delivery`'s signature headers under `secret`; the library's error
/// otherwise.
pub async fn verify(secret: &str, delivery: &Delivery, body: &[u8]) -> Result<(), String> {
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .filter_map(|h| Some((h.to_string(), delivery.header(h)?.into())))
            .collect();
    let input = serde_json::json!({
        "secret": secret,
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    })
    .to_string();
    let script = r#"
import sys, json
from standardwebhooks import Webhook
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(d["body"], d["headers"])
except Exception as e:
    print(type(e).__name__, e)
    sys.exit(1)
"#;
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(python())
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("run the test virtualenv's python (bash scripts/test makes it): {e}")
            });
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("python stdin: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("python: {e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("python: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the standardwebhooks library is missing (bash scripts/test installs it): {stderr}"
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)))
    }
}
