//! The page shell (header, navigation, the signed-in user, main content),
//! and the pieces pages share: paging, CSRF fields, sizes and times.
//! `maud` escapes every value put in a template: user text is never markup.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::viewer::Viewer;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    /// Projects and everything in them.
    Projects,
    /// Administration: users.
    Users,
    /// Administration: user groups.
    Groups,
    /// Administration: garbage collection.
    Gc,
    /// Administration: registries.
    Registries,
    /// Administration: replication rules and executions.
    Replications,
    /// The user's own account.
    Account,
    /// Administration: the system's audit log.
    Logs,
    /// Administration: the configuration.
    Configuration,
    /// Administration: project quotas.
    ProjectQuotas,
    /// Administration: system robot accounts.
    Robots,
    /// No entry (sign-in, errors).
    None,
}

/// Markup as an HTML answer.
pub(crate) fn html(markup: Markup) -> Response {
    let mut resp = markup.into_string().into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// A whole page: `title`, the navigation (when someone is signed in) and
/// `body`.
pub(crate) fn page(title: &str, viewer: Option<&Viewer>, nav: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - Harbor" }
                link rel="stylesheet" href="/portal/static/portal.css";
                script src="/portal/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/harbor/projects" { "Harbor" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            a href="/harbor/projects"
                                aria-current=[(nav == Nav::Projects).then_some("page")] { "Projects" }
                            @if v.sysadmin {
                                a href="/harbor/users"
                                    aria-current=[(nav == Nav::Users).then_some("page")] { "Users" }
                                a href="/harbor/groups"
                                    aria-current=[(nav == Nav::Groups).then_some("page")] { "Groups" }
                                @if v.replication {
                                    a href="/harbor/registries"
                                        aria-current=[(nav == Nav::Registries).then_some("page")] { "Registries" }
                                    a href="/harbor/replications"
                                        aria-current=[(nav == Nav::Replications).then_some("page")] { "Replications" }
                                }
                                a href="/harbor/robot-accounts"
                                    aria-current=[(nav == Nav::Robots).then_some("page")] { "Robot Accounts" }
                                a href="/harbor/logs"
                                    aria-current=[(nav == Nav::Logs).then_some("page")] { "Logs" }
                                a href="/harbor/configs"
                                    aria-current=[(nav == Nav::Configuration).then_some("page")] { "Configuration" }
                                @if v.quotas {
                                    a href="/harbor/project-quotas"
                                        aria-current=[(nav == Nav::ProjectQuotas).then_some("page")] { "Project Quotas" }
                                }
                                @if v.gc {
                                    a href="/harbor/gc"
                                        aria-current=[(nav == Nav::Gc).then_some("page")] { "Garbage Collection" }
                                } @else if v.purge_audit {
                                    a href="/harbor/clearing-job/audit-log-purge"
                                        aria-current=[(nav == Nav::Gc).then_some("page")] { "Clean Up" }
                                }
                            }
                        }
                        div.user {
                            span { "Signed in as " strong.username { (v.name) }
                                @if v.sysadmin { " (administrator)" } }
                            a href="/harbor/account"
                                aria-current=[(nav == Nav::Account).then_some("page")] { "Account" }
                            a.button.secondary href="/c/log_out" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (body)
                }
            }
        }
    }
}

/// The error page.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    page(
        "Error",
        None,
        Nav::None,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p.error role="alert" { (message) }
            p { a href="/harbor/projects" { "Back to projects" } }
        },
    )
}

/// The hidden field carrying the session's CSRF token in a form.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A one-button form posting to `action` (a delete, say): the button
/// shows `label` and is named `name` for assistive technology (which row
/// it acts on); with script, `confirm` is asked first.
pub(crate) fn post_button(
    action: &str,
    csrf: &str,
    label: &str,
    name: &str,
    confirm: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=(confirm) {
            (csrf_field(csrf))
            button.danger type="submit" aria-label=(name) { (label) }
        }
    }
}

/// The page of a list being shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    /// 1-based.
    pub(crate) page: u64,
    /// Items per page.
    pub(crate) size: u64,
    /// Items in all.
    pub(crate) total: u64,
}

/// "1-15 of 230" and previous/next links; `link(page)` is a page's URL.
pub(crate) fn pager(p: Paging, link: impl Fn(u64) -> String) -> Markup {
    let first = if p.total == 0 {
        0
    } else {
        (p.page - 1) * p.size + 1
    };
    let last = (p.page * p.size).min(p.total);
    let pages = p.total.div_ceil(p.size).max(1);
    html! {
        nav.pager aria-label="Pages" {
            span { (first) "-" (last) " of " (p.total) }
            @if p.page > 1 {
                a href=(link(p.page - 1)) rel="prev" { "Previous page" }
            }
            span { "Page " (p.page) " of " (pages) }
            @if p.page < pages {
                a href=(link(p.page + 1)) rel="next" { "Next page" }
            }
        }
    }
}

/// The query of a paged list with nothing else to choose: `?page=N`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PageQuery {
    /// The page asked for, read by [`page_number`].
    pub(crate) page: Option<String>,
}

/// `page=` of a list's query: 1 when missing or not a positive number.
pub(crate) fn page_number(p: Option<&str>) -> u64 {
    p.and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .unwrap_or(1)
}

/// A size in bytes as people read it.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// An API time (RFC 3339) as `2026-01-02 03:04:05 UTC`; Go's zero time
/// (Harbor's "never") as "never".
pub(crate) fn when(t: &str) -> String {
    if t.is_empty() || t.starts_with("0001-01-01") {
        return "never".into();
    }
    let t = t.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    format!("{} UTC", t.replace('T', " "))
}

/// `s` for a URL's query or path segment.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_in_a_page_is_escaped() {
        let hostile = "<script>alert(\"x\")</script>\" onmouseover=\"x";
        let out = page(
            hostile,
            None,
            Nav::None,
            html! { p { (hostile) } a href=(hostile) { "x" } },
        )
        .into_string();
        assert!(!out.contains("<script>alert"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
        // Attributes are double-quoted and a double quote in the text is
        // escaped, so the text cannot close one and add another.
        assert!(
            !out.contains("\" onmouseover=\"x"),
            "an attribute closed early: {out}"
        );
        assert!(out.contains("&quot; onmouseover=&quot;x"), "{out}");
        let err = error_page(StatusCode::BAD_REQUEST, "<img src=x onerror=alert(1)>").into_string();
        assert!(!err.contains("<img"), "{err}");
    }

    #[test]
    fn sizes_times_and_pages_read_as_people_expect() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(when("2026-01-02T03:04:05.123Z"), "2026-01-02 03:04:05 UTC");
        assert_eq!(when("0001-01-01T00:00:00.000Z"), "never");
        assert_eq!(page_number(Some("0")), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("3")), 3);
        let p = pager(
            Paging {
                page: 2,
                size: 10,
                total: 25,
            },
            |n| format!("/l?page={n}"),
        )
        .into_string();
        assert!(p.contains("11-20 of 25") && p.contains("page=1") && p.contains("page=3"));
    }
}
