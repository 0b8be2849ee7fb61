//! Harbor's audit log purge (`/api/v2.0/system/purgeaudit`): a dry run
//! counts what a real run deletes, a real run deletes exactly the entries
//! older than the retention of the operations named, runs and their logs
//! are listed, the schedule is set and removed, bad parameters change
//! nothing and only system administrators may purge.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{Resp, TestServer};
use harbor_core::{AuditEntry, AuditOperation, AuditResource};
use serde_json::{json, Value};

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

/// Waits for run `id` to end; returns it.
async fn finished(s: &TestServer, id: i64) -> Value {
    for _ in 0..300 {
        let r = api(s, "GET", &format!("/api/v2.0/system/purgeaudit/{id}"), None).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let run = r.json();
        if matches!(
            run["job_status"].as_str(),
            Some("Success" | "Error" | "Stopped")
        ) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("purge {id} did not end");
}

async fn audit_total(s: &TestServer, q: &str) -> u64 {
    let r = api(s, "GET", &format!("/api/v2.0/audit-logs?{q}"), None).await;
    assert_eq!(r.status, 200);
    r.header("x-total-count").unwrap().parse().unwrap()
}

#[tokio::test]
async fn purges_count_then_delete_exactly_the_old_entries_named() {
    let s = TestServer::start_with_auth().await;
    // Entries from a month ago (written as the audit writer would have
    // then) beside the ones this test's own requests make now.
    let month_ago = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    let old = |op: AuditOperation, n: u32| AuditEntry {
        id: 0,
        project: Some("library".into()),
        username: "old-timer".into(),
        resource: format!("library/app:{n}"),
        resource_type: AuditResource::Artifact,
        operation: op,
        op_time: month_ago,
    };
    let identity = &s.auth.as_ref().unwrap().identity;
    identity
        .append_audit(&[
            old(AuditOperation::Pull, 1),
            old(AuditOperation::Pull, 2),
            old(AuditOperation::Pull, 3),
            old(AuditOperation::Create, 4),
        ])
        .await
        .unwrap();
    s.push_image("library/fresh", "v1").await;
    let r = s
        .get_with("/v2/library/fresh/manifests/v1", &common::admin_auth())
        .await;
    assert_eq!(r.status, 200);
    // The audit writer batches: wait for the fresh entries.
    for _ in 0..100 {
        if audit_total(&s, "q=operation%3Dpull").await >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = audit_total(&s, "").await;

    let body = |dry: bool| {
        json!({"schedule": {"type": "Manual"},
               "parameters": {"audit_retention_hour": 24 * 7, "include_operations": "pull,delete", "dry_run": dry}})
    };
    let r = api(
        &s,
        "POST",
        "/api/v2.0/system/purgeaudit/schedule",
        Some(body(true)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let dry = finished(&s, r.location_id()).await;
    assert_eq!(dry["job_status"], "Success");
    assert_eq!(dry["job_name"], "PURGE_AUDIT_LOG");
    let params: Value = serde_json::from_str(dry["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["purged"], 3, "the three month-old pulls");
    assert_eq!(
        audit_total(&s, "").await,
        before,
        "a dry run deletes nothing"
    );
    let log = api(
        &s,
        "GET",
        &format!("/api/v2.0/system/purgeaudit/{}/log", dry["id"]),
        None,
    )
    .await;
    assert!(String::from_utf8_lossy(&log.body).contains("3 audit log entries to purge"));

    let r = api(
        &s,
        "POST",
        "/api/v2.0/system/purgeaudit/schedule",
        Some(body(false)),
    )
    .await;
    assert_eq!(r.status, 201);
    let real = finished(&s, r.location_id()).await;
    let params: Value = serde_json::from_str(real["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["purged"], 3);
    assert_eq!(audit_total(&s, "").await, before - 3);
    assert_eq!(
        audit_total(&s, "q=username%3Dold-timer").await,
        1,
        "the old create stays: creates were not named"
    );
    assert!(
        audit_total(&s, "q=operation%3Dpull").await >= 1,
        "the fresh pull stays"
    );
    let r = api(&s, "GET", "/api/v2.0/system/purgeaudit", None).await;
    assert_eq!(r.header("x-total-count"), Some("2"));

    // The schedule.
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/system/purgeaudit/schedule",
        Some(json!({"schedule": {"type": "Daily"}, "parameters": {"audit_retention_hour": 48, "include_operations": "pull"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sched = api(&s, "GET", "/api/v2.0/system/purgeaudit/schedule", None)
        .await
        .json();
    assert_eq!(sched["schedule"]["type"], "Daily");
    assert_eq!(sched["schedule"]["cron"], "0 0 0 * * *");
    assert!(sched["schedule"]["next_scheduled_time"].is_string());
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/system/purgeaudit/schedule",
        Some(json!({"schedule": {"type": "None"}})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        api(&s, "GET", "/api/v2.0/system/purgeaudit/schedule", None)
            .await
            .json(),
        json!({})
    );

    // Bad parameters, and callers who may not.
    for params in [
        json!({"audit_retention_hour": 0}),
        json!({"include_operations": "pull,frobnicate"}),
        json!({"include_operations": ""}),
        json!({"audit_retention_hour": "a day"}),
    ] {
        let r = api(
            &s,
            "POST",
            "/api/v2.0/system/purgeaudit/schedule",
            Some(json!({"schedule": {"type": "Manual"}, "parameters": params})),
        )
        .await;
        assert_eq!(r.status, 400, "{params}");
    }
    let r = api(&s, "GET", "/api/v2.0/system/purgeaudit", None).await;
    assert_eq!(r.header("x-total-count"), Some("2"), "no run was recorded");
    s.create_user("dev", "Dev12345").await;
    let r = common::json_call(
        &format!("{}/api/v2.0/system/purgeaudit", s.base),
        &common::basic("dev", "Dev12345"),
        "GET",
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    s.stop().await;
}
