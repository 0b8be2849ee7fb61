//! A project's summary, Harbor's first tab: its access level and creation
//! time, how many repositories it holds, its members by role, and its
//! storage quota (used of the limit, with a bar; "unlimited" for -1),
//! from `GET /api/v2.0/projects/{p}` and `/projects/{p}/summary`.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;

use super::error::PortalError;
use super::layout;
use super::projects::{Frame, Tab};
use super::viewer::Viewer;
use super::PortalState;

/// The members' roles the summary counts, with Harbor's names.
const ROLES: [(&str, &str); 5] = [
    ("project_admin_count", "Project Admin"),
    ("maintainer_count", "Maintainer"),
    ("developer_count", "Developer"),
    ("guest_count", "Guest"),
    ("limited_guest_count", "Limited Guest"),
];

/// `GET /harbor/projects/{id}/summary`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PortalError> {
    let frame = Frame::load(&state, &viewer, id, true).await?;
    let project = frame.project();
    let summary = frame.summary();
    let public = project["metadata"]["public"] == "true";
    let quota = &summary["quota"];
    let used = quota["used"]["storage"].as_i64();
    let hard = quota["hard"]["storage"].as_i64();
    let body = html! {
        section.panel id="project-summary" aria-labelledby="summary-heading" {
            h2 id="summary-heading" { "Summary" }
            dl.summary {
                dt { "Project Registry" } dd.access-level { @if public { "Public" } @else { "Private" } }
                dt { "Creation Time" } dd { (layout::when(project["creation_time"].as_str().unwrap_or_default())) }
                dt { "Repositories" } dd.repo-count { (summary["repo_count"].as_u64().unwrap_or_default()) }
            }
        }
        section.panel id="project-members" aria-labelledby="members-heading" {
            h2 id="members-heading" { "Members" }
            dl.summary {
                @for (key, name) in ROLES {
                    dt { (name) } dd data-role=(key) { (summary[key].as_u64().unwrap_or_default()) }
                }
            }
        }
        @if let (Some(used), Some(hard)) = (used, hard) {
            @let used_bytes = u64::try_from(used).unwrap_or_default();
            section.panel id="project-quota" aria-labelledby="quota-heading" {
                h2 id="quota-heading" { "Quota" }
                p {
                    "Storage: "
                    span.quota-used { (layout::size(used_bytes)) }
                    " of "
                    span.quota-limit {
                        @if hard < 0 { "unlimited" } @else { (layout::size(u64::try_from(hard).unwrap_or_default())) }
                    }
                }
                @if hard > 0 {
                    @let percent = (used_bytes as f64 * 100.0 / hard as f64).min(100.0);
                    progress.quota id="quota-bar" max=(hard) value=(used.min(hard))
                        aria-label=(format!("Storage used: {percent:.0}% of the quota")) {
                        (format!("{percent:.0}%"))
                    }
                }
            }
        }
    };
    Ok(frame.render(&viewer, Tab::Summary, body))
}
