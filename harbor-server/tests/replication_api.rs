//! Replication through Harbor's API between two running servers: registries
//! with encrypted credentials, push- and pull-mode policies with filters and
//! flattening, executions with tasks and logs, event triggers on push and
//! delete, cron triggers on an injected clock, and stopping an execution.

mod common;

use std::time::{Duration, Instant};

use chrono::TimeZone;
use common::{Resp, TestServer, ADMIN_PASSWORD};

async fn call(s: &TestServer, method: &str, path: &str, body: &str) -> Resp {
    let a = common::admin_auth();
    let headers = [
        ("content-type", "application/json"),
        ("authorization", a.as_str()),
    ];
    s.send(
        method,
        &format!("/api/v2.0{path}"),
        &headers,
        body.to_owned(),
    )
    .await
}

/// The digest `repo:tag` has on `s`, if any.
async fn digest_at(s: &TestServer, repo: &str, tag: &str) -> Option<String> {
    let r = s
        .send(
            "HEAD",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("authorization", &common::admin_auth())],
            vec![],
        )
        .await;
    (r.status == 200).then(|| {
        r.header("docker-content-digest")
            .unwrap_or_default()
            .to_owned()
    })
}

/// Registers `target` on `s` as a `harbor` registry with admin credentials.
async fn register(s: &TestServer, target: &TestServer, name: &str) -> i64 {
    let body = format!(
        r#"{{"name":"{name}","type":"harbor","url":"{}","insecure":false,"credential":{{"type":"basic","access_key":"admin","access_secret":"{ADMIN_PASSWORD}"}}}}"#,
        target.base
    );
    let r = call(s, "POST", "/registries", &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.location_id()
}

async fn wait_final(s: &TestServer, execution: i64) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = call(
            s,
            "GET",
            &format!("/replication/executions/{execution}"),
            "",
        )
        .await;
        assert_eq!(r.status, 200);
        let j = r.json();
        if ["Succeeded", "Failed", "Stopped"].contains(&j["status"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(
            Instant::now() < until,
            "execution {execution} did not finish: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_keep_credentials_encrypted_and_never_return_them() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let id = register(&a, &b, "b").await;
    let r = call(&a, "GET", &format!("/registries/{id}"), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "healthy");
    assert_eq!(r.json()["credential"]["access_secret"], "*****");
    assert!(!String::from_utf8_lossy(&r.body).contains(ADMIN_PASSWORD));
    let list = call(&a, "GET", "/registries", "").await;
    assert!(!String::from_utf8_lossy(&list.body).contains(ADMIN_PASSWORD));
    // At rest it is sealed, not plain text.
    let store = a.replication.as_ref().map(|r| r.store.clone());
    let stored = match store {
        Some(s) => s.registry(id).await.ok().flatten(),
        None => panic!("replication is on"),
    };
    let sealed = stored.and_then(|r| r.credential).unwrap_or_default();
    assert!(!sealed.is_empty() && !sealed.contains(ADMIN_PASSWORD));
    assert!(a.dir.path().join("data/secret.key").exists());

    assert_eq!(
        call(&a, "POST", "/registries/ping", &format!(r#"{{"id":{id}}}"#))
            .await
            .status,
        200
    );
    let bad_ping = format!(
        r#"{{"type":"harbor","url":"{}","credential":{{"type":"basic","access_key":"admin","access_secret":"wrong"}}}}"#,
        b.base
    );
    assert_eq!(
        call(&a, "POST", "/registries/ping", &bad_ping).await.status,
        400
    );
    for bad in [
        r#"{"name":"x","type":"quay-of-dreams","url":"http://127.0.0.1:1"}"#,
        r#"{"name":"x","type":"harbor","url":"ftp://h"}"#,
        r#"{"type":"harbor","url":"http://h"}"#,
    ] {
        assert_eq!(
            call(&a, "POST", "/registries", bad).await.status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        call(&a, "GET", "/registries", "")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let r = a.send("GET", "/api/v2.0/registries", &[], vec![]).await;
    assert_eq!(r.status, 401, "administrators only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_mode_policy_replicates_filtered_images_with_flattening_and_records_its_tasks() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let v1 = a.push_image("library/team/app", "v1").await;
    let v2 = a.push_image("library/team/app", "v2").await;
    a.push_image("library/team/app", "v3-rc1").await;
    a.push_image("library/other", "v1").await;
    let reg = register(&a, &b, "b").await;
    let policy = format!(
        r#"{{"name":"to-b","dest_registry":{{"id":{reg}}},"dest_namespace":"mirror","dest_namespace_replace_count":-1,
            "filters":[{{"type":"name","value":"library/team/**"}},{{"type":"tag","value":"*-rc*","decoration":"excludes"}}],
            "trigger":{{"type":"manual"}},"override":true,"enabled":true}}"#
    );
    let r = call(&a, "POST", "/replication/policies", &policy).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pid = r.location_id();
    let got = call(&a, "GET", &format!("/replication/policies/{pid}"), "")
        .await
        .json();
    assert_eq!(
        (
            got["name"].as_str(),
            got["dest_namespace_replace_count"].as_i64()
        ),
        (Some("to-b"), Some(-1))
    );
    assert!(got["creation_time"].is_string());

    let r = call(
        &a,
        "POST",
        "/replication/executions",
        &format!(r#"{{"policy_id":{pid}}}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    let eid = r.location_id();
    let done = wait_final(&a, eid).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["total"].as_u64(),
            done["succeed"].as_u64()
        ),
        (Some("Succeeded"), Some(2), Some(2))
    );
    assert_eq!(done["trigger"], "manual");
    assert_eq!(digest_at(&b, "mirror/app", "v1").await, Some(v1));
    assert_eq!(digest_at(&b, "mirror/app", "v2").await, Some(v2));
    assert_eq!(digest_at(&b, "mirror/app", "v3-rc1").await, None);
    assert_eq!(digest_at(&b, "mirror/other", "v1").await, None);

    let tasks = call(
        &a,
        "GET",
        &format!("/replication/executions/{eid}/tasks"),
        "",
    )
    .await;
    assert_eq!(tasks.header("x-total-count"), Some("2"));
    let first = tasks.json()[0].clone();
    assert_eq!(
        (
            first["src_resource"].as_str(),
            first["dst_resource"].as_str()
        ),
        (Some("library/team/app:v1"), Some("mirror/app:v1"))
    );
    assert_eq!(first["status"], "Succeeded");
    let log = call(
        &a,
        "GET",
        &format!("/replication/executions/{eid}/tasks/{}/log", first["id"]),
        "",
    )
    .await;
    let log = String::from_utf8_lossy(&log.body).into_owned();
    assert!(log.contains("attempt 1") && log.contains("done:"), "{log}");
    let list = call(
        &a,
        "GET",
        &format!("/replication/executions?policy_id={pid}"),
        "",
    )
    .await;
    assert_eq!(list.header("x-total-count"), Some("1"));

    // A registry in use cannot be deleted; a policy without running executions can.
    assert_eq!(
        call(&a, "DELETE", &format!("/registries/{reg}"), "")
            .await
            .status,
        412
    );
    assert_eq!(
        call(&a, "DELETE", &format!("/replication/policies/{pid}"), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&a, "DELETE", &format!("/registries/{reg}"), "")
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mode_policy_brings_images_in_and_creates_the_project() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let d = a.push_image("library/tool", "1.0").await;
    let reg = register(&b, &a, "a").await;
    let policy = format!(
        r#"{{"name":"from-a","src_registry":{{"id":{reg}}},"dest_namespace":"imported","filters":[{{"type":"name","value":"library/*"}}]}}"#
    );
    let pid = call(&b, "POST", "/replication/policies", &policy)
        .await
        .location_id();
    let eid = call(
        &b,
        "POST",
        "/replication/executions",
        &format!(r#"{{"policy_id":{pid}}}"#),
    )
    .await
    .location_id();
    let done = wait_final(&b, eid).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(digest_at(&b, "imported/library/tool", "1.0").await, Some(d));
    let project = call(&b, "GET", "/projects/imported", "").await;
    assert_eq!(
        (
            project.status,
            project.json()["metadata"]["public"].as_str()
        ),
        (200, Some("false"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_based_policies_follow_pushes_and_deletions() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let reg = register(&a, &b, "b").await;
    let policy = format!(
        r#"{{"name":"follow","dest_registry":{{"id":{reg}}},"dest_namespace":"live","filters":[{{"type":"name","value":"library/**"}}],
            "trigger":{{"type":"event_based"}},"replicate_deletion":true}}"#
    );
    assert_eq!(
        call(&a, "POST", "/replication/policies", &policy)
            .await
            .status,
        201
    );
    let d = a.push_image("library/web", "v1").await;
    wait_for("the pushed image on B", || {
        let (b, d) = (&b, d.clone());
        async move { digest_at(b, "live/library/web", "v1").await == Some(d) }
    })
    .await;
    // Images outside the filter do not replicate.
    assert_eq!(
        call(&a, "POST", "/projects", r#"{"project_name":"library2"}"#)
            .await
            .status,
        201
    );
    a.push_image("library2/web", "v1").await;
    // Deleting the tag on A deletes it on B.
    let r = a
        .send(
            "DELETE",
            "/v2/library/web/manifests/v1",
            &[("authorization", &common::admin_auth())],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    wait_for("the deletion on B", || {
        let b = &b;
        async move { digest_at(b, "live/library/web", "v1").await.is_none() }
    })
    .await;
    let list = call(&a, "GET", "/replication/executions", "").await.json();
    let triggers: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["trigger"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        triggers,
        ["event_based", "event_based"],
        "one execution per event, none for library2"
    );
    assert_eq!(digest_at(&b, "live/library2/web", "v1").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_policies_fire_when_their_cron_comes_due() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let d = a.push_image("library/nightly", "latest").await;
    let reg = register(&a, &b, "b").await;
    // Every day at 03:00:00.
    let policy = format!(
        r#"{{"name":"nightly","dest_registry":{{"id":{reg}}},"trigger":{{"type":"scheduled","trigger_settings":{{"cron":"0 0 3 * * *"}}}}}}"#
    );
    let pid = call(&a, "POST", "/replication/policies", &policy)
        .await
        .location_id();
    let bad = format!(
        r#"{{"name":"bad","dest_registry":{{"id":{reg}}},"trigger":{{"type":"scheduled","trigger_settings":{{"cron":"every night"}}}}}}"#
    );
    assert_eq!(
        call(&a, "POST", "/replication/policies", &bad).await.status,
        400
    );

    let service = a
        .replication
        .clone()
        .unwrap_or_else(|| panic!("replication is on"));
    let at = |h: u32, m: u32| {
        chrono::Utc
            .with_ymd_and_hms(2031, 5, 1, h, m, 0)
            .single()
            .unwrap_or_default()
    };
    assert!(
        service.fire_due(at(1, 0), at(2, 59)).await.is_empty(),
        "not due before 03:00"
    );
    assert_eq!(service.fire_due(at(2, 59), at(3, 1)).await, [pid]);
    let list = call(
        &a,
        "GET",
        &format!("/replication/executions?policy_id={pid}"),
        "",
    )
    .await
    .json();
    let eid = list[0]["id"].as_i64().unwrap_or(0);
    assert_eq!(list[0]["trigger"], "scheduled");
    assert_eq!(wait_final(&a, eid).await["status"], "Succeeded");
    assert_eq!(digest_at(&b, "library/nightly", "latest").await, Some(d));
    assert!(
        service.fire_due(at(3, 1), at(23, 0)).await.is_empty(),
        "once a day"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_execution_ends_at_once_with_no_task_in_progress() {
    let a = TestServer::start_with_auth().await;
    a.push_image("library/app", "v1").await;
    a.push_image("library/app", "v2").await;
    // A "registry" that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let body = format!(r#"{{"name":"silent","type":"docker-registry","url":"http://{addr}"}}"#);
    let reg = call(&a, "POST", "/registries", &body).await.location_id();
    let pid = call(
        &a,
        "POST",
        "/replication/policies",
        &format!(r#"{{"name":"stuck","dest_registry":{{"id":{reg}}}}}"#),
    )
    .await
    .location_id();
    let eid = call(
        &a,
        "POST",
        "/replication/executions",
        &format!(r#"{{"policy_id":{pid}}}"#),
    )
    .await
    .location_id();
    wait_for("a task in progress", || {
        let a = &a;
        async move {
            let t = call(
                a,
                "GET",
                &format!("/replication/executions/{eid}/tasks"),
                "",
            )
            .await
            .json();
            t.as_array()
                .is_some_and(|l| l.iter().any(|x| x["status"] == "InProgress"))
        }
    })
    .await;
    let t0 = Instant::now();
    assert_eq!(
        call(&a, "PUT", &format!("/replication/executions/{eid}"), "")
            .await
            .status,
        200
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    let e = call(&a, "GET", &format!("/replication/executions/{eid}"), "")
        .await
        .json();
    assert_eq!(
        (
            e["status"].as_str(),
            e["in_progress"].as_u64(),
            e["stopped"].as_u64()
        ),
        (Some("Stopped"), Some(0), Some(2))
    );
    let t = call(
        &a,
        "GET",
        &format!("/replication/executions/{eid}/tasks"),
        "",
    )
    .await
    .json();
    assert!(t
        .as_array()
        .is_some_and(|l| l.iter().all(|x| x["status"] == "Stopped")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_through_the_api_and_by_digest_replicate_as_in_harbor() {
    let a = TestServer::start_with_auth().await;
    let b = TestServer::start_with_auth().await;
    let reg = register(&a, &b, "b").await;
    // `deletion` is Harbor's older name of `replicate_deletion`; clients of
    // older Harbor versions still send it.
    let policy = format!(
        r#"{{"name":"mirror","dest_registry":{{"id":{reg}}},"dest_namespace":"copy","filters":[{{"type":"name","value":"library/**"}}],
            "trigger":{{"type":"event_based"}},"deletion":true,"a_field_of_another_version":1}}"#
    );
    let r = call(&a, "POST", "/replication/policies", &policy).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pid = r.location_id();
    let p = call(&a, "GET", &format!("/replication/policies/{pid}"), "")
        .await
        .json();
    assert_eq!(
        (&p["replicate_deletion"], &p["deletion"]),
        (&true.into(), &true.into())
    );
    assert_eq!(p["src_registry"]["name"], "Local");
    assert_eq!(p["dest_registry"]["id"], reg);
    assert_eq!(p["dest_registry"]["url"], b.base.as_str());

    let mut digests = Vec::new();
    for tag in ["v1", "v2", "v3"] {
        let d = a.push_image("library/app", tag).await;
        wait_for(&format!("{tag} on B"), || {
            let (b, d) = (&b, d.clone());
            async move { digest_at(b, "copy/library/app", tag).await == Some(d) }
        })
        .await;
        digests.push(d);
    }
    let gone = |tag: &'static str| {
        let b = &b;
        move || async move { digest_at(b, "copy/library/app", tag).await.is_none() }
    };
    // A tag deleted through the API.
    let r = call(
        &a,
        "DELETE",
        "/projects/library/repositories/app/artifacts/v1/tags/v1",
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    wait_for("v1 deleted on B", gone("v1")).await;
    // An artifact deleted through the API.
    let r = call(
        &a,
        "DELETE",
        &format!(
            "/projects/library/repositories/app/artifacts/{}",
            digests[1]
        ),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    wait_for("v2 deleted on B", gone("v2")).await;
    // A manifest deleted by digest on /v2/, as `skopeo delete` does.
    let r = a
        .send(
            "DELETE",
            &format!("/v2/library/app/manifests/{}", digests[2]),
            &[("authorization", &common::admin_auth())],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    wait_for("v3 deleted on B", gone("v3")).await;
    let r = b
        .send(
            "HEAD",
            &format!("/v2/copy/library/app/manifests/{}", digests[2]),
            &[("authorization", &common::admin_auth())],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404, "the manifest itself is gone on B");
    let list = call(
        &a,
        "GET",
        "/replication/executions?trigger=event_based&page_size=50",
        "",
    )
    .await;
    assert_eq!(
        list.header("x-total-count"),
        Some("6"),
        "three pushes, three deletions"
    );
}
