//! Forwarding the audit log to a syslog server (Harbor's
//! `audit_log_forward_endpoint` and `skip_audit_log_database`, set through
//! `/api/v2.0/configurations`): Debian's rsyslogd receives each entry as
//! Harbor's `operator=… resource=… action=…` message; with the database
//! skipped, entries go only there, and they are kept in the database when
//! the syslog server is away rather than lost.
//!
//! rsyslog must be installed (`bash scripts/test` installs it).
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::rsyslog::Rsyslog;
use common::{Resp, TestServer};
use serde_json::{json, Value};

async fn api(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Resp {
    common::admin_call(&format!("{}{path}", s.base), method, body).await
}

async fn logged(s: &TestServer, resource: &str) -> u64 {
    let r = api(
        s,
        "GET",
        &format!("/api/v2.0/audit-logs?q=resource%3D{resource}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    r.header("x-total-count").unwrap().parse().unwrap()
}

/// [`logged`], asked until it is `want` or ten seconds have passed: entries
/// reach the database a moment after the request (and after syslog).
async fn logged_within(s: &TestServer, resource: &str, want: u64) -> u64 {
    let mut n = 0;
    for _ in 0..100 {
        n = logged(s, resource).await;
        if n == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    n
}

async fn settle(s: &TestServer) {
    // The writer batches; the settings reach it within a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = s;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_reach_rsyslog_and_are_never_lost() {
    let syslog = Rsyslog::start();
    let s = TestServer::start_with_auth().await;
    for body in [
        json!({"skip_audit_log_database": true}),
        json!({"audit_log_forward_endpoint": "no port"}),
        json!({"audit_log_forward_endpoint": "host:0"}),
        json!({"audit_log_forward_endpoint": 5514}),
    ] {
        let r = api(&s, "PUT", "/api/v2.0/configurations", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
    }
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"audit_log_forward_endpoint": syslog.endpoint})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    settle(&s).await;
    s.push_image("library/fwd", "v1").await;
    let line = syslog
        .wait_for(&[
            "harbor-rs",
            "operator=\"admin\"",
            "resource=\"library/fwd:v1\"",
            "action=\"create\"",
        ])
        .await;
    assert!(line.contains("resourceType=\"artifact\""), "{line}");
    assert!(line.contains("project=\"library\""), "{line}");
    assert_eq!(
        logged_within(&s, "library/fwd:v1", 1).await,
        1,
        "kept in the database too"
    );

    // Forwarded only.
    let r = api(
        &s,
        "PUT",
        "/api/v2.0/configurations",
        Some(json!({"skip_audit_log_database": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    settle(&s).await;
    let r = api(
        &s,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "forwarded-only"})),
    )
    .await;
    assert_eq!(r.status, 201);
    syslog
        .wait_for(&[
            "resource=\"forwarded-only\"",
            "resourceType=\"project\"",
            "action=\"create\"",
        ])
        .await;
    assert_eq!(logged(&s, "forwarded-only").await, 0, "not in the database");

    // The syslog server goes away: entries stay in the database.
    drop(syslog);
    let r = api(
        &s,
        "POST",
        "/api/v2.0/projects",
        Some(json!({"project_name": "kept-anyway"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        logged_within(&s, "kept-anyway", 1).await,
        1,
        "kept in the database when forwarding fails"
    );
    s.stop().await;
}
