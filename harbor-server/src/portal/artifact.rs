//! One artifact: its digest, type, size, times, tags, labels, annotations,
//! the platforms of an index (each a link), its layers, the referrers
//! that point at it (signatures, SBOMs) and a copyable pull command.
//!
//! The API's `GET .../artifacts/{reference}` decides whether the viewer may
//! see it (and answers its Harbor fields); only then are the manifest's
//! layers and referrers read from the engine, which the API does not list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use harbor_core::{Digest, Manifest, Reference, RepositoryName};
use maud::html;
use serde_json::Value;

use super::error::PortalError;
use super::layout::{self, enc};
use super::projects::{Frame, Tab};
use super::repositories::{api_repo, registry_host};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// `GET /harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}`.
pub(super) async fn show(
    State(state): State<PortalState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, repo, digest)): Path<(i64, String, String)>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let path = format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts/{}?with_label=true",
        enc(&frame.name),
        api_repo(&repo),
        enc(&digest)
    );
    let a: Value = state.api.get(&viewer.call_as, &path).await?.json()?;
    let full = format!("{}/{repo}", frame.name);
    let not_found = || PortalError::new(axum::http::StatusCode::NOT_FOUND, "no such artifact");
    let name = RepositoryName::parse(&full).map_err(|_| not_found())?;
    let d: Digest = a["digest"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| not_found())?;
    let content = state
        .app
        .registry
        .get_manifest(&name, &Reference::Digest(d.clone()), None)
        .await?;
    let manifest = Manifest::parse(Some(&content.media_type), &content.payload, d.algorithm())?;
    let referrers = state.app.registry.referrers(&name, &d, None).await?;
    let usable = super::labels::usable(&state, &viewer, &frame).await?;
    let on: Vec<Value> = a["labels"].as_array().cloned().unwrap_or_default();
    let label_controls = super::labels::artifact_controls(
        &format!(
            "/harbor/projects/{id}/repositories/{}/artifacts-tab/artifacts/{}",
            enc(&repo),
            enc(&d.to_string())
        ),
        &viewer.csrf,
        &usable,
        &on,
        frame.perms.can("artifact-label", "create"),
        frame.perms.can("artifact-label", "delete"),
    );
    let page_base = format!(
        "/harbor/projects/{id}/repositories/{}/artifacts-tab/artifacts/{}",
        enc(&repo),
        enc(&d.to_string())
    );
    let can_add_tag = frame.perms.can("tag", "create");
    let can_delete_tag = frame.perms.can("tag", "delete");
    let host = registry_host(&state, &headers);
    let base = format!("/harbor/projects/{id}/repositories/{}", enc(&repo));
    let pull = format!("docker pull {host}/{full}@{d}");
    let body = html! {
        p {
            a href=(format!("/harbor/projects/{id}/repositories")) { "Repositories" } " / "
            a href=(format!("{base}/artifacts-tab")) { (full) } " /"
        }
        h2 id="artifact-digest" .mono { (d) }
        dl.summary {
            dt { "Type" } dd { (a["type"].as_str().unwrap_or_default()) }
            dt { "Media type" } dd.mono { (content.media_type) }
            dt { "Size" } dd { (layout::size(a["size"].as_u64().unwrap_or_default())) }
            dt { "Push time" } dd { (layout::when(a["push_time"].as_str().unwrap_or_default())) }
            dt { "Pull time" } dd { (layout::when(a["pull_time"].as_str().unwrap_or_default())) }
            dt { "Tags" } dd {
                @for t in a["tags"].as_array().into_iter().flatten() {
                    @let tag = t["name"].as_str().unwrap_or_default();
                    span.tag { (tag) }
                    @if can_delete_tag {
                        (layout::post_button(
                            &format!("{page_base}/tags/{}/delete", enc(tag)),
                            &viewer.csrf,
                            "Delete",
                            &format!("Delete tag {tag}"),
                            &format!("Delete tag {tag}? The artifact stays."),
                        ))
                    }
                    " "
                }
                @if can_add_tag {
                    form.inline id="add-tag" method="post" action=(format!("{page_base}/tags")) {
                        (layout::csrf_field(&viewer.csrf))
                        label for="new-tag" { "Add tag" }
                        input type="text" id="new-tag" name="tag" required maxlength="128"
                            pattern="[A-Za-z0-9_][A-Za-z0-9._\\-]{0,127}";
                        " "
                        button.secondary type="submit" { "Add" }
                    }
                }
            }
            dt { "Labels" } dd {
                @for l in &on {
                    (super::labels::chip(l))
                }
                div { (label_controls) }
            }
            dt { "Pull command" } dd {
                div.pull {
                    code.pull-command { (pull) }
                    button.secondary type="button" data-copy=(pull) hidden { "Copy pull command" }
                }
            }
        }
        @if !manifest.annotations.is_empty() {
            h2 { "Annotations" }
            table id="annotations" {
                thead { tr { th scope="col" { "Key" } th scope="col" { "Value" } } }
                tbody {
                    @for (k, v) in &manifest.annotations {
                        tr { td.mono { (k) } td { (v) } }
                    }
                }
            }
        }
        @if !manifest.manifests.is_empty() {
            h2 { "Platforms" }
            table id="platforms" {
                thead { tr { th scope="col" { "Platform" } th scope="col" { "Digest" } th scope="col" { "Size" } } }
                tbody {
                    @for m in &manifest.manifests {
                        @let p = m.platform.clone().unwrap_or(Value::Null);
                        tr {
                            td {
                                (p["os"].as_str().unwrap_or("-")) "/" (p["architecture"].as_str().unwrap_or("-"))
                                @if let Some(v) = p["variant"].as_str() { "/" (v) }
                            }
                            td.mono { a href=(format!("{base}/artifacts-tab/artifacts/{}", enc(&m.digest.to_string()))) { (m.digest) } }
                            td { (layout::size(m.size)) }
                        }
                    }
                }
            }
        }
        @if let Some(c) = &manifest.config {
            h2 { "Config" }
            p.mono { (c.media_type) " " (c.digest) " (" (layout::size(c.size)) ")" }
        }
        @if !manifest.layers.is_empty() {
            h2 { "Layers" }
            table id="layers" {
                thead { tr { th scope="col" { "#" } th scope="col" { "Media type" } th scope="col" { "Digest" } th scope="col" { "Size" } } }
                tbody {
                    @for (i, l) in manifest.layers.iter().enumerate() {
                        tr {
                            td { (i + 1) }
                            td.mono { (l.media_type) }
                            td.mono.layer-digest { (l.digest) }
                            td { (layout::size(l.size)) }
                        }
                    }
                }
            }
        }
        h2 { "Accessories (referrers)" }
        @if referrers.is_empty() {
            p.muted { "No signatures, SBOMs or other artifacts refer to this one." }
        } @else {
            table id="referrers" {
                thead { tr { th scope="col" { "Artifact type" } th scope="col" { "Digest" } th scope="col" { "Size" } } }
                tbody {
                    @for r in &referrers {
                        tr {
                            td.mono { (r.artifact_type.as_deref().unwrap_or(&r.media_type)) }
                            td.mono { a href=(format!("{base}/artifacts-tab/artifacts/{}", enc(&r.digest.to_string()))) { (r.digest) } }
                            td { (layout::size(r.size)) }
                        }
                    }
                }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Repositories, body))
}

/// The add-tag form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct TagForm {
    tag: String,
}

fn tags_api(frame: &Frame, repo: &str, digest: &str) -> String {
    format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts/{}/tags",
        enc(&frame.name),
        api_repo(repo),
        enc(digest)
    )
}

fn page_of(id: i64, repo: &str, digest: &str) -> String {
    format!(
        "/harbor/projects/{id}/repositories/{}/artifacts-tab/artifacts/{}",
        enc(repo),
        enc(digest)
    )
}

/// `POST .../artifacts-tab/artifacts/{digest}/tags`: a new tag on it.
pub(super) async fn add_tag(
    State(state): State<PortalState>,
    Path((id, repo, digest)): Path<(i64, String, String)>,
    change: Change<TagForm>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::POST,
            &tags_api(&frame, &repo, &digest),
            Some(serde_json::json!({ "name": change.form.tag.trim() })),
            &page_of(id, &repo, &digest),
        )
        .await
}

/// `POST .../artifacts-tab/artifacts/{digest}/tags/{tag}/delete`.
pub(super) async fn delete_tag(
    State(state): State<PortalState>,
    Path((id, repo, digest, tag)): Path<(i64, String, String, String)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("{}/{}", tags_api(&frame, &repo, &digest), enc(&tag)),
            None,
            &page_of(id, &repo, &digest),
        )
        .await
}
