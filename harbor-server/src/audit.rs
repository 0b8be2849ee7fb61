//! The audit log's writer: entries go through a channel to one background task
//! that writes them in batches, so a pull never waits on the database.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use harbor_auth::Principal;
use harbor_core::{AuditEntry, IdentityStore};
use tokio::sync::mpsc;

use crate::oci::{parse_route, Route};

/// Entries waiting to be written, at most.
const QUEUE: usize = 65_536;
/// Entries written per transaction, at most.
const BATCH: usize = 4096;
/// How long the writer waits for more entries before a transaction.
const GATHER: Duration = Duration::from_millis(50);

/// What the writer receives: entries, or a request to write what it holds now.
#[derive(Debug)]
enum Msg {
    Entry(AuditEntry),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Where handlers send audit entries.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
}

impl AuditSink {
    /// A sink writing to `store` from a background task (which ends when the
    /// last sink is dropped, after writing what is queued).
    pub fn spawn(store: Arc<dyn IdentityStore>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
        tokio::spawn(async move {
            let mut msgs = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut msgs, BATCH).await > 0 {
                // Under a burst of pulls, let entries gather for a moment so
                // they go in one transaction (one fsync) instead of many; a
                // flush request cuts the wait short.
                let flushing = |m: &[Msg]| m.iter().any(|m| matches!(m, Msg::Flush(_)));
                if msgs.len() < BATCH && !flushing(&msgs) {
                    let _ = tokio::time::timeout(GATHER, async {
                        while msgs.len() < BATCH && !flushing(&msgs) {
                            match rx.recv().await {
                                Some(m) => msgs.push(m),
                                None => break,
                            }
                        }
                    })
                    .await;
                }
                let mut batch = Vec::with_capacity(msgs.len());
                let mut waiting = Vec::new();
                for m in msgs.drain(..) {
                    match m {
                        Msg::Entry(e) => batch.push(e),
                        Msg::Flush(done) => waiting.push(done),
                    }
                }
                if !batch.is_empty() {
                    if let Err(e) = store.append_audit(&batch).await {
                        tracing::error!(error = %e, lost = batch.len(), "writing the audit log failed");
                    }
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        AuditSink { tx }
    }

    /// Waits until every entry recorded before this call is written (for a
    /// graceful shutdown).
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Records an operation. Changes wait for room in the queue; pulls are
    /// dropped (with a warning) rather than slow a pull down when it is full.
    pub async fn record(
        &self,
        project: Option<&str>,
        who: &Principal,
        resource: String,
        resource_type: &str,
        operation: &str,
    ) {
        let entry = AuditEntry {
            id: 0,
            project: project.map(str::to_owned),
            username: match who {
                Principal::Anonymous => "anonymous".to_owned(),
                p => p.name().to_owned(),
            },
            resource,
            resource_type: resource_type.to_owned(),
            operation: operation.to_owned(),
            op_time: SystemTime::now(),
        };
        let entry = Msg::Entry(entry);
        if operation == "pull" {
            if self.tx.try_send(entry).is_err() {
                tracing::warn!("audit queue full: a pull was not recorded");
            }
        } else if self
            .tx
            .send_timeout(entry, Duration::from_secs(5))
            .await
            .is_err()
        {
            tracing::error!("audit queue stalled: an entry was not recorded");
        }
    }
}

/// What happens after a `/v2/` request succeeds: the audit record and the
/// replication event triggers.
#[derive(Debug, Clone)]
pub struct V2Hooks {
    /// The audit log.
    pub audit: AuditSink,
    /// Replication, for event-based policies.
    pub replication: Option<Arc<crate::replication::ReplicationService>>,
}

/// Records manifest pushes, pulls and deletes on `/v2/` (after the guard has
/// put the caller in the request), and fires event-based replication.
pub async fn record_v2(State(hooks): State<V2Hooks>, req: Request, next: Next) -> Response {
    let sink = &hooks.audit;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let who = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let resp = next.run(req).await;
    if !resp.status().is_success() {
        return resp;
    }
    if let Some(Route::Manifest(name, reference)) = parse_route(&path) {
        let operation = match method {
            Method::GET => "pull",
            Method::PUT => "create",
            Method::DELETE => "delete",
            _ => return resp,
        };
        let sep = if reference.contains(':') { "@" } else { ":" };
        let project = name.split('/').next();
        sink.record(
            project,
            &who,
            format!("{name}{sep}{reference}"),
            "artifact",
            operation,
        )
        .await;
        if let (Some(service), "create" | "delete") = (&hooks.replication, operation) {
            let event = crate::replication::ArtifactEvent {
                operation: if operation == "create" {
                    "push"
                } else {
                    "delete"
                },
                repository: name.to_owned(),
                reference: reference.to_owned(),
            };
            let service = service.clone();
            // Off the request path: the push is acknowledged already.
            tokio::spawn(async move { service.on_event(&event).await });
        }
    }
    resp
}
