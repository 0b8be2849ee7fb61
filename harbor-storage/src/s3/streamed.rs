//! Multipart parts streamed to S3 while they arrive.
//!
//! When a chunk's length is known and at least a whole part of it is still
//! to come, the part does not have to be gathered first: its `UploadPart`
//! request starts at once with the part's exact length and a body fed from
//! the client's body, frame by frame. The upload then holds a few frames
//! instead of a whole part (5 MiB or more), and receiving overlaps sending.
//!
//! `object_store` takes a part only as a whole payload, so the request is
//! sent by this module's own HTTP client to a URL that `object_store`
//! presigns for that one part (`partNumber` and `uploadId` signed in). A
//! part that fails half-way is not retried (its bytes are gone): the chunk
//! fails as a whole and the session stays as it was, as with any cut-off
//! chunk, and the client sends it again.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use harbor_core::{ByteStream, Result};
use object_store::signer::{Method, SignedUrlOptions, Signer};
use tokio::sync::mpsc;

use super::parts::PartBuffer;
use super::sha256_state::Sha256State;
use super::upload::{cut_off, size_invalid};
use super::{s3_error, S3BlobStore};
use crate::error::StorageError;

/// Frames queued towards S3 and towards the hasher: a few, so that the
/// memory an upload holds stays a few network buffers.
const QUEUED_FRAMES: usize = 2;

/// How long a presigned part URL stays valid: the part's whole transfer
/// must start within it.
const PART_URL_TTL: Duration = Duration::from_secs(3600);

/// Where a streamed part's bytes come from and what the chunk promised.
pub(super) struct PartSource<'a> {
    /// Bytes received but not yet sent (the saved tail, or the rest of the
    /// frame that crossed the previous part's end); they go first.
    pub(super) held: &'a mut PartBuffer,
    /// The client's body.
    pub(super) body: &'a mut ByteStream,
    /// Bytes of `body` read so far, updated here.
    pub(super) received: &'a mut u64,
    /// The chunk's announced length.
    pub(super) expected: u64,
    /// The part's size, which this chunk holds (see `streamable_part`).
    pub(super) size: usize,
}

/// The largest part streamed: S3 takes up to 5 GiB, but a part that fails
/// is sent again whole, and S3-compatible servers may hold a part in memory.
const MAX_STREAMED_PART: u64 = 64 * 1024 * 1024;

/// The size of the part to stream next, in a chunk announced as `expected`
/// bytes of which `received` were read and `held` are not yet sent, when
/// the rest of the chunk makes at least `min` bytes: parts of up to
/// [`MAX_STREAMED_PART`] that use up the chunk, the last at least `min`
/// bytes. Leaving no tail to save and read back, this serves clients that
/// send chunks of 5 MiB or more as well as those that send one.
pub(super) fn streamable_part(
    held: usize,
    received: u64,
    expected: u64,
    min: usize,
) -> Option<usize> {
    let rest = held as u64 + expected.saturating_sub(received);
    let min = min as u64;
    let cap = MAX_STREAMED_PART.max(2 * min);
    let size = if rest < min {
        return None;
    } else if rest <= cap {
        rest
    } else if rest - cap >= min {
        cap
    } else {
        rest - min
    };
    usize::try_from(size).ok()
}

/// The HTTP client for streamed parts: HTTPS only unless plain HTTP is
/// allowed, through the process's rustls provider like `object_store`'s.
pub(super) fn part_client(allow_http: bool) -> Result<reqwest::Client, StorageError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .https_only(!allow_http)
        .build()
        .map_err(|e| StorageError::Config(format!("S3 part client: {e}")))
}

impl S3BlobStore {
    /// Sends part `index` (0-based) of `multipart` (an upload into
    /// `target`) as its bytes arrive:
    /// `src.size` bytes from `src`, the frame crossing the end split and its
    /// rest kept in `src.held`. Returns the part's ETag and `hash` advanced
    /// over the part, hashed on the blocking pool beside the transfer.
    pub(super) async fn stream_part(
        &self,
        id: &str,
        target: &object_store::path::Path,
        multipart: &str,
        index: usize,
        src: PartSource<'_>,
        hash: Sha256State,
    ) -> Result<(String, Sha256State)> {
        let options = SignedUrlOptions::new().with_query([
            ("partNumber", (index + 1).to_string()),
            ("uploadId", multipart.to_owned()),
        ]);
        let url = self
            .s3
            .signed_url_opts(Method::PUT, target, PART_URL_TTL, &options)
            .await
            .map_err(|e| s3_error(format!("presign upload {id} part {index}"), e))?;

        let (to_s3, from_feed) = mpsc::channel::<std::io::Result<Bytes>>(QUEUED_FRAMES);
        let (to_hasher, mut hashing) = mpsc::channel::<Bytes>(QUEUED_FRAMES);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hash = hash;
            while let Some(frame) = hashing.blocking_recv() {
                hash.update(&frame);
            }
            hash
        });
        let body = futures::stream::unfold(from_feed, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let size = src.size;
        let put = async {
            let response = self
                .http
                .put(url)
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .map_err(|e| part_failed(id, index, e.without_url()))?;
            let status = response.status();
            let etag = response
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(part_failed(id, index, format!("{status}: {text}")));
            }
            etag.ok_or_else(|| part_failed(id, index, "the answer has no ETag"))
        };
        let feed = async {
            let outcome = feed_part(src, &to_s3, &to_hasher).await;
            if let Err(e) = &outcome {
                // The part must not complete short: its body ends in an
                // error, which aborts the request.
                let _ = to_s3.send(Err(std::io::Error::other(e.to_string()))).await;
            }
            drop(to_s3);
            drop(to_hasher);
            outcome
        };
        let (sent, fed) = tokio::join!(put, feed);
        let hash = hasher.await.map_err(StorageError::from)?;
        fed?;
        Ok((sent?, hash))
    }
}

/// Moves `src.size` bytes from `src` into the part's body and the hasher.
async fn feed_part(
    src: PartSource<'_>,
    to_s3: &mpsc::Sender<std::io::Result<Bytes>>,
    to_hasher: &mpsc::Sender<Bytes>,
) -> Result<()> {
    let mut need = src.size;
    let mut pending: Vec<Bytes> = src.held.take_front(need);
    loop {
        for frame in pending.drain(..) {
            need -= frame.len();
            // A closed channel means the request already ended; its error
            // is the one reported.
            if to_hasher.send(frame.clone()).await.is_err() || to_s3.send(Ok(frame)).await.is_err()
            {
                return Ok(());
            }
        }
        if need == 0 {
            return Ok(());
        }
        let Some(chunk) = src.body.next().await else {
            return Err(size_invalid(src.expected, *src.received));
        };
        let mut chunk = chunk.map_err(cut_off)?;
        *src.received += chunk.len() as u64;
        if *src.received > src.expected {
            return Err(size_invalid(src.expected, *src.received));
        }
        if chunk.len() > need {
            src.held.push(chunk.split_off(need));
        }
        pending.push(chunk);
    }
}

fn part_failed(id: &str, index: usize, e: impl std::fmt::Display) -> harbor_core::Error {
    let source = object_store::Error::Generic {
        store: "S3",
        source: e.to_string().into(),
    };
    s3_error(format!("upload {id} part {index}"), source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    /// Splits a chunk of `len` bytes (`held` of them held) as `receive` does.
    fn parts(held: usize, len: u64) -> (Vec<usize>, u64) {
        let (mut held, mut received, mut out) = (held, 0u64, Vec::new());
        while let Some(size) = streamable_part(held, received, len, 5 * MIB) {
            let from_body = size - held;
            received += from_body as u64;
            held = 0;
            out.push(size);
        }
        (out, held as u64 + len - received)
    }

    #[test]
    fn chunks_become_parts_between_the_minimum_and_the_cap_with_no_tail() {
        assert_eq!(parts(0, 4 * MIB as u64), (vec![], 4 * MIB as u64));
        assert_eq!(parts(0, 8 * MIB as u64), (vec![8 * MIB], 0));
        assert_eq!(parts(3 * MIB, 2 * MIB as u64), (vec![5 * MIB], 0));
        let (p, tail) = parts(0, 1024 * MIB as u64);
        assert_eq!((p.len(), tail), (16, 0));
        assert!(p.iter().all(|&s| s == 64 * MIB));
        // 64 MiB + 2 MiB: not a 2 MiB last part, but 61 + 5.
        assert_eq!(parts(0, 66 * MIB as u64), (vec![61 * MIB, 5 * MIB], 0));
    }
}
