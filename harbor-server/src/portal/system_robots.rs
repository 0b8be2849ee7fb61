//! Administration: system robot accounts (Harbor's Administration →
//! Robot Accounts). The list (paged, searched by name), creating one with
//! its access to chosen projects or all of them (its secret shown once,
//! with a copy button), enabling and disabling, refreshing the secret,
//! editing (description, expiration, permissions) and deleting.
//! System administrators only.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, enc, Nav, Paging};
use super::robots::{expiry, secret_panel};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Robots on a page.
const PAGE_SIZE: u64 = 15;

/// Where the pages live.
const BASE: &str = "/harbor/robot-accounts";

/// The project access a system robot may be given, as Harbor's robot
/// permission list names it: (resource, action, what it means).
pub(super) const GRANTS: [(&str, &str, &str); 13] = [
    ("repository", "pull", "Pull repository"),
    ("repository", "push", "Push repository"),
    ("repository", "list", "List repository"),
    ("repository", "delete", "Delete repository"),
    ("artifact", "read", "Read artifact"),
    ("artifact", "list", "List artifact"),
    ("artifact", "delete", "Delete artifact"),
    ("tag", "create", "Create tag"),
    ("tag", "list", "List tag"),
    ("tag", "delete", "Delete tag"),
    ("artifact-label", "create", "Create artifact label"),
    ("artifact-label", "delete", "Delete artifact label"),
    ("project", "read", "Read project"),
];

fn admins_only(viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_only("Only system administrators manage system robot accounts.")
}

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    name: Option<String>,
}

/// What a page shows once after a change: a new secret.
struct Shown<'a> {
    heading: String,
    secret: &'a str,
}

/// The projects the form offers (the first hundred, by name).
async fn project_names(state: &PortalState, viewer: &Viewer) -> Result<Vec<String>, PortalError> {
    let projects: Vec<Value> = state
        .api
        .get(&viewer.call_as, "/api/v2.0/projects?page_size=100")
        .await?
        .json()?;
    Ok(projects
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

/// "All projects" or the projects a robot's permissions name, each with
/// its access.
fn permissions_cell(r: &Value) -> Markup {
    html! {
        @for p in r["permissions"].as_array().into_iter().flatten() {
            @let ns = p["namespace"].as_str().unwrap_or_default();
            div.robot-permission {
                strong { @if ns == "*" { "All projects" } @else { (ns) } } ": "
                @for a in p["access"].as_array().into_iter().flatten() {
                    span.tag { (a["resource"].as_str().unwrap_or_default()) ":" (a["action"].as_str().unwrap_or_default()) }
                    " "
                }
            }
        }
    }
}

async fn list_page(
    state: &PortalState,
    viewer: &Viewer,
    page: u64,
    name: &str,
    shown: Option<Shown<'_>>,
) -> Result<Response, PortalError> {
    let mut q = "Level=system".to_owned();
    if !name.is_empty() {
        q.push_str(&format!(",name=~{name}"));
    }
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!(
                "/api/v2.0/robots?page={page}&page_size={PAGE_SIZE}&q={}",
                enc(&q)
            ),
        )
        .await?;
    let total = answer.total();
    let robots: Vec<Value> = answer.json()?;
    let projects = project_names(state, viewer).await?;
    let body = html! {
        h1 { "Robot Accounts" }
        @if let Some(s) = &shown {
            (secret_panel(&s.heading, s.secret))
        }
        details {
            summary { "New Robot Account" }
            form.panel id="new-robot" method="post" action=(BASE) {
                (layout::csrf_field(&viewer.csrf))
                div.row {
                    div {
                        label for="robot-name" { "Name" }
                        input type="text" id="robot-name" name="name" required maxlength="255"
                            pattern="[a-z0-9]+(?:[._\\-][a-z0-9]+)*";
                    }
                    div {
                        label for="robot-description" { "Description" }
                        input type="text" id="robot-description" name="description";
                    }
                }
                (expiration_fields(30, false))
                (permission_fields(&projects, &[], &[("repository", "pull")], false))
                button type="submit" { "Add" }
            }
        }
        form.row id="robot-search" method="get" action=(BASE) role="search" {
            div {
                label for="robot-filter" { "Name" }
                input type="search" id="robot-filter" name="name" value=(name);
            }
            button.secondary type="submit" { "Search" }
        }
        table id="robots" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Permissions" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Expires" }
                th scope="col" { "Description" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &robots {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let rname = r["name"].as_str().unwrap_or_default();
                    @let disabled = r["disable"].as_bool().unwrap_or(false);
                    tr {
                        td.robot-name { (rname) }
                        td.robot-status { @if disabled { "Disabled" } @else { "Enabled" } }
                        td { (permissions_cell(r)) }
                        td { (layout::when(r["creation_time"].as_str().unwrap_or_default())) }
                        td { (expiry(r["expires_at"].as_i64().unwrap_or(-1))) }
                        td.robot-description { (r["description"].as_str().unwrap_or_default()) }
                        td {
                            a.button.secondary href=(format!("{BASE}/{rid}/edit"))
                                aria-label=(format!("Edit robot account {rname}")) { "Edit" }
                            " "
                            form.inline method="post" action=(format!("{BASE}/{rid}/disable")) {
                                (layout::csrf_field(&viewer.csrf))
                                input type="hidden" name="disable" value=(!disabled);
                                button.secondary type="submit"
                                    aria-label=(format!("{} robot account {rname}", if disabled { "Enable" } else { "Disable" })) {
                                    @if disabled { "Enable" } @else { "Disable" }
                                }
                            }
                            " "
                            details.inline {
                                summary aria-label=(format!("Refresh Secret: robot account {rname}")) { "Refresh Secret" }
                                form.panel method="post" action=(format!("{BASE}/{rid}/refresh")) {
                                    (layout::csrf_field(&viewer.csrf))
                                    label for=(format!("robot-{rid}-secret")) { "New secret (empty: generate one)" }
                                    input type="password" id=(format!("robot-{rid}-secret")) name="secret" autocomplete="new-password";
                                    button type="submit" { "Refresh" }
                                }
                            }
                            " "
                            (layout::post_button(
                                &format!("{BASE}/{rid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete robot account {rname}"),
                                &format!("Delete robot account {rname}? Clients using it stop working."),
                            ))
                        }
                    }
                }
                @if robots.is_empty() {
                    tr { td colspan="7" { "No robot accounts." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("{BASE}?page={n}&name={}", enc(name))))
    };
    Ok(layout::html(layout::page(
        "Robot Accounts",
        Some(viewer),
        Nav::Robots,
        body,
    )))
}

/// Days until expiry, or never.
fn expiration_fields(days: i64, never: bool) -> Markup {
    html! {
        fieldset {
            legend { "Expiration time" }
            div.row {
                div {
                    label for="robot-days" { "Days" }
                    input type="number" id="robot-days" name="duration" min="1" value=(days.max(1));
                }
                label.check {
                    input type="checkbox" name="never" value="true" checked[never];
                    "Never expired"
                }
            }
        }
    }
}

/// The projects covered (all of them, or those checked) and the access
/// every covered project gets.
fn permission_fields(
    projects: &[String],
    chosen: &[String],
    granted: &[(&str, &str)],
    all: bool,
) -> Markup {
    html! {
        fieldset {
            legend { "Projects" }
            label.check {
                input type="checkbox" name="all_projects" value="true" checked[all];
                "Cover all projects (now and future)"
            }
            div.checks {
                @for p in projects {
                    label.check {
                        input type="checkbox" name="project" value=(p) checked[chosen.contains(p)];
                        (p)
                    }
                    " "
                }
                @for p in chosen.iter().filter(|c| !projects.contains(c)) {
                    label.check {
                        input type="checkbox" name="project" value=(p) checked;
                        (p)
                    }
                    " "
                }
            }
        }
        fieldset {
            legend { "Permissions (for every project above)" }
            @for (resource, action, what) in GRANTS {
                label.check {
                    input type="checkbox" name="grant" value=(format!("{resource}:{action}"))
                        checked[granted.contains(&(resource, action))];
                    (what)
                }
                " "
            }
        }
    }
}

/// A form as its list of fields (checkboxes repeat).
type Fields = Vec<(String, String)>;

fn field(form: &Fields, key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

fn bad(message: &str) -> PortalError {
    PortalError::new(StatusCode::BAD_REQUEST, message)
}

/// The permissions the form asks for, in Harbor's `RobotPermission` shape.
fn permissions(form: &Fields) -> Result<Vec<Value>, PortalError> {
    let access: Vec<Value> = form
        .iter()
        .filter(|(k, _)| k == "grant")
        .filter_map(|(_, v)| v.split_once(':'))
        .filter(|(r, a)| GRANTS.iter().any(|(gr, ga, _)| gr == r && ga == a))
        .map(|(resource, action)| json!({ "resource": resource, "action": action }))
        .collect();
    if access.is_empty() {
        return Err(bad("give the robot account at least one permission"));
    }
    let namespaces: Vec<String> = if field(form, "all_projects") == "true" {
        vec!["*".into()]
    } else {
        let mut names: Vec<String> = form
            .iter()
            .filter(|(k, v)| k == "project" && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        names.dedup();
        names
    };
    if namespaces.is_empty() {
        return Err(bad("choose the projects the robot account covers, or all"));
    }
    Ok(namespaces
        .into_iter()
        .map(|ns| json!({ "kind": "project", "namespace": ns, "access": access }))
        .collect())
}

/// The expiration the form asks for: -1 (never) or days from 1.
fn duration(form: &Fields) -> Result<i64, PortalError> {
    if field(form, "never") == "true" {
        return Ok(-1);
    }
    field(form, "duration")
        .parse::<i64>()
        .ok()
        .filter(|d| *d >= 1)
        .ok_or_else(|| bad("the expiration must be a number of days from 1, or never"))
}

/// `GET /harbor/robot-accounts`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let name = q.name.as_deref().unwrap_or_default().trim().to_owned();
    list_page(&state, &viewer, page, &name, None).await
}

/// `POST /harbor/robot-accounts`: creates one and shows its secret, this
/// once.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let form = &change.form;
    let body = json!({
        "name": field(form, "name"),
        "description": field(form, "description"),
        "duration": duration(form)?,
        "level": "system",
        "permissions": permissions(form)?,
    });
    let created: Value = change
        .send(&state.api, Method::POST, "/api/v2.0/robots", Some(body))
        .await?
        .json()?;
    let shown = Shown {
        heading: format!(
            "Robot account {} created",
            created["name"].as_str().unwrap_or_default()
        ),
        secret: created["secret"].as_str().unwrap_or_default(),
    };
    list_page(&state, &change.viewer, 1, "", Some(shown)).await
}

/// `GET /harbor/robot-accounts/{rid}/edit`: the form, filled in.
pub(super) async fn edit_page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(rid): Path<i64>,
) -> Result<Response, PortalError> {
    admins_only(&viewer)?;
    let r: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/robots/{rid}"))
        .await?
        .json()?;
    if r["level"].as_str() != Some("system") {
        return Err(PortalError::new(
            StatusCode::NOT_FOUND,
            "This is a project's robot account: edit it in its project.",
        ));
    }
    let projects = project_names(&state, &viewer).await?;
    let perms = r["permissions"].as_array().cloned().unwrap_or_default();
    let all = perms.iter().any(|p| p["namespace"] == "*");
    let chosen: Vec<String> = perms
        .iter()
        .filter_map(|p| p["namespace"].as_str())
        .filter(|ns| *ns != "*")
        .map(str::to_owned)
        .collect();
    let mut granted: Vec<(&str, &str)> = Vec::new();
    for p in &perms {
        for a in p["access"].as_array().into_iter().flatten() {
            if let Some(g) = GRANTS.iter().find(|(res, act, _)| {
                a["resource"].as_str() == Some(res) && a["action"].as_str() == Some(act)
            }) {
                if !granted.contains(&(g.0, g.1)) {
                    granted.push((g.0, g.1));
                }
            }
        }
    }
    // The form gives every project the same access; say so when this
    // robot's projects differ.
    let uniform = perms.windows(2).all(|w| w[0]["access"] == w[1]["access"]);
    let name = r["name"].as_str().unwrap_or_default();
    let days = r["duration"].as_i64().unwrap_or(-1);
    let body = html! {
        p { a href=(BASE) { "Robot Accounts" } " /" }
        h1 { "Edit robot account " span.robot-name { (name) } }
        form.panel id="edit-robot" method="post" action=(format!("{BASE}/{rid}/edit")) {
            (layout::csrf_field(&viewer.csrf))
            div.row {
                div {
                    label for="robot-description" { "Description" }
                    input type="text" id="robot-description" name="description"
                        value=(r["description"].as_str().unwrap_or_default());
                }
            }
            (expiration_fields(if days < 0 { 30 } else { days }, days < 0))
            p.muted { "Days count from the robot account's creation." }
            @if !uniform {
                p.notice role="note" {
                    "This robot account's projects have different access; saving gives every project chosen the access checked below."
                }
            }
            (permission_fields(&projects, &chosen, &granted, all))
            button type="submit" { "Save" }
        }
    };
    Ok(layout::html(layout::page(
        &format!("Edit {name}"),
        Some(&viewer),
        Nav::Robots,
        body,
    )))
}

/// `POST /harbor/robot-accounts/{rid}/edit`.
pub(super) async fn edit(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<Fields>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let form = &change.form;
    let body = json!({
        "description": field(form, "description"),
        "duration": duration(form)?,
        "permissions": permissions(form)?,
    });
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/robots/{rid}"),
            Some(body),
            BASE,
        )
        .await
}

/// The enable/disable form.
#[derive(Debug, Deserialize)]
pub(super) struct DisableForm {
    disable: String,
}

/// `POST /harbor/robot-accounts/{rid}/disable`.
pub(super) async fn disable(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<DisableForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let disable = match change.form.disable.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(bad("disable is true or false")),
    };
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/robots/{rid}"),
            Some(json!({ "disable": disable })),
            BASE,
        )
        .await
}

/// The refresh form.
#[derive(Debug, Deserialize)]
pub(super) struct RefreshForm {
    secret: Option<String>,
}

/// `POST /harbor/robot-accounts/{rid}/refresh`: a new secret, the one
/// given or one generated (shown this once).
pub(super) async fn refresh(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<RefreshForm>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    let given = change.form.secret.clone().filter(|s| !s.is_empty());
    let body = match &given {
        Some(s) => json!({ "secret": s }),
        None => json!({}),
    };
    let answer: Value = change
        .send(
            &state.api,
            Method::PATCH,
            &format!("/api/v2.0/robots/{rid}"),
            Some(body),
        )
        .await?
        .json()?;
    if given.is_some() {
        return Ok(see_other(BASE));
    }
    let r: Value = state
        .api
        .get(&change.viewer.call_as, &format!("/api/v2.0/robots/{rid}"))
        .await?
        .json()?;
    let shown = Shown {
        heading: format!(
            "New secret of robot account {}",
            r["name"].as_str().unwrap_or_default()
        ),
        secret: answer["secret"].as_str().unwrap_or_default(),
    };
    list_page(&state, &change.viewer, 1, "", Some(shown)).await
}

/// `POST /harbor/robot-accounts/{rid}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path(rid): Path<i64>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    admins_only(&change.viewer)?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!("/api/v2.0/robots/{rid}"),
            None,
            BASE,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_becomes_one_permission_per_project_with_the_same_access() {
        let f = form(&[
            ("project", "a"),
            ("project", "b"),
            ("grant", "repository:push"),
            ("grant", "bogus:push"),
        ]);
        let p = permissions(&f).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1]["namespace"], "b");
        assert_eq!(
            p[0]["access"],
            json!([{"resource": "repository", "action": "push"}])
        );
        let all = form(&[
            ("all_projects", "true"),
            ("project", "a"),
            ("grant", "repository:pull"),
        ]);
        assert_eq!(permissions(&all).unwrap()[0]["namespace"], "*");
        assert!(
            permissions(&form(&[("project", "a")])).is_err(),
            "no access"
        );
        assert!(
            permissions(&form(&[("grant", "repository:pull")])).is_err(),
            "no project"
        );
        assert_eq!(
            duration(&form(&[("never", "true"), ("duration", "x")])).unwrap(),
            -1
        );
        assert_eq!(duration(&form(&[("duration", "7")])).unwrap(), 7);
        assert!(duration(&form(&[("duration", "0")])).is_err());
    }
}
