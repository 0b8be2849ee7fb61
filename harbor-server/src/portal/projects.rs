//! Projects: the list (search, paging, create, delete) and the frame of a
//! project's pages (its name, access, summary and tabs).

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use harbor_auth::{Action, Resource};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, enc, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Projects on a page of the list.
const PAGE_SIZE: u64 = 15;

/// Harbor's role names by id.
pub(super) fn role_name(id: i64) -> &'static str {
    match id {
        1 => "Project Admin",
        2 => "Developer",
        3 => "Guest",
        4 => "Maintainer",
        5 => "Limited Guest",
        _ => "-",
    }
}

/// What the viewer may do in a scope (`/users/current/permissions`).
#[derive(Debug, Default)]
pub(super) struct Perms(Vec<(String, String)>);

impl Perms {
    /// The viewer's permissions in `scope` (`/project/{id}` or `/system`).
    pub(super) async fn of(
        state: &PortalState,
        viewer: &Viewer,
        scope: &str,
    ) -> Result<Perms, PortalError> {
        let path = format!(
            "/api/v2.0/users/current/permissions?scope={}&relative=true",
            enc(scope)
        );
        let list: Vec<Value> = state.api.get(&viewer.call_as, &path).await?.json()?;
        Ok(Perms(
            list.iter()
                .map(|p| {
                    (
                        p["resource"].as_str().unwrap_or_default().to_owned(),
                        p["action"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        ))
    }

    /// Whether `action` on `resource` is allowed.
    pub(super) fn can(&self, resource: &str, action: &str) -> bool {
        self.0.iter().any(|(r, a)| r == resource && a == action)
    }
}

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    name: Option<String>,
}

/// `GET /harbor/projects`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let page = layout::page_number(q.page.as_deref());
    let name = q.name.unwrap_or_default();
    let mut path = format!("/api/v2.0/projects?page={page}&page_size={PAGE_SIZE}");
    if !name.is_empty() {
        path.push_str(&format!("&name={}", enc(&name)));
    }
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let projects: Vec<Value> = answer.json()?;
    let system = Perms::of(&state, &viewer, "/system").await?;
    let principal = viewer.principal();
    let mut deletable = Vec::with_capacity(projects.len());
    for p in &projects {
        let id = p["project_id"].as_i64().unwrap_or_default();
        let allowed = match state.app.auth.identity.project_by_id(id).await? {
            Some(project) => {
                state
                    .app
                    .auth
                    .authorizer
                    .allowed(&principal, &project, Resource::Project, Action::Delete)
                    .await?
            }
            None => false,
        };
        deletable.push(allowed);
    }
    let quotas = state.app.quotas.is_some() && viewer.sysadmin;
    let paging = Paging {
        page,
        size: PAGE_SIZE,
        total,
    };
    let link = |n: u64| {
        let mut l = format!("/harbor/projects?page={n}");
        if !name.is_empty() {
            l.push_str(&format!("&name={}", enc(&name)));
        }
        l
    };
    let body = html! {
        h1 { "Projects" }
        @if system.can("project", "create") {
            (create_form(&viewer.csrf, quotas))
        }
        form.row role="search" method="get" action="/harbor/projects" {
            label for="project-search" { "Search projects by name" }
            input type="search" id="project-search" name="name" value=(name);
            " "
            button.secondary type="submit" { "Search" }
        }
        table id="projects" {
            caption.muted { "Projects you can see" }
            thead { tr {
                th scope="col" { "Project Name" }
                th scope="col" { "Access Level" }
                th scope="col" { "Role" }
                th scope="col" { "Repositories Count" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for (p, can_delete) in projects.iter().zip(&deletable) {
                    @let id = p["project_id"].as_i64().unwrap_or_default();
                    @let pname = p["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(format!("/harbor/projects/{id}/summary")) { (pname) } }
                        td { @if p["metadata"]["public"] == "true" { "Public" } @else { "Private" } }
                        td { (p["current_user_role_id"].as_i64().map_or(
                            if viewer.sysadmin { "System Admin" } else { "-" }, role_name)) }
                        td { (p["repo_count"].as_u64().unwrap_or_default()) }
                        td { (layout::when(p["creation_time"].as_str().unwrap_or_default())) }
                        td {
                            @if *can_delete {
                                (layout::post_button(
                                    &format!("/harbor/projects/{id}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete project {pname}"),
                                    &format!("Delete project {pname}? Its repositories must be deleted first."),
                                ))
                            }
                        }
                    }
                }
                @if projects.is_empty() {
                    tr { td colspan="6" { "No projects found." } }
                }
            }
        }
        (layout::pager(paging, link))
    };
    Ok(layout::html(layout::page(
        "Projects",
        Some(&viewer),
        Nav::Projects,
        body,
    )))
}

fn create_form(csrf: &str, quotas: bool) -> Markup {
    html! {
        details {
            summary { "New Project" }
            form.panel id="new-project" method="post" action="/harbor/projects" {
                (layout::csrf_field(csrf))
                div.row {
                    div {
                        label for="project_name" { "Project Name" }
                        input type="text" id="project_name" name="project_name" required
                            maxlength="255" pattern="[a-z0-9]+(?:[._\\-][a-z0-9]+)*"
                            title="lower-case letters and digits, separated by '.', '_' or '-'";
                    }
                    label.check for="public" {
                        input type="checkbox" id="public" name="public" value="true";
                        "Public (anyone may pull)"
                    }
                    @if quotas {
                        div {
                            label for="storage_limit" { "Storage quota (GiB, -1 for unlimited)" }
                            input type="number" id="storage_limit" name="storage_limit" value="-1"
                                min="-1" step="1";
                        }
                    }
                    button type="submit" { "OK" }
                }
            }
        }
    }
}

/// The create form.
#[derive(Debug, Deserialize)]
pub(super) struct CreateForm {
    project_name: String,
    public: Option<String>,
    storage_limit: Option<String>,
}

/// `POST /harbor/projects`: creates through the API, then shows the new
/// project.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<CreateForm>,
) -> Result<Response, PortalError> {
    let f = &change.form;
    let mut body = json!({
        "project_name": f.project_name.trim(),
        "metadata": { "public": if f.public.as_deref() == Some("true") { "true" } else { "false" } },
    });
    if let Some(limit) = f.storage_limit.as_deref().filter(|s| !s.is_empty()) {
        let gib: i64 = limit.trim().parse().map_err(|_| {
            PortalError::new(
                StatusCode::BAD_REQUEST,
                "the storage quota must be a whole number",
            )
        })?;
        let bytes = if gib < 0 {
            -1
        } else {
            gib.checked_mul(1 << 30).ok_or_else(|| {
                PortalError::new(StatusCode::BAD_REQUEST, "the storage quota is too large")
            })?
        };
        body["storage_limit"] = json!(bytes);
    }
    let answer = change
        .send(&state.api, Method::POST, "/api/v2.0/projects", Some(body))
        .await?;
    let id = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse::<i64>().ok());
    Ok(match id {
        Some(id) => see_other(&format!("/harbor/projects/{id}/repositories")),
        None => see_other("/harbor/projects"),
    })
}

/// `POST /harbor/projects/{id}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/projects/{id}"),
            None,
            "/harbor/projects",
        )
        .await
}

/// `GET /harbor/projects/{id}`: its summary, Harbor's first tab.
pub(super) async fn show(Path(id): Path<i64>) -> Response {
    see_other(&format!("/harbor/projects/{id}/summary"))
}

/// A project's tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    /// The summary: counts, quota, access level.
    Summary,
    /// Repositories and their artifacts.
    Repositories,
    /// Members.
    Members,
    /// Robot accounts.
    Robots,
    /// The project's labels.
    Labels,
    /// The project's webhooks.
    Webhooks,
    /// The project's policies: tag retention and tag immutability.
    Policy,
    /// The project's audit log.
    Logs,
    /// The project's configuration (its metadata).
    Configuration,
}

/// What a project's pages show above their tab.
#[derive(Debug)]
pub(super) struct Frame {
    /// The project's id.
    pub(super) id: i64,
    /// Its name.
    pub(super) name: String,
    /// What the viewer may do in it.
    pub(super) perms: Perms,
    /// Whether the server has webhooks (their tab is shown).
    webhooks: bool,
    /// Whether the server runs tag retention (its page is shown).
    pub(super) retention: bool,
    project: Value,
    summary: Value,
}

impl Frame {
    /// Project `id` as the viewer sees it. On its landing page (`summary`)
    /// through the API (the project with its repository count, and the
    /// summary with the quota usage); on the other tabs, whose own API call
    /// checks what they show, from the identity store after the same read
    /// check the API makes (a project the viewer may not read is not
    /// found), sparing the repository count.
    pub(super) async fn load(
        state: &PortalState,
        viewer: &Viewer,
        id: i64,
        summary: bool,
    ) -> Result<Frame, PortalError> {
        let (project, summary) = if summary {
            let project: Value = state
                .api
                .get(&viewer.call_as, &format!("/api/v2.0/projects/{id}"))
                .await?
                .json()?;
            let summary: Value = state
                .api
                .get(&viewer.call_as, &format!("/api/v2.0/projects/{id}/summary"))
                .await?
                .json()?;
            (project, summary)
        } else {
            let auth = &state.app.auth;
            let not_found =
                || PortalError::new(StatusCode::NOT_FOUND, format!("project {id} not found"));
            let p = auth
                .identity
                .project_by_id(id)
                .await?
                .ok_or_else(not_found)?;
            if !auth
                .authorizer
                .allowed(&viewer.principal(), &p, Resource::Project, Action::Read)
                .await?
            {
                return Err(not_found());
            }
            let owner = auth.identity.user_by_id(p.owner_id).await?;
            let project = json!({
                "name": p.name,
                "metadata": { "public": p.public.to_string() },
                "owner_name": owner.map(|o| o.username).unwrap_or_default(),
            });
            (project, Value::Null)
        };
        let perms = Perms::of(state, viewer, &format!("/project/{id}")).await?;
        Ok(Frame {
            id,
            name: project["name"].as_str().unwrap_or_default().to_owned(),
            perms,
            webhooks: state.app.webhooks.is_some(),
            retention: state.app.retention.is_some(),
            project,
            summary,
        })
    }

    /// Whether the viewer sees the project's tag retention page.
    pub(super) fn retention_shown(&self) -> bool {
        self.retention && self.perms.can("tag-retention", "list")
    }

    /// The project as the API gave it (with its metadata on the summary
    /// page; only `public` on the others).
    pub(super) fn project(&self) -> &Value {
        &self.project
    }

    /// The project's summary (`Value::Null` unless loaded with it).
    pub(super) fn summary(&self) -> &Value {
        &self.summary
    }

    /// The project's heading, summary and tabs, then `body`.
    pub(super) fn render(&self, viewer: &Viewer, tab: Tab, body: Markup) -> Response {
        let id = self.id;
        let public = self.project["metadata"]["public"] == "true";
        let quota = &self.summary["quota"];
        let tabs = [
            (
                Tab::Summary,
                "Summary",
                format!("/harbor/projects/{id}/summary"),
                true,
            ),
            (
                Tab::Repositories,
                "Repositories",
                format!("/harbor/projects/{id}/repositories"),
                true,
            ),
            (
                Tab::Members,
                "Members",
                format!("/harbor/projects/{id}/members"),
                self.perms.can("member", "list"),
            ),
            (
                Tab::Robots,
                "Robot Accounts",
                format!("/harbor/projects/{id}/robot-account"),
                self.perms.can("robot", "list"),
            ),
            (
                Tab::Labels,
                "Labels",
                format!("/harbor/projects/{id}/labels"),
                self.perms.can("label", "list"),
            ),
            (
                Tab::Webhooks,
                "Webhooks",
                format!("/harbor/projects/{id}/webhook"),
                self.webhooks && self.perms.can("notification-policy", "list"),
            ),
            (
                Tab::Policy,
                "Policy",
                format!("/harbor/projects/{id}/tag-strategy"),
                self.retention_shown() || self.perms.can("immutable-tag", "list"),
            ),
            (
                Tab::Logs,
                "Logs",
                format!("/harbor/projects/{id}/logs"),
                self.perms.can("log", "list"),
            ),
            (
                Tab::Configuration,
                "Configuration",
                format!("/harbor/projects/{id}/configs"),
                true,
            ),
        ];
        let markup = html! {
            p { a href="/harbor/projects" { "Projects" } " /" }
            h1 { (self.name) }
            dl.summary {
                dt { "Access Level" } dd { @if public { "Public" } @else { "Private" } }
                @if let Some(n) = self.project["repo_count"].as_u64() {
                    dt { "Repositories" } dd { (n) }
                }
                dt { "Owner" } dd { (self.project["owner_name"].as_str().unwrap_or_default()) }
                @if let (Some(used), Some(hard)) = (quota["used"]["storage"].as_i64(), quota["hard"]["storage"].as_i64()) {
                    dt { "Quota used" }
                    dd {
                        (layout::size(u64::try_from(used).unwrap_or_default())) " of "
                        @if hard < 0 { "unlimited" } @else { (layout::size(u64::try_from(hard).unwrap_or_default())) }
                    }
                }
            }
            nav.tabs aria-label="Project" {
                @for (t, label, href, shown) in &tabs {
                    @if *shown {
                        a href=(href) aria-current=[(*t == tab).then_some("page")] { (label) }
                    }
                }
            }
            (body)
        };
        layout::html(layout::page(
            &self.name,
            Some(viewer),
            Nav::Projects,
            markup,
        ))
    }
}
