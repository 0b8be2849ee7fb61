//! Three `harbor-server` processes over one PostgreSQL database and one S3
//! bucket (moto), behind nginx round-robin without stickiness, behave as one
//! registry: pushes whose requests land on different instances, pulls from
//! any, tokens from one accepted by all, a SIGKILLed instance losing nothing
//! acknowledged, each replication execution run once, each cron tick fired
//! once, garbage collections one at a time. Real servers throughout,
//! started here (`scripts/test` installs them).
#![cfg(all(feature = "postgres", feature = "s3"))]
// A test: a missing header or id is a failure to report, as unwrap does.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::distribution::free_port;
use common::layout::{self, Image, MultiPlatform};
use common::nginx::Nginx;
use common::process::ServerProcess;
use common::skopeo::{creds, docker, oci, Skopeo};
use common::{basic, digest, request, Resp, ADMIN_PASSWORD};
use harbor_core::BlobStore;
use harbor_storage::postgres::testing::TempCluster;
use harbor_storage::s3::testing::Moto;
use harbor_storage::S3BlobStore;

struct Cluster {
    instances: Vec<ServerProcess>,
    nginx: Nginx,
    /// The bucket, for looking at it from outside.
    blobs: S3BlobStore,
    _dirs: Vec<tempfile::TempDir>,
}

/// One moto per test binary (it dies with the process).
static MOTO: tokio::sync::OnceCell<Moto> = tokio::sync::OnceCell::const_new();

async fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start).await
}

impl Cluster {
    fn lb(&self) -> String {
        self.nginx.addr.clone()
    }

    fn lb_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.nginx.addr)
    }
}

async fn start_cluster() -> Cluster {
    let url = tokio::task::spawn_blocking(|| TempCluster::shared().database())
        .await
        .unwrap();
    let moto = moto().await;
    let bucket = moto.bucket().await;
    let endpoint = moto.endpoint();
    let secrets = tempfile::tempdir().unwrap();
    let lb_port = free_port();
    let external = format!("http://127.0.0.1:{lb_port}");
    let secrets_dir = secrets.path().to_string_lossy().into_owned();
    let env: Vec<(&str, &str)> = vec![
        ("HARBOR_DATABASE_URL", url.as_str()),
        ("HARBOR_DATABASE_POOL_SIZE", "8"),
        ("HARBOR_STORAGE_S3_BUCKET", bucket.bucket.as_str()),
        ("HARBOR_STORAGE_S3_ENDPOINT", endpoint.as_str()),
        ("HARBOR_STORAGE_S3_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("HARBOR_SECRETS_DIR", secrets_dir.as_str()),
        ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("HARBOR_EXTERNAL_URL", external.as_str()),
        ("HARBOR_GC_TIME_WINDOW", "1s"),
    ];
    let mut dirs = vec![secrets];
    let mut instances = Vec::new();
    // The first instance creates the keys in the secrets directory that
    // the others are given (as an operator deploys them to each machine).
    for n in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        instances.push(ServerProcess::start(&dir.path().join("data"), &log, &env).await);
        dirs.push(dir);
        let _ = n;
    }
    let upstreams: Vec<String> = instances.iter().map(|i| i.addr.clone()).collect();
    let nginx = Nginx::start(lb_port, &upstreams).await;
    let blobs = S3BlobStore::connect(&bucket).await.unwrap();
    Cluster {
        instances,
        nginx,
        blobs,
        _dirs: dirs,
    }
}

fn admin() -> String {
    creds("admin", ADMIN_PASSWORD)
}

async fn call(url: &str, method: &str, body: &str) -> Resp {
    let auth = basic("admin", ADMIN_PASSWORD);
    request(
        method,
        url,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body.to_owned(),
    )
    .await
}

/// A bearer token for `scope` from one instance's token service.
async fn token(instance: &ServerProcess, scope: &str) -> String {
    let auth = basic("admin", ADMIN_PASSWORD);
    let r = request(
        "GET",
        &instance.url(&format!(
            "/service/token?service=harbor-registry&scope={scope}"
        )),
        &[("authorization", auth.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_owned()
}

fn assert_same_blobs(pushed: &Path, pulled: &Path) {
    layout::assert_blobs_copied(pushed, pulled);
}

/// A chunked upload of 12 MiB in 3 MiB PATCHes through the load balancer:
/// every request may land on another instance.
async fn chunked_upload_through(c: &Cluster, repo: &str) -> String {
    let data = layout::pseudo_random(99, 12 * 1024 * 1024);
    let d = digest(&data);
    let bearer = format!(
        "Bearer {}",
        token(&c.instances[0], &format!("repository:{repo}:pull,push")).await
    );
    let r = request(
        "POST",
        &c.lb_url(&format!("/v2/{repo}/blobs/uploads/")),
        &[("authorization", bearer.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let mut location = r.header("location").unwrap().to_owned();
    let chunk = 3 * 1024 * 1024;
    for (i, piece) in data.chunks(chunk).enumerate() {
        let range = format!("{}-{}", i * chunk, i * chunk + piece.len() - 1);
        let url = if location.starts_with("http") {
            location.clone()
        } else {
            c.lb_url(&location)
        };
        let r = request(
            "PATCH",
            &url,
            &[
                ("authorization", bearer.as_str()),
                ("content-range", range.as_str()),
                ("content-type", "application/octet-stream"),
            ],
            piece.to_vec(),
        )
        .await;
        assert_eq!(
            r.status,
            202,
            "chunk {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        location = r.header("location").unwrap().to_owned();
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = if location.starts_with("http") {
        format!("{location}{sep}digest={d}")
    } else {
        c.lb_url(&format!("{location}{sep}digest={d}"))
    };
    let r = request(
        "PUT",
        &url,
        &[("authorization", bearer.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Every instance serves it, identical.
    for i in &c.instances {
        let r = request(
            "GET",
            &i.url(&format!("/v2/{repo}/blobs/{d}")),
            &[("authorization", bearer.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.as_ref() == data.as_slice(),
            "instance {} serves other bytes",
            i.addr
        );
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_behave_as_one_registry() {
    let mut c = start_cluster().await;
    let skopeo = Skopeo::new();

    // Pushes through the balancer: an image and a multi-platform index.
    let image = layout::three_layer_image(5);
    let target = docker(&c.lb(), "library/app:v1");
    let (src, out) = skopeo.push(&image, &target, Some(&admin())).await;
    out.assert_success();
    let multi = MultiPlatform::new(11);
    let multi_src = skopeo.scratch("multi-in");
    layout::write_multi_platform(&multi_src, "v1", &multi);
    let multi_target = docker(&c.lb(), "library/multi:v1");
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &admin(),
            &oci(&multi_src, "v1"),
            &multi_target,
        ])
        .await;
    chunked_upload_through(&c, "library/chunked").await;

    // Pulled through the balancer and from each instance: the same bytes.
    let mut sources = vec![c.lb()];
    sources.extend(c.instances.iter().map(|i| i.addr.clone()));
    for host in &sources {
        let (pulled, out) = skopeo
            .pull(&docker(host, "library/app:v1"), Some(&admin()))
            .await;
        out.assert_success();
        assert_same_blobs(&src, &pulled);
        let dest = skopeo.scratch(&format!("multi-out-{}", host.replace([':', '.'], "_")));
        skopeo
            .ok(&[
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--src-creds",
                &admin(),
                &docker(host, "library/multi:v1"),
                &oci(&dest, "v1"),
            ])
            .await;
        assert_same_blobs(&multi_src, &dest);
    }

    // A token from instance A is accepted by B and C; a write through A is
    // read at once through B and C.
    let scope = "repository:library/app:pull,push";
    let bearer = format!("Bearer {}", token(&c.instances[0], scope).await);
    let manifest = request(
        "GET",
        &c.instances[1].url("/v2/library/app/manifests/v1"),
        &[
            ("authorization", bearer.as_str()),
            ("accept", layout::OCI_MANIFEST),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(manifest.status, 200, "a token from A is accepted by B");
    let media_type = manifest.header("content-type").unwrap().to_owned();
    for n in 0..20 {
        let tag = format!("moved-{n}");
        let r = request(
            "PUT",
            &c.instances[n % 3].url(&format!("/v2/library/app/manifests/{tag}")),
            &[
                ("authorization", bearer.as_str()),
                ("content-type", media_type.as_str()),
            ],
            manifest.body.clone(),
        )
        .await;
        assert_eq!(r.status, 201);
        for other in [(n + 1) % 3, (n + 2) % 3] {
            let r = request(
                "HEAD",
                &c.instances[other].url(&format!("/v2/library/app/manifests/{tag}")),
                &[
                    ("authorization", bearer.as_str()),
                    ("accept", layout::OCI_MANIFEST),
                ],
                Vec::new(),
            )
            .await;
            assert_eq!(
                r.status,
                200,
                "tag {tag} written on {} is seen on {other}",
                n % 3
            );
        }
    }

    replication_runs_once_per_execution_and_per_tick(&c).await;

    // An instance killed in the middle of a push: the client's retry through
    // the balancer succeeds and nothing acknowledged is lost.
    let big = Image::new(
        "linux",
        "amd64",
        vec![
            layout::pseudo_random(3, 24 * 1024 * 1024),
            layout::pseudo_random(4, 9 * 1024 * 1024),
        ],
    );
    let big_target = docker(&c.lb(), "library/big:v1");
    let push = {
        let skopeo = &skopeo;
        let big = &big;
        let big_target = big_target.clone();
        async move { skopeo.push(big, &big_target, Some(&admin())).await }
    };
    // Killed once an upload session exists in the bucket: the push is under
    // way, its requests spread over the three instances.
    let blobs = c.blobs.clone();
    let victim = &mut c.instances[1];
    let kill = async move {
        let until = Instant::now() + Duration::from_secs(60);
        while blobs
            .list_uploads()
            .await
            .map(|u| u.is_empty())
            .unwrap_or(true)
        {
            assert!(Instant::now() < until, "the push never started an upload");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        victim.signal("9").await
    };
    let ((_, first_try), _) = tokio::join!(push, kill);
    // skopeo retries some failures itself; whatever it reported, a push
    // through the balancer now succeeds.
    let _ = first_try;
    let (big_src, retry) = skopeo.push(&big, &big_target, Some(&admin())).await;
    retry.assert_success();
    for host in [
        c.lb(),
        c.instances[0].addr.clone(),
        c.instances[2].addr.clone(),
    ] {
        let (pulled, out) = skopeo
            .pull(&docker(&host, "library/big:v1"), Some(&admin()))
            .await;
        out.assert_success();
        assert_same_blobs(&big_src, &pulled);
        let (pulled, out) = skopeo
            .pull(&docker(&host, "library/app:v1"), Some(&admin()))
            .await;
        out.assert_success();
        assert_same_blobs(&src, &pulled);
    }

    garbage_collection_runs_one_run_at_a_time(&c, &skopeo, &src).await;
    an_execution_of_a_killed_instance_is_finished_by_another(&mut c).await;
}

/// Three collections asked for through the balancer (so on any instance)
/// run one after the other, never two at once; they remove what a deleted
/// artifact left and nothing a tag reaches.
async fn garbage_collection_runs_one_run_at_a_time(c: &Cluster, skopeo: &Skopeo, app_src: &Path) {
    let victim = layout::three_layer_image(21);
    skopeo
        .push(
            &victim,
            &docker(&c.lb(), "library/victim:v1"),
            Some(&admin()),
        )
        .await
        .1
        .assert_success();
    let r = call(
        &c.lb_url("/api/v2.0/projects/library/repositories/victim/artifacts/v1"),
        "DELETE",
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Older than the cluster's window (HARBOR_GC_TIME_WINDOW, 1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let r = call(
            &c.lb_url("/api/v2.0/system/gc/schedule"),
            "POST",
            r#"{"schedule":{"type":"Manual"},"parameters":{"workers":3}}"#,
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        runs.push(r.header("location").unwrap().to_owned());
    }
    let mut spans = Vec::new();
    for run in &runs {
        let until = Instant::now() + Duration::from_secs(120);
        let status = loop {
            let r = call(&c.lb_url(run), "GET", "").await.json();
            let status = r["job_status"].as_str().unwrap_or("").to_owned();
            if ["Success", "Error", "Stopped"].contains(&status.as_str()) {
                break status;
            }
            assert!(Instant::now() < until, "{run} did not end: {r}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, "Success", "{run}");
        let log = call(&c.lb_url(&format!("{run}/log")), "GET", "").await;
        let log = String::from_utf8_lossy(&log.body).into_owned();
        let stamp = |line: &str| {
            chrono::DateTime::parse_from_rfc3339(line.split_whitespace().next().unwrap_or(""))
                .unwrap_or_else(|e| panic!("{run}: {line:?}: {e}"))
        };
        let first = log.lines().next().unwrap_or_default();
        let last = log.lines().last().unwrap_or_default();
        assert!(
            first.contains("started") && last.contains("done"),
            "{run}:\n{log}"
        );
        spans.push((stamp(first), stamp(last), run.clone()));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "{} started before {} ended",
            pair[1].2,
            pair[0].2
        );
    }
    // The victim's own layers go; the one it shares with app:v1 stays.
    let app = layout::three_layer_image(5);
    for layer in &victim.layers {
        let d = harbor_core::Digest::parse(&digest(layer)).unwrap();
        let shared = app.layers.contains(layer);
        assert_eq!(
            c.blobs.stat(&d).await.unwrap().is_some(),
            shared,
            "{d} (shared with app:v1: {shared})"
        );
    }
    let (pulled, out) = skopeo
        .pull(&docker(&c.lb(), "library/app:v1"), Some(&admin()))
        .await;
    out.assert_success();
    assert_same_blobs(app_src, &pulled);
}

/// An execution started on instance 2, which is killed while its tasks
/// run: its lease expires and instance 0 finishes it.
async fn an_execution_of_a_killed_instance_is_finished_by_another(c: &mut Cluster) {
    // Basic credentials, which /v2/ takes as well as tokens.
    let admin_auth = basic("admin", ADMIN_PASSWORD);
    let manifest = request(
        "GET",
        &c.instances[0].url("/v2/library/big/manifests/v1"),
        &[
            ("authorization", admin_auth.as_str()),
            ("accept", layout::OCI_MANIFEST),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(manifest.status, 200);
    let media_type = manifest.header("content-type").unwrap().to_owned();
    // The blobs into library/many first (mounted from library/big), then
    // 60 tags of the image.
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let mut digests = vec![parsed["config"]["digest"].as_str().unwrap().to_owned()];
    for l in parsed["layers"].as_array().unwrap() {
        digests.push(l["digest"].as_str().unwrap().to_owned());
    }
    for d in &digests {
        let r = request(
            "POST",
            &c.instances[0].url(&format!(
                "/v2/library/many/blobs/uploads/?mount={d}&from=library/big"
            )),
            &[("authorization", admin_auth.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(
            r.status,
            201,
            "mount {d}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    for n in 0..60 {
        let r = request(
            "PUT",
            &c.instances[0].url(&format!("/v2/library/many/manifests/t{n}")),
            &[
                ("authorization", admin_auth.as_str()),
                ("content-type", media_type.as_str()),
            ],
            manifest.body.clone(),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let reg = call(
        &c.instances[2].url("/api/v2.0/registries"),
        "POST",
        &format!(
            r#"{{"name":"direct","type":"harbor","url":"http://{}","insecure":false,"credential":{{"type":"basic","access_key":"admin","access_secret":"{ADMIN_PASSWORD}"}}}}"#,
            c.instances[0].addr
        ),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", String::from_utf8_lossy(&reg.body));
    let reg = reg.location_id();
    let policy = format!(
        r#"{{"name":"takeover","dest_registry":{{"id":{reg}}},"dest_namespace":"taken","dest_namespace_replace_count":1,
            "filters":[{{"type":"name","value":"library/many"}}],
            "trigger":{{"type":"manual"}},"override":true,"enabled":true}}"#
    );
    let r = call(
        &c.instances[2].url("/api/v2.0/replication/policies"),
        "POST",
        &policy,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pid = r.location_id();
    let r = call(
        &c.instances[2].url("/api/v2.0/replication/executions"),
        "POST",
        &format!(r#"{{"policy_id":{pid}}}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let eid = r.location_id();
    let status = c.instances[2].signal("9").await;
    assert!(!status.success());
    let e = call(
        &c.instances[0].url(&format!("/api/v2.0/replication/executions/{eid}")),
        "GET",
        "",
    )
    .await
    .json();
    assert_ne!(
        e["status"], "Succeeded",
        "the execution was still running when its instance was killed: {e}"
    );
    let done = wait_final_at(&c.instances[0], eid).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(done["total"], 60, "{done}");
    assert_eq!(done["succeed"], 60, "{done}");
    let tags = request(
        "GET",
        &c.instances[0].url("/v2/taken/many/tags/list?n=1000"),
        &[("authorization", admin_auth.as_str())],
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(tags["tags"].as_array().map(Vec::len), Some(60), "{tags}");
}

/// Ten executions of ten tasks each, started through the balancer (so on
/// several instances): every task runs exactly once. A policy scheduled
/// every two seconds fires once per tick across the three instances.
async fn replication_runs_once_per_execution_and_per_tick(c: &Cluster) {
    // Ten tags to copy, as pushes through the balancer.
    let bearer = format!(
        "Bearer {}",
        token(&c.instances[2], "repository:library/app:pull,push").await
    );
    let manifest = request(
        "GET",
        &c.lb_url("/v2/library/app/manifests/v1"),
        &[
            ("authorization", bearer.as_str()),
            ("accept", layout::OCI_MANIFEST),
        ],
        Vec::new(),
    )
    .await;
    let media_type = manifest.header("content-type").unwrap().to_owned();
    for n in 0..10 {
        let r = request(
            "PUT",
            &c.lb_url(&format!("/v2/library/app/manifests/r{n}")),
            &[
                ("authorization", bearer.as_str()),
                ("content-type", media_type.as_str()),
            ],
            manifest.body.clone(),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    // The cluster replicates into itself, through the balancer.
    let reg = call(
        &c.lb_url("/api/v2.0/registries"),
        "POST",
        &format!(
            r#"{{"name":"self","type":"harbor","url":"http://{}","insecure":false,"credential":{{"type":"basic","access_key":"admin","access_secret":"{ADMIN_PASSWORD}"}}}}"#,
            c.lb()
        ),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", String::from_utf8_lossy(&reg.body));
    let reg = reg.location_id();
    let mut executions = Vec::new();
    for p in 0..10 {
        let policy = format!(
            r#"{{"name":"copy-{p}","dest_registry":{{"id":{reg}}},"dest_namespace":"mirror{p}","dest_namespace_replace_count":1,
                "filters":[{{"type":"name","value":"library/app"}},{{"type":"tag","value":"r*"}}],
                "trigger":{{"type":"manual"}},"override":true,"enabled":true}}"#
        );
        let r = call(&c.lb_url("/api/v2.0/replication/policies"), "POST", &policy).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let pid = r.location_id();
        let r = call(
            &c.lb_url("/api/v2.0/replication/executions"),
            "POST",
            &format!(r#"{{"policy_id":{pid}}}"#),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        executions.push(r.location_id());
    }
    let mut tasks_seen = 0;
    for e in &executions {
        let done = wait_final(c, *e).await;
        assert_eq!(done["status"], "Succeeded", "execution {e}: {done}");
        let tasks = call(
            &c.lb_url(&format!("/api/v2.0/replication/executions/{e}/tasks")),
            "GET",
            "",
        )
        .await
        .json();
        let tasks = tasks.as_array().unwrap();
        assert_eq!(tasks.len(), 10);
        for t in tasks {
            tasks_seen += 1;
            let id = t["id"].as_i64().unwrap();
            let log = call(
                &c.lb_url(&format!(
                    "/api/v2.0/replication/executions/{e}/tasks/{id}/log"
                )),
                "GET",
                "",
            )
            .await;
            let log = String::from_utf8_lossy(&log.body).into_owned();
            // One runner numbers its attempts 1, 2, ... (a transient error
            // is retried); a second runner would start again at 1.
            let attempts: Vec<u32> = log
                .lines()
                .filter(|l| l.contains(": copying "))
                .filter_map(|l| l.strip_prefix("attempt ")?.split(':').next()?.parse().ok())
                .collect();
            let expected: Vec<u32> = (1..=attempts.len() as u32).collect();
            assert!(
                !attempts.is_empty() && attempts == expected,
                "task {id} of execution {e} was run by one runner: {log}"
            );
        }
    }
    assert_eq!(tasks_seen, 100);

    // Every two seconds, for about seven seconds, then off.
    let policy = format!(
        r#"{{"name":"ticking","dest_registry":{{"id":{reg}}},"dest_namespace":"ticks","dest_namespace_replace_count":1,
            "filters":[{{"type":"name","value":"library/app"}},{{"type":"tag","value":"r0"}}],
            "trigger":{{"type":"scheduled","trigger_settings":{{"cron":"*/2 * * * * *"}}}},"override":true,"enabled":true}}"#
    );
    let r = call(&c.lb_url("/api/v2.0/replication/policies"), "POST", &policy).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pid = r.location_id();
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let disabled = policy.replace(r#""enabled":true"#, r#""enabled":false"#);
    let r = call(
        &c.lb_url(&format!("/api/v2.0/replication/policies/{pid}")),
        "PUT",
        &disabled,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let elapsed = began.elapsed().as_secs_f64();
    let list = call(
        &c.lb_url(&format!(
            "/api/v2.0/replication/executions?policy_id={pid}&page_size=100"
        )),
        "GET",
        "",
    )
    .await
    .json();
    let fired = list.as_array().unwrap().len() as f64;
    // One execution per even second elapsed; three instances without the
    // tick's lease would start three times as many.
    let ticks = elapsed / 2.0;
    assert!(
        fired >= ticks - 1.5 && fired <= ticks + 1.5,
        "{fired} executions for about {ticks:.1} ticks: {list}"
    );
}

async fn wait_final(c: &Cluster, execution: i64) -> serde_json::Value {
    wait_final_url(&c.lb_url(&format!("/api/v2.0/replication/executions/{execution}"))).await
}

async fn wait_final_at(instance: &ServerProcess, execution: i64) -> serde_json::Value {
    wait_final_url(&instance.url(&format!("/api/v2.0/replication/executions/{execution}"))).await
}

async fn wait_final_url(url: &str) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let e = call(url, "GET", "").await.json();
        if ["Succeeded", "Failed", "Stopped"].contains(&e["status"].as_str().unwrap_or("")) {
            return e;
        }
        assert!(Instant::now() < until, "{url} never ended: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With `redirect` on, blob downloads answer 307 to a presigned bucket URL
/// that serves the blob, and skopeo pulls through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_downloads_redirect_to_presigned_urls_when_enabled() {
    let moto = moto().await;
    let bucket = moto.bucket().await;
    let endpoint = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &dir.path().join("server.log"),
        &[
            ("HARBOR_STORAGE_S3_BUCKET", bucket.bucket.as_str()),
            ("HARBOR_STORAGE_S3_ENDPOINT", endpoint.as_str()),
            ("HARBOR_STORAGE_S3_ALLOW_HTTP", "true"),
            ("HARBOR_STORAGE_S3_REDIRECT", "5m"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("HARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
    .await;
    let skopeo = Skopeo::new();
    let image = layout::three_layer_image(21);
    let (src, out) = skopeo
        .push(
            &image,
            &docker(&server.addr, "library/r:v1"),
            Some(&admin()),
        )
        .await;
    out.assert_success();
    let layer = &image.layers[0];
    let d = digest(layer);
    let auth = basic("admin", ADMIN_PASSWORD);
    let r = request(
        "GET",
        &server.url(&format!("/v2/library/r/blobs/{d}")),
        &[("authorization", auth.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 307);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with(&endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature"), "{location}");
    let fetched = request("GET", &location, &[], Vec::new()).await;
    assert_eq!(fetched.status, 200);
    assert!(
        fetched.body.as_ref() == layer.as_slice(),
        "the presigned URL serves the blob"
    );
    let (pulled, out) = skopeo
        .pull(&docker(&server.addr, "library/r:v1"), Some(&admin()))
        .await;
    out.assert_success();
    assert_same_blobs(&src, &pulled);
}

/// Runs `harbor-server serve` with `env`, expecting it to refuse to start.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harbor-server"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HARBOR_")) {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "it started: {out:?}");
    assert!(out.stdout.is_empty(), "nothing announced: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_cluster_settings_stop_the_start_with_one_line_naming_them() {
    let line = refused_start(&[(
        "HARBOR_DATABASE_URL",
        "postgres://harbor:hunter2@127.0.0.1:1/harbor",
    )]);
    assert!(line.contains("database_url"), "{line}");
    assert!(
        !line.contains("hunter2"),
        "the password is not shown: {line}"
    );

    let moto = moto().await;
    let endpoint = moto.endpoint();
    let line = refused_start(&[
        ("HARBOR_STORAGE_S3_BUCKET", "no-such-bucket"),
        ("HARBOR_STORAGE_S3_ENDPOINT", endpoint.as_str()),
        ("HARBOR_STORAGE_S3_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]);
    assert!(
        line.contains("[storage.s3]") && line.contains("no-such-bucket"),
        "{line}"
    );

    let line = refused_start(&[("HARBOR_STORAGE_S3_ENDPOINT", endpoint.as_str())]);
    assert!(line.contains("HARBOR_STORAGE_S3_BUCKET"), "{line}");
}
