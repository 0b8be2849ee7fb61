//! Prometheus metrics on their own port (`[metric]`), scraped and parsed
//! with a Prometheus text-format parser: Harbor's metric names, values that
//! follow known traffic (a skopeo push, a project with a limit, a
//! replication), and
//! nothing served when metrics are off.
//!
//! skopeo must be installed (CI installs it); this test fails without it.
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use common::layout;
use common::skopeo::{creds, docker, Skopeo};
use common::{request, TestServer, ADMIN_PASSWORD};
use prometheus_parse::{Scrape, Value};
use serde_json::json;

async fn scrape(s: &TestServer) -> Scrape {
    let addr = s.metrics.expect("metrics are on");
    let r = request("GET", &format!("http://{addr}/metrics"), &[], "").await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    // The parser reads Prometheus' text format; OpenMetrics' end marker is
    // the one line it does not know.
    let lines = text
        .lines()
        .filter(|l| *l != "# EOF")
        .map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).unwrap()
}

/// The value of `name` whose labels include `labels`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .filter(|m| m.metric == name)
        .find(|m| labels.iter().all(|(k, v)| m.labels.get(k) == Some(*v)))
        .map(|m| match m.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_traffic_and_projects() {
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), |c| {
        c.auth.mode = harbor_server::config::AuthMode::Token;
        c.auth.admin_password = Some(ADMIN_PASSWORD.into());
        c.metric.enabled = true;
        c.metric.port = 0;
    })
    .await;
    let before = scrape(&s).await;
    assert_eq!(value(&before, "harbor_health", &[]), Some(1.0));
    assert_eq!(
        value(&before, "harbor_system_info", &[("auth_mode", "db_auth")]),
        Some(1.0)
    );
    // The mode in force, once changed (only admin exists: it may change).
    for mode in ["ldap_auth", "db_auth"] {
        let r = common::admin_call(
            &format!("{}/api/v2.0/configurations", s.base),
            "PUT",
            Some(json!({"auth_mode": mode})),
        )
        .await;
        assert_eq!(r.status, 200);
        let now = scrape(&s).await;
        assert_eq!(
            value(&now, "harbor_system_info", &[("auth_mode", mode)]),
            Some(1.0)
        );
        let infos = now
            .samples
            .iter()
            .filter(|m| m.metric == "harbor_system_info")
            .count();
        assert_eq!(infos, 1, "one mode at a time");
    }
    assert_eq!(
        value(&before, "harbor_project_total", &[("public", "true")]),
        Some(1.0)
    );

    // A webhook receiver for pushes to library.
    let receiver = common::receiver::Receiver::start().await;
    let r = common::admin_call(
        &format!("{}/api/v2.0/projects/library/webhook/policies", s.base),
        "POST",
        Some(json!({"name": "m", "event_types": ["PUSH_ARTIFACT"],
                    "targets": [{"address": receiver.base}]})),
    )
    .await;
    assert_eq!(r.status, 201);

    let img = layout::three_layer_image(3);
    Skopeo::new()
        .push(
            &img,
            &docker(&s.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await
        .1
        .assert_success();
    let r = s
        .send(
            "POST",
            "/api/v2.0/projects",
            &[
                ("authorization", common::admin_auth().as_str()),
                ("content-type", "application/json"),
            ],
            json!({"project_name": "team", "storage_limit": 5000}).to_string(),
        )
        .await;
    assert_eq!(r.status, 201);

    let after = scrape(&s).await;
    let manifests = value(
        &after,
        "harbor_core_http_request_total",
        &[
            ("method", "PUT"),
            ("code", "201"),
            ("operation", "manifest"),
        ],
    );
    assert_eq!(manifests, Some(1.0), "one manifest pushed");
    assert_eq!(
        value(
            &after,
            "harbor_core_http_request_total",
            &[
                ("method", "POST"),
                ("code", "201"),
                ("operation", "api_project")
            ],
        ),
        Some(2.0),
        "the webhook policy and the project"
    );
    assert_eq!(
        value(&after, "harbor_project_total", &[("public", "false")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "harbor_project_repo_total",
            &[("project_name", "library")]
        ),
        Some(1.0)
    );
    let usage: usize = img.blobs().iter().map(|b| b.len()).sum::<usize>() + img.manifest.len();
    assert_eq!(
        value(
            &after,
            "harbor_project_quota_usage_byte",
            &[("project_name", "library")]
        ),
        Some(usage as f64),
        "the project's usage"
    );
    assert_eq!(
        value(
            &after,
            "harbor_project_quota_byte",
            &[("project_name", "team")]
        ),
        Some(5000.0)
    );
    assert_eq!(
        value(
            &after,
            "harbor_project_member_total",
            &[("project_name", "team")]
        ),
        Some(1.0),
        "its creator"
    );
    assert!(after
        .samples
        .iter()
        .any(|m| m.metric == "harbor_core_http_request_duration_seconds_count"));
    assert!(after
        .samples
        .iter()
        .any(|m| m.metric == "harbor_core_http_inflight_requests"));
    let received = value(&after, "harbor_registry_received_bytes_total", &[]).unwrap();
    assert!(
        received >= usage as f64,
        "{received} bytes received for {usage} pushed"
    );
    assert!(
        value(&after, "harbor_token_issued_total", &[]).unwrap() >= 1.0,
        "skopeo got a token"
    );

    receiver.next(std::time::Duration::from_secs(30)).await;
    let mut delivered = None;
    for _ in 0..50 {
        delivered = value(
            &scrape(&s).await,
            "harbor_webhook_delivery_attempts_total",
            &[("outcome", "delivered")],
        );
        if delivered == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, Some(1.0), "the push's webhook delivered");
    // An upload begun and left open.
    let r = s
        .send(
            "POST",
            "/v2/library/app/blobs/uploads/",
            &[("authorization", common::admin_auth().as_str())],
            "",
        )
        .await;
    assert_eq!(r.status, 202);
    let queues = scrape(&s).await;
    assert_eq!(
        value(&queues, "harbor_registry_upload_sessions", &[]),
        Some(1.0),
        "the one left open"
    );
    for kind in [
        "WEBHOOK",
        "REPLICATION",
        "GARBAGE_COLLECTION",
        "PURGE_AUDIT_LOG",
    ] {
        assert_eq!(
            value(&queues, "harbor_task_queue_size", &[("type", kind)]),
            Some(0.0),
            "{kind}: nothing waiting once the delivery is made"
        );
        assert_eq!(
            value(&queues, "harbor_task_queue_latency", &[("type", kind)]),
            Some(0.0),
            "{kind}: nothing has waited"
        );
    }

    // A pull.
    Skopeo::new()
        .pull(
            &docker(&s.host(), "library/app:v1"),
            Some(&creds("admin", ADMIN_PASSWORD)),
        )
        .await
        .1
        .assert_success();
    let pulled = scrape(&s).await;
    assert!(
        value(
            &pulled,
            "harbor_artifact_pulled",
            &[("project_name", "library")]
        )
        .unwrap()
            >= 1.0
    );
    let sent = value(&pulled, "harbor_registry_sent_bytes_total", &[]).unwrap();
    assert!(sent >= usage as f64, "{sent} bytes sent for {usage} pulled");

    // A replication of library/app:v1 to this server itself: one task
    // succeeded, counted when its execution ends.
    assert_eq!(
        value(
            &pulled,
            "harbor_replication_tasks_total",
            &[("outcome", "succeed")]
        ),
        None,
        "no replication yet"
    );
    let api = |path: &str| format!("{}/api/v2.0{path}", s.base);
    let r = common::admin_call(
        &api("/registries"),
        "POST",
        Some(json!({"name": "self", "type": "harbor", "url": s.base,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD}})),
    )
    .await;
    assert_eq!(r.status, 201);
    let registry = r.location_id();
    let r = common::admin_call(
        &api("/replication/policies"),
        "POST",
        Some(json!({"name": "mirror", "dest_registry": {"id": registry},
            "dest_namespace": "mirror", "filters": [{"type": "name", "value": "library/app"}],
            "trigger": {"type": "manual"}, "override": true})),
    )
    .await;
    assert_eq!(r.status, 201);
    let policy = r.location_id();
    let r = common::admin_call(
        &api("/replication/executions"),
        "POST",
        Some(json!({"policy_id": policy})),
    )
    .await;
    assert_eq!(r.status, 201);
    let mut counted = None;
    for _ in 0..300 {
        counted = value(
            &scrape(&s).await,
            "harbor_replication_tasks_total",
            &[("outcome", "succeed")],
        );
        if counted.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(counted, Some(1.0), "the one task of the execution");
    let done = scrape(&s).await;
    assert_eq!(
        value(
            &done,
            "harbor_replication_tasks_total",
            &[("outcome", "failed")]
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_by_default() {
    let s = TestServer::start_with_auth().await;
    assert!(s.metrics.is_none());
}
