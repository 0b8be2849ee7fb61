//! The dispatcher: claims due deliveries from the shared queue, sends each
//! (signed when its target has a secret), and records the attempt.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use harbor_core::{AttemptOutcome, WebhookTask};
use harbor_replicate::adapters::{https_client, HttpsClient};
use http_body_util::Full;
use hyper::Request;
use tokio::sync::Semaphore;

use super::{sign, WebhookService};

/// The clients, one per certificate policy, shared by every delivery.
struct Clients {
    verifying: HttpsClient,
    insecure: HttpsClient,
}

/// Claims and sends deliveries until the service is dropped.
pub(super) async fn dispatch(service: Arc<WebhookService>) {
    let clients = match (https_client(false), https_client(true)) {
        (Ok(verifying), Ok(insecure)) => Arc::new(Clients {
            verifying,
            insecure,
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "webhook deliveries cannot start: no HTTP client");
            return;
        }
    };
    let workers = service.config.workers.max(1);
    let slots = Arc::new(Semaphore::new(workers));
    // A claimed delivery is another instance's again once its lease runs
    // out: long enough for an attempt that takes the whole timeout.
    let lease = service.config.timeout * 2 + Duration::from_secs(30);
    loop {
        let free = slots.available_permits();
        if free > 0 {
            match service
                .store
                .claim_deliveries(SystemTime::now(), lease, free)
                .await
            {
                Ok(tasks) => {
                    let claimed = tasks.len();
                    for task in tasks {
                        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                            return;
                        };
                        let service = Arc::clone(&service);
                        let clients = Arc::clone(&clients);
                        tokio::spawn(async move {
                            attempt(&service, &clients, task).await;
                            drop(permit);
                            service.queued.notify_one();
                        });
                    }
                    if claimed == free {
                        // There may be more due at once.
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        tokio::select! {
            () = service.queued.notified() => {}
            () = tokio::time::sleep(super::POLL) => {}
        }
    }
}

/// One attempt of one delivery, recorded.
async fn attempt(service: &WebhookService, clients: &Clients, task: WebhookTask) {
    let started = SystemTime::now();
    let result = send(service, clients, &task).await;
    let took = started.elapsed().unwrap_or_default().as_millis();
    let n = task.run_count;
    let (outcome, what) = match result {
        Ok(status) if (200..300).contains(&status) => {
            (AttemptOutcome::Delivered, format!("answered {status}"))
        }
        other => {
            let what = match other {
                Ok(status) => format!("answered {status}"),
                Err(e) => e,
            };
            if n >= service.config.max_attempts {
                (AttemptOutcome::GaveUp, format!("{what}; giving up"))
            } else {
                let wait = service.config.backoff_after(n);
                (
                    AttemptOutcome::RetryAt(SystemTime::now() + wait),
                    format!(
                        "{what}; next attempt in {}",
                        humantime::format_duration(wait)
                    ),
                )
            }
        }
    };
    let line = format!(
        "{} attempt {n}/{}: POST {} {what} ({took} ms)\n",
        humantime::format_rfc3339_millis(started),
        service.config.max_attempts,
        task.target.address,
    );
    if !matches!(outcome, AttemptOutcome::Delivered) {
        tracing::info!(task = task.id, address = %task.target.address, "webhook delivery failed: {what}");
    }
    // Counted once recorded, so that a scrape showing the attempt also
    // shows its task out of the queue.
    let label = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "retried",
        AttemptOutcome::GaveUp => "failed",
    };
    if let Err(e) = service.store.finish_delivery(task.id, outcome, &line).await {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::warn!(error = %e, task = task.id, "recording a webhook delivery failed");
    }
    if let Some(m) = &service.metrics {
        m.webhook_attempt(label);
    }
}

/// Sends a delivery; its HTTP status, or why there was none.
async fn send(
    service: &WebhookService,
    clients: &Clients,
    task: &WebhookTask,
) -> Result<u16, String> {
    let target = &task.target;
    let mut req = Request::post(target.address.as_str())
        .header("content-type", task.content_type.as_str())
        .header(
            "user-agent",
            concat!("harbor-rs/", env!("CARGO_PKG_VERSION")),
        );
    if !target.auth_header.is_empty() {
        req = req.header("authorization", target.auth_header.as_str());
    }
    if let Some(sealed) = &target.secret {
        let secret = service
            .secrets
            .open(sealed)
            .map_err(|e| format!("the target's secret cannot be opened: {e}"))?;
        // The same id for every attempt, so that a receiver can drop a
        // repeat; the timestamp is the attempt's, so that it can refuse
        // a replay.
        let id = format!("msg_{}_{}", task.id, millis(task.creation_time));
        let timestamp = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        )
        .unwrap_or(i64::MAX);
        let signature = sign::signature(&secret, &id, timestamp, task.body.as_bytes())
            .ok_or("the target's secret cannot sign")?;
        req = req
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
    }
    let req = req
        .body(Full::new(Bytes::from(task.body.clone())))
        .map_err(|e| format!("the request cannot be built: {e}"))?;
    let client = if target.skip_cert_verify {
        &clients.insecure
    } else {
        &clients.verifying
    };
    match tokio::time::timeout(service.config.timeout, client.request(req)).await {
        Ok(Ok(resp)) => Ok(resp.status().as_u16()),
        Ok(Err(e)) => Err(format!("failed: {}", error_chain(&e))),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(service.config.timeout)
        )),
    }
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
