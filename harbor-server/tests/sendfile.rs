//! Blobs on plain HTTP/1 connections go out by `sendfile` (see the server's
//! `sendfile` module). These tests drive that path over raw TCP, where a
//! client would notice a fault: whole and ranged bodies across the 4 MiB
//! segments, several responses (and pipelined requests) on one keep-alive
//! connection, a reader slower than the server, and a client that leaves half
//! way.

mod common;

use std::time::Duration;

use common::layout::pseudo_random;
use common::{digest, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response read off a raw connection.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nhost: test\r\n{extra}\r\n")
}

/// Reads one response (head, then `Content-Length` bytes unless `HEAD`),
/// leaving the connection at the next response. `pace` slows the reader.
async fn read_response(
    conn: &mut TcpStream,
    pending: &mut Vec<u8>,
    head_only: bool,
    pace: Option<Duration>,
) -> Raw {
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut buf = [0u8; 8192];
        let n = conn.read(&mut buf).await.unwrap_or(0);
        assert!(n > 0, "the connection closed before a response head");
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    pending.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let want = if head_only { 0 } else { len };
    let mut body = Vec::with_capacity(want);
    let take = pending.len().min(want);
    body.extend(pending.drain(..take));
    let mut buf = vec![0u8; 64 * 1024];
    while body.len() < want {
        let room = (want - body.len()).min(buf.len());
        let n = conn.read(&mut buf[..room]).await.unwrap_or(0);
        assert!(
            n > 0,
            "the connection closed {} bytes early",
            want - body.len()
        );
        body.extend_from_slice(&buf[..n]);
        if let Some(p) = pace {
            tokio::time::sleep(p).await;
        }
    }
    Raw {
        status,
        headers,
        body,
    }
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

async fn send(conn: &mut TcpStream, text: &str) {
    conn.write_all(text.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
}

#[tokio::test]
async fn blobs_go_out_whole_ranged_and_in_order_on_one_connection() {
    let s = TestServer::start().await;
    let big = pseudo_random(7, 9 * 1024 * 1024 + 123);
    let small = pseudo_random(8, 100);
    let big_d = s.push_blob("library/sf", &big).await;
    let small_d = s.push_blob("library/sf", &small).await;
    let big_path = format!("/v2/library/sf/blobs/{big_d}");
    let small_path = format!("/v2/library/sf/blobs/{small_d}");

    let mut conn = connect(&s).await;
    let peer = conn.local_addr().unwrap();
    let mut pending = Vec::new();
    send(&mut conn, &request("GET", &big_path, "")).await;
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(big_d.as_str()));
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "the whole blob differs");
    // It went by sendfile on this very connection, not the read path. The
    // count is taken just after each send returns, so the client can see the
    // last bytes a moment before they are counted: wait for it briefly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let sent = || s.connections.stats(peer).map(|st| st.bytes).unwrap_or(0);
    while sent() < big.len() as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the blob was not sent with sendfile"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The next responses on the same connection are framed right after it.
    send(&mut conn, &request("GET", &small_path, "")).await;
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert_eq!((r.status, r.body.as_slice()), (200, small.as_slice()));

    // A range across the first segment boundary (4 MiB).
    let (from, to) = (4 * 1024 * 1024 - 1000, 8 * 1024 * 1024 + 5000);
    send(
        &mut conn,
        &request("GET", &big_path, &format!("range: bytes={from}-{to}\r\n")),
    )
    .await;
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {from}-{to}/{}", big.len()).as_str())
    );
    assert!(r.body == big[from..=to], "the ranged body differs");

    // Pipelined: a blob, a HEAD, an unknown blob and the blob again, sent at once.
    let unknown = format!("/v2/library/sf/blobs/{}", digest(b"never pushed"));
    let batch = [
        request("GET", &big_path, ""),
        request("HEAD", &big_path, ""),
        request("GET", &unknown, ""),
        request("GET", &big_path, "range: bytes=-10\r\n"),
    ]
    .concat();
    send(&mut conn, &batch).await;
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert!(r.status == 200 && r.body == big, "pipelined GET");
    let r = read_response(&mut conn, &mut pending, true, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(big.len().to_string().as_str())
    );
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("BLOB_UNKNOWN"));
    let r = read_response(&mut conn, &mut pending, false, None).await;
    assert_eq!(r.status, 206);
    assert!(r.body == big[big.len() - 10..], "suffix range");
    assert!(pending.is_empty(), "stray bytes after the responses");
    let mut extra = [0u8; 1];
    let more = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut extra)).await;
    assert!(
        more.is_err(),
        "the server sent more than the four responses"
    );
}

#[tokio::test]
async fn http_1_0_and_connection_close_end_right_after_the_blob() {
    let s = TestServer::start().await;
    let big = pseudo_random(21, 5 * 1024 * 1024 + 7);
    let d = s.push_blob("library/close", &big).await;
    let path = format!("/v2/library/close/blobs/{d}");
    for text in [
        format!("GET {path} HTTP/1.0\r\nhost: test\r\n\r\n"),
        request("GET", &path, "connection: close\r\n"),
    ] {
        let mut conn = connect(&s).await;
        send(&mut conn, &text).await;
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut all))
            .await
            .unwrap_or_else(|_| panic!("the server kept the connection open"))
            .unwrap_or_else(|e| panic!("read: {e}"));
        let head_end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or_else(|| panic!("no response head"));
        let head = String::from_utf8_lossy(&all[..head_end]);
        assert!(head.contains(" 200 "), "{head}");
        assert!(
            all[head_end..] == big[..],
            "the body up to the close differs"
        );
    }
}

#[tokio::test]
async fn a_reader_slower_than_the_server_gets_every_byte() {
    let s = TestServer::start().await;
    let big = pseudo_random(11, 6 * 1024 * 1024);
    let d = s.push_blob("library/slow", &big).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
    // A small receive window fills the server's socket again and again.
    let _ = socket.set_recv_buffer_size(64 * 1024);
    let mut conn = socket
        .connect(s.addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let mut pending = Vec::new();
    let peer = conn.local_addr().unwrap();
    send(
        &mut conn,
        &request("GET", &format!("/v2/library/slow/blobs/{d}"), ""),
    )
    .await;
    let r = read_response(
        &mut conn,
        &mut pending,
        false,
        Some(Duration::from_micros(300)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body == big, "a slow read got different bytes");
    // The last send is counted a moment after its bytes can be read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut stats = s.connections.stats(peer).unwrap_or_default();
    while stats.bytes < big.len() as u64 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        stats = s.connections.stats(peer).unwrap_or_default();
    }
    assert!(
        stats.waits > 0,
        "the server never found the slow reader's socket full: {stats:?}"
    );
    assert!(stats.bytes >= big.len() as u64, "{stats:?}");
}

#[tokio::test]
async fn a_client_leaving_mid_blob_disturbs_no_one() {
    let s = TestServer::start().await;
    let big = pseudo_random(13, 12 * 1024 * 1024);
    let d = s.push_blob("library/leave", &big).await;
    let path = format!("/v2/library/leave/blobs/{d}");
    for _ in 0..3 {
        let mut conn = connect(&s).await;
        send(&mut conn, &request("GET", &path, "")).await;
        let mut buf = vec![0u8; 1024 * 1024];
        let n = conn.read(&mut buf).await.unwrap_or(0);
        assert!(n > 0, "no bytes before leaving");
        drop(conn);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = s.get(&path).await;
    assert_eq!(r.status, 200);
    assert!(r.body == big, "a later pull differs");
}
