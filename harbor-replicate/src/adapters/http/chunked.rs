//! Blob uploads by chunks: each `PATCH` carries the next `Content-Range`;
//! after a cut the registry is asked where the session stands (its `Range`)
//! and the source is re-opened from there; the session's location is
//! checkpointed after every chunk, so a copy restarted after a crash goes on
//! from the last chunk the registry acknowledged. The session steps a
//! monolithic upload shares (opening one, the URL that completes it) live
//! here too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use harbor_core::{ByteStream, Digest, RepositoryName};
use hyper::{Method, StatusCode};

use super::challenge::repository_scope;
use super::{header, Client, Payload};
use crate::adapter::ChunkedPush;
use crate::error::Result;

/// Cuts in a row after which a chunked push gives up.
const MAX_CUTS: u32 = 5;

/// Opens an upload session in `repo`; its absolute location.
pub(crate) async fn start_upload(
    client: &Client,
    repo: &RepositoryName,
    scopes: &[String],
) -> Result<String> {
    let start = client.url(&format!("/v2/{repo}/blobs/uploads/"));
    let resp = client
        .send(Method::POST, &start, scopes, &[], Payload::Empty)
        .await?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(client.fail(&Method::POST, &start, resp).await);
    }
    header(&resp, "location")
        .map(|l| client.absolute(l))
        .ok_or_else(|| {
            client.protocol(
                format!("POST {start} opened a session without a Location"),
                None,
            )
        })
}

/// Where an upload session stands: the offset after the last byte it holds
/// and its current location; `None` when the registry no longer knows it.
async fn upload_status(
    client: &Client,
    location: &str,
    scopes: &[String],
) -> Result<Option<(u64, String)>> {
    let resp = client
        .send(Method::GET, location, scopes, &[], Payload::Empty)
        .await?;
    match resp.status() {
        StatusCode::NO_CONTENT => {
            let at = acknowledged(header(&resp, "range")).unwrap_or(0);
            let l = header(&resp, "location")
                .map(|l| client.absolute(l))
                .unwrap_or_else(|| location.to_owned());
            Ok(Some((at, l)))
        }
        StatusCode::NOT_FOUND => Ok(None),
        _ => Err(client.fail(&Method::GET, location, resp).await),
    }
}

/// The URL whose `PUT` completes the upload session at `location` as `digest`.
pub(crate) fn completion_url(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// The offset after the last byte a `Range: 0-N` header acknowledges;
/// `None` if it does not parse (or would overflow).
fn acknowledged(range: Option<&str>) -> Option<u64> {
    let (_, end) = range?.trim().trim_start_matches("bytes=").split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    // `0-0` is what registries say for an empty upload.
    if end == 0 {
        Some(0)
    } else {
        end.checked_add(1)
    }
}

/// Pushes `size` bytes of `digest` into `repo` by chunks of `how.chunk`,
/// resuming after cuts (and, with checkpoints, after a crash) from what the
/// registry acknowledged.
pub(crate) async fn push_chunked(
    client: &Client,
    repo: &RepositoryName,
    digest: &Digest,
    size: u64,
    how: ChunkedPush,
) -> Result<()> {
    let scopes = repository_scope(repo, "pull,push");
    let key = client.url(&format!("/v2/{repo}/blobs/{digest}"));
    let checkpoints = how.checkpoints.clone();
    // A session saved before a crash is continued where the registry says
    // it stands; one the registry no longer knows is started afresh.
    let mut resumed = None;
    if let Some(saved) = match &checkpoints {
        Some(c) => c.load(&key).await,
        None => None,
    } {
        match upload_status(client, &saved, &scopes).await {
            Ok(Some(at)) => {
                tracing::info!(%digest, offset = at.0, "resuming a chunked upload saved before a restart");
                resumed = Some(at);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(%digest, error = %e, "a saved upload cannot be resumed; starting again")
            }
        }
    }
    let (mut offset, mut location) = match resumed {
        Some(at) => at,
        None => (0, start_upload(client, repo, &scopes).await?),
    };
    if let Some(c) = &checkpoints {
        c.save(&key, &location).await;
    }
    let chunk = how.chunk.max(1);
    let mut source: Option<Arc<tokio::sync::Mutex<Cursor>>> = None;
    let mut cuts = 0u32;
    while offset < size {
        let cursor = match &source {
            Some(c) => c.clone(),
            None => {
                let body = (how.open)(offset).await?;
                let c = Arc::new(tokio::sync::Mutex::new(Cursor {
                    body,
                    pending: None,
                }));
                source = Some(c.clone());
                c
            }
        };
        // offset < size, so the chunk holds at least one byte and `end` is
        // the last byte's offset, however large `chunk` is.
        let len = chunk.min(size - offset);
        let end = offset + (len - 1);
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-range", format!("{offset}-{end}")),
            ("content-length", len.to_string()),
        ];
        let body = take_bytes(cursor, len);
        let sent = client
            .send(
                Method::PATCH,
                &location,
                &scopes,
                &headers,
                Payload::Stream(body),
            )
            .await;
        let error = match sent {
            Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                if let Some(l) = header(&resp, "location") {
                    location = client.absolute(l);
                }
                offset = end + 1;
                cuts = 0;
                if let Some(c) = &checkpoints {
                    c.save(&key, &location).await;
                }
                continue;
            }
            Ok(resp) => client.fail(&Method::PATCH, &location, resp).await,
            Err(e) => e,
        };
        cuts += 1;
        if !error.is_transient() || cuts > MAX_CUTS {
            return Err(error);
        }
        // Ask the registry where the upload stands and go on from there,
        // re-reading the source from that offset.
        tokio::time::sleep(Duration::from_millis(100 * u64::from(cuts))).await;
        match upload_status(client, &location, &scopes).await? {
            Some((at, _)) if at > size => {
                return Err(client.protocol(
                    format!("the upload of {digest} acknowledges {at} bytes of {size}"),
                    None,
                ))
            }
            Some((at, l)) => {
                tracing::info!(%digest, offset = at, error = %error, "chunked upload cut; resuming");
                offset = at;
                location = l;
                source = None;
            }
            None => return Err(error),
        }
    }
    let put = completion_url(&location, digest);
    let resp = client
        .send(Method::PUT, &put, &scopes, &[], Payload::Empty)
        .await?;
    let result = if resp.status().is_success() {
        Ok(())
    } else {
        Err(client.fail(&Method::PUT, &put, resp).await)
    };
    // A finished or refused session cannot be continued; a transient
    // failure of the PUT leaves the checkpoint for the retry.
    if let Some(c) = &checkpoints {
        if result.as_ref().map_or_else(|e| !e.is_transient(), |_| true) {
            c.clear(&key).await;
        }
    }
    result
}

/// A source read chunk by chunk: what a chunk's body does not take stays
/// for the next one, so the source is read once unless a cut forces a re-open.
struct Cursor {
    body: ByteStream,
    pending: Option<Bytes>,
}

/// The next `n` bytes of `cursor`, as one request body.
fn take_bytes(cursor: Arc<tokio::sync::Mutex<Cursor>>, n: u64) -> ByteStream {
    futures::stream::unfold((cursor, n), |(cursor, left)| async move {
        if left == 0 {
            return None;
        }
        let mut c = cursor.clone().lock_owned().await;
        let next = match c.pending.take() {
            Some(b) => Some(Ok(b)),
            None => c.body.next().await,
        };
        match next {
            Some(Ok(mut chunk)) => {
                if chunk.len() as u64 > left {
                    // left < chunk.len(), so it fits a usize.
                    c.pending = Some(chunk.split_off(left as usize));
                }
                let left = left - chunk.len() as u64;
                drop(c);
                Some((Ok(chunk), (cursor, left)))
            }
            Some(Err(e)) => {
                drop(c);
                Some((Err(e), (cursor, 0)))
            }
            None => {
                drop(c);
                let e = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the source ended {left} bytes early"),
                );
                Some((Err(e), (cursor, 0)))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_acknowledges_the_bytes_up_to_its_end() {
        assert_eq!(acknowledged(Some("0-0")), Some(0));
        assert_eq!(acknowledged(Some("0-1023")), Some(1024));
        assert_eq!(acknowledged(Some("bytes=0-9")), Some(10));
        assert_eq!(acknowledged(Some("0-18446744073709551615")), None);
        assert_eq!(acknowledged(Some("junk")), None);
        assert_eq!(acknowledged(None), None);
    }

    #[test]
    fn the_completion_url_adds_the_digest_to_any_query() {
        let d = Digest::sha256(b"x");
        assert_eq!(
            completion_url("http://r/u/1", &d),
            format!("http://r/u/1?digest={d}")
        );
        assert_eq!(
            completion_url("http://r/u/1?_state=abc", &d),
            format!("http://r/u/1?_state=abc&digest={d}")
        );
    }
}
