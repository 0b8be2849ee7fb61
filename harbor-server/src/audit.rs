//! The audit log's writer: entries go through a channel to one background task
//! that writes them in batches, so a pull never waits on the database. The
//! task is one of the server's background duties (`duties::Duties`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use harbor_auth::Principal;
use harbor_core::{AuditEntry, AuditOperation, AuditResource, IdentityStore};
use tokio::sync::mpsc;

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

/// The other end of an [`AuditSink`]: what writes the entries, once spawned.
#[derive(Debug)]
pub struct AuditWriter {
    rx: mpsc::Receiver<Msg>,
}

/// A sink and the writer that will drain it. Entries sent before the writer
/// runs wait in the queue.
pub fn channel() -> (AuditSink, AuditWriter) {
    let (tx, rx) = mpsc::channel::<Msg>(QUEUE);
    (AuditSink { tx }, AuditWriter { rx })
}

impl AuditWriter {
    /// Writes entries to `store` from a background task until every sink is
    /// dropped (after writing what is queued) or the task is aborted.
    /// With `settings`, entries also go to the syslog endpoint they name
    /// (and, when `skip_audit_log_database`, only there, unless sending
    /// fails: then they are kept in the database rather than lost).
    pub fn spawn(
        self,
        store: Arc<dyn IdentityStore>,
        settings: Option<crate::settings::Settings>,
    ) -> tokio::task::JoinHandle<()> {
        let mut rx = self.rx;
        tokio::spawn(async move {
            let mut forwarder = crate::audit_forward::SyslogForwarder::default();
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
                let (endpoint, skip_db) = settings.as_ref().map_or((String::new(), false), |s| {
                    let s = s.get();
                    (s.audit_log_forward_endpoint, s.skip_audit_log_database)
                });
                let mut keep = !batch.is_empty();
                if keep && !endpoint.is_empty() {
                    match forwarder.send(&endpoint, &batch).await {
                        Ok(()) => keep = !skip_db,
                        Err(e) => {
                            tracing::warn!(error = %e, endpoint, entries = batch.len(), "forwarding audit entries failed; keeping them in the database")
                        }
                    }
                }
                if keep {
                    if let Err(e) = store.append_audit(&batch).await {
                        tracing::error!(error = %e, lost = batch.len(), "writing the audit log failed");
                    }
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        })
    }
}

impl AuditSink {
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
        resource_type: AuditResource,
        operation: AuditOperation,
    ) {
        let entry = AuditEntry {
            id: 0,
            project: project.map(str::to_owned),
            username: match who {
                Principal::Anonymous => "anonymous".to_owned(),
                p => p.name().to_owned(),
            },
            resource,
            resource_type,
            operation,
            op_time: SystemTime::now(),
        };
        let entry = Msg::Entry(entry);
        if operation == AuditOperation::Pull {
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
