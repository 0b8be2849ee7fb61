//! Labels: a project's labels (list, create, delete) and putting labels
//! on an artifact or taking them off, where the viewer's role allows.
//! Labels are shown as chips of their colour: an inline `<svg>` whose
//! `rect` is filled with it (a presentation attribute, which the content
//! security policy's `style-src 'self'` allows, unlike inline style), the
//! text light or dark for contrast. A colour that is not `#` and 3 or 6
//! hex digits is shown as the default one.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
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

/// The colour of labels without a valid one (Harbor's blue).
pub(super) const DEFAULT_COLOR: &str = "#0065AB";

/// `color` if it is `#` and 3 or 6 hex digits, else [`DEFAULT_COLOR`].
pub(super) fn valid_color(color: &str) -> Option<&str> {
    let hex = color.strip_prefix('#')?;
    (matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(color)
}

/// Whether text on `color` (valid) should be light: its relative
/// luminance (WCAG) gives white text more contrast than black.
fn dark(color: &str) -> bool {
    let hex = color.trim_start_matches('#');
    let digits: Vec<u8> = hex
        .chars()
        .filter_map(|c| c.to_digit(16))
        .map(|d| u8::try_from(d).unwrap_or_default())
        .collect();
    let rgb: [f64; 3] = if digits.len() == 3 {
        [0, 1, 2].map(|i| f64::from(digits[i] * 17) / 255.0)
    } else {
        [0, 2, 4].map(|i| f64::from(digits[i] * 16 + digits[i + 1]) / 255.0)
    };
    let lin = |c: f64| {
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
    // Contrast with white (1.05 / (l + 0.05)) beats contrast with black
    // ((l + 0.05) / 0.05).
    1.05 / (l + 0.05) > (l + 0.05) / 0.05
}

/// A label as a chip of its colour, its description as the title.
pub(super) fn chip(l: &Value) -> Markup {
    let color = valid_color(l["color"].as_str().unwrap_or_default()).unwrap_or(DEFAULT_COLOR);
    let description = l["description"].as_str().unwrap_or_default();
    html! {
        span.chip.label.(if dark(color) { "light-text" } else { "dark-text" })
            title=[(!description.is_empty()).then_some(description)] data-color=(color) {
            svg aria-hidden="true" focusable="false" preserveAspectRatio="none" viewBox="0 0 10 10" {
                rect x="0" y="0" width="10" height="10" rx="1" fill=(color) {}
            }
            span { (l["name"].as_str().unwrap_or_default()) }
        }
    }
}

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
                            input type="color" id="label-color" name="color" value=(DEFAULT_COLOR);
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
                        td { (chip(l)) }
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
    let color = match f.color.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => DEFAULT_COLOR,
        Some(c) => valid_color(c).ok_or_else(|| {
            PortalError::new(
                StatusCode::BAD_REQUEST,
                "the colour must be # and 3 or 6 hexadecimal digits, as #0065AB",
            )
        })?,
    };
    change
        .forward(
            &state.api,
            Method::POST,
            "/api/v2.0/labels",
            Some(json!({
                "name": f.name.trim(),
                "color": color,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_chips_carry_a_valid_colour_and_contrasting_text() {
        assert_eq!(valid_color("#0065AB"), Some("#0065AB"));
        assert_eq!(valid_color("#fff"), Some("#fff"));
        for bad in [
            "red",
            "#12345",
            "#gggggg",
            "0065AB",
            "",
            "red\" onmouseover=\"x",
            "#fff\"/>",
        ] {
            assert_eq!(valid_color(bad), None, "{bad}");
        }
        assert!(dark("#000000") && dark("#0065AB") && dark("#a4161a"));
        assert!(!dark("#ffffff") && !dark("#ff0") && !dark("#F5A623"));
        let hostile = json!({"name": "<b>x</b>", "color": "red\" onmouseover=\"x", "description": "\"><script>"});
        let out = chip(&hostile).into_string();
        assert!(out.contains("fill=\"#0065AB\""), "{out}");
        assert!(
            !out.contains("onmouseover=\"") && !out.contains("<b>") && !out.contains("<script>"),
            "{out}"
        );
        let out = chip(&json!({"name": "n", "color": "#FFEE00"})).into_string();
        assert!(
            out.contains("fill=\"#FFEE00\"") && out.contains("dark-text"),
            "{out}"
        );
    }
}
