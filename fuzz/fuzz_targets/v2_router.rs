//! The whole open registry (`/v2/` without authentication, as CNCF
//! distribution without `auth`) over arbitrary exchanges of up to eight
//! requests: arbitrary methods, paths made of `/v2/` and realistic or
//! arbitrary pieces, queries (`digest`, `n`, `last`, `mount`, `from`, ...),
//! headers (`Content-Type`, `Content-Range`, `Range`, `Accept`) and small
//! bodies, among them manifests and indexes over the blobs sent before.
//! An input that begins with `> ` is instead a script of requests written
//! as text (`harbor_fuzz::http::Script`): the seeds are such scripts (a
//! monolithic push, a chunked push, mounts, manifests, tags, referrers).
//!
//! Asserts: no panic, no 5xx (the in-memory stores do not fail, so a 5xx is
//! ours), every answer's body streams to its end. Each input gets new,
//! empty stores, so that a crash replays from its input alone.
#![no_main]

use std::sync::Arc;

use harbor_fuzz::http::{Driver, Input};
use harbor_server::Harbor;
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| {
    let meta = SqliteMetaStore::in_memory().expect("an in-memory database opens");
    let harbor = Harbor::builder(Arc::new(MemoryBlobStore::new()), Arc::new(meta))
        .build()
        .expect("an open registry builds");
    let mut driver = Driver::new(harbor.router());
    harbor_fuzz::runtime().block_on(driver.run_input(&input));
});
