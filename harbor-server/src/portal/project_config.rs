//! A project's configuration (Harbor's "Configuration" tab): the project
//! metadata this server honours, which is `public` (anyone, signed in or
//! not, may pull). Harbor's other settings (vulnerability scanning,
//! content trust, SBOM generation, proxy-cache speed) are kept by the API
//! for Harbor's clients but nothing here acts on them, so the page does not
//! offer them: a checkbox that does nothing would mislead. Saved with
//! `PUT /api/v2.0/projects/{id}` by those who may update the project
//! (Harbor's `project`/`update`: project administrators); read-only for
//! the rest.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout;
use super::projects::{Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// `GET /harbor/projects/{id}/configs`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let project: Value = state
        .api
        .get(&viewer.call_as, &format!("/api/v2.0/projects/{id}"))
        .await?
        .json()?;
    let public = project["metadata"]["public"] == "true";
    let can_update = frame.perms.can("project", "update");
    let body = html! {
        form.panel id="project-config" method="post" action=(format!("/harbor/projects/{id}/configs")) {
            (layout::csrf_field(&viewer.csrf))
            fieldset {
                legend { "Project registry" }
                label.check for="config-public" {
                    input type="checkbox" id="config-public" name="public" value="true"
                        checked[public] disabled[!can_update];
                    "Public"
                }
                p.muted { "Making a project registry public will make all repositories accessible to everyone: anyone may pull, without signing in." }
            }
            @if can_update {
                button type="submit" { "Save" }
            } @else {
                p.muted id="config-read-only" { "Only project administrators change the configuration." }
            }
        }
        p.muted { "Vulnerability scanning, content trust, SBOM generation and proxy-cache settings are not offered: this server has no scanner, signer or proxy cache to act on them." }
    };
    Ok(frame.render(&viewer, Tab::Configuration, body))
}

/// The configuration form.
#[derive(Debug, Deserialize)]
pub(super) struct ConfigForm {
    public: Option<String>,
}

/// `POST /harbor/projects/{id}/configs`.
pub(super) async fn save(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<ConfigForm>,
) -> Result<Response, PortalError> {
    let public = change.form.public.as_deref() == Some("true");
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/projects/{id}"),
            Some(json!({ "metadata": { "public": public.to_string() } })),
            &format!("/harbor/projects/{id}/configs"),
        )
        .await
}
