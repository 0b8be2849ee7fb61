//! A project's tag immutability rules: the list, adding a rule (which
//! repositories and tags, matching or excluding, doublestar patterns) and
//! deleting one, where the viewer's role allows. Pushes and deletes of a
//! matched tag are then refused by the engine.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, enc};
use super::projects::{Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// A selector as people read it: "matching app/**".
fn selector(s: &Value) -> String {
    let how = match s["decoration"].as_str().unwrap_or("matches") {
        "excludes" | "repoExcludes" => "excluding",
        _ => "matching",
    };
    format!("{how} {}", s["pattern"].as_str().unwrap_or_default())
}

/// `GET /harbor/projects/{id}/tag-immutability`: the page's old path,
/// now under the Policy tab.
pub(super) async fn moved(Path(id): Path<i64>) -> Response {
    see_other(&format!(
        "/harbor/projects/{id}/tag-strategy/tag-immutability"
    ))
}

/// `GET /harbor/projects/{id}/tag-strategy/tag-immutability`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let rules: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/projects/{}/immutabletagrules?page_size=100",
                enc(&frame.name)
            ),
        )
        .await?
        .json()?;
    let base = format!("/harbor/projects/{id}/tag-strategy/tag-immutability");
    let can_create = frame.perms.can("immutable-tag", "create");
    let can_delete = frame.perms.can("immutable-tag", "delete");
    let decorations = |name: &str, id: &str, label: &str, pattern: &str| {
        html! {
            div {
                label for=(format!("{id}-decoration")) { (label) }
                select id=(format!("{id}-decoration")) name=(format!("{name}_decoration")) {
                    @for (d, text) in [("matches", "matching"), ("excludes", "excluding")] {
                        option value=(d) { (text) }
                    }
                }
            }
            div {
                label for=(format!("{id}-pattern")) { (label) " pattern" }
                input type="text" id=(format!("{id}-pattern")) name=(format!("{name}_pattern")) value=(pattern) required;
            }
        }
    };
    let body = html! {
        (super::retention::policy_nav(&frame, false))
        p.muted { "Tags matched by a rule cannot be pushed over or deleted." }
        @if can_create {
            details {
                summary { "Add Rule" }
                form.panel id="new-immutable-rule" method="post" action=(base) {
                    (layout::csrf_field(&viewer.csrf))
                    div.row {
                        (decorations("repo", "rule-repo", "Repositories", "**"))
                        (decorations("tag", "rule-tag", "Tags", "**"))
                        button type="submit" { "Add" }
                    }
                }
            }
        }
        table id="immutable-rules" {
            thead { tr {
                th scope="col" { "Repositories" }
                th scope="col" { "Tags" }
                th scope="col" { "Status" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &rules {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let repos = r["scope_selectors"]["repository"].as_array().into_iter().flatten().map(selector).collect::<Vec<_>>().join(", ");
                    @let tags = r["tag_selectors"].as_array().into_iter().flatten().map(selector).collect::<Vec<_>>().join(", ");
                    tr {
                        td.rule-repos { (repos) }
                        td.rule-tags { (tags) }
                        td { @if r["disabled"].as_bool().unwrap_or(false) { "Disabled" } @else { "Enabled" } }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/{rid}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete rule {repos} / {tags}"),
                                    "Delete this immutability rule?",
                                ))
                            }
                        }
                    }
                }
                @if rules.is_empty() {
                    tr { td colspan="4" { "No immutability rules." } }
                }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Policy, body))
}

/// The new-rule form.
#[derive(Debug, Deserialize)]
pub(super) struct RuleForm {
    repo_decoration: String,
    repo_pattern: String,
    tag_decoration: String,
    tag_pattern: String,
}

fn decoration(d: &str) -> Result<&str, PortalError> {
    match d {
        "matches" | "excludes" => Ok(d),
        _ => Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "matching or excluding",
        )),
    }
}

/// `POST /harbor/projects/{id}/tag-immutability`.
pub(super) async fn create(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<RuleForm>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    let f = &change.form;
    let body = json!({
        "project_id": id,
        "disabled": false,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{
            "kind": "doublestar",
            "decoration": decoration(&f.tag_decoration)?,
            "pattern": f.tag_pattern.trim(),
        }],
        "scope_selectors": { "repository": [{
            "kind": "doublestar",
            "decoration": match decoration(&f.repo_decoration)? {
                "excludes" => "repoExcludes",
                _ => "repoMatches",
            },
            "pattern": f.repo_pattern.trim(),
        }] },
    });
    change
        .forward(
            &state.api,
            Method::POST,
            &format!("/api/v2.0/projects/{}/immutabletagrules", enc(&frame.name)),
            Some(body),
            &format!("/harbor/projects/{id}/tag-strategy/tag-immutability"),
        )
        .await
}

/// `POST /harbor/projects/{id}/tag-immutability/{rule}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path((id, rule)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!(
                "/api/v2.0/projects/{}/immutabletagrules/{rule}",
                enc(&frame.name)
            ),
            None,
            &format!("/harbor/projects/{id}/tag-strategy/tag-immutability"),
        )
        .await
}
