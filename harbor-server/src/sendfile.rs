//! Zero-copy blob bodies: `sendfile(2)` from the blob's file to the client's
//! socket, under hyper's HTTP/1 framing.
//!
//! hyper writes bodies from buffers; it has no way to hand a file to the
//! socket. So a blob body ([`FileBody`]) yields *placeholder* frames: slices of
//! one shared, never-written buffer, as long as the file segment each stands
//! for, and it queues that segment on the connection's [`SendfileSlot`].
//! hyper frames and queues the placeholders like any body (with the
//! `Content-Length` it was told), and the connection's IO ([`SendfileIo`])
//! recognises a placeholder by its address when hyper writes it, and sends the
//! queued file segment in its place with `sendfile`: page cache to socket,
//! with no copy through user space. Everything else hyper writes (heads, other
//! bodies) goes to the socket unchanged.
//!
//! Placeholders and segments are matched in order: on one HTTP/1 connection
//! hyper writes one response at a time, each body's frames in the order
//! polled, each byte once. Consecutive frames of a connection use different
//! parts of the placeholder buffer, and each segment remembers its part, so a
//! placeholder out of step with its segment is noticed; it ends the
//! connection with an error. Placeholder bytes are never sent as data.
//!
//! So a router served with [`crate::serve::serve`] must not have layers that
//! read or rewrite response bodies (compression, say): on plain connections a
//! blob body is placeholders until it reaches the socket.
//!
//! `sendfile` may wait for the disk when the blob is not in the page cache, so
//! it runs on the blocking pool, never on an async worker; and it runs only
//! while the socket has room (a non-blocking socket), so a slow client holds
//! no thread while it reads. Only plain-TCP HTTP/1 connections get a slot:
//! TLS and HTTP/2 stream blobs through the ordinary read path.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The most one placeholder frame stands for. hyper queues at most one such
/// frame ahead of the socket (its write buffer limit is ~400 KiB).
const SEGMENT: usize = 4 * 1024 * 1024;

/// Parts of the placeholder buffer that consecutive frames of a connection
/// take in turn, so that a frame is told apart from its neighbours.
const PARTS: usize = 8;

/// The shared placeholder buffer, `PARTS` frames long: allocated zeroed
/// (untouched pages, so address space but no resident memory) and never read
/// or written.
fn placeholder() -> &'static Bytes {
    static BUF: OnceLock<Bytes> = OnceLock::new();
    BUF.get_or_init(|| Bytes::from(vec![0u8; SEGMENT * PARTS]))
}

/// Whether `slice` lies inside the placeholder buffer; its offset there if so.
fn placeholder_offset(slice: &[u8]) -> Option<usize> {
    let base = placeholder().as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    (!slice.is_empty() && at >= base && at + slice.len() <= base + SEGMENT * PARTS)
        .then(|| at - base)
}

static BYTES_SENT: AtomicU64 = AtomicU64::new(0);
static SOCKET_FULL: AtomicU64 = AtomicU64::new(0);

/// What the `sendfile` path has done: since the process started
/// ([`stats`]), or on one connection ([`SendfileSlot::stats`],
/// [`Connections::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendfileStats {
    /// Blob bytes sent with `sendfile`.
    pub bytes: u64,
    /// Times a send found the client's socket full and waited for room.
    pub waits: u64,
}

/// The `sendfile` path's counters, for metrics (and for tests that must know
/// the path was taken rather than the read path).
pub fn stats() -> SendfileStats {
    SendfileStats {
        bytes: BYTES_SENT.load(Ordering::Relaxed),
        waits: SOCKET_FULL.load(Ordering::Relaxed),
    }
}

/// A part of a file standing in for one placeholder frame.
#[derive(Debug)]
struct Segment {
    /// Where its frame starts in the placeholder buffer.
    part: usize,
    file: Arc<File>,
    /// Where in the file the segment starts.
    offset: u64,
    len: u64,
    /// Bytes of it already on the wire.
    sent: u64,
}

/// The file segments one connection owes its socket, in the order their
/// placeholders were handed to hyper, and what that connection has sent. Put
/// in each request's extensions by the accept loop for plain-TCP connections.
#[derive(Debug, Default)]
pub struct SendfileSlot {
    queue: Mutex<Queue>,
    counters: Arc<Counters>,
}

/// One connection's counts, also updated from the blocking pool.
#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicU64,
    waits: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    segments: VecDeque<Segment>,
    /// The placeholder part the next frame takes.
    next_part: usize,
}

impl SendfileSlot {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What this connection has sent with `sendfile`.
    pub fn stats(&self) -> SendfileStats {
        SendfileStats {
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            waits: self.counters.waits.load(Ordering::Relaxed),
        }
    }
}

/// The `sendfile` counts of a server's open connections by client address,
/// so that a test (or an operator's probe) can tell that one connection's
/// blob went out by `sendfile`, whatever other connections do meanwhile.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    slots:
        Arc<Mutex<std::collections::HashMap<std::net::SocketAddr, std::sync::Weak<SendfileSlot>>>>,
}

impl Connections {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<std::net::SocketAddr, std::sync::Weak<SendfileSlot>>,
    > {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the slot of the connection from `peer` (dropped entries are
    /// pruned on the way).
    pub(crate) fn open(&self, peer: std::net::SocketAddr, slot: &Arc<SendfileSlot>) {
        let mut map = self.map();
        map.retain(|_, s| s.strong_count() > 0);
        map.insert(peer, Arc::downgrade(slot));
    }

    /// Forgets the connection from `peer`.
    pub(crate) fn close(&self, peer: std::net::SocketAddr) {
        self.map().remove(&peer);
    }

    /// What the open connection from `peer` has sent with `sendfile`;
    /// `None` if there is no such plain-TCP connection.
    pub fn stats(&self, peer: std::net::SocketAddr) -> Option<SendfileStats> {
        self.map().get(&peer)?.upgrade().map(|s| s.stats())
    }
}

/// A response body that sends `range` of `file` by `sendfile` through the
/// connection's [`SendfileIo`]. Only valid on the HTTP/1 connection whose
/// slot it was given.
#[derive(Debug)]
pub struct FileBody {
    slot: Arc<SendfileSlot>,
    file: Arc<File>,
    next: u64,
    end: u64,
}

impl FileBody {
    /// The body for bytes `start..end` of `file`, on the connection of `slot`.
    pub fn new(slot: Arc<SendfileSlot>, file: File, start: u64, end: u64) -> Self {
        FileBody {
            slot,
            file: Arc::new(file),
            next: start,
            end: end.max(start),
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let left = self.end - self.next;
        if left == 0 {
            return Poll::Ready(None);
        }
        let len = left.min(SEGMENT as u64);
        let part = {
            let mut queue = self.slot.queue();
            let part = queue.next_part * SEGMENT;
            queue.next_part = (queue.next_part + 1) % PARTS;
            queue.segments.push_back(Segment {
                part,
                file: self.file.clone(),
                offset: self.next,
                len,
                sent: 0,
            });
            part
        };
        self.next += len;
        // `part` + `len` <= SEGMENT * PARTS, so the slice is in bounds.
        let frame = placeholder().slice(part..part + len as usize);
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.next == self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.next)
    }
}

/// What a `sendfile` run on the blocking pool did.
#[derive(Debug)]
enum Sent {
    /// This many bytes (> 0) went out.
    Bytes(usize),
    /// The socket was full before any byte went out.
    Full,
}

/// A plain TCP connection's IO for hyper: writes pass through, except
/// placeholder slices, for which the queued file segment is sent.
#[derive(Debug)]
pub struct SendfileIo {
    stream: TcpStream,
    slot: Arc<SendfileSlot>,
    /// The send in progress on the blocking pool.
    job: Option<JoinHandle<io::Result<Sent>>>,
    /// Sends in a row that found the socket full although `poll(2)` said it
    /// had room (under memory pressure TCP can say both).
    full_streak: u32,
    /// A pause before trying again after such a streak, rather than spinning.
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SendfileIo {
    /// Wraps `stream`; `slot` is the one given to this connection's requests.
    pub fn new(stream: TcpStream, slot: Arc<SendfileSlot>) -> Self {
        SendfileIo {
            stream,
            slot,
            job: None,
            full_streak: 0,
            backoff: None,
        }
    }

    /// Refuses a plain write while a file segment is being sent: hyper writes
    /// in order, so this would put bytes in the middle of a body.
    fn check_idle(&self) -> io::Result<()> {
        match self.job {
            Some(_) => Err(out_of_step(
                "a write came while a file segment was being sent",
            )),
            None => Ok(()),
        }
    }

    /// Sends (part of) the segment standing for the placeholder `slice`,
    /// found at `offset` in the placeholder buffer.
    fn poll_segment(
        &mut self,
        cx: &mut Context<'_>,
        offset: usize,
        slice_len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(job) = self.job.as_mut() {
                let result = ready!(Pin::new(job).poll(cx));
                self.job = None;
                match result.map_err(io::Error::other)?? {
                    Sent::Bytes(n) => {
                        self.full_streak = 0;
                        let mut queue = self.slot.queue();
                        if let Some(front) = queue.segments.front_mut() {
                            front.sent += n as u64;
                            if front.sent == front.len {
                                queue.segments.pop_front();
                            }
                        }
                        return Poll::Ready(Ok(n));
                    }
                    // Wait for room below, then try again.
                    Sent::Full => {
                        self.full_streak += 1;
                        if self.full_streak >= 2 {
                            self.backoff = Some(Box::pin(tokio::time::sleep(BACKOFF)));
                        }
                    }
                }
            }
            if let Some(pause) = self.backoff.as_mut() {
                ready!(pause.as_mut().poll(cx));
                self.backoff = None;
            }
            // Wait until the socket has room. The probe runs inside `try_io`
            // so that tokio forgets a stale readiness without losing a new one.
            loop {
                ready!(self.stream.poll_write_ready(cx))?;
                match self
                    .stream
                    .try_io(Interest::WRITABLE, || writable(&self.stream))
                {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        SOCKET_FULL.fetch_add(1, Ordering::Relaxed);
                        self.slot.counters.waits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let (file, at, count) = {
                let queue = self.slot.queue();
                let Some(front) = queue.segments.front() else {
                    return Poll::Ready(Err(out_of_step("no file segment is queued")));
                };
                let left = front.len - front.sent;
                if offset as u64 != front.part as u64 + front.sent || slice_len as u64 > left {
                    return Poll::Ready(Err(out_of_step(
                        "the placeholder does not match its file segment",
                    )));
                }
                (front.file.clone(), front.offset + front.sent, slice_len)
            };
            // A duplicate of the socket's descriptor, so that a send still
            // running after the connection is dropped never writes to a
            // descriptor number closed and reused meanwhile.
            let socket = self.stream.as_fd().try_clone_to_owned()?;
            let counters = self.slot.counters.clone();
            self.job = Some(tokio::task::spawn_blocking(move || {
                send_segment(&socket, &file, at, count, &counters)
            }));
        }
    }
}

/// The pause after sends found the socket full twice in a row.
const BACKOFF: std::time::Duration = std::time::Duration::from_millis(1);

fn out_of_step(what: &str) -> io::Error {
    io::Error::other(format!("sendfile: {what}"))
}

/// `Ok` if the socket can take bytes now, `WouldBlock` if not.
fn writable(stream: &TcpStream) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(stream, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now))?;
    let revents = fds[0].revents();
    if revents.intersects(PollFlags::OUT | PollFlags::ERR | PollFlags::HUP) {
        // An error or hang-up is reported by the send itself.
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Sends up to `count` bytes of `file` from `at` to the (non-blocking)
/// socket, until they are all sent or the socket is full. On the blocking pool.
fn send_segment(
    socket: &OwnedFd,
    file: &File,
    at: u64,
    count: usize,
    counters: &Counters,
) -> io::Result<Sent> {
    let mut offset = at;
    let mut sent = 0usize;
    while sent < count {
        match rustix::fs::sendfile(socket, file, Some(&mut offset), count - sent) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "sendfile: the blob's file ended early",
                ))
            }
            Ok(n) => {
                // Counted as it goes out, not when the connection's task
                // next looks at the job.
                BYTES_SENT.fetch_add(n as u64, Ordering::Relaxed);
                counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                sent += n;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => break,
            // Report what went out; the error comes back on the next send.
            Err(_) if sent > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if sent == 0 {
        Sent::Full
    } else {
        Sent::Bytes(sent)
    })
}

impl AsyncRead for SendfileIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match placeholder_offset(buf) {
            Some(offset) => self.poll_segment(cx, offset, buf.len()),
            None => {
                self.check_idle()?;
                Pin::new(&mut self.stream).poll_write(cx, buf)
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Bytes up to the first placeholder go out as they are; a placeholder
        // at the front is sent from its file.
        let first = bufs.iter().position(|b| placeholder_offset(b).is_some());
        match first {
            Some(0) => {
                let slice: &[u8] = &bufs[0];
                match placeholder_offset(slice) {
                    Some(offset) => self.poll_segment(cx, offset, slice.len()),
                    None => Poll::Ready(Err(out_of_step("lost the placeholder"))),
                }
            }
            Some(k) => {
                self.check_idle()?;
                Pin::new(&mut self.stream).poll_write_vectored(cx, &bufs[..k])
            }
            None => {
                self.check_idle()?;
                Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_by_address_only() {
        let p = placeholder();
        assert_eq!(placeholder_offset(&p[..10]), Some(0));
        assert_eq!(placeholder_offset(&p[100..200]), Some(100));
        assert_eq!(
            placeholder_offset(&p[SEGMENT + 7..SEGMENT + 9]),
            Some(SEGMENT + 7)
        );
        let end = SEGMENT * PARTS;
        assert_eq!(placeholder_offset(&p[end - 1..]), Some(end - 1));
        assert_eq!(
            placeholder_offset(&p[5..5]),
            None,
            "empty slices are not placeholders"
        );
        // The same (zero) bytes elsewhere are ordinary data.
        let zeros = vec![0u8; 64];
        assert_eq!(placeholder_offset(&zeros), None);
    }

    #[test]
    fn a_body_queues_one_segment_per_frame_each_in_its_own_part() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("blob");
        let size = 2 * SEGMENT + 1000;
        std::fs::write(&path, vec![1u8; size]).unwrap_or_else(|e| panic!("write: {e}"));
        let file = File::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let slot = Arc::new(SendfileSlot::default());
        let (start, end) = (500u64, size as u64);
        let mut body = FileBody::new(slot.clone(), file, start, end);
        assert_eq!(body.size_hint().exact(), Some(end - start));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut frames = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            let data = frame
                .unwrap_or_else(|e| panic!("frame: {e}"))
                .into_data()
                .unwrap_or_else(|_| panic!("not a data frame"));
            frames.push((placeholder_offset(&data), data.len()));
        }
        assert!(body.is_end_stream());
        assert_eq!(
            frames,
            vec![
                (Some(0), SEGMENT),
                (Some(SEGMENT), SEGMENT),
                (Some(2 * SEGMENT), 500),
            ]
        );
        let queue = slot.queue();
        let queued: Vec<_> = queue
            .segments
            .iter()
            .map(|s| (s.part, s.offset, s.len, s.sent))
            .collect();
        let seg = SEGMENT as u64;
        assert_eq!(
            queued,
            vec![
                (0, 500, seg, 0),
                (SEGMENT, 500 + seg, seg, 0),
                (2 * SEGMENT, 500 + 2 * seg, 500, 0),
            ]
        );
    }
}
