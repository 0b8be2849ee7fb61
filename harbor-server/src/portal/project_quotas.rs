//! Administration → Project Quotas: every project's storage used and its
//! limit (with a bar), sortable and paged (`GET /api/v2.0/quotas`), and a
//! project's limit changed (`PUT /api/v2.0/quotas/{id}`; empty or -1 for
//! unlimited, in MiB, GiB or TiB as Harbor offers). System administrators
//! only; shown when the server keeps quotas. The default quota of new
//! projects is on the configuration page.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::PortalError;
use super::layout::{self, enc, Nav, Paging};
use super::viewer::{Change, Viewer};
use super::PortalState;

/// Quotas on a page of the list.
const PAGE_SIZE: u64 = 15;

/// The units a limit is entered in, as Harbor offers them.
const UNITS: [(&str, u32); 3] = [("MiB", 20), ("GiB", 30), ("TiB", 40)];

/// The orders offered (the API's `sort`).
const SORTS: [(&str, &str); 6] = [
    ("", "Project creation order"),
    ("-used.storage", "Storage used, most first"),
    ("used.storage", "Storage used, least first"),
    ("-hard.storage", "Limit, largest first"),
    ("hard.storage", "Limit, smallest first"),
    ("-update_time", "Recently changed first"),
];

fn admins_only(state: &PortalState, viewer: &Viewer) -> Result<(), PortalError> {
    viewer.admin_page(
        state.app.quotas.is_some(),
        "Quotas are not enabled on this server.",
        "Only system administrators manage project quotas.",
    )
}

/// A limit in bytes as the form shows it: the largest unit it is a whole
/// number of (GiB when none), or empty for unlimited.
fn limit_parts(bytes: i64) -> (String, &'static str) {
    if bytes < 0 {
        return (String::new(), "GiB");
    }
    for (unit, shift) in UNITS.iter().rev() {
        if bytes % (1i64 << shift) == 0 {
            return ((bytes >> shift).to_string(), unit);
        }
    }
    let mib = bytes as f64 / f64::from(1u32 << 20);
    (format!("{mib:.0}"), "MiB")
}

/// The form's limit in bytes: empty or -1 is unlimited (-1).
fn limit_bytes(value: &str, unit: &str) -> Result<i64, PortalError> {
    let bad = |m: &str| PortalError::new(StatusCode::BAD_REQUEST, m.to_owned());
    let value = value.trim();
    if value.is_empty() || value == "-1" {
        return Ok(-1);
    }
    let n: i64 = value
        .parse()
        .map_err(|_| bad("the limit must be a whole number, or -1 (or empty) for unlimited"))?;
    if n < 0 {
        return Err(bad("the limit must be 0 or more, or -1 for unlimited"));
    }
    let shift = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, s)| *s)
        .ok_or_else(|| bad("the unit must be MiB, GiB or TiB"))?;
    n.checked_mul(1i64 << shift)
        .ok_or_else(|| bad("the limit is too large"))
}

/// The list's query.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    page: Option<String>,
    sort: Option<String>,
}

/// `GET /harbor/project-quotas`.
pub(super) async fn page(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PortalError> {
    admins_only(&state, &viewer)?;
    let page = layout::page_number(q.page.as_deref());
    let sort = q
        .sort
        .filter(|s| SORTS.iter().any(|(k, _)| k == s))
        .unwrap_or_default();
    let mut path = format!("/api/v2.0/quotas?reference=project&page={page}&page_size={PAGE_SIZE}");
    if !sort.is_empty() {
        path.push_str(&format!("&sort={}", enc(&sort)));
    }
    let answer = state.api.get(&viewer.call_as, &path).await?;
    let total = answer.total();
    let quotas: Vec<Value> = answer.json()?;
    let link = |n: u64| {
        let mut l = format!("/harbor/project-quotas?page={n}");
        if !sort.is_empty() {
            l.push_str(&format!("&sort={}", enc(&sort)));
        }
        l
    };
    let body = html! {
        h1 { "Project Quotas" }
        p.muted {
            "The default quota of new projects is set on the "
            a href="/harbor/configs" { "configuration page" } "."
        }
        form.row method="get" action="/harbor/project-quotas" {
            label for="quota-sort" { "Sort by" }
            select id="quota-sort" name="sort" {
                @for (key, text) in SORTS {
                    option value=(key) selected[key == sort] { (text) }
                }
            }
            button.secondary type="submit" { "Sort" }
        }
        table id="project-quotas" {
            thead { tr {
                th scope="col" { "Project" }
                th scope="col" { "Owner" }
                th scope="col" { "Storage" }
                th scope="col" { "Edit quota" }
            } }
            tbody {
                @for qt in &quotas {
                    @let qid = qt["id"].as_i64().unwrap_or_default();
                    @let name = qt["ref"]["name"].as_str().unwrap_or_default();
                    @let used = qt["used"]["storage"].as_i64().unwrap_or_default();
                    @let hard = qt["hard"]["storage"].as_i64().unwrap_or(-1);
                    @let (value, unit) = limit_parts(hard);
                    tr data-project=(name) {
                        td {
                            @if let Some(pid) = qt["ref"]["id"].as_i64() {
                                a href=(format!("/harbor/projects/{pid}/summary")) { (name) }
                            } @else { (name) }
                        }
                        td { (qt["ref"]["owner_name"].as_str().unwrap_or_default()) }
                        td {
                            span.quota-used { (layout::size(u64::try_from(used).unwrap_or_default())) }
                            " of "
                            span.quota-limit {
                                @if hard < 0 { "unlimited" } @else { (layout::size(u64::try_from(hard).unwrap_or_default())) }
                            }
                            @if hard > 0 {
                                @let percent = (used as f64 * 100.0 / hard as f64).min(100.0);
                                " "
                                progress.quota max=(hard) value=(used.min(hard))
                                    aria-label=(format!("Storage used by {name}: {percent:.0}% of the quota")) {
                                    (format!("{percent:.0}%"))
                                }
                            }
                        }
                        td {
                            form.inline.quota-edit method="post" action=(format!("/harbor/project-quotas/{qid}")) {
                                (layout::csrf_field(&viewer.csrf))
                                input type="hidden" name="back" value=(link(page));
                                label.visually-hidden for=(format!("quota-{qid}")) { "Storage limit of " (name) " (-1 or empty: unlimited)" }
                                input type="number" id=(format!("quota-{qid}")) name="limit" min="-1" step="1" value=(value)
                                    placeholder="unlimited";
                                " "
                                label.visually-hidden for=(format!("quota-unit-{qid}")) { "Unit of the limit of " (name) }
                                select id=(format!("quota-unit-{qid}")) name="unit" {
                                    @for (u, _) in UNITS {
                                        option value=(u) selected[u == unit] { (u) }
                                    }
                                }
                                " "
                                button.secondary type="submit" aria-label=(format!("Save the quota of {name}")) { "Save" }
                            }
                        }
                    }
                }
                @if quotas.is_empty() {
                    tr { td colspan="4" { "No quotas." } }
                }
            }
        }
        (layout::pager(Paging { page, size: PAGE_SIZE, total }, link))
    };
    Ok(layout::html(layout::page(
        "Project Quotas",
        Some(&viewer),
        Nav::ProjectQuotas,
        body,
    )))
}

/// The edit form.
#[derive(Debug, Deserialize)]
pub(super) struct EditForm {
    limit: String,
    unit: String,
    back: Option<String>,
}

/// `POST /harbor/project-quotas/{qid}`.
pub(super) async fn save(
    State(state): State<PortalState>,
    Path(qid): Path<i64>,
    change: Change<EditForm>,
) -> Result<Response, PortalError> {
    admins_only(&state, &change.viewer)?;
    let bytes = limit_bytes(&change.form.limit, &change.form.unit)?;
    // Back to the page the form was on, and nowhere else.
    let back = change
        .form
        .back
        .as_deref()
        .filter(|b| b.starts_with("/harbor/project-quotas?") && !b.contains("//"))
        .unwrap_or("/harbor/project-quotas");
    change
        .forward(
            &state.api,
            Method::PUT,
            &format!("/api/v2.0/quotas/{qid}"),
            Some(json!({ "hard": { "storage": bytes } })),
            back,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_and_write_in_harbors_units() {
        assert_eq!(limit_bytes("", "GiB").unwrap(), -1);
        assert_eq!(limit_bytes("-1", "MiB").unwrap(), -1);
        assert_eq!(limit_bytes("3", "MiB").unwrap(), 3 << 20);
        assert_eq!(limit_bytes("2", "TiB").unwrap(), 2 << 40);
        assert!(limit_bytes("-2", "GiB").is_err());
        assert!(limit_bytes("1.5", "GiB").is_err());
        assert!(limit_bytes("1", "PiB").is_err());
        assert!(limit_bytes(&i64::MAX.to_string(), "TiB").is_err());
        assert_eq!(limit_parts(-1), (String::new(), "GiB"));
        assert_eq!(limit_parts(3 << 20), ("3".into(), "MiB"));
        assert_eq!(limit_parts(5 << 30), ("5".into(), "GiB"));
        assert_eq!(limit_parts(1 << 40), ("1".into(), "TiB"));
    }
}
