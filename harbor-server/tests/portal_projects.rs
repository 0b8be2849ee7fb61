//! The portal's project pages beyond the lists: the summary, the
//! configuration, the Policy tab's tag retention, Administration → Project
//! Quotas, and labels as colour chips. Plain HTTP checks here (what a role
//! sees and what a hand-made form does); the whole flow in chromium through
//! `tests/portal/projects.mjs` (as `tests/portal.rs` runs `browser.mjs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::{self, BrowserScript};
use common::portal::{page, sign_in, submit, text};
use common::skopeo::{creds, docker, Skopeo};
use common::{admin_call, layout, TestServer, ADMIN_PASSWORD};
use serde_json::json;

/// Creates project `name` through the API (so it has its quota).
async fn create_project(s: &TestServer, name: &str) -> i64 {
    let r = admin_call(
        &format!("{}/api/v2.0/projects", s.base),
        "POST",
        Some(json!({"project_name": name, "metadata": {"public": "false"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    r.location_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developers_and_guests_see_no_configuration_or_retention_controls_and_their_forms_are_refused(
) {
    let s = TestServer::start_with_auth().await;
    let id = create_project(&s, "guarded").await;
    let dev = s.create_user("dev1", "Portal12345").await;
    let guest = s.create_user("guest1", "Portal12345").await;
    s.add_member(id, dev, harbor_core::Role::Developer).await;
    s.add_member(id, guest, harbor_core::Role::Guest).await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;

    // The administrator sees the summary first, and the edit controls.
    let r = page(&s, &admin, &format!("/harbor/projects/{id}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/harbor/projects/{id}/summary")
    );
    let html = text(&page(&s, &admin, &format!("/harbor/projects/{id}/configs")).await);
    assert!(html.contains(">Save<"), "{html}");
    let html = text(
        &page(
            &s,
            &admin,
            &format!("/harbor/projects/{id}/tag-strategy/tag-retention"),
        )
        .await,
    );
    assert!(html.contains("new-retention-rule"), "{html}");
    // The old immutability path leads to its place under Policy.
    let r = page(
        &s,
        &admin,
        &format!("/harbor/projects/{id}/tag-immutability"),
    )
    .await;
    assert_eq!(
        r.header("location").unwrap(),
        format!("/harbor/projects/{id}/tag-strategy/tag-immutability")
    );

    let rule = "repo_decoration=repoMatches&repo_pattern=**&template=always&param=&tag_decoration=matches&tag_pattern=**";
    for (user, role_may_retain) in [("dev1", true), ("guest1", false)] {
        let session = sign_in(&s, user, "Portal12345").await;
        let r = page(&s, &session, &format!("/harbor/projects/{id}/configs")).await;
        assert_eq!(r.status, 200, "{user}");
        let html = text(&r);
        assert!(!html.contains(">Save<"), "{user} sees Save");
        assert!(html.contains("config-read-only"), "{user}");
        let r = submit(
            &s,
            &session,
            &format!("/harbor/projects/{id}/configs"),
            "public=true",
        )
        .await;
        assert_eq!(r.status, 403, "{user}: {}", text(&r));
        let p = s.identity().project_by_id(id).await.unwrap().unwrap();
        assert!(!p.public, "{user} made the project public");

        let r = page(
            &s,
            &session,
            &format!("/harbor/projects/{id}/tag-strategy/tag-retention"),
        )
        .await;
        let summary = text(&page(&s, &session, &format!("/harbor/projects/{id}/summary")).await);
        if role_may_retain {
            // Harbor's matrix gives developers the retention policy.
            assert_eq!(r.status, 200, "{user}");
            assert!(summary.contains("/tag-strategy\""), "{user}: Policy tab");
        } else {
            assert!(
                !summary.contains("/tag-strategy"),
                "{user} sees the Policy tab"
            );
            let r = submit(
                &s,
                &session,
                &format!("/harbor/projects/{id}/tag-strategy/tag-retention/rules"),
                rule,
            )
            .await;
            assert_eq!(r.status, 403, "{user}: {}", text(&r));
            let p = s.identity().project_by_id(id).await.unwrap().unwrap();
            assert!(
                !p.metadata.contains_key("retention_id"),
                "{user} made a policy"
            );
        }
        // Project Quotas are the administrators'.
        let r = page(&s, &session, "/harbor/project-quotas").await;
        assert_eq!(r.status, 403, "{user}");
        assert!(
            !text(&page(&s, &session, &format!("/harbor/projects/{id}/summary")).await)
                .contains("/harbor/project-quotas")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_label_colour_is_shown_as_the_default_and_a_bad_one_is_refused_by_the_form() {
    let s = TestServer::start_with_auth().await;
    let hostile = "red\" onmouseover=\"window.__x=1";
    let r = admin_call(
        &format!("{}/api/v2.0/labels", s.base),
        "POST",
        Some(json!({"name": "hot", "scope": "p", "project_id": 1, "color": hostile})),
    )
    .await;
    // The API keeps what Harbor keeps; the page must not trust it.
    assert!(r.status == 201 || r.status == 400, "{}", text(&r));
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let html = text(&page(&s, &admin, "/harbor/projects/1/labels").await);
    if r.status == 201 {
        assert!(html.contains("fill=\"#0065AB\""), "{html}");
    }
    assert!(!html.contains("onmouseover=\""), "{html}");
    let r = submit(
        &s,
        &admin,
        "/harbor/projects/1/labels",
        "name=bad&color=url(x)&description=",
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("hexadecimal"));
    let r = submit(
        &s,
        &admin,
        "/harbor/projects/1/labels",
        "name=yellow&color=%23FFEE00&description=",
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let html = text(&page(&s, &admin, "/harbor/projects/1/labels").await);
    assert!(html.contains("fill=\"#FFEE00\""), "{html}");
}

/// The tags of `shelf/app`, sorted, comma-separated.
async fn tags(s: &TestServer) -> String {
    let (mut tags, _) = s
        .registry
        .list_tags(&common::repo("shelf/app"), None, None)
        .await
        .unwrap();
    tags.sort();
    tags.join(",")
}

/// What the script asks for (one line each):
/// - `PUSH`: four images pushed to `shelf/app` (keep-1, keep-2, drop-1,
///   drop-2, about 5 MiB each), a label with a hostile colour on keep-1;
///   answers `PUSHED {"project_id", "hostile_label"}`.
/// - `ANONPULL`: skopeo pulls `shelf/app:keep-1` without credentials;
///   answers `PULLED ok` or the error.
/// - `TAGS`: answers `TAGS a,b,...`, the tags in the registry.
/// - `PUSHMORE`: one more 5 MiB image, as admin; answers `PUSHEDMORE ok`
///   or `PUSHEDMORE refused <why>`.
async fn answer(s: &TestServer, skopeo: &Skopeo, project: i64, line: &str) -> Option<String> {
    let admin = creds("admin", ADMIN_PASSWORD);
    match line {
        "PUSH" => {
            for (i, tag) in ["drop-1", "drop-2", "keep-1", "keep-2"].iter().enumerate() {
                let image = layout::three_layer_image(100 + i as u64);
                let (_, out) = skopeo
                    .push(
                        &image,
                        &docker(&s.host(), &format!("shelf/app:{tag}")),
                        Some(&admin),
                    )
                    .await;
                out.assert_success();
            }
            let hostile = "red\" onmouseover=\"window.__xss=1";
            let r = admin_call(
                &format!("{}/api/v2.0/labels", s.base),
                "POST",
                Some(json!({"name": "hostile-colour", "scope": "p", "project_id": project, "color": hostile})),
            )
            .await;
            let label = if r.status == 201 {
                let id = r.location_id();
                let r = admin_call(
                    &format!(
                        "{}/api/v2.0/projects/shelf/repositories/app/artifacts/keep-1/labels",
                        s.base
                    ),
                    "POST",
                    Some(json!({"id": id})),
                )
                .await;
                assert_eq!(r.status, 200, "{}", text(&r));
                "hostile-colour"
            } else {
                ""
            };
            Some(format!(
                "PUSHED {}",
                json!({"project_id": project, "hostile_label": label})
            ))
        }
        "ANONPULL" => {
            let (_, out) = skopeo
                .pull(&docker(&s.host(), "shelf/app:keep-1"), None)
                .await;
            Some(if out.success {
                "PULLED ok".into()
            } else {
                format!("PULLED {}", out.stderr.replace('\n', " "))
            })
        }
        "TAGS" => Some(format!("TAGS {}", tags(s).await)),
        "PUSHMORE" => {
            let (_, out) = skopeo
                .push(
                    &layout::three_layer_image(200),
                    &docker(&s.host(), "shelf/app:extra"),
                    Some(&admin),
                )
                .await;
            Some(if out.success {
                "PUSHEDMORE ok".into()
            } else {
                format!("PUSHEDMORE refused {}", out.stderr.replace('\n', " "))
            })
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_summary_configuration_retention_quotas_and_label_chips_work_in_chromium() {
    let s = TestServer::start_with_auth().await;
    let skopeo = Skopeo::new();
    let project = create_project(&s, "shelf").await;
    let dev = s.create_user("dev1", "Portal12345").await;
    let guest = s.create_user("guest1", "Portal12345").await;
    s.add_member(project, dev, harbor_core::Role::Developer)
        .await;
    s.add_member(project, guest, harbor_core::Role::Guest).await;
    let (shots, _tmp) = browser::shots_dir();
    let project_id = project.to_string();
    let mut script = BrowserScript::start(
        "projects.mjs",
        &[
            ("PORTAL_BASE", &s.base),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_PROJECT_ID", &project_id),
        ],
        &shots,
    );
    while let Some(line) = script.next_line().await {
        if let Some(reply) = answer(&s, &skopeo, project, &line).await {
            script.reply(&reply);
        }
    }
    script.assert_passed("PROJECTS OK").await;
    // What the pages did is what the stores hold.
    assert_eq!(tags(&s).await, "keep-1,keep-2");
    let p = s.identity().project_by_id(project).await.unwrap().unwrap();
    assert!(p.public);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_quotas_list_every_project_and_refuse_a_bad_limit_with_a_clear_message() {
    let s = TestServer::start_with_auth().await;
    let id = create_project(&s, "measured").await;
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let r = page(&s, &admin, "/harbor/project-quotas").await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let html = text(&r);
    assert!(html.contains("data-project=\"measured\""), "{html}");
    assert!(
        html.contains("href=\"/harbor/configs\""),
        "links the default quota"
    );
    for sort in ["-used.storage", "hard.storage", "nonsense"] {
        let r = page(&s, &admin, &format!("/harbor/project-quotas?sort={sort}")).await;
        assert_eq!(r.status, 200, "{sort}: {}", text(&r));
    }
    let quota = admin_call(
        &format!("{}/api/v2.0/quotas?reference_id={id}", s.base),
        "GET",
        None,
    )
    .await
    .json();
    let qid = quota[0]["id"].as_i64().unwrap();
    let path = format!("/harbor/project-quotas/{qid}");
    let r = submit(&s, &admin, &path, "limit=lots&unit=GiB").await;
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("whole number"), "{}", text(&r));
    let r = submit(&s, &admin, &path, "limit=3&unit=PiB").await;
    assert_eq!(r.status, 400);
    // A limit saved; the page goes back to the list, never elsewhere.
    let r = submit(
        &s,
        &admin,
        &path,
        "limit=2&unit=GiB&back=https%3A%2F%2Fevil.example%2F",
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(r.header("location"), Some("/harbor/project-quotas"));
    let quota = admin_call(&format!("{}/api/v2.0/quotas/{qid}", s.base), "GET", None)
        .await
        .json();
    assert_eq!(quota["hard"]["storage"], 2i64 << 30);
    let html = text(&page(&s, &admin, &format!("/harbor/projects/{id}/summary")).await);
    assert!(html.contains("id=\"quota-bar\""), "{html}");
    assert!(html.contains("2.00 GiB"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_execution_is_stopped_from_the_page_by_those_who_may_and_not_by_a_guest() {
    let s = TestServer::start_with_auth().await;
    s.push_image("library/app", "v1").await;
    let body = json!({
        "algorithm": "or",
        "rules": [{"template": "always", "action": "retain",
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
        "scope": {"level": "project", "ref": 1},
    });
    let r = admin_call(
        &format!("{}/api/v2.0/retentions", s.base),
        "POST",
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let rid = r.location_id();
    let r = admin_call(
        &format!("{}/api/v2.0/retentions/{rid}/executions", s.base),
        "POST",
        Some(json!({"dry_run": true})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let eid = r.location_id();
    let base = "/harbor/projects/1/tag-strategy/tag-retention";
    let guest = s.create_user("guest1", "Portal12345").await;
    s.add_member(1, guest, harbor_core::Role::Guest).await;
    let guest = sign_in(&s, "guest1", "Portal12345").await;
    let r = submit(&s, &guest, &format!("{base}/executions/{eid}/stop"), "").await;
    assert_eq!(r.status, 403, "{}", text(&r));
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let r = submit(&s, &admin, &format!("{base}/executions/{eid}/stop"), "").await;
    // Stopping an execution that already ended is a no-op, as in Harbor.
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{base}/executions/{eid}")
    );
    let r = page(&s, &admin, &format!("{base}/executions/{eid}")).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(text(&r).contains("id=\"retention-tasks\""));
    let r = page(&s, &admin, base).await;
    let html = text(&r);
    assert!(
        html.contains(&format!("data-execution=\"{eid}\"")),
        "{html}"
    );
    // A hostile pattern in a rule is text.
    let r = submit(
        &s,
        &admin,
        &format!("{base}/rules"),
        "repo_decoration=repoMatches&repo_pattern=%3Cscript%3Ex%3C%2Fscript%3E&template=always&param=&tag_decoration=matches&tag_pattern=**",
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let html = text(&page(&s, &admin, base).await);
    assert!(!html.contains("<script>x"), "{html}");
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_pages_carry_no_inline_style_or_script_and_bars_have_accessible_names() {
    let s = TestServer::start_with_auth().await;
    s.push_image("library/app", "v1").await;
    let r = admin_call(
        &format!("{}/api/v2.0/labels", s.base),
        "POST",
        Some(json!({"name": "blue", "scope": "p", "project_id": 1, "color": "#0000ff"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = admin_call(
        &format!(
            "{}/api/v2.0/projects/library/repositories/app/artifacts/v1/labels",
            s.base
        ),
        "POST",
        Some(json!({"id": r.location_id()})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let quota = admin_call(
        &format!("{}/api/v2.0/quotas?reference_id=1", s.base),
        "GET",
        None,
    )
    .await
    .json();
    let qid = quota[0]["id"].as_i64().unwrap();
    let r = admin_call(
        &format!("{}/api/v2.0/quotas/{qid}", s.base),
        "PUT",
        Some(json!({"hard": {"storage": 1i64 << 30}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let admin = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    for path in [
        "/harbor/projects/1/summary",
        "/harbor/projects/1/configs",
        "/harbor/projects/1/labels",
        "/harbor/projects/1/repositories/app/artifacts-tab",
        "/harbor/projects/1/tag-strategy/tag-retention",
        "/harbor/projects/1/tag-strategy/tag-immutability",
        "/harbor/project-quotas",
    ] {
        let r = page(&s, &admin, path).await;
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
        let html = text(&r);
        assert!(
            !html.contains(" style=") && !html.contains("<style"),
            "{path}: inline style"
        );
        assert_eq!(
            html.matches("<script").count(),
            1,
            "{path}: only the portal's own script"
        );
        for bar in html.split("<progress").skip(1) {
            let tag = bar.split('>').next().unwrap();
            assert!(
                tag.contains("aria-label=\""),
                "{path}: a bar without a name: {tag}"
            );
        }
        if path.ends_with("summary") || path.ends_with("project-quotas") {
            assert!(html.contains("<progress"), "{path}: no quota bar");
        }
        if path.ends_with("labels") || path.ends_with("artifacts-tab") {
            assert!(html.contains("fill=\"#0000ff\""), "{path}: no chip");
        }
    }
}
