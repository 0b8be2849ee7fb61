//! The web portal: signing in and out (`/c/login`, `/c/log_out`), its
//! session cookies, CSRF on every change, the content security policy,
//! escaping of hostile text, permissions hiding controls, and the whole
//! flow in a real browser (Debian's chromium driven by npm's
//! playwright-core through `tests/portal/browser.mjs`; `bash scripts/test`
//! installs both).
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::{self, BrowserScript};
use common::portal::{page, post_form, set_cookies, sign_in, text, Session};
use common::skopeo::{creds, docker, oci, Skopeo};
use common::{admin_call, layout, request, TestServer, ADMIN_PASSWORD};
use serde_json::json;

async fn project_exists(s: &TestServer, name: &str) -> bool {
    s.identity().project_by_name(name).await.unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_a_strict_http_only_expiring_session_that_the_api_accepts() {
    let s = TestServer::start_with_auth().await;
    let body = format!("principal=admin&password={ADMIN_PASSWORD}");
    let r = request(
        "POST",
        &format!("{}/c/login", s.base),
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "a script gets Harbor's bare 200");
    let cookies = set_cookies(&r);
    let sid = cookies.iter().find(|c| c.starts_with("sid=")).unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Max-Age=3600", "Path=/"] {
        assert!(sid.contains(part), "{part} missing: {sid}");
    }
    assert!(!sid.contains("Secure"), "no Secure over plain HTTP: {sid}");
    let csrf = cookies.iter().find(|c| c.starts_with("__csrf=")).unwrap();
    assert!(!csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"));

    // The session is a database user's, accepted by the API.
    let session = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let me = request(
        "GET",
        &format!("{}/api/v2.0/users/current", s.base),
        &[("cookie", &session.cookie)],
        "",
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "admin");
    // A change needs the CSRF header, and works with it.
    let without = request(
        "POST",
        &format!("{}/api/v2.0/projects", s.base),
        &[
            ("cookie", &session.cookie),
            ("content-type", "application/json"),
        ],
        json!({"project_name": "by-api"}).to_string(),
    )
    .await;
    assert_eq!(without.status, 403);
    assert!(!project_exists(&s, "by-api").await);
    let with = request(
        "POST",
        &format!("{}/api/v2.0/projects", s.base),
        &[
            ("cookie", &session.cookie),
            ("content-type", "application/json"),
            ("x-harbor-csrf-token", &session.csrf),
        ],
        json!({"project_name": "by-api"}).to_string(),
    )
    .await;
    assert_eq!(with.status, 201, "{}", text(&with));

    // Signing out removes both cookies.
    let out = page(&s, &session, "/c/log_out").await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/harbor/sign-in"));
    let cleared = set_cookies(&out);
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    // A copy of the cookie kept from before signing out opens nothing.
    let me = request(
        "GET",
        &format!("{}/api/v2.0/users/current", s.base),
        &[("cookie", &session.cookie)],
        "",
    )
    .await;
    assert_eq!(me.status, 401, "the API refuses a signed-out session");
    let again = page(&s, &session, "/harbor/projects").await;
    assert_eq!(again.status, 303);
    assert!(again
        .header("location")
        .is_some_and(|l| l.starts_with("/harbor/sign-in")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_users_other_sessions_and_keeps_this_one() {
    let s = TestServer::start_with_auth().await;
    let ann = s.create_user("ann", "Portal12345").await;
    let here = sign_in(&s, "ann", "Portal12345").await;
    let elsewhere = sign_in(&s, "ann", "Portal12345").await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let current = |session: &Session| {
        let cookie = session.cookie.clone();
        let base = s.base.clone();
        async move {
            request(
                "GET",
                &format!("{base}/api/v2.0/users/current"),
                &[("cookie", &cookie)],
                "",
            )
            .await
            .status
        }
    };
    assert_eq!(current(&elsewhere).await, 200);
    let changed = request(
        "PUT",
        &format!("{}/api/v2.0/users/{}/password", s.base, ann),
        &[
            ("cookie", &here.cookie),
            ("content-type", "application/json"),
            ("x-harbor-csrf-token", &here.csrf),
        ],
        json!({"old_password": "Portal12345", "new_password": "Changed12345"}).to_string(),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", text(&changed));
    assert_eq!(
        current(&here).await,
        200,
        "the session that changed it stays"
    );
    assert_eq!(current(&elsewhere).await, 401, "the other one ended");
    assert_eq!(current(&admin).await, 200, "other users' sessions stay");
    // An administrator's reset ends all of the user's sessions.
    let reset = request(
        "PUT",
        &format!("{}/api/v2.0/users/{}/password", s.base, ann),
        &[
            ("cookie", &admin.cookie),
            ("content-type", "application/json"),
            ("x-harbor-csrf-token", &admin.csrf),
        ],
        json!({"new_password": "Reset123456"}).to_string(),
    )
    .await;
    assert_eq!(reset.status, 200, "{}", text(&reset));
    assert_eq!(current(&here).await, 401);
    assert_eq!(current(&admin).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_with_a_message_and_no_session() {
    let s = TestServer::start_with_auth().await;
    let r = request(
        "POST",
        &format!("{}/c/login", s.base),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html"),
        ],
        "principal=admin&password=wrong",
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(set_cookies(&r).is_empty());
    assert!(text(&r).contains("Invalid user name or password."));
    let r = request(
        "POST",
        &format!("{}/c/login", s.base),
        &[("content-type", "application/x-www-form-urlencoded")],
        "principal=nobody&password=wrong",
    )
    .await;
    assert_eq!(r.status, 401);
    // Without a session, pages send the browser to sign in, and back.
    let r = request(
        "GET",
        &format!("{}/harbor/projects?page=2", s.base),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/harbor/sign-in?redirect_url=%2Fharbor%2Fprojects%3Fpage%3D2")
    );
    let root = request("GET", &format!("{}/", s.base), &[], "").await;
    assert_eq!(root.header("location"), Some("/harbor/sign-in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_content_security_policy_and_no_inline_script() {
    let s = TestServer::start_with_auth().await;
    let session = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let sign_in_page = request("GET", &format!("{}/harbor/sign-in", s.base), &[], "").await;
    let projects = page(&s, &session, "/harbor/projects").await;
    let users = page(&s, &session, "/harbor/users").await;
    let members = page(&s, &session, "/harbor/projects/1/members").await;
    let repos = page(&s, &session, "/harbor/projects/1/repositories").await;
    for r in [&sign_in_page, &projects, &users, &members, &repos] {
        assert_eq!(r.status, 200, "{}", text(r));
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let html = text(r);
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=\"/portal/static/portal.js\" defer></script>")
                .count(),
            "only the portal's own script file"
        );
        for handler in [
            " onclick=",
            " onload=",
            " onerror=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!html.contains(handler), "inline handler {handler}");
        }
    }
    let js = request(
        "GET",
        &format!("{}/portal/static/portal.js", s.base),
        &[],
        "",
    )
    .await;
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let css = request(
        "GET",
        &format!("{}/portal/static/portal.css", s.base),
        &[],
        "",
    )
    .await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let s = TestServer::start_with_auth().await;
    let session = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let r = post_form(&s, &session, "/harbor/projects", "project_name=forged").await;
    assert_eq!(r.status, 403);
    assert!(text(&r).contains("CSRF token invalid"));
    let r = post_form(
        &s,
        &session,
        "/harbor/projects",
        "project_name=forged&_csrf=not-the-token-of-this-session",
    )
    .await;
    assert_eq!(r.status, 403);
    let r = post_form(&s, &session, "/harbor/projects/1/delete", "").await;
    assert_eq!(r.status, 403);
    assert!(!project_exists(&s, "forged").await);
    assert!(project_exists(&s, "library").await);
    // Without a session at all, the form leads to the sign-in page.
    let r = request(
        "POST",
        &format!("{}/harbor/projects", s.base),
        &[("content-type", "application/x-www-form-urlencoded")],
        "project_name=forged",
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(!project_exists(&s, "forged").await);

    // With the token it is done, through the API (its audit log says so).
    let form = format!("project_name=made-here&public=true&_csrf={}", session.csrf);
    let r = post_form(&s, &session, "/harbor/projects", &form).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let p = s
        .identity()
        .project_by_name("made-here")
        .await
        .unwrap()
        .unwrap();
    assert!(p.public);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/harbor/projects/{}/repositories", p.id)
    );
    // The audit log is written in the background: give it a moment.
    let mut logs = serde_json::Value::Null;
    for _ in 0..50 {
        logs = admin_call(
            &format!("{}/api/v2.0/audit-logs?q=resource%3Dmade-here", s.base),
            "GET",
            None,
        )
        .await
        .json();
        if logs[0].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(logs[0]["username"], "admin", "{logs}");
    assert_eq!(logs[0]["operation"], "create");
    let form = format!("_csrf={}", session.csrf);
    let r = post_form(
        &s,
        &session,
        &format!("/harbor/projects/{}/delete", p.id),
        &form,
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(!project_exists(&s, "made-here").await);
}

/// A full name with markup (Harbor refuses `"` in full names).
const REALNAME: &str = "<script>alert(3)</script><img src=x onerror='alert(4)'>";

/// Text a test can put where users write: markup, quotes, and length.
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=\"alert(2)\">'\"&";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_render_as_text() {
    let s = TestServer::start_with_auth().await;
    let long = format!("{HOSTILE}{}", "y".repeat(2000));
    let digest = s.push_image("library/app", "v1").await;
    let r = admin_call(
        &format!("{}/api/v2.0/labels", s.base),
        "POST",
        Some(json!({"name": HOSTILE, "scope": "g", "color": "#0065AB", "description": long})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let label = r.location_id();
    let r = admin_call(
        &format!(
            "{}/api/v2.0/projects/library/repositories/app/artifacts/{digest}/labels",
            s.base
        ),
        "POST",
        Some(json!({"id": label})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = admin_call(
        &format!("{}/api/v2.0/users", s.base),
        "POST",
        Some(json!({"username": "mallory", "email": "m@example.com", "realname": format!("{REALNAME}{}", "z".repeat(150)), "password": "Portal12345"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let session = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;'&quot;&amp;";
    let escaped_name = "&lt;script&gt;alert(3)&lt;/script&gt;&lt;img src=x onerror='alert(4)'&gt;";
    for (path, escaped) in [
        ("/harbor/projects/1/repositories/app/artifacts-tab", escaped),
        ("/harbor/users", escaped_name),
    ] {
        let r = page(&s, &session, path).await;
        assert_eq!(r.status, 200);
        let html = text(&r);
        assert!(!html.contains("<script>alert"), "{path}: raw markup");
        assert!(!html.contains("<img src=x"), "{path}: raw markup");
        assert!(html.contains(escaped), "{path}: escaped text missing");
    }
    // An unknown repository name with markup in the path is text too.
    let r = page(
        &s,
        &session,
        "/harbor/projects/1/repositories/%3Cscript%3E/artifacts-tab",
    )
    .await;
    assert!(!text(&r).contains("<script>"), "{}", text(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_sees_no_delete_buttons_and_cannot_delete_by_hand() {
    let s = TestServer::start_with_auth().await;
    s.push_image("library/app", "v1").await;
    let guest = s.create_user("guest", "Portal12345").await;
    s.add_member(1, guest, harbor_core::Role::Guest).await;
    let session = sign_in(&s, "guest", "Portal12345").await;
    for path in [
        "/harbor/projects",
        "/harbor/projects/1/repositories",
        "/harbor/projects/1/repositories/app/artifacts-tab",
        "/harbor/projects/1/members",
    ] {
        let r = page(&s, &session, path).await;
        assert_eq!(r.status, 200, "{path}");
        let html = text(&r);
        if path.contains("repositories") {
            assert!(html.contains("library/app"), "{path} shows the repository");
        }
        assert!(!html.contains(">Delete<"), "{path} shows a delete button");
        assert!(!html.contains(">Remove<"), "{path} shows a remove button");
    }
    let r = page(&s, &session, "/harbor/users").await;
    assert_eq!(r.status, 403);
    // Forms made by hand with the right token are refused by the API.
    let form = format!("_csrf={}", session.csrf);
    let r = post_form(
        &s,
        &session,
        "/harbor/projects/1/repositories/app/delete",
        &form,
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(s
        .registry
        .meta_store()
        .repository_info(&common::repo("library/app"))
        .await
        .unwrap()
        .is_some());
}

/// What the browser script asks for: images pushed as `user` by skopeo
/// (`portal-demo/app:v1` and one under a very long name), the first
/// labelled with a hostile name. Answers what it pushed.
async fn push_for_browser(s: &TestServer, skopeo: &Skopeo, user: &str, password: &str) -> String {
    let image = layout::three_layer_image(5);
    let (_, out) = skopeo
        .push(
            &image,
            &docker(&s.host(), "portal-demo/app:v1"),
            Some(&creds(user, password)),
        )
        .await;
    out.assert_success();
    let long_name = format!(
        "portal-demo/{}/{}",
        "n".repeat(100),
        "deep-".repeat(20) + "end"
    );
    let (_, out) = skopeo
        .push(
            &layout::three_layer_image(6),
            &docker(&s.host(), &format!("{long_name}:v1")),
            Some(&creds(user, password)),
        )
        .await;
    out.assert_success();
    // A multi-platform index (linux/amd64 and linux/arm64).
    let multi = layout::MultiPlatform::new(7);
    let src = skopeo.scratch("portal-multi");
    layout::write_multi_platform(&src, "v1", &multi);
    let creds_arg = format!("--dest-creds={}", creds(user, password));
    skopeo
        .ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &creds_arg,
            &oci(&src, "v1"),
            &docker(&s.host(), "portal-demo/multi:v1"),
        ])
        .await;
    let digest = image.digest.to_string();
    let label = format!("{HOSTILE}<script>window.__xss=3</script>");
    let r = admin_call(
        &format!("{}/api/v2.0/labels", s.base),
        "POST",
        Some(json!({"name": label, "scope": "g", "color": "#0065AB"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = admin_call(
        &format!(
            "{}/api/v2.0/projects/portal-demo/repositories/app/artifacts/{digest}/labels",
            s.base
        ),
        "POST",
        Some(json!({"id": r.location_id()})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let layers: Vec<String> = image.layers.iter().map(|l| common::digest(l)).collect();
    json!({
        "digest": digest,
        "layers": layers,
        "label": label,
        "host": s.host(),
        "long_repository": long_name,
        "multi": {
            "digest": multi.digest,
            "children": multi.images.iter().map(|i| json!({
                "platform": format!("{}/{}", i.platform.0, i.platform.1),
                "digest": i.digest.to_string(),
                "layers": i.layers.iter().map(|l| common::digest(l)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        },
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_end_to_end_in_chromium() {
    let s = TestServer::start_with_auth().await;
    let peer = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let (shots, _tmp) = browser::shots_dir();
    let mut script = BrowserScript::start(
        "browser.mjs",
        &[
            ("PORTAL_BASE", &s.base),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_PEER", &peer.base),
        ],
        &shots,
    );
    while let Some(line) = script.next_line().await {
        if let Some(rest) = line.strip_prefix("PUSH ") {
            let (user, password) = rest.split_once(' ').unwrap();
            let answer = push_for_browser(&s, &skopeo, user, password).await;
            script.reply(&format!("PUSHED {answer}"));
        }
        if let Some(rest) = line.strip_prefix("PULL ") {
            let (user, secret) = rest.split_once(' ').unwrap();
            let source = docker(&s.host(), "portal-demo/app:v1");
            let (_, out) = skopeo.pull(&source, Some(&creds(user, secret))).await;
            let answer = if out.success {
                "ok".to_owned()
            } else {
                out.stderr.replace('\n', " ")
            };
            script.reply(&format!("PULLED {answer}"));
        }
    }
    script.assert_passed("PORTAL OK").await;
    // What the forged requests tried did not happen.
    assert!(!project_exists(&s, "forged").await);
    // The rule run from the portal copied the image to the peer.
    let (tags, _) = peer
        .registry
        .list_tags(&common::repo("mirror/app"), None, None)
        .await
        .unwrap();
    assert_eq!(tags, vec!["v1".to_owned()]);
}

/// The median time of `n` GETs of `path` by `session`'s browser.
async fn median_ms(s: &TestServer, session: &Session, path: &str, n: usize) -> f64 {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = std::time::Instant::now();
        let r = page(s, session, path).await;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
    }
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

/// The figure in BENCHMARKS.md ("Portal pages"): pages of a server with
/// 1,000 projects and 10,000 tagged artifacts in one repository answer in
/// well under 100 ms, because every list is paged by the store. Slow to set
/// up (about a minute in a debug build): run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: 1,000 projects and 10,000 tags take a minute to create"]
async fn pages_answer_within_100_ms_with_1000_projects_and_10000_tags() {
    use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
    use harbor_core::{bytes_stream, Descriptor, Digest, ImageManifestBuilder, Reference};
    let s = TestServer::start_with_auth().await;
    for i in 0..1000 {
        s.create_project(&format!("project-{i:04}"), i % 2 == 0)
            .await;
    }
    let repo = common::repo("library/big");
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = b"one layer".repeat(100);
    for data in [&config, &layer] {
        let d: Digest = common::digest(data).parse().unwrap();
        s.registry
            .put_blob(&repo, &d, bytes_stream(data.clone()), None)
            .await
            .unwrap();
    }
    let setup = std::time::Instant::now();
    for i in 0..10_000 {
        let m = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, &config))
            .layer(Descriptor::for_blob(OCI_LAYER_TAR, &layer))
            .annotation("n", i.to_string())
            .build()
            .unwrap();
        let tag = Reference::Tag(common::tag(&format!("t{i:05}")));
        s.registry
            .put_manifest(&repo, &tag, Some(m.media_type()), m.bytes().clone())
            .await
            .unwrap();
    }
    println!("setup: 10,000 manifests in {:?}", setup.elapsed());
    let session = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    if std::env::var("PORTAL_BENCH_API").is_ok() {
        for path in [
            "/api/v2.0/projects/1",
            "/api/v2.0/projects/1/summary",
            "/api/v2.0/users/current/permissions?scope=/project/1&relative=true",
            "/api/v2.0/projects/library/repositories?page_size=15",
            "/api/v2.0/projects/library/repositories/big/artifacts?page_size=15&with_label=true",
            "/api/v2.0/projects/library/repositories/big/artifacts?page_size=15&page=600",
            "/api/v2.0/projects?page_size=15",
        ] {
            let ms = median_ms(&s, &session, path, 11).await;
            println!("{path}: median {ms:.1} ms");
        }
    }
    let mut worst: f64 = 0.0;
    for path in [
        "/harbor/projects",
        "/harbor/projects?page=60",
        "/harbor/projects?name=project-09",
        "/harbor/projects/1/repositories",
        "/harbor/projects/1/repositories/big/artifacts-tab",
        "/harbor/projects/1/repositories/big/artifacts-tab?page=600",
        "/harbor/projects/1/members",
        "/harbor/projects/1/summary",
        "/harbor/projects/1/configs",
        "/harbor/projects/1/tag-strategy/tag-retention",
        "/harbor/project-quotas",
        "/harbor/project-quotas?page=60",
        "/harbor/users",
        "/harbor/robot-accounts",
        "/harbor/replications",
        "/harbor/clearing-job/audit-log-purge",
        "/harbor/configs",
    ] {
        let ms = median_ms(&s, &session, path, 21).await;
        println!("{path}: median {ms:.1} ms");
        worst = worst.max(ms);
    }
    assert!(worst < 100.0, "a page took {worst:.1} ms");
}
