//! A page of a list as Harbor answers it: the items, `X-Total-Count`, and a
//! `Link` header to the previous and next pages.

use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_core::Page;
use serde::Serialize;

use super::json;

/// One page of `T`s out of `total`, for the request at `uri`.
#[derive(Debug)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: u64,
    /// The page served.
    pub page: Page,
    /// The request, whose other parameters the links keep.
    pub uri: Uri,
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let mut resp = json(StatusCode::OK, &self.items);
        if let Ok(v) = HeaderValue::from_str(&self.total.to_string()) {
            resp.headers_mut().insert("x-total-count", v);
        }
        if let Some(link) = link(&self.uri, self.page, self.total) {
            if let Ok(v) = HeaderValue::from_str(&link) {
                resp.headers_mut().insert("link", v);
            }
        }
        resp
    }
}

/// One page of `items` held in memory (a short list: an artifact's tags, a
/// project's members), empty past the end whatever page is asked for.
pub(crate) fn slice<T>(items: &[T], page: Page) -> &[T] {
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let size = usize::try_from(page.page_size).unwrap_or(usize::MAX);
    let start = start.min(items.len());
    let end = start.saturating_add(size).min(items.len());
    &items[start..end]
}

/// Harbor's `Link`: `<path?..&page=N&page_size=M>; rel="prev" , <..>; rel="next"`.
/// The page number comes from the client: every step is checked, so a page
/// far past the end links back to the last one that has items, and a page
/// number near `u64::MAX` never wraps.
fn link(uri: &Uri, page: Page, total: u64) -> Option<String> {
    let size = page.page_size.max(1);
    let last = total.div_ceil(size).max(1);
    let before = page.page.saturating_sub(1).saturating_mul(size);
    let prev =
        (page.page > 1 && before > 0 && total > 0).then(|| page.page.saturating_sub(1).min(last));
    let next = (page.page.saturating_mul(size) < total).then(|| page.page.saturating_add(1));
    let to = |p: u64, rel: &str| {
        let kept = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "page" && k != "page_size");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .append_pair("page", &p.to_string())
            .append_pair("page_size", &size.to_string())
            .finish();
        format!("<{}?{query}>; rel=\"{rel}\"", uri.path())
    };
    let links: Vec<String> = prev
        .map(|p| to(p, "prev"))
        .into_iter()
        .chain(next.map(|p| to(p, "next")))
        .collect();
    (!links.is_empty()).then(|| links.join(" , "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn page(page: u64, page_size: u64) -> Page {
        Page { page, page_size }
    }

    #[test]
    fn pages_of_a_list_in_memory_are_empty_past_the_end() {
        let items = [1, 2, 3, 4, 5];
        assert_eq!(slice(&items, page(1, 2)), [1, 2]);
        assert_eq!(slice(&items, page(3, 2)), [5]);
        assert!(slice(&items, page(4, 2)).is_empty());
        assert!(slice(&items, page(u64::MAX, 100)).is_empty());
        assert_eq!(slice(&items, page(1, u64::MAX)), items);
    }

    #[test]
    fn links_point_to_the_neighbouring_pages_and_keep_other_parameters() {
        let u = uri("/api/v2.0/projects?name=a&page=2&page_size=10");
        let l = link(&u, page(2, 10), 35).unwrap_or_default();
        assert_eq!(
            l,
            "</api/v2.0/projects?name=a&page=1&page_size=10>; rel=\"prev\" , </api/v2.0/projects?name=a&page=3&page_size=10>; rel=\"next\""
        );
        assert_eq!(link(&u, page(1, 10), 5), None);
        assert!(
            link(&u, page(4, 10), 35).is_some_and(|l| l.contains("page=3") && !l.contains("next"))
        );
    }

    #[test]
    fn a_page_far_past_the_end_never_overflows_and_links_back_to_the_last_page() {
        let u = uri("/api/v2.0/projects");
        let l = link(&u, page(u64::MAX, 100), 250).unwrap_or_default();
        assert_eq!(l, "</api/v2.0/projects?page=3&page_size=100>; rel=\"prev\"");
        assert_eq!(link(&u, page(u64::MAX, 100), 0), None);
        let huge = link(&u, page(u64::MAX, u64::MAX), u64::MAX).unwrap_or_default();
        assert!(
            huge.contains("?page=1&") && huge.ends_with("rel=\"prev\""),
            "{huge}"
        );
    }
}
