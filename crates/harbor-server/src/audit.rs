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
const BATCH: usize = 512;

/// Where handlers send audit entries.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEntry>,
}

impl AuditSink {
    /// A sink writing to `store` from a background task (which ends when the
    /// last sink is dropped, after writing what is queued).
    pub fn spawn(store: Arc<dyn IdentityStore>) -> Self {
        let (tx, mut rx) = mpsc::channel::<AuditEntry>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.append_audit(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "writing the audit log failed");
                }
                batch.clear();
            }
        });
        AuditSink { tx }
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
