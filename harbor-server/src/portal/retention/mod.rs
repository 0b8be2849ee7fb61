//! A project's Policy tab: tag retention (its page here) beside tag
//! immutability. The project's retention policy is the one its
//! `retention_id` metadata names: its rules in Harbor's words, adding,
//! editing, disabling, enabling and deleting a rule (the whole policy is
//! written back with `PUT /retentions/{id}`; the first rule creates it
//! with `POST /retentions`), its schedule, "Run now" and "Dry run", the
//! executions with their status, each execution's tasks (one per
//! repository: retained of total) and each task's log, and stopping a
//! running execution. Controls follow Harbor's `tag-retention` resource
//! (its `operate`, run and stop, is `update` here).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use harbor_core::retention::MAX_RULES;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::error::{see_other, PortalError};
use super::layout::{self, Paging};
use super::projects::{Frame, Tab};
use super::viewer::Viewer;
use super::PortalState;

mod rules;
mod runs;

pub(super) use rules::{add_rule, delete_rule, edit_rule, toggle_rule};
pub(super) use runs::{execution, run, schedule, stop, task_log};

/// Executions on a page of the history.
const PAGE_SIZE: u64 = 10;

/// The schedules offered, as Harbor names them, with their cron.
const SCHEDULES: [(&str, &str); 5] = [
    ("None", ""),
    ("Hourly", "0 0 * * * *"),
    ("Daily", "0 0 0 * * *"),
    ("Weekly", "0 0 0 * * 0"),
    ("Custom", ""),
];

/// The Policy tab's own navigation: tag retention and tag immutability,
/// where the viewer may see them.
pub(super) fn policy_nav(frame: &Frame, retention: bool) -> Markup {
    let id = frame.id;
    html! {
        nav.subtabs aria-label="Policy" {
            @if frame.retention_shown() {
                a href=(format!("/harbor/projects/{id}/tag-strategy/tag-retention"))
                    aria-current=[retention.then_some("page")] { "Tag Retention" }
            }
            @if frame.perms.can("immutable-tag", "list") {
                a href=(format!("/harbor/projects/{id}/tag-strategy/tag-immutability"))
                    aria-current=[(!retention).then_some("page")] { "Tag Immutability" }
            }
        }
    }
}

/// `GET /harbor/projects/{id}/tag-strategy`: the first policy page the
/// viewer may see.
pub(super) async fn policy_tab(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    if frame.retention_shown() {
        Ok(see_other(&format!(
            "/harbor/projects/{id}/tag-strategy/tag-retention"
        )))
    } else if frame.perms.can("immutable-tag", "list") {
        Ok(see_other(&format!(
            "/harbor/projects/{id}/tag-strategy/tag-immutability"
        )))
    } else {
        Err(PortalError::new(
            StatusCode::FORBIDDEN,
            "Your role in this project shows no policies.",
        ))
    }
}

fn base(id: i64) -> String {
    format!("/harbor/projects/{id}/tag-strategy/tag-retention")
}

/// The frame, once the server runs retention and the viewer may see it.
async fn retention_frame(
    state: &PortalState,
    viewer: &Viewer,
    id: i64,
) -> Result<Frame, PortalError> {
    let frame = Frame::load(state, viewer, id, false).await?;
    if !frame.retention {
        return Err(PortalError::new(
            StatusCode::NOT_FOUND,
            "Tag retention is not enabled on this server.",
        ));
    }
    Ok(frame)
}

/// The project's policy id (its `retention_id` metadata) and the policy.
async fn policy(
    state: &PortalState,
    viewer: &Viewer,
    id: i64,
) -> Result<Option<(i64, Value)>, PortalError> {
    let project: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/projects/{id}"))
        .await?
        .json()?;
    let Some(rid) = project["metadata"]["retention_id"]
        .as_str()
        .and_then(|r| r.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    let policy: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/retentions/{rid}"))
        .await?
        .json()?;
    Ok(Some((rid, policy)))
}

/// The policy, which a change to it needs.
async fn existing_policy(
    state: &PortalState,
    viewer: &Viewer,
    id: i64,
) -> Result<(i64, Value), PortalError> {
    policy(state, viewer, id).await?.ok_or_else(|| {
        PortalError::new(
            StatusCode::NOT_FOUND,
            "This project has no retention policy yet: add a rule first.",
        )
    })
}

/// The rule templates (`/retentions/metadatas`).
async fn templates(state: &PortalState, viewer: &Viewer) -> Result<Vec<Value>, PortalError> {
    let meta: Value = state
        .api
        .get(&viewer.call_as, "/api/v2.0/retentions/metadatas")
        .await?
        .json()?;
    Ok(meta["templates"].as_array().cloned().unwrap_or_default())
}

/// Harbor's words for a selector's decoration.
fn decoration_text(d: &str) -> &'static str {
    match d {
        "repoExcludes" | "excludes" => "excluding",
        "withLabels" => "with labels",
        "withoutLabels" => "without labels",
        _ => "matching",
    }
}

/// A template's text with its parameter in place of `#`.
fn template_text(rule: &Value, templates: &[Value]) -> String {
    let id = rule["template"].as_str().unwrap_or_default();
    let text = templates
        .iter()
        .find(|t| t["rule_template"] == id)
        .and_then(|t| t["display_text"].as_str())
        .unwrap_or(id);
    match rule["params"][id].as_i64() {
        Some(n) => text.replace('#', &n.to_string()),
        None => text.to_owned(),
    }
}

/// Whether a tag selector keeps untagged artifacts too.
fn untagged(selector: &Value) -> bool {
    selector["extras"]
        .as_str()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .and_then(|v| v["untagged"].as_bool())
        .unwrap_or(false)
}

/// A rule in Harbor's words: "For the repositories matching `**`, retain
/// the most recently pushed 3 artifacts with tags matching `**`".
fn rule_text(rule: &Value, templates: &[Value]) -> Markup {
    let repos: Vec<&Value> = rule["scope_selectors"]["repository"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let tags: Vec<&Value> = rule["tag_selectors"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    html! {
        span.rule-text {
            "For the repositories "
            @for (i, s) in repos.iter().enumerate() {
                @if i > 0 { " and " }
                (decoration_text(s["decoration"].as_str().unwrap_or_default())) " "
                code { (s["pattern"].as_str().unwrap_or_default()) }
            }
            ", " (template_text(rule, templates))
            @for (i, s) in tags.iter().enumerate() {
                @if s["kind"] == "label" {
                    " " (decoration_text(s["decoration"].as_str().unwrap_or_default())) " "
                    code { (s["pattern"].as_str().unwrap_or_default()) }
                } @else {
                    @if i == 0 { " with tags " } @else { " and tags " }
                    (decoration_text(s["decoration"].as_str().unwrap_or_default())) " "
                    code { (s["pattern"].as_str().unwrap_or_default()) }
                    @if untagged(s) { ", untagged artifacts included" }
                }
            }
        }
    }
}

/// Harbor's status words for people.
fn status_text(s: &str) -> &str {
    match s {
        "Succeed" => "Succeeded",
        "InProgress" => "In Progress",
        other => other,
    }
}

/// The schedule a cron is (Harbor's names), and the cron for Custom.
fn schedule_of(cron: &str) -> (&'static str, &str) {
    if cron.trim().is_empty() {
        return ("None", "");
    }
    SCHEDULES
        .iter()
        .find(|(_, c)| !c.is_empty() && *c == cron)
        .map_or(("Custom", cron), |(k, _)| (*k, cron))
}

/// The query of the page.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    page: Option<String>,
    edit: Option<usize>,
}

/// The rule form, filled with `rule` (a new rule when `None`).
fn rule_form(
    action: &str,
    csrf: &str,
    templates: &[Value],
    rule: Option<&Value>,
    form_id: &str,
    submit: &str,
) -> Markup {
    let repo = rule.map(|r| &r["scope_selectors"]["repository"][0]);
    let tag = rule.and_then(|r| {
        r["tag_selectors"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["kind"] != "label"))
    });
    let template = rule
        .and_then(|r| r["template"].as_str())
        .unwrap_or("latestPushedK");
    let param = rule
        .and_then(|r| r["params"][template].as_i64())
        .map(|n| n.to_string())
        .unwrap_or_default();
    let repo_decoration = repo
        .and_then(|s| s["decoration"].as_str())
        .unwrap_or("repoMatches");
    let repo_pattern = repo.and_then(|s| s["pattern"].as_str()).unwrap_or("**");
    let tag_decoration = tag
        .and_then(|s| s["decoration"].as_str())
        .unwrap_or("matches");
    let tag_pattern = tag.and_then(|s| s["pattern"].as_str()).unwrap_or("**");
    let with_untagged = tag.is_some_and(untagged);
    let f = |name: &str| format!("{form_id}-{name}");
    html! {
        form.panel id=(form_id) method="post" action=(action) {
            (layout::csrf_field(csrf))
            div.row {
                div {
                    label for=(f("repo-decoration")) { "For the repositories" }
                    select id=(f("repo-decoration")) name="repo_decoration" {
                        @for (d, text) in [("repoMatches", "matching"), ("repoExcludes", "excluding")] {
                            option value=(d) selected[d == repo_decoration] { (text) }
                        }
                    }
                }
                div {
                    label for=(f("repo-pattern")) { "Repository pattern" }
                    input type="text" id=(f("repo-pattern")) name="repo_pattern" value=(repo_pattern) required
                        title="doublestar: ** for all, app/* , {a,b}";
                }
                div {
                    label for=(f("template")) { "By artifact count or number of days" }
                    select id=(f("template")) name="template" {
                        @for t in templates {
                            @let tid = t["rule_template"].as_str().unwrap_or_default();
                            option value=(tid) selected[tid == template] { (t["display_text"].as_str().unwrap_or(tid)) }
                        }
                    }
                }
                div {
                    label for=(f("param")) { "Count or days (#)" }
                    input type="number" id=(f("param")) name="param" min="0" step="1" value=(param);
                }
                div {
                    label for=(f("tag-decoration")) { "Tags" }
                    select id=(f("tag-decoration")) name="tag_decoration" {
                        @for (d, text) in [("matches", "matching"), ("excludes", "excluding")] {
                            option value=(d) selected[d == tag_decoration] { (text) }
                        }
                    }
                }
                div {
                    label for=(f("tag-pattern")) { "Tag pattern" }
                    input type="text" id=(f("tag-pattern")) name="tag_pattern" value=(tag_pattern) required;
                }
                label.check for=(f("untagged")) {
                    input type="checkbox" id=(f("untagged")) name="untagged" value="true" checked[with_untagged];
                    "Untagged artifacts included"
                }
                button type="submit" { (submit) }
            }
        }
    }
}

/// `GET /harbor/projects/{id}/tag-strategy/tag-retention`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PortalError> {
    let frame = retention_frame(&state, &viewer, id).await?;
    let policy = policy(&state, &viewer, id).await?;
    let templates = templates(&state, &viewer).await?;
    let page = layout::page_number(q.page.as_deref());
    let base = base(id);
    let can_create = frame.perms.can("tag-retention", "create");
    let can_update = frame.perms.can("tag-retention", "update");
    let (executions, total) = match &policy {
        Some((rid, _)) => {
            let answer = state
                .api
                .get(
                    &viewer.call_as,
                    &format!(
                        "/api/v2.0/retentions/{rid}/executions?page={page}&page_size={PAGE_SIZE}"
                    ),
                )
                .await?;
            let total = answer.total();
            (answer.json::<Vec<Value>>()?, total)
        }
        None => (Vec::new(), 0),
    };
    let rules: Vec<Value> = policy
        .as_ref()
        .and_then(|(_, p)| p["rules"].as_array().cloned())
        .unwrap_or_default();
    let cron = policy
        .as_ref()
        .and_then(|(_, p)| p["trigger"]["settings"]["cron"].as_str())
        .unwrap_or_default();
    let (kind, custom) = schedule_of(cron);
    let may_add = if policy.is_some() {
        can_update
    } else {
        can_create
    };
    let running = executions.iter().any(|e| e["status"] == "InProgress");
    let editing = q.edit.filter(|i| *i < rules.len() && can_update);
    let body = html! {
        (policy_nav(&frame, true))
        h2 { "Retention rules" }
        p.muted { (rules.len()) " of " (MAX_RULES) " rules. Artifacts that no enabled rule retains are deleted when the policy runs." }
        table id="retention-rules" {
            thead { tr {
                th scope="col" { "Rule" }
                th scope="col" { "Status" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for (i, r) in rules.iter().enumerate() {
                    @let disabled = r["disabled"].as_bool().unwrap_or(false);
                    tr data-rule=(i) {
                        td { (rule_text(r, &templates)) }
                        td.rule-status { @if disabled { "Disabled" } @else { "Enabled" } }
                        td {
                            @if can_update {
                                a.button.secondary href=(format!("{base}?edit={i}#edit-rule"))
                                    aria-label=(format!("Edit rule {}", i + 1)) { "Edit" }
                                " "
                                form.inline method="post" action=(format!("{base}/rules/{i}/toggle")) {
                                    (layout::csrf_field(&viewer.csrf))
                                    button.secondary type="submit" aria-label=(format!("{} rule {}", if disabled { "Enable" } else { "Disable" }, i + 1)) {
                                        @if disabled { "Enable" } @else { "Disable" }
                                    }
                                }
                                " "
                                (layout::post_button(
                                    &format!("{base}/rules/{i}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete rule {}", i + 1),
                                    "Delete this retention rule?",
                                ))
                            }
                        }
                    }
                }
                @if rules.is_empty() {
                    tr { td colspan="3" { "No retention rules: nothing is deleted." } }
                }
            }
        }
        @if let Some(i) = editing {
            h3 id="edit-rule" { "Edit rule " (i + 1) }
            (rule_form(&format!("{base}/rules/{i}"), &viewer.csrf, &templates, rules.get(i), "edit-retention-rule", "Save"))
            p { a href=(base) { "Cancel" } }
        }
        @if may_add && rules.len() < MAX_RULES {
            details {
                summary { "Add Rule" }
                (rule_form(&format!("{base}/rules"), &viewer.csrf, &templates, None, "new-retention-rule", "Add"))
            }
        }
        @if let Some((_, _)) = &policy {
            @if can_update {
                form.panel id="retention-schedule" method="post" action=(format!("{base}/schedule")) {
                    (layout::csrf_field(&viewer.csrf))
                    div.row {
                        div {
                            label for="retention-schedule-type" { "Schedule" }
                            select id="retention-schedule-type" name="type" {
                                @for (s, _) in SCHEDULES {
                                    option value=(s) selected[s == kind] { (s) }
                                }
                            }
                        }
                        div {
                            label for="retention-cron" { "Cron (for Custom: seconds minutes hours day month weekday)" }
                            input type="text" id="retention-cron" name="cron" value=(if kind == "Custom" { custom } else { "" });
                        }
                        button.secondary type="submit" { "Save schedule" }
                    }
                }
                form.panel id="retention-run" method="post" action=(format!("{base}/run")) {
                    (layout::csrf_field(&viewer.csrf))
                    button type="submit" name="dry_run" value="false" { "Run now" }
                    " "
                    button.secondary type="submit" name="dry_run" value="true" { "Dry run" }
                }
            } @else {
                p { "Schedule: " strong { (kind) } @if kind == "Custom" { " (" code { (custom) } ")" } }
            }
            h2 { "Executions" }
            table id="retention-executions" data-refresh=[running.then_some("3")] {
                thead { tr {
                    th scope="col" { "ID" }
                    th scope="col" { "Status" }
                    th scope="col" { "Dry Run" }
                    th scope="col" { "Trigger" }
                    th scope="col" { "Start Time" }
                    th scope="col" { "End Time" }
                    th scope="col" { "Actions" }
                } }
                tbody {
                    @for e in &executions {
                        @let eid = e["id"].as_i64().unwrap_or_default();
                        @let status = e["status"].as_str().unwrap_or_default();
                        tr data-execution=(eid) {
                            td { a href=(format!("{base}/executions/{eid}")) aria-label=(format!("Tasks of execution {eid}")) { (eid) } }
                            td.execution-status { (status_text(status)) }
                            td { @if e["dry_run"].as_bool().unwrap_or(false) { "Yes" } @else { "No" } }
                            td { (e["trigger"].as_str().unwrap_or_default()) }
                            td { (layout::when(e["start_time"].as_str().unwrap_or_default())) }
                            td { (layout::when(e["end_time"].as_str().unwrap_or_default())) }
                            td {
                                @if can_update && status == "InProgress" {
                                    (layout::post_button(
                                        &format!("{base}/executions/{eid}/stop"),
                                        &viewer.csrf,
                                        "Stop",
                                        &format!("Stop execution {eid}"),
                                        "Stop this execution?",
                                    ))
                                }
                            }
                        }
                    }
                    @if executions.is_empty() {
                        tr { td colspan="7" { "No executions yet." } }
                    }
                }
            }
            @if running { p.muted { "This page refreshes while an execution is going on." } }
            (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{base}?page={n}")))
        }
    };
    Ok(frame.render(&viewer, Tab::Policy, body))
}
