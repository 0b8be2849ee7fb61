//! Listings that come in pages: the distribution API's catalog and tag lists
//! and Harbor's `/api/v2.0` lists all say where the next page is with a
//! `Link: <...>; rel="next"` header; every page is fetched until one comes
//! back empty or names no next. The names a listing brings are parsed one by
//! one, and one a remote got wrong is skipped with a warning: a remote's junk
//! must not fail a whole listing.

use hyper::body::Incoming;
use hyper::{Method, Response};

use super::{header, Client, Payload};
use crate::error::Result;

/// The most of one page read.
const PAGE_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How a listing is authenticated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PageAuth<'a> {
    /// Through the registry's challenge, with a token for these scopes
    /// (`/v2/` listings).
    Challenge(&'a [String]),
    /// With the endpoint's Basic credentials on every request (Harbor's
    /// `/api/v2.0`, which is outside the token flow).
    Basic,
}

/// Every item of a listing from `first` on; `parse` takes a page's body
/// apart. A page that does not parse is a protocol error carrying the
/// parser's error.
pub(crate) async fn all_pages<T>(
    client: &Client,
    first: String,
    auth: PageAuth<'_>,
    parse: impl Fn(&[u8]) -> serde_json::Result<Vec<T>>,
) -> Result<Vec<T>> {
    let basic: Vec<(&str, String)> = match auth {
        PageAuth::Basic => client
            .basic()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect(),
        PageAuth::Challenge(_) => Vec::new(),
    };
    let mut out = Vec::new();
    let mut url = first;
    loop {
        let resp = match auth {
            PageAuth::Challenge(scopes) => {
                client
                    .send(Method::GET, &url, scopes, &[], Payload::Empty)
                    .await?
            }
            PageAuth::Basic => {
                client
                    .send_once(Method::GET, &url, &[], &basic, Payload::Empty)
                    .await?
            }
        };
        if !resp.status().is_success() {
            return Err(client.fail(&Method::GET, &url, resp).await);
        }
        let next = next_link(&resp).map(|n| client.absolute(&n));
        let what = format!("the listing {url}");
        let body = client
            .read(resp.into_body(), PAGE_BODY_LIMIT, &what)
            .await?;
        let items = parse(&body).map_err(|e| {
            client.protocol(format!("{url} did not answer a listing"), Some(e.into()))
        })?;
        let empty = items.is_empty();
        out.extend(items);
        match next {
            // A link back to the page just read would never end.
            Some(n) if !empty && n != url => url = n,
            _ => return Ok(out),
        }
    }
}

/// The names among `names` that parse with `parse` (a [`harbor_core::RepositoryName`],
/// a [`harbor_core::Tag`]); each one that does not is logged, as a `what`,
/// and skipped.
pub(crate) fn valid<T>(
    client: &Client,
    names: Vec<String>,
    what: &'static str,
    parse: impl Fn(&str) -> harbor_core::Result<T>,
) -> Vec<T> {
    names
        .into_iter()
        .filter_map(|name| match parse(&name) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(registry = client.base(), %name, error = %e, "skipping a {what} that does not parse");
                None
            }
        })
        .collect()
}

/// The next page of a `Link: <url>; rel="next"` header.
pub(crate) fn next_link(resp: &Response<Incoming>) -> Option<String> {
    next_of(header(resp, "link")?)
}

fn next_of(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next_of(r#"</v2/_catalog?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/_catalog?n=2&last=b")
        );
        assert_eq!(
            next_of(r#"<https://r/p?page=1>; rel="prev", <https://r/p?page=3>; rel="next""#)
                .as_deref(),
            Some("https://r/p?page=3")
        );
        assert_eq!(next_of(r#"</v2/_catalog?n=2>; rel="prev""#), None);
    }
}
