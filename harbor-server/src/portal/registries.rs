//! Administration: the registries replication copies to and from. The
//! list, adding one (after testing the connection, if asked), deleting
//! one. System administrators only; shown when replication is on.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{see_other, PortalError};
use super::layout::{self, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Registries on a page.
const PAGE_SIZE: u64 = 15;

/// The provider types offered, as Harbor names them.
const TYPES: [(&str, &str); 2] = [("harbor", "Harbor"), ("docker-registry", "Docker Registry")];

/// Replication's pages are for system administrators of a server that
/// replicates.
pub(super) fn admins_only(state: &PortalState, viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_page(
        state.app.replication.is_some(),
        "Replication is not set up on this server.",
        "Only system administrators manage replication.",
    )
}

/// The query of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// The add form, kept to show again after a test or a refusal.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RegistryForm {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    access_key: Option<String>,
    access_secret: Option<String>,
    insecure: Option<String>,
    action: Option<String>,
}

impl RegistryForm {
    fn body(&self) -> Value {
        let key = self.access_key.as_deref().unwrap_or_default().trim();
        let mut body = json!({
            "name": self.name.trim(),
            "type": self.kind,
            "url": self.url.trim(),
            "insecure": self.insecure.as_deref() == Some("true"),
        });
        if !key.is_empty() {
            body["credential"] = json!({
                "type": "basic",
                "access_key": key,
                "access_secret": self.access_secret.as_deref().unwrap_or_default(),
            });
        }
        body
    }
}

fn add_form(csrf: &str, f: &RegistryForm, open: bool) -> Markup {
    html! {
        details open[open] {
            summary { "New Endpoint" }
            form.panel id="new-registry" method="post" action="/harbor/registries" {
                (layout::csrf_field(csrf))
                div.row {
                    div {
                        label for="registry-type" { "Provider" }
                        select id="registry-type" name="type" {
                            @for (value, label) in TYPES {
                                option value=(value) selected[f.kind == value] { (label) }
                            }
                        }
                    }
                    div {
                        label for="registry-name" { "Name" }
                        input type="text" id="registry-name" name="name" value=(f.name) required;
                    }
                    div {
                        label for="registry-url" { "Endpoint URL" }
                        input type="text" id="registry-url" name="url" value=(f.url) required
                            placeholder="https://registry.example.com";
                    }
                    div {
                        label for="registry-key" { "Access ID" }
                        input type="text" id="registry-key" name="access_key" autocomplete="off"
                            value=(f.access_key.as_deref().unwrap_or_default());
                    }
                    div {
                        label for="registry-secret" { "Access Secret" }
                        input type="password" id="registry-secret" name="access_secret" autocomplete="off";
                    }
                    label.check {
                        input type="checkbox" name="insecure" value="true" checked[f.insecure.is_some()];
                        "Do not verify the remote certificate"
                    }
                }
                button.secondary type="submit" name="action" value="test" { "Test Connection" }
                " "
                button type="submit" name="action" value="create" { "OK" }
            }
        }
    }
}

/// The page, with what a test or a refusal said.
async fn registries_page(
    state: &PortalState,
    viewer: &Viewer,
    page: u64,
    form: &RegistryForm,
    outcome: Option<(bool, String)>,
) -> Result<Response, PortalError> {
    let answer = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/registries?page={page}&page_size={PAGE_SIZE}"),
        )
        .await?;
    let total = answer.total();
    let registries: Vec<Value> = answer.json()?;
    let body = html! {
        h1 { "Registries" }
        @if let Some((ok, message)) = &outcome {
            @if *ok { p.notice role="status" id="registry-outcome" { (message) } }
            @else { p.error role="alert" id="registry-outcome" { (message) } }
        }
        (add_form(&viewer.csrf, form, outcome.is_some()))
        table id="registries" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Status" }
                th scope="col" { "Endpoint URL" }
                th scope="col" { "Provider" }
                th scope="col" { "Verify Remote Cert" }
                th scope="col" { "Credential" }
                th scope="col" { "Creation Time" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for r in &registries {
                    @let rid = r["id"].as_i64().unwrap_or_default();
                    @let name = r["name"].as_str().unwrap_or_default();
                    tr {
                        td.registry-name { (name) }
                        td { (r["status"].as_str().unwrap_or("-")) }
                        td { (r["url"].as_str().unwrap_or_default()) }
                        td { (r["type"].as_str().unwrap_or_default()) }
                        td { @if r["insecure"].as_bool().unwrap_or(false) { "No" } @else { "Yes" } }
                        td { (r["credential"]["access_key"].as_str().unwrap_or("-")) }
                        td { (layout::when(r["creation_time"].as_str().unwrap_or_default())) }
                        td {
                            (layout::post_button(
                                &format!("/harbor/registries/{rid}/delete"),
                                &viewer.csrf,
                                "Delete",
                                &format!("Delete registry {name}"),
                                &format!("Delete registry {name}?"),
                            ))
                        }
                    }
                }
                @if registries.is_empty() {
                    tr { td colspan="8" { "No registries." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, |n| format!("/harbor/registries?page={n}")))
    };
    Ok(layout::html(layout::page(
        "Registries",
        Some(viewer),
        Nav::Registries,
        body,
    )))
}

/// `GET /harbor/registries`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let form = RegistryForm {
        kind: "harbor".into(),
        ..RegistryForm::default()
    };
    registries_page(&state, &viewer, page, &form, None).await
}

/// `POST /harbor/registries`: tests the connection (`action=test`) or adds
/// the registry.
pub(super) async fn create(
    State(state): State<PortalState>,
    change: Change<RegistryForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let f = &change.form;
    let test = f.action.as_deref() == Some("test");
    let path = if test {
        "/api/v2.0/registries/ping"
    } else {
        "/api/v2.0/registries"
    };
    let answer = state
        .api
        .call(
            &change.viewer.call_as,
            Method::POST,
            path,
            Some(f.body()),
            Some(&change.csrf),
        )
        .await?;
    let outcome = match answer.ok() {
        Ok(_) if test => (true, "Connection tested successfully.".to_owned()),
        Ok(_) => return Ok(see_other("/harbor/registries")),
        Err(PortalError::Page { message, .. }) => (false, message),
        Err(e) => return Err(e),
    };
    registries_page(&state, &change.viewer, 1, f, Some(outcome)).await
}

/// `POST /harbor/registries/{id}/delete`.
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
            &format!("/api/v2.0/registries/{id}"),
            None,
            "/harbor/registries",
        )
        .await
}
