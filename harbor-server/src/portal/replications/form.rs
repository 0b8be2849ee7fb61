//! The replication rule form: a new rule or one edited (its filters,
//! destination, flattening, trigger and options), checked and sent as
//! Harbor's `ReplicationPolicy`; and enabling or disabling a rule.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::portal::error::PortalError;
use crate::portal::layout::{self, Nav};
use crate::portal::registries::admins_only;
use crate::portal::viewer::{Change, Viewer};
use crate::portal::PortalState;

/// The flattening choices, as Harbor words them.
pub(super) const FLATTENING: [(i64, &str); 5] = [
    (-1, "Flatten All Levels"),
    (0, "No Flattening"),
    (1, "Flatten 1 Level"),
    (2, "Flatten 2 Levels"),
    (3, "Flatten 3 Levels"),
];

/// The first filter of `kind` in a policy: its value (list values joined
/// with commas) and decoration.
pub(super) fn filter_of(p: &Value, kind: &str) -> (String, String) {
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
pub(super) fn policy_form(
    csrf: &str,
    registries: &[Value],
    policy: Option<&Value>,
    action: &str,
) -> Markup {
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

/// The rule form.
#[derive(Debug, Deserialize)]
pub(in crate::portal) struct PolicyForm {
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

pub(super) fn decoration(d: Option<&str>) -> Result<&'static str, PortalError> {
    match d.unwrap_or("matches") {
        "matches" => Ok("matches"),
        "excludes" => Ok("excludes"),
        _ => Err(PortalError::bad_request(
            "a filter either matches or excludes",
        )),
    }
}

/// Harbor's `ReplicationPolicy` from the form, checked.
pub(super) fn policy_body(f: &PolicyForm) -> Result<Value, PortalError> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_owned();
    let on = |v: &Option<String>| v.as_deref() == Some("true");
    let registry = json!({ "id": f.registry });
    let (src, dest) = match f.mode.as_str() {
        "push" => (Value::Null, registry),
        "pull" => (registry, Value::Null),
        _ => {
            return Err(PortalError::bad_request(
                "the replication mode is push or pull",
            ))
        }
    };
    let trigger = match f.trigger.as_str() {
        "manual" | "event_based" => json!({ "type": f.trigger }),
        "scheduled" => {
            let cron = text(&f.cron);
            if cron.is_empty() {
                return Err(PortalError::bad_request("a scheduled rule needs its cron"));
            }
            json!({ "type": "scheduled", "trigger_settings": { "cron": cron } })
        }
        _ => return Err(PortalError::bad_request("unknown trigger")),
    };
    if f.mode == "pull" && f.trigger == "event_based" {
        // Events are this server's pushes and deletes: nothing to pull on.
        return Err(PortalError::bad_request(
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
        _ => {
            return Err(PortalError::bad_request(
                "the resource type is image or artifact",
            ))
        }
    }
    let flatten = f.flatten.unwrap_or(0);
    if !(-1..=3).contains(&flatten) {
        return Err(PortalError::bad_request("unknown flattening"));
    }
    let speed =
        match text(&f.speed).as_str() {
            "" => -1,
            s => s.parse::<i64>().ok().filter(|s| *s >= -1).ok_or_else(|| {
                PortalError::bad_request("the bandwidth is -1 (unlimited) or KB/s")
            })?,
        };
    let name = f.name.trim();
    if name.is_empty() {
        return Err(PortalError::bad_request("the rule needs a name"));
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
pub(in crate::portal) async fn create(
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
pub(in crate::portal) async fn edit_page(
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
pub(in crate::portal) async fn update(
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
pub(in crate::portal) struct EnableForm {
    enabled: String,
}

/// `POST /harbor/replications/{id}/enable`: the rule as it is, enabled or
/// disabled.
pub(in crate::portal) async fn enable(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<EnableForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let enabled = match change.form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PortalError::bad_request("enabled is true or false")),
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
