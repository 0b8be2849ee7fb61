//! The `ReplicationStore` conformance suite.

use std::time::SystemTime;

use harbor_core::{
    ErrorCode, NewTask, Page, RegistryRecord, RegistryType, ReplicationStore, RunStatus,
    TaskOperation, TriggerKind,
};

use super::ok;

/// Runs every test of the suite.
pub async fn run_all(store: &dyn ReplicationStore) {
    registries_are_unique_by_name_and_keep_their_credential(store).await;
    executions_count_their_tasks_and_policies_take_them_along(store).await;
}

/// Endpoints round-trip, names are unique, updates and deletes work.
pub async fn registries_are_unique_by_name_and_keep_their_credential(store: &dyn ReplicationStore) {
    let r = RegistryRecord {
        id: 0,
        name: "conf-remote".into(),
        kind: RegistryType::DockerRegistry,
        url: "https://r.example.com".into(),
        credential: Some("encrypted-blob".into()),
        insecure: false,
        description: "remote".into(),
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
    };
    let created = ok("create", store.create_registry(&r).await);
    assert_eq!(
        (
            created.name.as_str(),
            created.credential.as_deref(),
            &created.kind
        ),
        (
            "conf-remote",
            Some("encrypted-blob"),
            &RegistryType::DockerRegistry
        )
    );
    let e = store.create_registry(&r).await.err().map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    let mut changed = created.clone();
    changed.insecure = true;
    changed.credential = None;
    // A vendor's type, registered at run time, reads back as itself.
    changed.kind = RegistryType::parse("acme-vendor");
    assert!(ok("update", store.update_registry(&changed).await));
    let back = ok("get", store.registry(created.id).await);
    assert_eq!(
        back.map(|b| (b.insecure, b.credential, b.kind)),
        Some((true, None, RegistryType::Other("acme-vendor".into())))
    );
    assert!(ok("list", store.list_registries().await)
        .iter()
        .any(|x| x.id == created.id));
    assert!(ok("delete", store.delete_registry(created.id).await));
    assert_eq!(ok("gone", store.registry(created.id).await), None);
}

/// Executions list newest first with task counts; tasks move through their
/// states with logs; deleting a policy removes its executions.
pub async fn executions_count_their_tasks_and_policies_take_them_along(
    store: &dyn ReplicationStore,
) {
    let p = ok(
        "policy",
        store
            .create_policy("conf-policy", r#"{"name":"conf-policy"}"#)
            .await,
    );
    let e = store
        .create_policy("conf-policy", "{}")
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    assert!(ok(
        "update",
        store
            .update_policy(p.id, "conf-policy", r#"{"name":"conf-policy","x":1}"#)
            .await
    ));
    assert_eq!(
        ok("get", store.policy(p.id).await).map(|x| x.definition),
        Some(r#"{"name":"conf-policy","x":1}"#.into())
    );

    let first = ok(
        "execution",
        store.create_execution(p.id, TriggerKind::Manual).await,
    );
    assert_eq!((first.status, first.total), (RunStatus::InProgress, 0));
    let tasks = ok(
        "tasks",
        store
            .create_tasks(
                first.id,
                &[
                    NewTask {
                        operation: TaskOperation::Copy,
                        src_resource: "a/x:1".into(),
                        dst_resource: "m/x:1".into(),
                    },
                    NewTask {
                        operation: TaskOperation::Copy,
                        src_resource: "a/x:2".into(),
                        dst_resource: "m/x:2".into(),
                    },
                    NewTask {
                        operation: TaskOperation::Copy,
                        src_resource: "a/x:3".into(),
                        dst_resource: "m/x:3".into(),
                    },
                ],
            )
            .await,
    );
    assert_eq!(tasks.len(), 3);
    assert!(tasks
        .iter()
        .all(|t| t.status == RunStatus::Pending && t.start_time.is_none()));
    ok(
        "start",
        store
            .set_task_status(tasks[0].id, RunStatus::InProgress, 1)
            .await,
    );
    let running = ok("task", store.task(tasks[0].id).await);
    assert!(running
        .as_ref()
        .is_some_and(|t| t.start_time.is_some() && t.end_time.is_none()));
    ok(
        "done",
        store
            .set_task_status(tasks[0].id, RunStatus::Succeeded, 1)
            .await,
    );
    ok(
        "fail",
        store
            .set_task_status(tasks[1].id, RunStatus::Failed, 3)
            .await,
    );
    ok(
        "log",
        store.append_task_log(tasks[1].id, "attempt 1: 503").await,
    );
    ok(
        "log",
        store
            .append_task_log(tasks[1].id, "attempt 3: 503, giving up")
            .await,
    );
    assert_eq!(
        ok("log", store.task_log(tasks[1].id).await).as_deref(),
        Some("attempt 1: 503\nattempt 3: 503, giving up\n")
    );
    let e = ok("execution", store.execution(first.id).await);
    let e = ok("exists", e.ok_or("missing"));
    assert_eq!(
        (e.total, e.succeeded, e.failed, e.in_progress, e.stopped),
        (3, 1, 1, 1, 0)
    );
    assert!(ok("unfinished", store.unfinished_executions().await)
        .iter()
        .any(|x| x.id == first.id));
    ok(
        "stop",
        store
            .set_task_status(tasks[2].id, RunStatus::Stopped, 0)
            .await,
    );
    ok(
        "end",
        store
            .set_execution_status(first.id, RunStatus::Stopped, "stopped by admin")
            .await,
    );
    let e = ok("execution", store.execution(first.id).await);
    assert!(
        e.is_some_and(|e| e.status == RunStatus::Stopped && e.end_time.is_some() && e.stopped == 1)
    );
    assert!(!ok("unfinished", store.unfinished_executions().await)
        .iter()
        .any(|x| x.id == first.id));

    let second = ok(
        "execution",
        store.create_execution(p.id, TriggerKind::Scheduled).await,
    );
    let (list, total) = ok(
        "list",
        store
            .list_executions(
                Some(p.id),
                Page {
                    page: 1,
                    page_size: 10,
                },
            )
            .await,
    );
    assert_eq!(total, 2);
    assert_eq!(
        list.iter().map(|e| e.id).collect::<Vec<_>>(),
        [second.id, first.id],
        "newest first"
    );
    assert!(ok("delete", store.delete_policy(p.id).await));
    assert_eq!(ok("gone", store.execution(first.id).await), None);
    assert_eq!(ok("gone", store.task(tasks[0].id).await), None);
}
