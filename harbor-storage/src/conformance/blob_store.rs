//! The `BlobStore` conformance suite.

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use harbor_core::{bytes_stream, Algorithm, BlobStore, ByteStream, Digest, ErrorCode, StoredBlob};

use super::ok;

async fn read_all(
    store: &dyn BlobStore,
    d: &Digest,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let s = ok("get", store.get(d, range).await);
    let parts: Vec<Bytes> = ok("read body", s.try_collect().await);
    parts.concat()
}

fn chunks(parts: &[&'static [u8]]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> =
        parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    stream::iter(items).boxed()
}

fn failing_after(parts: &[&'static [u8]]) -> ByteStream {
    let items: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|p| Ok(Bytes::from_static(p)))
        .chain(std::iter::once(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        ))))
        .collect();
    stream::iter(items).boxed()
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn BlobStore) {
    put_then_stat_get_list_and_delete(store).await;
    ranged_reads_return_exactly_the_range(store).await;
    chunked_upload_commits_under_its_digest(store).await;
    chunk_at_the_wrong_offset_is_refused_and_changes_nothing(store).await;
    cut_off_or_wrong_length_chunk_changes_nothing(store).await;
    wrong_digest_publishes_nothing_and_keeps_the_session(store).await;
    aborted_upload_is_gone(store).await;
    sha512_uploads_are_verified(store).await;
    a_large_blob_streams_through_in_many_chunks(store).await;
    a_local_file_holds_exactly_the_blob(store).await;
    chunks_of_any_size_make_one_blob(store).await;
    last_chunk_and_commit_in_one_call(store).await;
    pushing_a_blob_again_does_not_disturb_its_readers(store).await;
}

/// Checks that need two handles on the same storage (two instances of a
/// cluster over one bucket or directory): what one writes the other sees.
pub async fn run_shared(a: &dyn BlobStore, b: &dyn BlobStore) {
    an_upload_continues_through_another_handle(a, b).await;
}

/// Deterministic bytes for large uploads.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64 * 131 + seed as u64) % 251) as u8)
        .collect()
}

/// Appends of wildly different sizes (a byte, 1 MiB, one 7 MiB chunk,
/// 100 KiB pieces), crossing any part size an object store uses, make
/// exactly the blob, under SHA-256 and under SHA-512; a failed append in
/// the middle changes nothing.
pub async fn chunks_of_any_size_make_one_blob(store: &dyn BlobStore) {
    const MIB: usize = 1024 * 1024;
    let data = pattern(11 * MIB + 3, 1);
    let cuts = [1, MIB, 7 * MIB, 100 * 1024, 100 * 1024, 100 * 1024];
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let id = format!("conformance-sizes-{}", algorithm.as_str());
        ok("create", store.create_upload(&id).await);
        let mut at = 0usize;
        for (n, len) in cuts.iter().chain(std::iter::once(&usize::MAX)).enumerate() {
            let end = at.saturating_add(*len).min(data.len());
            let piece = Bytes::copy_from_slice(&data[at..end]);
            if n == 2 {
                // A chunk cut off after some megabytes leaves no trace,
                // whether its length was announced or not, and so does one
                // that ends short of its announced length.
                let half = piece.slice(..piece.len() / 2);
                let announced = Some(piece.len() as u64);
                for (cut, len) in [(true, None), (true, announced), (false, announced)] {
                    let mut frames = vec![Ok(half.clone())];
                    if cut {
                        frames.push(Err(std::io::Error::other("client went away")));
                    }
                    let broken = stream::iter(frames).boxed();
                    assert!(store
                        .append_upload(&id, at as u64, broken, len)
                        .await
                        .is_err());
                    assert_eq!(
                        ok("size after a cut chunk", store.upload_size(&id).await),
                        Some(at as u64)
                    );
                }
            }
            let len = piece.len() as u64;
            let size = ok(
                "append",
                store
                    .append_upload(&id, at as u64, bytes_stream(piece), Some(len))
                    .await,
            );
            at = end;
            assert_eq!(size, at as u64);
        }
        assert_eq!(at, data.len());
        let d = Digest::compute(algorithm, &data);
        let wrong = Digest::compute(algorithm, b"something else");
        assert_eq!(
            store
                .commit_upload(&id, &wrong)
                .await
                .err()
                .map(|e| e.code()),
            Some(ErrorCode::DigestInvalid)
        );
        assert_eq!(ok("stat wrong", store.stat(&wrong).await), None);
        assert_eq!(
            ok("commit", store.commit_upload(&id, &d).await),
            data.len() as u64
        );
        assert_eq!(ok("stat", store.stat(&d).await), Some(data.len() as u64));
        assert!(
            read_all(store, &d, None).await == data,
            "{algorithm:?} blob differs"
        );
        let mid = 5 * MIB as u64 - 10..5 * MIB as u64 + 10;
        assert_eq!(
            read_all(store, &d, Some(mid.clone())).await,
            &data[mid.start as usize..mid.end as usize]
        );
        assert_eq!(ok("size after commit", store.upload_size(&id).await), None);
        ok("delete", store.delete(&d).await);
    }
}

/// An upload begun through one handle continues and completes through the
/// other, as when a load balancer sends each chunk to another instance.
pub async fn an_upload_continues_through_another_handle(a: &dyn BlobStore, b: &dyn BlobStore) {
    const MIB: usize = 1024 * 1024;
    let data = pattern(6 * MIB + 77, 2);
    let id = "conformance-shared";
    ok("create on a", a.create_upload(id).await);
    let steps: [(&dyn BlobStore, std::ops::Range<usize>); 3] = [
        (b, 0..3 * MIB),
        (a, 3 * MIB..6 * MIB),
        (b, 6 * MIB..data.len()),
    ];
    for (store, range) in steps {
        assert_eq!(
            ok("size seen", store.upload_size(id).await),
            Some(range.start as u64)
        );
        let piece = Bytes::copy_from_slice(&data[range.clone()]);
        ok(
            "append",
            store
                .append_upload(id, range.start as u64, bytes_stream(piece), None)
                .await,
        );
    }
    let d = Digest::sha256(&data);
    assert!(
        ok("list on b", b.list_uploads().await)
            .iter()
            .any(|u| u.id == id),
        "a session created through one handle is listed by the other"
    );
    ok("commit on a", a.commit_upload(id, &d).await);
    assert_eq!(ok("stat on b", b.stat(&d).await), Some(data.len() as u64));
    assert!(read_all(b, &d, None).await == data);
    assert_eq!(ok("session gone on b", b.upload_size(id).await), None);
    ok("delete on b", b.delete(&d).await);
    assert_eq!(ok("stat on a", a.stat(&d).await), None);
}

/// A whole put is visible by stat, get and list, and delete removes it.
pub async fn put_then_stat_get_list_and_delete(store: &dyn BlobStore) {
    let data = b"conformance: put and get";
    let d = Digest::sha256(data);
    assert_eq!(ok("stat absent", store.stat(&d).await), None);
    let e = store.get(&d, None).await.err().map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::BlobUnknown), "get of an absent blob");
    let size = ok(
        "put",
        store
            .put(&d, bytes_stream(&data[..]), Some(data.len() as u64))
            .await,
    );
    assert_eq!(size, data.len() as u64);
    assert_eq!(ok("stat", store.stat(&d).await), Some(size));
    assert_eq!(read_all(store, &d, None).await, data);
    let listed: Vec<StoredBlob> = ok("list", ok("list", store.list().await).try_collect().await);
    assert!(
        listed.contains(&StoredBlob {
            digest: d.clone(),
            size
        }),
        "list must include a stored blob with its size"
    );
    // Putting the same content again is harmless.
    ok(
        "put again",
        store.put(&d, bytes_stream(&data[..]), None).await,
    );
    assert!(ok("delete", store.delete(&d).await));
    assert!(!ok("delete again", store.delete(&d).await));
    assert_eq!(ok("stat after delete", store.stat(&d).await), None);

    // Deleting many at once: present and absent ones alike.
    let many: Vec<Vec<u8>> = (0..5).map(|i| format!("many {i}").into_bytes()).collect();
    let mut digests = vec![Digest::sha256(b"never stored")];
    for data in &many {
        let d = Digest::sha256(data);
        ok("put", store.put(&d, bytes_stream(data.clone()), None).await);
        digests.push(d);
    }
    ok("delete many", store.delete_many(&digests).await);
    for d in &digests {
        assert_eq!(ok("stat", store.stat(d).await), None, "{d} deleted");
    }
    ok("delete many again", store.delete_many(&digests).await);
}

/// Ranged reads return exactly the bytes asked for.
pub async fn ranged_reads_return_exactly_the_range(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let d = Digest::sha256(&data);
    ok("put", store.put(&d, bytes_stream(data.clone()), None).await);
    assert_eq!(read_all(store, &d, Some(0..10)).await, &data[0..10]);
    assert_eq!(read_all(store, &d, Some(990..1000)).await, &data[990..]);
    assert_eq!(read_all(store, &d, Some(100..600)).await, &data[100..600]);
    ok("delete", store.delete(&d).await);
}

/// Chunks appended in order commit to a blob with the whole content.
pub async fn chunked_upload_commits_under_its_digest(store: &dyn BlobStore) {
    let id = "conformance-chunked";
    ok("create", store.create_upload(id).await);
    assert_eq!(ok("size", store.upload_size(id).await), Some(0));
    assert!(ok("list uploads", store.list_uploads().await)
        .iter()
        .any(|u| u.id == id));
    let n = ok(
        "append 1",
        store
            .append_upload(id, 0, chunks(&[b"hello ", b"chunked "]), Some(14))
            .await,
    );
    assert_eq!(n, 14);
    let n = ok(
        "append 2",
        store.append_upload(id, 14, chunks(&[b"world"]), None).await,
    );
    assert_eq!(n, 19);
    assert_eq!(ok("size", store.upload_size(id).await), Some(19));
    let d = Digest::sha256(b"hello chunked world");
    assert_eq!(ok("commit", store.commit_upload(id, &d).await), 19);
    assert_eq!(read_all(store, &d, None).await, b"hello chunked world");
    assert_eq!(ok("size after commit", store.upload_size(id).await), None);
    assert!(!ok("list uploads", store.list_uploads().await)
        .iter()
        .any(|u| u.id == id));
    ok("delete", store.delete(&d).await);
}

/// An append that does not start at the current size is `RANGE_INVALID`.
pub async fn chunk_at_the_wrong_offset_is_refused_and_changes_nothing(store: &dyn BlobStore) {
    let id = "conformance-offset";
    ok("create", store.create_upload(id).await);
    ok(
        "append",
        store.append_upload(id, 0, chunks(&[b"abc"]), None).await,
    );
    for wrong in [0, 2, 4] {
        let e = store
            .append_upload(id, wrong, chunks(&[b"def"]), None)
            .await
            .err()
            .map(|e| e.code());
        assert_eq!(
            e,
            Some(ErrorCode::RangeInvalid),
            "append at {wrong} of a 3-byte upload"
        );
    }
    assert_eq!(ok("size", store.upload_size(id).await), Some(3));
    let e = store
        .append_upload("conformance-missing", 0, chunks(&[b"x"]), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::BlobUploadUnknown));
    ok("abort", store.abort_upload(id).await);
}

/// A chunk whose stream fails, or whose length is not the one declared, leaves
/// the upload exactly as it was, and the upload still completes correctly.
pub async fn cut_off_or_wrong_length_chunk_changes_nothing(store: &dyn BlobStore) {
    let id = "conformance-atomic";
    ok("create", store.create_upload(id).await);
    ok(
        "append",
        store.append_upload(id, 0, chunks(&[b"keep "]), None).await,
    );
    let e = store
        .append_upload(id, 5, failing_after(&[b"lost"]), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::BlobUploadInvalid));
    assert_eq!(ok("size after cut", store.upload_size(id).await), Some(5));
    let e = store
        .append_upload(id, 5, chunks(&[b"too long"]), Some(3))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::SizeInvalid));
    let e = store
        .append_upload(id, 5, chunks(&[b"ab"]), Some(3))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::SizeInvalid));
    assert_eq!(
        ok("size after bad lengths", store.upload_size(id).await),
        Some(5)
    );
    ok(
        "append",
        store
            .append_upload(id, 5, chunks(&[b"this"]), Some(4))
            .await,
    );
    let d = Digest::sha256(b"keep this");
    ok("commit", store.commit_upload(id, &d).await);
    assert_eq!(read_all(store, &d, None).await, b"keep this");
    ok("delete", store.delete(&d).await);
}

/// A commit under the wrong digest publishes nothing and keeps the session.
pub async fn wrong_digest_publishes_nothing_and_keeps_the_session(store: &dyn BlobStore) {
    let id = "conformance-digest";
    ok("create", store.create_upload(id).await);
    ok(
        "append",
        store.append_upload(id, 0, chunks(&[b"actual"]), None).await,
    );
    let claimed = Digest::sha256(b"claimed");
    let e = store
        .commit_upload(id, &claimed)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::DigestInvalid));
    assert_eq!(ok("stat claimed", store.stat(&claimed).await), None);
    assert_eq!(
        ok("stat actual", store.stat(&Digest::sha256(b"actual")).await),
        None
    );
    assert_eq!(ok("size", store.upload_size(id).await), Some(6));
    let e = store
        .put(&claimed, bytes_stream(&b"actual"[..]), None)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::DigestInvalid));
    assert_eq!(ok("stat claimed", store.stat(&claimed).await), None);
    ok("abort", store.abort_upload(id).await);
}

/// An aborted upload is gone, and aborting twice is fine.
pub async fn aborted_upload_is_gone(store: &dyn BlobStore) {
    let id = "conformance-abort";
    ok("create", store.create_upload(id).await);
    ok(
        "append",
        store.append_upload(id, 0, chunks(&[b"bye"]), None).await,
    );
    ok("abort", store.abort_upload(id).await);
    ok("abort again", store.abort_upload(id).await);
    assert_eq!(ok("size", store.upload_size(id).await), None);
    let e = store
        .commit_upload(id, &Digest::sha256(b"bye"))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::BlobUploadUnknown));
}

/// Uploads can be verified with SHA-512 as well as SHA-256.
pub async fn sha512_uploads_are_verified(store: &dyn BlobStore) {
    let data = b"sha512 content";
    let d = Digest::compute(Algorithm::Sha512, data);
    ok(
        "put",
        store.put(&d, chunks(&[b"sha512 ", b"content"]), None).await,
    );
    assert_eq!(read_all(store, &d, None).await, data);
    ok("delete", store.delete(&d).await);
}

/// A multi-MiB blob arriving in many small chunks comes back identical.
pub async fn a_large_blob_streams_through_in_many_chunks(store: &dyn BlobStore) {
    let chunk: Vec<u8> = (0..16 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let count = 300; // ~4.7 MiB
    let mut h = harbor_core::Hasher::new(Algorithm::Sha256);
    for _ in 0..count {
        h.update(&chunk);
    }
    let d = h.finish();
    let shared = Bytes::from(chunk);
    let body = stream::iter((0..count).map(move |_| Ok(shared.clone()))).boxed();
    let size = ok("put large", store.put(&d, body, None).await);
    assert_eq!(size, 16 * 1024 * count as u64);
    let back = ok("get large", store.get(&d, None).await);
    let mut h = harbor_core::Hasher::new(Algorithm::Sha256);
    let mut total = 0u64;
    let mut back = back;
    while let Some(part) = back.next().await {
        let part = ok("read large", part);
        total += part.len() as u64;
        h.update(&part);
    }
    assert_eq!(total, size);
    assert_eq!(h.finish(), d);
    ok("delete", store.delete(&d).await);
}

/// A backend that hands out local files (for `sendfile`) hands out exactly
/// the blob's bytes and size, and refuses an absent blob as `BLOB_UNKNOWN`;
/// one that does not answers `None`.
pub async fn a_local_file_holds_exactly_the_blob(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let d = Digest::sha256(&data);
    ok("put", store.put(&d, bytes_stream(data.clone()), None).await);
    if let Some(local) = ok("open_local", store.open_local(&d).await) {
        assert_eq!(local.size, data.len() as u64);
        let read = tokio::task::spawn_blocking(move || {
            let mut file = local.file;
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut buf).map(|_| buf)
        })
        .await;
        let read = ok("read the local file", ok("join", read));
        assert!(read == data, "the local file differs from the blob");
        let absent = Digest::sha256(b"conformance: never stored");
        let e = store.open_local(&absent).await.err().map(|e| e.code());
        assert_eq!(
            e,
            Some(ErrorCode::BlobUnknown),
            "open_local of an absent blob"
        );
    }
    ok("delete", store.delete(&d).await);
}

/// The last chunk and the commit in one call publish exactly the blob and
/// end the session; under a wrong digest nothing is published and the
/// session holds the chunk, which a commit under the right digest then
/// publishes.
pub async fn last_chunk_and_commit_in_one_call(store: &dyn BlobStore) {
    a_whole_blob_in_one_call(store).await;
    const MIB: usize = 1024 * 1024;
    let data = pattern(7 * MIB + 5, 3);
    let d = Digest::sha256(&data);
    let first = 2 * MIB + 1;
    for (id, claimed) in [
        ("conformance-final-ok", d.clone()),
        ("conformance-final-bad", Digest::sha256(b"other")),
    ] {
        ok("create", store.create_upload(id).await);
        ok(
            "append",
            store
                .append_upload(id, 0, bytes_stream(data[..first].to_vec()), None)
                .await,
        );
        let rest = Bytes::copy_from_slice(&data[first..]);
        let len = rest.len() as u64;
        let outcome = store
            .append_and_commit(id, first as u64, bytes_stream(rest), Some(len), &claimed)
            .await;
        if claimed == d {
            assert_eq!(ok("append and commit", outcome), data.len() as u64);
            assert_eq!(ok("session gone", store.upload_size(id).await), None);
        } else {
            assert_eq!(
                outcome.err().map(|e| e.code()),
                Some(ErrorCode::DigestInvalid)
            );
            assert_eq!(ok("stat claimed", store.stat(&claimed).await), None);
            assert_eq!(ok("stat actual", store.stat(&d).await), None);
            assert_eq!(
                ok("size kept", store.upload_size(id).await),
                Some(data.len() as u64)
            );
            assert_eq!(
                ok("commit right", store.commit_upload(id, &d).await),
                data.len() as u64
            );
        }
        assert!(
            read_all(store, &d, None).await == data,
            "{id}: blob differs"
        );
        ok("delete", store.delete(&d).await);
    }
}

/// A blob pushed again (the same layer into another repository) while
/// clients read it: every reader gets every byte.
pub async fn pushing_a_blob_again_does_not_disturb_its_readers(store: &dyn BlobStore) {
    const MIB: usize = 1024 * 1024;
    let data = pattern(6 * MIB + 9, 4);
    let d = Digest::sha256(&data);
    ok("put", store.put(&d, bytes_stream(data.clone()), None).await);
    let read_whole = || async {
        let mut got = Vec::with_capacity(data.len());
        let mut reading = ok("get", store.get(&d, None).await);
        while let Some(chunk) = reading.next().await {
            got.extend_from_slice(&ok("read", chunk));
        }
        got
    };
    let readers = async {
        let mut lengths = Vec::new();
        for _ in 0..6 {
            let round = futures::future::join_all((0..3).map(|_| read_whole())).await;
            for got in round {
                assert!(
                    got == data,
                    "a reader got {} of {} bytes",
                    got.len(),
                    data.len()
                );
                lengths.push(got.len());
            }
        }
        lengths
    };
    let pushes = async {
        for n in 0..3 {
            // Through a session, as a push does, in two chunks.
            let id = format!("conformance-again-{n}");
            ok("create", store.create_upload(&id).await);
            let half = data.len() / 2;
            ok(
                "append",
                store
                    .append_upload(&id, 0, bytes_stream(data[..half].to_vec()), None)
                    .await,
            );
            ok(
                "append and commit",
                store
                    .append_and_commit(
                        &id,
                        half as u64,
                        bytes_stream(data[half..].to_vec()),
                        None,
                        &d,
                    )
                    .await,
            );
        }
    };
    let (lengths, ()) = futures::join!(readers, pushes);
    assert_eq!(lengths.len(), 18);
    assert_eq!(ok("stat", store.stat(&d).await), Some(data.len() as u64));
    ok("delete", store.delete(&d).await);
}

/// A whole blob as the one chunk of its commit (a monolithic push): big or
/// small, right or wrong digest, already present or not.
async fn a_whole_blob_in_one_call(store: &dyn BlobStore) {
    const MIB: usize = 1024 * 1024;
    for (n, len) in [3usize, 6 * MIB + 7, 70 * MIB + 11].into_iter().enumerate() {
        let data = pattern(len, 7 + n as u8);
        let d = Digest::sha256(&data);
        let wrong = Digest::sha256(b"not it");
        let bad = format!("conformance-whole-bad-{n}");
        ok("create", store.create_upload(&bad).await);
        let outcome = store
            .append_and_commit(
                &bad,
                0,
                bytes_stream(data.clone()),
                Some(len as u64),
                &wrong,
            )
            .await;
        assert_eq!(
            outcome.err().map(|e| e.code()),
            Some(ErrorCode::DigestInvalid)
        );
        assert_eq!(ok("stat wrong", store.stat(&wrong).await), None);
        assert_eq!(
            ok("stat actual", store.stat(&d).await),
            None,
            "{len} B: nothing published"
        );
        let left = ok("size after mismatch", store.upload_size(&bad).await);
        assert!(
            left.is_none() || left == Some(len as u64),
            "{len} B: the session holds the bytes or is gone, not {left:?}"
        );
        ok("abort", store.abort_upload(&bad).await);
        for attempt in 0..2 {
            // The second push finds the blob there already.
            let id = format!("conformance-whole-{n}-{attempt}");
            ok("create", store.create_upload(&id).await);
            assert_eq!(
                ok(
                    "whole",
                    store
                        .append_and_commit(&id, 0, bytes_stream(data.clone()), Some(len as u64), &d)
                        .await
                ),
                len as u64
            );
            assert_eq!(ok("session gone", store.upload_size(&id).await), None);
            assert_eq!(ok("stat", store.stat(&d).await), Some(len as u64));
            assert!(
                read_all(store, &d, None).await == data,
                "{len} B blob differs"
            );
        }
        ok("delete", store.delete(&d).await);
    }
}
