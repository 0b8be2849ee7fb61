//! The webhook suite: policies read back as stored and are unique by name
//! in a project; the delivery queue hands each due delivery to one claimer,
//! takes it back when a lease runs out, waits out a retry, keeps every
//! attempt's log and sums its deliveries into the execution's status; and
//! a project's deletion takes its policies and queue with it.

use std::time::{Duration, SystemTime};

use harbor_core::{
    AttemptOutcome, DeliveryStatus, ErrorCode, IdentityStore, NewDelivery, NewUser,
    NewWebhookExecution, NotifyType, Page, PayloadFormat, WebhookEventType, WebhookPolicy,
    WebhookStore, WebhookTarget,
};

use super::ok;

/// Runs every test of the suite. `identity` is the same database's
/// identity store: policies belong to its projects.
pub async fn run_all(store: &dyn WebhookStore, identity: &dyn IdentityStore) {
    let owner = ok(
        "create owner",
        identity
            .create_user(&NewUser {
                username: "hook-owner".into(),
                email: "hook-owner@example.com".into(),
                realname: String::new(),
                comment: String::new(),
                password_hash: String::new(),
                sysadmin: false,
            })
            .await,
    );
    let a = ok(
        "create project",
        identity.create_project("hooks-a", false, owner.id).await,
    );
    let b = ok(
        "create project",
        identity.create_project("hooks-b", false, owner.id).await,
    );
    policies_read_back_and_names_are_unique_per_project(store, a.id, b.id).await;
    deliveries_are_claimed_once_retried_and_summed(store, a.id).await;
    a_project_deletion_takes_its_webhooks(store, identity, b.id).await;
}

fn target(address: &str) -> WebhookTarget {
    WebhookTarget {
        notify_type: NotifyType::Http,
        address: address.into(),
        auth_header: "Bearer x".into(),
        skip_cert_verify: true,
        payload_format: PayloadFormat::CloudEvents,
        secret: Some("sealed".into()),
    }
}

fn policy(project_id: i64, name: &str) -> WebhookPolicy {
    WebhookPolicy {
        id: 0,
        project_id,
        name: name.into(),
        description: "d".into(),
        targets: vec![
            target("http://127.0.0.1:1/a"),
            target("http://127.0.0.1:1/b"),
        ],
        event_types: vec![
            WebhookEventType::PushArtifact,
            WebhookEventType::QuotaExceed,
        ],
        creator: "admin".into(),
        enabled: true,
        creation_time: SystemTime::UNIX_EPOCH,
        update_time: SystemTime::UNIX_EPOCH,
    }
}

fn all() -> Page {
    Page {
        page: 1,
        page_size: 100,
    }
}

/// A policy reads back with every field; a second of the same name in the
/// project is a conflict, in another project it is not; updates and
/// deletes report whether the policy existed.
pub async fn policies_read_back_and_names_are_unique_per_project(
    store: &dyn WebhookStore,
    a: i64,
    b: i64,
) {
    let created = ok(
        "create",
        store.create_webhook_policy(&policy(a, "p1")).await,
    );
    assert!(created.id > 0);
    let read = ok("read", store.webhook_policy(created.id).await).expect("policy stored");
    assert_eq!(read, created);
    assert_eq!(read.targets, policy(a, "p1").targets, "targets kept whole");
    assert_eq!(read.event_types, policy(a, "p1").event_types);
    let err = store
        .create_webhook_policy(&policy(a, "p1"))
        .await
        .expect_err("same name in the project");
    assert_eq!(err.code(), ErrorCode::Conflict);
    ok(
        "other project",
        store.create_webhook_policy(&policy(b, "p1")).await,
    );
    let (list, total) = ok("list", store.webhook_policies(Some(a), all()).await);
    assert_eq!((list.len(), total), (1, 1));
    let (_, total) = ok("list all", store.webhook_policies(None, all()).await);
    assert_eq!(total, 2);

    let mut changed = read.clone();
    changed.name = "p1-renamed".into();
    changed.enabled = false;
    changed.event_types = vec![WebhookEventType::PullArtifact];
    changed.targets.truncate(1);
    assert!(ok("update", store.update_webhook_policy(&changed).await));
    let read = ok("read", store.webhook_policy(created.id).await).expect("still there");
    assert_eq!(read.name, "p1-renamed");
    assert!(!read.enabled);
    assert_eq!(read.event_types, vec![WebhookEventType::PullArtifact]);
    assert_eq!(read.targets.len(), 1);
    let mut missing = changed.clone();
    missing.id = created.id + 1000;
    assert!(!ok(
        "update missing",
        store.update_webhook_policy(&missing).await
    ));
    assert!(ok("delete", store.delete_webhook_policy(created.id).await));
    assert!(!ok(
        "delete again",
        store.delete_webhook_policy(created.id).await
    ));
    assert!(ok("read", store.webhook_policy(created.id).await).is_none());
}

/// Two deliveries of one event: claimed once each, a claimed one not again
/// until its lease runs out, a retried one not before its time; the
/// execution is running until both are final, then `Error` if one failed.
pub async fn deliveries_are_claimed_once_retried_and_summed(
    store: &dyn WebhookStore,
    project: i64,
) {
    let p = ok(
        "create",
        store.create_webhook_policy(&policy(project, "q")).await,
    );
    let delivery = |address: &str| NewDelivery {
        target: target(address),
        body: format!("{{\"to\":\"{address}\"}}"),
        content_type: "application/json".into(),
    };
    ok(
        "enqueue",
        store
            .enqueue_webhooks(&[NewWebhookExecution {
                policy_id: p.id,
                event_type: WebhookEventType::PushArtifact,
                payload: "{\"type\":\"PUSH_ARTIFACT\"}".into(),
                deliveries: vec![delivery("http://a"), delivery("http://b")],
            }])
            .await,
    );
    let (execs, total) = ok("executions", store.webhook_executions(p.id, all()).await);
    assert_eq!(total, 1);
    let exec = &execs[0];
    assert_eq!(exec.status, DeliveryStatus::Pending);
    assert_eq!(exec.event_type, WebhookEventType::PushArtifact);

    let now = SystemTime::now() + Duration::from_secs(1);
    let lease = Duration::from_secs(60);
    assert_eq!(ok("queue", store.pending_deliveries().await), 2);
    let due = ok("oldest", store.oldest_due_delivery().await).expect("two wait");
    assert!(due <= now, "due when enqueued");
    let claimed = ok("claim", store.claim_deliveries(now, lease, 10).await);
    assert_eq!(claimed.len(), 2, "both due");
    assert_eq!(
        ok("oldest", store.oldest_due_delivery().await),
        None,
        "being sent is not waiting"
    );
    assert_eq!(
        ok("queue", store.pending_deliveries().await),
        2,
        "being sent still counts"
    );
    for t in &claimed {
        assert_eq!(t.status, DeliveryStatus::Running);
        assert_eq!(t.run_count, 1);
        assert_eq!(t.policy_id, p.id);
        assert_eq!(t.execution_id, exec.id);
        assert_eq!(
            t.target.secret.as_deref(),
            Some("sealed"),
            "target kept whole"
        );
        assert!(t.body.starts_with("{\"to\":"));
    }
    assert!(
        ok("claim again", store.claim_deliveries(now, lease, 10).await).is_empty(),
        "a claimed delivery is not handed out twice"
    );
    // The first is delivered; the second fails and is retried later.
    let (first, second) = (&claimed[0], &claimed[1]);
    ok(
        "deliver",
        store
            .finish_delivery(first.id, AttemptOutcome::Delivered, "attempt 1: 200\n")
            .await,
    );
    let retry_at = now + Duration::from_secs(30);
    ok(
        "retry",
        store
            .finish_delivery(
                second.id,
                AttemptOutcome::RetryAt(retry_at),
                "attempt 1: 500\n",
            )
            .await,
    );
    let due = ok("oldest", store.oldest_due_delivery().await).expect("one waits");
    let off = due
        .duration_since(retry_at)
        .unwrap_or_else(|e| e.duration());
    assert!(off < Duration::from_millis(2), "due at its retry time");
    let exec_now = ok("execution", store.webhook_execution(exec.id).await).expect("there");
    assert_eq!(exec_now.status, DeliveryStatus::Running, "one still to go");
    assert!(exec_now.end_time.is_none());
    assert!(
        ok("claim early", store.claim_deliveries(now, lease, 10).await).is_empty(),
        "not before its retry time"
    );
    let later = retry_at + Duration::from_secs(1);
    let again = ok(
        "claim later",
        store.claim_deliveries(later, lease, 10).await,
    );
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].run_count), (second.id, 2));
    // Its claimer dies: once the lease runs out, another claimer gets it.
    let after_lease = later + lease + Duration::from_secs(1);
    let taken_over = ok(
        "take over",
        store.claim_deliveries(after_lease, lease, 10).await,
    );
    assert_eq!(taken_over.len(), 1);
    assert_eq!((taken_over[0].id, taken_over[0].run_count), (second.id, 3));
    ok(
        "give up",
        store
            .finish_delivery(second.id, AttemptOutcome::GaveUp, "attempt 3: refused\n")
            .await,
    );
    assert_eq!(ok("queue", store.pending_deliveries().await), 0);
    assert_eq!(ok("oldest", store.oldest_due_delivery().await), None);
    let done = ok("execution", store.webhook_execution(exec.id).await).expect("there");
    assert_eq!(
        done.status,
        DeliveryStatus::Error,
        "one delivery failed for good"
    );
    assert!(done.end_time.is_some());
    let tasks = ok("tasks", store.webhook_tasks(exec.id).await);
    let statuses: Vec<_> = tasks.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [DeliveryStatus::Success, DeliveryStatus::Error]);
    let log = ok("log", store.webhook_task_log(second.id).await).expect("a log");
    assert_eq!(log, "attempt 1: 500\nattempt 3: refused\n");
    assert!(ok("log", store.webhook_task_log(second.id + 1000).await).is_none());

    let triggers = ok("last triggers", store.webhook_last_triggers(project).await);
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].policy_id, p.id);
    assert_eq!(triggers[0].event_type, WebhookEventType::PushArtifact);
    assert_eq!(triggers[0].last_trigger_time, exec.start_time);
}

/// Deleting a project deletes its policies, executions and deliveries.
pub async fn a_project_deletion_takes_its_webhooks(
    store: &dyn WebhookStore,
    identity: &dyn IdentityStore,
    project: i64,
) {
    let p = ok(
        "create",
        store.create_webhook_policy(&policy(project, "gone")).await,
    );
    ok(
        "enqueue",
        store
            .enqueue_webhooks(&[NewWebhookExecution {
                policy_id: p.id,
                event_type: WebhookEventType::QuotaExceed,
                payload: "{}".into(),
                deliveries: vec![NewDelivery {
                    target: target("http://c"),
                    body: "{}".into(),
                    content_type: "application/json".into(),
                }],
            }])
            .await,
    );
    ok(
        "delete webhooks",
        store.delete_project_webhooks(project).await,
    );
    assert!(ok("delete project", identity.delete_project(project).await));
    let (left, _) = ok("list", store.webhook_policies(Some(project), all()).await);
    assert!(left.is_empty());
    let far = SystemTime::now() + Duration::from_secs(3600);
    let orphans = ok(
        "claim",
        store
            .claim_deliveries(far, Duration::from_secs(1), 100)
            .await,
    );
    assert!(
        orphans.iter().all(|t| t.policy_id != p.id),
        "no delivery of a deleted project is left to send"
    );
}
