//! A project's webhooks: the policies (list, create one for an HTTP or
//! Slack endpoint and chosen event types, delete), where the viewer's
//! role allows. Shown when the server has webhooks.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, enc};
use super::projects::{Frame, Tab};
use super::viewer::{Change, Viewer};
use super::PortalState;

fn webhooks_on(state: &PortalState) -> Result<(), PortalError> {
    if state.app.webhooks.is_some() {
        Ok(())
    } else {
        Err(PortalError::new(
            StatusCode::NOT_FOUND,
            "Webhooks are not set up on this server.",
        ))
    }
}

/// `GET /harbor/projects/{id}/webhook`.
pub(super) async fn list(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    webhooks_on(&state)?;
    let frame = Frame::load(&state, &viewer, id, false).await?;
    let project = enc(&frame.name);
    let policies: Vec<Value> = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/projects/{project}/webhook/policies?page_size=100"),
        )
        .await?
        .json()?;
    let events: Value = state
        .api
        .get(
            &viewer.call_as,
            &format!("/api/v2.0/projects/{project}/webhook/events"),
        )
        .await?
        .json()?;
    let base = format!("/harbor/projects/{id}/webhook");
    let can_create = frame.perms.can("notification-policy", "create");
    let can_delete = frame.perms.can("notification-policy", "delete");
    let body = html! {
        @if can_create {
            details {
                summary { "New Webhook" }
                form.panel id="new-webhook" method="post" action=(base) {
                    (layout::csrf_field(&viewer.csrf))
                    div.row {
                        div {
                            label for="webhook-name" { "Name" }
                            input type="text" id="webhook-name" name="name" required;
                        }
                        div {
                            label for="webhook-type" { "Notify Type" }
                            select id="webhook-type" name="type" {
                                option value="http" { "http" }
                                option value="slack" { "slack" }
                            }
                        }
                        div {
                            label for="webhook-format" { "Payload Format" }
                            select id="webhook-format" name="payload_format" {
                                option value="Default" { "Default" }
                                option value="CloudEvents" { "CloudEvents" }
                            }
                        }
                        div {
                            label for="webhook-address" { "Endpoint URL" }
                            input type="text" id="webhook-address" name="address" required
                                placeholder="https://hooks.example.com/harbor";
                        }
                        div {
                            label for="webhook-auth" { "Auth Header" }
                            input type="text" id="webhook-auth" name="auth_header" autocomplete="off";
                        }
                        label.check {
                            input type="checkbox" name="skip_cert_verify" value="true";
                            "Do not verify the remote certificate"
                        }
                    }
                    fieldset {
                        legend { "Event Type" }
                        @for t in events["event_type"].as_array().into_iter().flatten() {
                            @let t = t.as_str().unwrap_or_default();
                            label.check {
                                input type="checkbox" name="event_type" value=(t) checked;
                                (t)
                            }
                            " "
                        }
                    }
                    button type="submit" { "Add" }
                }
            }
        }
        table id="webhooks" {
            thead { tr {
                th scope="col" { "Name" }
                th scope="col" { "Enabled" }
                th scope="col" { "Notify Type" }
                th scope="col" { "Target" }
                th scope="col" { "Event Types" }
                th scope="col" { "Actions" }
            } }
            tbody {
                @for p in &policies {
                    @let pid = p["id"].as_i64().unwrap_or_default();
                    @let name = p["name"].as_str().unwrap_or_default();
                    @let target = &p["targets"][0];
                    tr {
                        td.webhook-name { (name) }
                        td { @if p["enabled"].as_bool().unwrap_or(false) { "Enabled" } @else { "Disabled" } }
                        td { (target["type"].as_str().unwrap_or_default()) }
                        td { (target["address"].as_str().unwrap_or_default()) }
                        td {
                            @for t in p["event_types"].as_array().into_iter().flatten() {
                                span.tag { (t.as_str().unwrap_or_default()) }
                            }
                        }
                        td {
                            @if can_delete {
                                (layout::post_button(
                                    &format!("{base}/{pid}/delete"),
                                    &viewer.csrf,
                                    "Delete",
                                    &format!("Delete webhook {name}"),
                                    &format!("Delete webhook {name}?"),
                                ))
                            }
                        }
                    }
                }
                @if policies.is_empty() {
                    tr { td colspan="6" { "No webhooks." } }
                }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Webhooks, body))
}

/// `POST /harbor/projects/{id}/webhook`.
pub(super) async fn create(
    State(state): State<PortalState>,
    Path(id): Path<i64>,
    change: Change<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    webhooks_on(&state)?;
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    let field = |k: &str| {
        change
            .form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_owned())
    };
    let events: Vec<&str> = change
        .form
        .iter()
        .filter(|(k, _)| k == "event_type")
        .map(|(_, v)| v.as_str())
        .collect();
    let body = json!({
        "name": field("name").unwrap_or_default(),
        "enabled": true,
        "event_types": events,
        "targets": [{
            "type": field("type").unwrap_or_else(|| "http".into()),
            "address": field("address").unwrap_or_default(),
            "auth_header": field("auth_header").unwrap_or_default(),
            "skip_cert_verify": field("skip_cert_verify").is_some(),
            "payload_format": field("payload_format").unwrap_or_else(|| "Default".into()),
        }],
    });
    change
        .forward(
            &state.api,
            Method::POST,
            &format!("/api/v2.0/projects/{}/webhook/policies", enc(&frame.name)),
            Some(body),
            &format!("/harbor/projects/{id}/webhook"),
        )
        .await
}

/// `POST /harbor/projects/{id}/webhook/{policy}/delete`.
pub(super) async fn delete(
    State(state): State<PortalState>,
    Path((id, policy)): Path<(i64, i64)>,
    change: Change<Value>,
) -> Result<Response, PortalError> {
    webhooks_on(&state)?;
    let frame = Frame::load(&state, &change.viewer, id, false).await?;
    change
        .forward(
            &state.api,
            Method::DELETE,
            &format!(
                "/api/v2.0/projects/{}/webhook/policies/{policy}",
                enc(&frame.name)
            ),
            None,
            &format!("/harbor/projects/{id}/webhook"),
        )
        .await
}
