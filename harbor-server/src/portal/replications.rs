//! Administration: replication policies (the list; push- or pull-mode
//! rules created and edited with their filters (name, tag, label,
//! resource), destination namespace and flattening, trigger (manual,
//! scheduled, event based), override, bandwidth and copy by chunk;
//! enabling, disabling, running and deleting one),
//! executions with their progress (pages refresh while one runs), an
//! execution's tasks with their logs, and stopping it. System
//! administrators only; shown when replication is on.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav, Paging};
use super::registries::admins_only;
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Items on a page.
const PAGE_SIZE: u64 = 10;

/// Whether an execution or task has not ended yet.
fn unfinished(status: &str) -> bool {
    matches!(status, "InProgress" | "Pending" | "Running")
}

/// The query of a list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// The flattening choices, as Harbor words them.
const FLATTENING: [(i64, &str); 5] = [
    (-1, "Flatten All Levels"),
    (0, "No Flattening"),
    (1, "Flatten 1 Level"),
    (2, "Flatten 2 Levels"),
    (3, "Flatten 3 Levels"),
];

/// The first filter of `kind` in a policy: its value (list values joined
/// with commas) and decoration.
fn filter_of(p: &Value, kind: &str) -> (String, String) {
    p["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["type"] == kind)
        .map(|f| {
            let value = match &f["value"] {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                v => v.as_str().unwrap_or_default().to_owned(),
            };
            (
                value,
                f["decoration"].as_str().unwrap_or("matches").to_owned(),
            )
        })
        .unwrap_or_default()
}

/// The rule form: empty for a new rule, `policy`'s values to edit one.
fn policy_form(csrf: &str, registries: &[Value], policy: Option<&Value>, action: &str) -> Markup {
    let id = if policy.is_some() {
        "edit-policy"
    } else {
        "new-policy"
    };
    let empty = json!({});
    let p = policy.unwrap_or(&empty);
    let pull = p["src_registry"]["id"].as_i64().is_some_and(|id| id != 0);
    let remote = if pull {
        p["src_registry"]["id"].as_i64()
    } else {
        p["dest_registry"]["id"].as_i64()
    };
    let (name_filter, _) = filter_of(p, "name");
    let name_filter = if policy.is_none() {
        "**".to_owned()
    } else {
        name_filter
    };
    let (tag_filter, tag_decoration) = filter_of(p, "tag");
    let (label_filter, label_decoration) = filter_of(p, "label");
    let (resource, _) = filter_of(p, "resource");
    let flatten = p["dest_namespace_replace_count"]
        .as_i64()
        .unwrap_or(if policy.is_none() { -1 } else { 0 });
    let trigger = p["trigger"]["type"].as_str().unwrap_or("manual");
    let cron = p["trigger"]["trigger_settings"]["cron"]
        .as_str()
        .unwrap_or_default();
    let flag = |k: &str, default: bool| p[k].as_bool().unwrap_or(default);
    let speed = p["speed"].as_i64().unwrap_or(-1);
    html! {
        form.panel id=(id) method="post" action=(action) {
            (layout::csrf_field(csrf))
            div.row {
                div {
                    label for="policy-name" { "Name" }
                    input type="text" id="policy-name" name="name" required maxlength="256"
                        value=(p["name"].as_str().unwrap_or_default());
                }
                div {
                    label for="policy-description" { "Description" }
                    input type="text" id="policy-description" name="description"
                        value=(p["description"].as_str().unwrap_or_default());
                }
            }
            fieldset {
                legend { "Replication mode" }
                label.check { input type="radio" name="mode" value="push" checked[!pull]; "Push-based (to the registry below)" }
                " "
                label.check { input type="radio" name="mode" value="pull" checked[pull]; "Pull-based (from the registry below)" }
                div {
                    label for="policy-registry" { "Registry (destination when pushing, source when pulling)" }
                    select id="policy-registry" name="registry" required {
                        @for r in registries {
                            @let rid = r["id"].as_i64().unwrap_or_default();
                            option value=(rid) selected[remote == Some(rid)] {
                                (r["name"].as_str().unwrap_or_default()) " (" (r["url"].as_str().unwrap_or_default()) ")"
                            }
                        }
                    }
                }
            }
            fieldset {
                legend { "Source resource filter" }
                div.row {
                    div {
                        label for="policy-filter" { "Source resource filter: name (e.g. library/**)" }
                        input type="text" id="policy-filter" name="filter" value=(name_filter);
                    }
                    div {
                        label for="policy-tag" { "Tag filter (e.g. v1.*)" }
                        input type="text" id="policy-tag" name="tag" value=(tag_filter);
                    }
                    div {
                        label for="policy-tag-decoration" { "Tags" }
                        select id="policy-tag-decoration" name="tag_decoration" {
                            option value="matches" selected[tag_decoration != "excludes"] { "matching" }
                            option value="excludes" selected[tag_decoration == "excludes"] { "excluding" }
                        }
                    }
                    div {
                        label for="policy-label" { "Label (names, comma-separated)" }
                        input type="text" id="policy-label" name="label" value=(label_filter);
                    }
                    div {
                        label for="policy-label-decoration" { "Labels" }
                        select id="policy-label-decoration" name="label_decoration" {
                            option value="matches" selected[label_decoration != "excludes"] { "matching" }
                            option value="excludes" selected[label_decoration == "excludes"] { "excluding" }
                        }
                    }
                    div {
                        label for="policy-resource" { "Resource" }
                        select id="policy-resource" name="resource" {
                            option value="" selected[resource.is_empty()] { "All" }
                            option value="image" selected[resource == "image"] { "image" }
                            option value="artifact" selected[resource == "artifact"] { "artifact" }
                        }
                    }
                }
            }
            fieldset {
                legend { "Destination" }
                div.row {
                    div {
                        label for="policy-namespace" { "Destination namespace (empty: the same)" }
                        input type="text" id="policy-namespace" name="namespace"
                            value=(p["dest_namespace"].as_str().unwrap_or_default());
                    }
                    div {
                        label for="policy-flatten" { "Flattening" }
                        select id="policy-flatten" name="flatten" {
                            @for (n, label) in FLATTENING {
                                option value=(n) selected[flatten == n] { (label) }
                            }
                        }
                    }
                }
            }
            fieldset {
                legend { "Trigger Mode" }
                div.row {
                    div {
                        label for="policy-trigger" { "Trigger" }
                        select id="policy-trigger" name="trigger" {
                            option value="manual" selected[trigger == "manual"] { "Manual" }
                            option value="scheduled" selected[trigger == "scheduled"] { "Scheduled" }
                            option value="event_based" selected[trigger == "event_based"] { "Event Based" }
                        }
                    }
                    div {
                        label for="policy-cron" { "Cron (Scheduled: seconds minutes hours day month weekday)" }
                        input type="text" id="policy-cron" name="cron" value=(cron);
                    }
                    label.check { input type="checkbox" name="deletion" value="true" checked[flag("replicate_deletion", false)]; "Delete remote resources when locally deleted (Event Based)" }
                }
            }
            div.row {
                div {
                    label for="policy-speed" { "Bandwidth (KB/s, -1 unlimited)" }
                    input type="number" id="policy-speed" name="speed" min="-1" value=(speed);
                }
                label.check { input type="checkbox" name="override" value="true" checked[flag("override", true)]; "Override" }
                label.check { input type="checkbox" name="copy_by_chunk" value="true" checked[flag("copy_by_chunk", false)]; "Copy by chunk" }
                label.check { input type="checkbox" name="single_active" value="true" checked[flag("single_active_replication", false)]; "Single active replication" }
                label.check { input type="checkbox" name="enabled" value="true" checked[flag("enabled", true)]; "Enable rule" }
            }
            button type="submit" { "Save" }
        }
    }
}

/// `GET /harbor/replications`: the policies and the latest executions.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let policies: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            "/api/v2.0/replication/policies?page_size=100",
        )
        .await?
        .json()?;
    let registries: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/registries?page_size=100")
        .await?
        .json()?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let executions: Vec<Value> = answer.json()?;
    let running = executions
        .iter()
        .any(|e| unfinished(e["status"].as_str().unwrap_or_default()));
    let policy_name = |id: i64| {
        policies
            .iter()
            .find(|p| p["id"].as_i64() == Some(id))
            .and_then(|p| p["name"].as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let body = html! {
        h1 { "Replications" }
        @if registries.is_empty() {
            p { "Add a " a href="/harbor/registries" { "registry" } " first: a rule copies to one." }
        } @else {
            details {
                summary { "New Replication Rule" }
                (policy_form(&viewer.csrf, &registries, None, "/harbor/replications"))
            }
        }
        table id="policies" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Source" }
                th scope="col" { "Destination" }
                th scope="col" { "Trigger" }
                th scope="col" { "Filters" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for p in &policies {
                    @let pid = p["id"].as_i64().unwrap_or_default();
                    @let name = p["name"].as_str().unwrap_or_default();
                    tr {
                        td.policy-name { (name) }
                        td { @if p["enabled"].as_bool().unwrap_or(false) { "Enabled" } @else { "Disabled" } }
                        td.policy-source { (p["src_registry"]["name"].as_str().unwrap_or("Local")) }
                        td.policy-destination {
                            (p["dest_registry"]["name"].as_str().unwrap_or_default())
                            @if let Some(ns) = p["dest_namespace"].as_str().filter(|n| !n.is_empty()) { " : " (ns) }
                        }
                        td { (p["trigger"]["type"].as_str().unwrap_or("manual")) }
                        td {
                            @for f in p["filters"].as_array().into_iter().flatten() {
                                span.tag { (f["type"].as_str().unwrap_or_default()) ": " (f["value"].as_str().unwrap_or_default()) }
                            }
                        }
                        td {
                            a.button.secondary href=(format!("/harbor/replications/{pid}/edit"))
                                aria-label=(format!("Edit rule {name}")) { "Edit" }
                            " "
                            @let enabled = p["enabled"].as_bool().unwrap_or(false);
                            form.inline method="post" action=(format!("/harbor/replications/{pid}/enable")) {
                                (layout::csrf_field(&viewer.csrf))
                                input type="hidden" name="enabled" value=(!enabled);
                                button.secondary type="submit"
                                    aria-label=(format!("{} rule {name}", if enabled { "Disable" } else { "Enable" })) {
                                    @if enabled { "Disable" } @else { "Enable" }
                                }
                            }
                            " "
                            form.inline method="post" action=(format!("/harbor/replications/{pid}/run")) {
                                (layout::csrf_field(&viewer.csrf))
                                button type="submit" aria-label=(format!("Replicate {name}")) { "Replicate" }
                            }
                            " "
                            (layout::post_button(
                                &format!("/harbor/replications/{pid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete rule {name}"),
                                &format!("Delete replication rule {name}?"),
                            ))
                        }
                    }
                }
                @if policies.is_empty() {
                    tr { td colspan="7" { "No replication rules." } }
                }
            }
        }
        h2 { "Executions" }
        table id="executions" data-refresh=[running.then_some("2")] {
            thead { tr {
                th scope="col" { "ID" }
                th scope="col" { "Rule" }
                th scope="col" { "Status" }
                th scope="col" { "Trigger" }
                th scope="col" { "Progress" }
                th scope="col" { "Start Time" }
                th scope="col" { "End Time" }
            } }
            tbody {
                @for e in &executions {
                    @let eid = e["id"].as_i64().unwrap_or_default();
                    tr {
                        td { a href=(format!("/harbor/replications/executions/{eid}")) aria-label=(format!("Execution {eid}")) { (eid) } }
                        td { (policy_name(e["policy_id"].as_i64().unwrap_or_default())) }
                        td.execution-status { (e["status"].as_str().unwrap_or_default()) }
                        td { (e["trigger"].as_str().unwrap_or_default()) }
                        td { (progress(e)) }
                        td { (layout::when(e["start_time"].as_str().unwrap_or_default())) }
                        td { (layout::when(e["end_time"].as_str().unwrap_or_default())) }
                    }
                }
                @if executions.is_empty() {
                    tr { td colspan="7" { "No executions yet." } }
                }
            }
        }
        @if running { p.muted { "This page refreshes while an execution runs." } }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/replications?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Replications",
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

/// "3 of 5 succeeded, 1 failed" with a progress bar.
fn progress(e: &Value) -> Markup {
    let total = e["total"].as_u64().unwrap_or_default();
    let succeed = e["succeed"].as_u64().unwrap_or_default();
    let failed = e["failed"].as_u64().unwrap_or_default();
    let done = succeed + failed + e["stopped"].as_u64().unwrap_or_default();
    html! {
        progress max=(total.max(1)) value=(done) aria-label="Tasks finished" {}
        " " (succeed) " of " (total) " succeeded"
        @if failed > 0 { ", " (failed) " failed" }
    }
}

/// The rule form.
#[derive(Debug, Deserialize)]
pub(super) struct PolicyForm {
    name: String,
    description: Option<String>,
    mode: String,
    registry: i64,
    filter: Option<String>,
    tag: Option<String>,
    tag_decoration: Option<String>,
    label: Option<String>,
    label_decoration: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    flatten: Option<i64>,
    trigger: String,
    cron: Option<String>,
    deletion: Option<String>,
    speed: Option<String>,
    #[serde(rename = "override")]
    override_tags: Option<String>,
    copy_by_chunk: Option<String>,
    single_active: Option<String>,
    enabled: Option<String>,
}

fn bad(message: &str) -> PortalError {
    PortalError::new(StatusCode::BAD_REQUEST, message)
}

fn decoration(d: Option<&str>) -> Result<&'static str, PortalError> {
    match d.unwrap_or("matches") {
        "matches" => Ok("matches"),
        "excludes" => Ok("excludes"),
        _ => Err(bad("a filter either matches or excludes")),
    }
}

/// Harbor's `ReplicationPolicy` from the form, checked.
fn policy_body(f: &PolicyForm) -> Result<Value, PortalError> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_owned();
    let on = |v: &Option<String>| v.as_deref() == Some("true");
    let registry = json!({ "id": f.registry });
    let (src, dest) = match f.mode.as_str() {
        "push" => (Value::Null, registry),
        "pull" => (registry, Value::Null),
        _ => return Err(bad("the replication mode is push or pull")),
    };
    let trigger = match f.trigger.as_str() {
        "manual" | "event_based" => json!({ "type": f.trigger }),
        "scheduled" => {
            let cron = text(&f.cron);
            if cron.is_empty() {
                return Err(bad("a scheduled rule needs its cron"));
            }
            json!({ "type": "scheduled", "trigger_settings": { "cron": cron } })
        }
        _ => return Err(bad("unknown trigger")),
    };
    if f.mode == "pull" && f.trigger == "event_based" {
        // Events are this server's pushes and deletes: nothing to pull on.
        return Err(bad(
            "an Event Based trigger is for push-based rules; a pull-based rule runs manually or scheduled",
        ));
    }
    let mut filters = Vec::new();
    let name = text(&f.filter);
    if !name.is_empty() {
        filters.push(json!({ "type": "name", "value": name }));
    }
    let tag = text(&f.tag);
    if !tag.is_empty() {
        filters.push(json!({ "type": "tag", "value": tag, "decoration": decoration(f.tag_decoration.as_deref())? }));
    }
    let labels: Vec<String> = text(&f.label)
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if !labels.is_empty() {
        filters.push(json!({ "type": "label", "value": labels, "decoration": decoration(f.label_decoration.as_deref())? }));
    }
    match text(&f.resource).as_str() {
        "" => {}
        r @ ("image" | "artifact") => filters.push(json!({ "type": "resource", "value": r })),
        _ => return Err(bad("the resource type is image or artifact")),
    }
    let flatten = f.flatten.unwrap_or(0);
    if !(-1..=3).contains(&flatten) {
        return Err(bad("unknown flattening"));
    }
    let speed = match text(&f.speed).as_str() {
        "" => -1,
        s => s
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= -1)
            .ok_or_else(|| bad("the bandwidth is -1 (unlimited) or KB/s"))?,
    };
    let name = f.name.trim();
    if name.is_empty() {
        return Err(bad("the rule needs a name"));
    }
    Ok(json!({
        "name": name,
        "description": text(&f.description),
        "src_registry": src,
        "dest_registry": dest,
        "dest_namespace": text(&f.namespace),
        "dest_namespace_replace_count": flatten,
        "filters": filters,
        "trigger": trigger,
        "replicate_deletion": on(&f.deletion),
        "override": on(&f.override_tags),
        "enabled": on(&f.enabled),
        "speed": speed,
        "copy_by_chunk": on(&f.copy_by_chunk),
        "single_active_replication": on(&f.single_active),
    }))
}

/// `POST /harbor/replications`: a new rule.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<PolicyForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let body = policy_body(&change.form)?;
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/replication/policies",
            Some(body),
            "/harbor/replications",
        )
        .await
}

/// `GET /harbor/replications/{id}/edit`: the rule's form, filled in.
pub(super) async fn edit_page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let p: Value = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/policies/{id}"),
        )
        .await?
        .json()?;
    let registries: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/registries?page_size=100")
        .await?
        .json()?;
    let name = p["name"].as_str().unwrap_or_default();
    let body = html! {
        p { a href="/harbor/replications" { "Replications" } " /" }
        h1 { "Edit replication rule " span.policy-name { (name) } }
        (policy_form(&viewer.csrf, &registries, Some(&p), &format!("/harbor/replications/{id}/edit")))
    };
    Ok(layout::html(layout::page(
        &format!("Edit {name}"),
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

/// `POST /harbor/replications/{id}/edit`: the rule replaced by the form's.
pub(super) async fn update(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<PolicyForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let body = policy_body(&change.form)?;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/replication/policies/{id}"),
            Some(body),
            "/harbor/replications",
        )
        .await
}

/// The enable/disable form.
#[derive(Debug, Deserialize)]
pub(super) struct EnableForm {
    enabled: String,
}

/// `POST /harbor/replications/{id}/enable`: the rule as it is, enabled or
/// disabled.
pub(super) async fn enable(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<EnableForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let enabled = match change.form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(bad("enabled is true or false")),
    };
    let mut p: Value = state
        .api
        .get(
            &change.viewer.call_as,
            &format!("/api/v2.0/replication/policies/{id}"),
        )
        .await?
        .json()?;
    p["enabled"] = json!(enabled);
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/replication/policies/{id}"),
            Some(p),
            "/harbor/replications",
        )
        .await
}

/// `POST /harbor/replications/{id}/run`: an execution now, then its page.
pub(super) async fn run(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let answer = change
        .send(
            &state.api,
            Method::POST,
            "/api/v2.0/replication/executions",
            Some(json!({ "policy_id": id })),
        )
        .await?;
    let execution = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse::<i64>().ok());
    Ok(match execution {
        Some(e) => see_other(&format!("/harbor/replications/executions/{e}")),
        None => see_other("/harbor/replications"),
    })
}

/// `POST /harbor/replications/{id}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/replication/policies/{id}"),
            None,
            "/harbor/replications",
        )
        .await
}

/// `GET /harbor/replications/executions/{id}`: its progress and tasks,
/// refreshing while it runs.
pub(super) async fn execution(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let e: Value = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions/{id}"),
        )
        .await?
        .json()?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/replication/executions/{id}/tasks?page={page}&page_size={PAGE_SIZE}"
            ),
        )
        .await?;
    let total = answer.total();
    let tasks: Vec<Value> = answer.json()?;
    let status = e["status"].as_str().unwrap_or_default();
    let running = unfinished(status);
    let body = html! {
        p { a href="/harbor/replications" { "Replications" } " /" }
        h1 { "Execution " (id) }
        dl.summary data-refresh=[running.then_some("1")] {
            dt { "Status" } dd id="execution-status" { (status) }
            dt { "Progress" } dd { (progress(&e)) }
            dt { "Trigger" } dd { (e["trigger"].as_str().unwrap_or_default()) }
            dt { "Started" } dd { (layout::when(e["start_time"].as_str().unwrap_or_default())) }
            dt { "Ended" } dd { (layout::when(e["end_time"].as_str().unwrap_or_default())) }
            @if let Some(t) = e["status_text"].as_str().filter(|t| !t.is_empty()) {
                dt { "Message" } dd { (t) }
            }
        }
        @if running {
            form.inline method="post" action=(format!("/harbor/replications/executions/{id}/stop")) data-confirm="Stop this execution?" {
                (layout::csrf_field(&viewer.csrf))
                button.danger type="submit" { "Stop" }
            }
            p.muted { "This page refreshes while the execution runs." }
        }
        h2 { "Tasks" }
        table id="tasks" {
            thead { tr {
                th scope="col" { "Resource Type" }
                th scope="col" { "Resource" }
                th scope="col" { "Destination" }
                th scope="col" { "Operation" }
                th scope="col" { "Status" }
                th scope="col" { "Attempts" }
                th scope="col" { "Logs" }
            } }
            tbody {
                @for t in &tasks {
                    @let tid = t["id"].as_i64().unwrap_or_default();
                    tr {
                        td { (t["resource_type"].as_str().unwrap_or_default()) }
                        td { (t["src_resource"].as_str().unwrap_or_default()) }
                        td { (t["dst_resource"].as_str().unwrap_or_default()) }
                        td { (t["operation"].as_str().unwrap_or_default()) }
                        td.task-status { (t["status"].as_str().unwrap_or_default()) }
                        td { (t["attempts"].as_u64().unwrap_or_default()) }
                        td { a href=(format!("/harbor/replications/executions/{id}/tasks/{tid}/log")) aria-label=(format!("Log of task {tid}")) { "Log" } }
                    }
                }
                @if tasks.is_empty() {
                    tr { td colspan="7" { "No tasks yet." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/replications/executions/{id}?page={n}")))
    };
    Ok(layout::html(layout::page(
        &format!("Execution {id}"),
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

/// `POST /harbor/replications/executions/{id}/stop`.
pub(super) async fn stop(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/replication/executions/{id}"),
            None,
            &format!("/harbor/replications/executions/{id}"),
        )
        .await
}

/// `GET /harbor/replications/executions/{id}/tasks/{task}/log`.
pub(super) async fn task_log(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path((id, task)): Path<(i64, i64)>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/replication/executions/{id}/tasks/{task}/log"),
        )
        .await?;
    let text = String::from_utf8_lossy(&answer.body);
    let body = html! {
        p {
            a href="/harbor/replications" { "Replications" } " / "
            a href=(format!("/harbor/replications/executions/{id}")) { "Execution " (id) } " /"
        }
        h1 { "Log of task " (task) }
        pre id="task-log" { (text) }
    };
    Ok(layout::html(layout::page(
        &format!("Task {task}"),
        Some(&viewer),
        Nav::Replications,
        body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> PolicyForm {
        PolicyForm {
            name: " pull-app ".into(),
            description: None,
            mode: "pull".into(),
            registry: 4,
            filter: Some("lib/app*".into()),
            tag: Some("v1*".into()),
            tag_decoration: Some("excludes".into()),
            label: Some("a, b".into()),
            label_decoration: None,
            resource: Some("image".into()),
            namespace: Some("mirror".into()),
            flatten: Some(1),
            trigger: "scheduled".into(),
            cron: Some("0 0 * * * *".into()),
            deletion: None,
            speed: Some("512".into()),
            override_tags: Some("true".into()),
            copy_by_chunk: Some("true".into()),
            single_active: None,
            enabled: Some("true".into()),
        }
    }

    #[test]
    fn a_pull_rule_form_becomes_harbors_policy_and_fills_the_form_again() {
        let p = policy_body(&form()).unwrap();
        assert_eq!(p["src_registry"], json!({"id": 4}));
        assert!(p["dest_registry"].is_null());
        assert_eq!(p["name"], "pull-app");
        assert_eq!(p["trigger"]["trigger_settings"]["cron"], "0 0 * * * *");
        assert_eq!(
            p["filters"][1],
            json!({"type": "tag", "value": "v1*", "decoration": "excludes"})
        );
        assert_eq!(p["filters"][2]["value"], json!(["a", "b"]));
        assert_eq!(
            (p["speed"].as_i64(), p["copy_by_chunk"].as_bool()),
            (Some(512), Some(true))
        );
        let html = policy_form(
            "t",
            &[json!({"id": 4, "name": "peer", "url": "http://x"})],
            Some(&p),
            "/x",
        )
        .into_string();
        assert!(html.contains(r#"value="pull" checked"#), "{html}");
        assert!(html.contains(r#"value="lib/app*""#) && html.contains(r#"value="a,b""#));
        let mut bad = form();
        bad.cron = None;
        assert!(policy_body(&bad).is_err(), "scheduled without cron");
        let mut bad = form();
        bad.trigger = "event_based".into();
        assert!(policy_body(&bad).is_err(), "event based pull");
        let mut bad = form();
        bad.mode = "sideways".into();
        assert!(policy_body(&bad).is_err());
    }
}
