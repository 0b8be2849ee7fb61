//! A project's repositories, and a repository's artifacts (tags, digest,
//! size, push and pull times, the platforms of an index, labels, a
//! copyable pull command), with deletes where the viewer's role allows.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::error::PortalError;
use super::layout::{self, enc, Paging};
use super::projects::{Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Repositories or artifacts on a page.
const PAGE_SIZE: u64 = 15;

/// The query of a list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    name: Option<String>,
}

/// A repository's name within its project (`a/b` of `project/a/b`) as the
/// API's path wants it: its `/` encoded twice (Harbor's `a%252Fb`).
pub(super) fn api_repo(short: &str) -> String {
    enc(&enc(short))
}

/// `GET /harbor/projects/{id}/repositories`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, true).await?;
    let page = layout::page_number(q.page.as_deref());
    let name = q.name.unwrap_or_default();
    let mut path = format!(
        "/api/v2.0/projects/{}/repositories?page={page}&page_size={PAGE_SIZE}",
        enc(&frame.name)
    );
    if !name.is_empty() {
        path.push_str(&format!("&q={}", enc(&format!("name=~{name}"))));
    }
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let repos: Vec<Value> = answer.json()?;
    let can_delete = frame.perms.can("repository", "delete");
    let prefix = format!("{}/", frame.name);
    let link = |n: u64| {
        let mut l = format!("/harbor/projects/{id}/repositories?page={n}");
        if !name.is_empty() {
            l.push_str(&format!("&name={}", enc(&name)));
        }
        l
    };
    let body = html! {
        form.row role="search" method="get" action=(format!("/harbor/projects/{id}/repositories")) {
            label for="repo-search" { "Search repositories by name" }
            input type="search" id="repo-search" name="name" value=(name);
            " "
            button.secondary type="submit" { "Search" }
        }
        table id="repositories" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Artifacts" }
                th scope="col" { "Pulls" }
                th scope="col" { "Last Modified Time" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &repos {
                    @let full = r["name"].as_str().unwrap_or_default();
                    @let short = full.strip_prefix(&prefix).unwrap_or(full);
                    @let base = format!("/harbor/projects/{id}/repositories/{}", enc(short));
                    tr {
                        td { a href=(format!("{base}/artifacts-tab")) { (full) } }
                        td { (r["artifact_count"].as_u64().unwrap_or_default()) }
                        td { (r["pull_count"].as_u64().unwrap_or_default()) }
                        td { (layout::when(r["update_time"].as_str().unwrap_or_default())) }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete repository {full}"),
                                    &format!("Delete repository {full} and all its artifacts?"),
                                ))
                            }
                        }
                    }
                }
                @if repos.is_empty() {
                    tr { td colspan="5" { "No repositories found." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
        @if frame.perms.can("repository", "push") {
            section.panel {
                h2 { "Push an image" }
                p { "Tag an image for this project and push it:" }
                p { code { "docker push " (registry_host(&state, &headers)) "/" (frame.name) "/REPOSITORY[:TAG]" } }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Repositories, body))
}

/// The host clients pull from: the external URL's, else this request's.
pub(super) fn registry_host(state: &PortalState, headers: &HeaderMap) -> String {
    let url = state.app.auth.realm.url(headers);
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    rest.trim_end_matches("/service/token").to_owned()
}

/// `GET /harbor/projects/{id}/repositories/{repo}/artifacts-tab`.
pub(super) async fn artifacts(
    State(state): State<PortalState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, repo)): Path<(i64, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let page = layout::page_number(q.page.as_deref());
    let path = format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts?page={page}&page_size={PAGE_SIZE}&with_label=true",
        enc(&frame.name),
        api_repo(&repo)
    );
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let list: Vec<Value> = answer.json()?;
    let full = format!("{}/{repo}", frame.name);
    let host = registry_host(&state, &headers);
    let can_delete = frame.perms.can("artifact", "delete");
    let base = format!("/harbor/projects/{id}/repositories/{}", enc(&repo));
    let link = |n: u64| format!("{base}/artifacts-tab?page={n}");
    let body = html! {
        p { a href=(format!("/harbor/projects/{id}/repositories")) { "Repositories" } " /" }
        h2 id="repository-name" { (full) }
        table id="artifacts" {
            thead { tr {
                th scope="col" { "Artifact" }
                th scope="col" { "Tags" }
                th scope="col" { "Size" }
                th scope="col" { "Platforms" }
                th scope="col" { "Labels" }
                th scope="col" { "Push Time" }
                th scope="col" { "Pull Time" }
                th scope="col" { "Pull Command" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for a in &list {
                    @let digest = a["digest"].as_str().unwrap_or_default();
                    @let short = digest.get(..19).unwrap_or(digest);
                    @let pull = format!("docker pull {host}/{full}@{digest}");
                    tr {
                        td.mono {
                            a href=(format!("{base}/artifacts-tab/artifacts/{}", enc(digest))) {
                                abbr.digest title=(digest) { (short) }
                            }
                        }
                        td {
                            @for t in a["tags"].as_array().into_iter().flatten() {
                                span.tag { (t["name"].as_str().unwrap_or_default()) }
                            }
                        }
                        td { (layout::size(a["size"].as_u64().unwrap_or_default())) }
                        td {
                            @for r in a["references"].as_array().into_iter().flatten() {
                                @let p = &r["platform"];
                                @if let (Some(os), Some(arch)) = (p["os"].as_str(), p["architecture"].as_str()) {
                                    span.tag {
                                        (os) "/" (arch)
                                        @if let Some(v) = p["variant"].as_str() { "/" (v) }
                                    }
                                }
                            }
                        }
                        td {
                            @for l in a["labels"].as_array().into_iter().flatten() {
                                (super::labels::chip(l))
                            }
                        }
                        td { (layout::when(a["push_time"].as_str().unwrap_or_default())) }
                        td { (layout::when(a["pull_time"].as_str().unwrap_or_default())) }
                        td {
                            div.pull {
                                code.pull-command { (pull) }
                                button.secondary type="button" data-copy=(pull) hidden
                                    aria-label=(format!("Copy pull command of {short}")) { "Copy" }
                            }
                        }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/artifacts/{}/delete", enc(digest)),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete artifact {short}"),
                                    &format!("Delete artifact {digest} and its tags?"),
                                ))
                            }
                        }
                    }
                }
                @if list.is_empty() {
                    tr { td colspan="9" { "No artifacts found." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
    };
    Ok(frame.render(&viewer, Tab::Repositories, body))
}

/// `POST .../repositories/{repo}/delete`.
pub(super) async fn delete_repository(
    State(state): State<PortalState>,
    Path((id, repo)): Path<(i64, String)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    let path = format!(
        "/api/v2.0/projects/{}/repositories/{}",
        enc(&frame.name),
        api_repo(&repo)
    );
    change
        .forward(
            &state.api,
            Method::DELETE,
            &path,
            None,
            &format!("/harbor/projects/{id}/repositories"),
        )
        .await
}

/// `POST .../repositories/{repo}/artifacts/{digest}/delete`.
pub(super) async fn delete_artifact(
    State(state): State<PortalState>,
    Path((id, repo, digest)): Path<(i64, String, String)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    let path = format!(
        "/api/v2.0/projects/{}/repositories/{}/artifacts/{}",
        enc(&frame.name),
        api_repo(&repo),
        enc(&digest)
    );
    change
        .forward(
            &state.api,
            Method::DELETE,
            &path,
            None,
            &format!(
                "/harbor/projects/{id}/repositories/{}/artifacts-tab",
                enc(&repo)
            ),
        )
        .await
}
