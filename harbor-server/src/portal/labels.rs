//! Labels: a project's labels (list, create, delete) and putting labels
//! on an artifact or taking them off, where the viewer's role allows.
//! (Label colours are shown as their names: the content security policy
//! allows no inline style.)

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, enc};
use super::projects::{Frame, Tab};
use super::repositories::api_repo;
use super::viewer::{Change, Viewer};
use super::PortalState;

/// The labels an artifact of project `frame` may carry: global ones and
/// the project's (the first hundred of each).
pub(super) async fn usable(
    state: &PortalState,
    viewer: &Viewer,
    frame: &Frame,
) -> Result<Vec<Value>, PortalError> {
    let mut all: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/labels?scope=g&page_size=100")
        .await?
        .json()?;
    let project: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/labels?scope=p&project_id={}&page_size=100",
                frame.id
            ),
        )
        .await?
        .json()?;
    all.extend(project);
    Ok(all)
}

/// `GET /harbor/projects/{id}/labels`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let labels: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/labels?scope=p&project_id={id}&page_size=100"),
        )
        .await?
        .json()?;
    let base = format!("/harbor/projects/{id}/labels");
    let can_create = frame.perms.can("label", "create");
    let can_delete = frame.perms.can("label", "delete");
    let body = html! {
        @if can_create {
            details {
                summary { "New Label" }
                form.panel id="new-label" method="post" action=(base) {
                    (layout::csrf_field(&viewer.csrf))
                    div.row {
                        div {
                            label for="label-name" { "Label name" }
                            input type="text" id="label-name" name="name" required maxlength="128";
                        }
                        div {
                            label for="label-color" { "Color" }
                            input type="color" id="label-color" name="color" value="#0065AB";
                        }
                        div {
                            label for="label-description" { "Description" }
                            input type="text" id="label-description" name="description";
                        }
                        button type="submit" { "OK" }
                    }
                }
            }
        }
        table id="labels" {
            thead { tr {
                th scope="col" { "Label" }
                th scope="col" { "Color" }
                th scope="col" { "Description" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for l in &labels {
                    @let lid = l["id"].as_i64().unwrap_or_default();
                    @let name = l["name"].as_str().unwrap_or_default();
                    tr {
                        td { span.tag.label { (name) } }
                        td.mono { (l["color"].as_str().unwrap_or_default()) }
                        td { (l["description"].as_str().unwrap_or_default()) }
                        td { (layout::when(l["creation_time"].as_str().unwrap_or_default())) }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/{lid}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete label {name}"),
                                    &format!("Delete label {name}? It comes off every artifact."),
                                ))
                            }
                        }
                    }
                }
                @if labels.is_empty() {
                    tr { td colspan="5" { "No labels in this project." } }
                }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Labels, body))
}

/// The new-label form.
#[derive(Debug, Deserialize)]
pub(super) struct LabelForm {
    name: String,
    color: Option<String>,
    description: Option<String>,
}

/// `POST /harbor/projects/{id}/labels`.
pub(super) async fn create(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<LabelForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/labels",
            Some(json!({
                "name": f.name.trim(),
                "color": f.color.as_deref().unwrap_or("#0065AB"),
                "description": f.description.as_deref().unwrap_or_default(),
                "scope": "p",
                "project_id": id,
            })),
            &format!("/harbor/projects/{id}/labels"),
        )
        .await
}

/// `POST /harbor/projects/{id}/labels/{label}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path((id, label)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/labels/{label}"),
            None,
            &format!("/harbor/projects/{id}/labels"),
        )
        .await
}

/// The artifact page's label controls: a form adding one of `usable`, and
/// a button taking each of `on` off.
pub(super) fn artifact_controls(
    base: &str,
    csrf: &str,
    usable: &[Value],
    on: &[Value],
    can_add: bool,
    can_remove: bool,
) -> Markup {
    let on_ids: Vec<i64> = on.iter().filter_map(|l| l["id"].as_i64()).collect();
    let offered: Vec<&Value> = usable
        .iter()
        .filter(|l| l["id"].as_i64().is_some_and(|id| !on_ids.contains(&id)))
        .collect();
    html! {
        @if can_remove {
            @for l in on {
                @let name = l["name"].as_str().unwrap_or_default();
                form.inline method="post" action=(format!("{base}/labels/{}/delete", l["id"].as_i64().unwrap_or_default())) {
                    (layout::csrf_field(csrf))
                    button.secondary type="submit" aria-label=(format!("Remove {name} label")) { "Remove " (name) }
                }
                " "
            }
        }
        @if can_add && !offered.is_empty() {
            form.inline id="add-label" method="post" action=(format!("{base}/labels")) {
                (layout::csrf_field(csrf))
                label for="artifact-label" { "Add label" }
                select id="artifact-label" name="label" {
                    @for l in &offered {
                        option value=(l["id"].as_i64().unwrap_or_default()) { (l["name"].as_str().unwrap_or_default()) }
                    }
                }
                " "
                button.secondary type="submit" { "Add" }
            }
        }
    }
}

/// The add-label form.
#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    label: i64,
}

fn artifact_api(frame: &Frame, repo: &str, digest: &str) -> String {
    format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts/{}/labels",
        enc(&frame.name),
        api_repo(repo),
        enc(digest)
    )
}

fn artifact_page(id: i64, repo: &str, digest: &str) -> String {
    format!(
        "/harbor/projects/{id}/repositories/{}/artifacts-tab/artifacts/{}",
        enc(repo),
        enc(digest)
    )
}

/// `POST .../artifacts-tab/artifacts/{digest}/labels`.
pub(super) async fn add_to_artifact(
    State(state): State<PortalState>,
    Path((id, repo, digest)): Path<(i64, String, String)>,
    change: Change<AddForm>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::POST,
            &artifact_api(&frame, &repo, &digest),
            Some(json!({ "id": change.form.label })),
            &artifact_page(id, &repo, &digest),
        )
        .await
}

/// `POST .../artifacts-tab/artifacts/{digest}/labels/{label}/delete`.
pub(super) async fn remove_from_artifact(
    State(state): State<PortalState>,
    Path((id, repo, digest, label)): Path<(i64, String, String, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("{}/{label}", artifact_api(&frame, &repo, &digest)),
            None,
            &artifact_page(id, &repo, &digest),
        )
        .await
}
